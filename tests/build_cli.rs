//! `build` through the CLI, up to what exists today: the Dockerfile is
//! found, read and checked; bad input is one located error line; options
//! that come later say "not yet"; a valid Dockerfile stops before running.

mod common;

use common::{Outcome, TestStore};
use std::io::Write;
use std::process::Stdio;

/// A context directory holding `files`.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn build(store: &TestStore, ctx: &tempfile::TempDir, args: &[&str]) -> Outcome {
    let mut cmd = store.cmd();
    cmd.arg("build").args(args).arg(ctx.path());
    Outcome::of(&mut cmd)
}

const VALID: &str = "ARG BASE=busybox\nFROM $BASE AS tools\nRUN cat <<EOF >/f\nhello\nEOF\nFROM scratch AS final\nCOPY --from=tools /f /f\n";

#[test]
fn a_valid_dockerfile_is_read_from_the_context_and_stops_before_running() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", VALID)]);
    let out = build(&store, &ctx, &[]);
    out.fails_with(
        3,
        "is valid (2 of 2 stages needed), but running builds is not implemented yet",
    );
    assert!(out.stderr.contains("Dockerfile"), "{out:?}");
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", "FROM scratch\nRUN true\nFROB x\n")]);
    let out = build(&store, &ctx, &[]);
    out.fails_with(1, "Dockerfile:3:1: unknown instruction 'FROB'");
    assert!(
        out.stderr.contains("hint: instructions are FROM RUN COPY"),
        "{out:?}"
    );
}

#[test]
fn an_unknown_flag_names_the_instruction() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPY --chwon=1 a b\n")]);
    build(&store, &ctx, &[]).fails_with(1, "Dockerfile:2:6: COPY: unknown flag '--chwon'");
}

#[test]
fn dash_f_picks_another_file_and_dash_reads_stdin() {
    let store = TestStore::new();
    let ctx = context(&[("Other.dockerfile", "FROM scratch\nUSER\n")]);
    let other = ctx.path().join("Other.dockerfile");
    build(&store, &ctx, &["-f", other.to_str().unwrap()]).fails_with(1, "Other.dockerfile:2:1");

    let mut child = store
        .cmd()
        .args(["build", "-f", "-"])
        .arg(ctx.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM scratch\nWORKDIR\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: -:2:1: "), "{stderr}");
}

#[test]
fn a_missing_dockerfile_or_context_is_one_clear_line() {
    let store = TestStore::new();
    let ctx = context(&[]);
    build(&store, &ctx, &[]).fails_with(1, "cannot open Dockerfile");
    let mut cmd = store.cmd();
    Outcome::of(cmd.args(["build", "/nonexistent/ctx"]))
        .fails_with(2, "build context '/nonexistent/ctx' is not a directory");
}

#[test]
fn unknown_target_and_unconsumed_build_args() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", VALID)]);
    build(&store, &ctx, &["--target", "nope"])
        .fails_with(1, "target stage 'nope' is not in the Dockerfile");
    let out = build(
        &store,
        &ctx,
        &[
            "--target",
            "TOOLS",
            "--build-arg",
            "BASE=x",
            "--build-arg",
            "STRAY=1",
            "--build-arg",
            "HTTP_PROXY=p",
        ],
    );
    assert!(
        out.stderr
            .contains("warning: build-args not consumed by any ARG: STRAY\n"),
        "{out:?}"
    );
    assert!(out.stderr.contains("(1 of 2 stages needed)"), "{out:?}");
    build(&store, &ctx, &["--build-arg", "NOEQUALS"])
        .fails_with(2, "--build-arg 'NOEQUALS': expected NAME=VALUE");
}

#[test]
fn options_that_come_with_push_say_not_yet() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", VALID)]);
    for args in [
        &["--cache-from", "type=local,src=/tmp/c"][..],
        &["--cache-to", "type=local,dest=/tmp/c"],
        &["--build-context", "assets=/tmp"],
        &["--export", "type=local,dest=/tmp/x"],
        &["--platform", "linux/amd64,linux/arm64"],
        &["--platform", "linux/amd64", "--platform", "linux/arm64"],
    ] {
        build(&store, &ctx, args).fails_with(3, "is not supported yet");
    }
    // One platform is the single-platform spelling of -a.
    build(
        &store,
        &ctx,
        &["--platform", "linux/arm64", "-a", "aarch64"],
    )
    .fails_with(3, "running builds is not implemented yet");
    build(&store, &ctx, &["--platform", "linux/arm64", "-a", "x86_64"]).fails_with(
        2,
        "--architecture names linux/amd64 but --platform names linux/arm64/v8",
    );
    build(&store, &ctx, &["-a", "sparc"]).fails_with(2, "unknown architecture 'sparc'");
}

#[test]
fn secret_ssh_and_progress_values_are_checked() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", VALID)]);
    build(&store, &ctx, &["--secret", "src=/x"])
        .fails_with(2, "--secret 'src=/x': id= is required");
    build(&store, &ctx, &["--secret", "id=tok,color=red"]).fails_with(2, "expected id=NAME");
    build(&store, &ctx, &["--ssh", "=sock"]).fails_with(2, "--ssh '=sock': expected ID[=SOCKET]");
    build(
        &store,
        &ctx,
        &[
            "--secret",
            "id=tok,src=/x",
            "--ssh",
            "default",
            "--progress",
            "plain",
            "--no-cache",
            "-q",
        ],
    )
    .fails_with(3, "not implemented yet");
    let out = build(&store, &ctx, &["--progress", "fancy"]);
    assert_eq!(out.code, 2, "{out:?}");
}
