//! `build` through the CLI: the Dockerfile is found, read and checked (bad
//! input is one located error line; options that come with push say "not
//! yet"); images build on the rig's fixtures, as root and rootless, with
//! the build cache, tags, `-o` archives, `--install-as` and failing steps.

mod common;

use common::{require_root, rig, As, Outcome, TestStore};
use std::io::Write;
use std::path::Path;
use std::process::Command;
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

/// Two stages: a heredoc RUN in the rig's busybox, its file copied into
/// `scratch`. Only the target stage (and what it needs) runs.
fn valid() -> String {
    format!(
        "ARG BASE={}\nFROM $BASE AS tools\nRUN cat <<EOF >/f\nhello\nEOF\nFROM scratch AS final\nCOPY --from=tools /f /f\n",
        rig().get("CD_RIG_FIXTURE_BUSYBOX")
    )
}

/// A context without RUN steps: it builds without root.
fn copy_only(base: &str) -> String {
    format!("FROM {base}\nCOPY Dockerfile /Dockerfile.copy\n")
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
    let ctx = context(&[("Dockerfile", &valid())]);
    build(&store, &ctx, &["--target", "nope"])
        .fails_with(1, "target stage 'nope' is not in the Dockerfile");
    // Stage names are case-insensitive; the base is a declared ARG.
    let ctx = context(&[("Dockerfile", "ARG BASE\nFROM $BASE AS tools\nCOPY Dockerfile /\nFROM scratch\nCOPY --from=tools /Dockerfile /\n")]);
    let out = build(
        &store,
        &ctx,
        &[
            "--target",
            "TOOLS",
            "--build-arg",
            &format!("BASE={}", rig().get("CD_RIG_FIXTURE_BUSYBOX")),
            "--build-arg",
            "STRAY=1",
            "--build-arg",
            "HTTP_PROXY=p",
        ],
    );
    out.ok();
    assert!(
        out.stderr
            .contains("warning: build-args not consumed by any ARG: STRAY\n"),
        "{out:?}"
    );
    // Only the target stage ran: one COPY, not the second stage's.
    assert!(
        out.stdout.contains("(1 step(s) run, 0 from the cache)"),
        "{out:?}"
    );
    build(&store, &ctx, &["--build-arg", "NOEQUALS"])
        .fails_with(2, "--build-arg 'NOEQUALS': expected NAME=VALUE");
}

#[test]
fn options_that_come_with_push_say_not_yet() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", &valid())]);
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
    // One platform is the single-platform spelling of -a: it agrees with
    // -a and picks that platform of a multi-arch base.
    let multi = context(&[("Dockerfile", &copy_only(rig().get("CD_RIG_FIXTURE_MULTI")))]);
    let archive = store.root().join("arm.oci.tar");
    build(
        &store,
        &multi,
        &[
            "--platform",
            "linux/arm64",
            "-a",
            "aarch64",
            "-t",
            "arm:1",
            "-o",
            archive.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(skopeo_inspect(&archive)["Architecture"], "arm64");
    build(&store, &ctx, &["--platform", "linux/arm64", "-a", "x86_64"]).fails_with(
        2,
        "--architecture names linux/amd64 but --platform names linux/arm64/v8",
    );
    build(&store, &ctx, &["-a", "sparc"]).fails_with(2, "unknown architecture 'sparc'");
}

#[test]
fn secret_ssh_and_progress_values_are_checked() {
    let store = TestStore::new();
    let ctx = context(&[("Dockerfile", &valid())]);
    build(&store, &ctx, &["--secret", "src=/x"])
        .fails_with(2, "--secret 'src=/x': id= is required");
    build(&store, &ctx, &["--secret", "id=tok,color=red"]).fails_with(2, "expected id=NAME");
    build(&store, &ctx, &["--ssh", "=sock"]).fails_with(2, "--ssh '=sock': expected ID[=SOCKET]");
    // As Docker: `default` alone needs an agent.
    build(&store, &ctx, &["--ssh", "default"]).fails_with(
        2,
        "--ssh 'default': no socket given and SSH_AUTH_SOCK is not set",
    );
    let plain = context(&[(
        "Dockerfile",
        &copy_only(rig().get("CD_RIG_FIXTURE_BUSYBOX")),
    )]);
    let out = build(
        &store,
        &plain,
        &[
            "--secret",
            "id=tok,src=/x",
            "--ssh",
            "default=/nonexistent.sock",
            "--progress",
            "plain",
            "--no-cache",
            "-q",
        ],
    );
    out.ok();
    assert_eq!(out.stderr, "", "-q prints nothing: {out:?}");
    let out = build(&store, &ctx, &["--progress", "fancy"]);
    assert_eq!(out.code, 2, "{out:?}");
}

/// `skopeo inspect` of an OCI archive, as JSON.
fn skopeo_inspect(archive: &Path) -> serde_json::Value {
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The image digest a build printed (`Built sha256:…`).
fn built_digest(out: &Outcome) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Built "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no 'Built' line: {out:?}"))
        .to_owned()
}

/// The demo context: ENV, WORKDIR, COPY, a RUN that uses them, CMD.
fn demo_context(dir: &Path) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {}\nENV GREETING=hello\nWORKDIR /app\nCOPY hello.txt ./\nRUN echo \"$GREETING from run in $(pwd)\" > /app/run.txt\nCMD [\"cat\", \"/app/run.txt\"]\n",
            rig().get("CD_RIG_FIXTURE_BUSYBOX")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("hello.txt"), "hi\n").unwrap();
}

#[test]
fn builds_installs_and_rebuilds_from_the_cache() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    let store = TestStore::new();
    let ctx = tempfile::tempdir().unwrap();
    demo_context(ctx.path());
    let dir = ctx.path().to_str().unwrap();

    let first = store.run(&["build", "-t", "demo:1", "--install-as", "d1", dir]);
    first.ok();
    assert!(
        first.stdout.contains("(3 step(s) run, 0 from the cache)"),
        "{first:?}"
    );
    assert!(first.stdout.contains("installed as 'd1'"), "{first:?}");
    let run = store.run(&["run", "d1"]);
    run.ok();
    assert_eq!(run.stdout, "hello from run in /app\n");
    let login = store.run(&["login", "d1", "--", "cat", "/app/hello.txt"]);
    assert_eq!(login.ok().stdout, "hi\n");

    // Nothing changed: every filesystem step is a cache hit, same image,
    // however much later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = store.run(&["build", "-t", "demo:1", dir]);
    again.ok();
    assert!(
        again.stdout.contains("(0 step(s) run, 3 from the cache)"),
        "{again:?}"
    );
    assert_eq!(built_digest(&again), built_digest(&first));

    // One context file changed: WORKDIR still hits, COPY and RUN run again.
    std::fs::write(ctx.path().join("hello.txt"), "changed\n").unwrap();
    let changed = store.run(&["build", "-t", "demo:2", "--install-as", "d2", dir]);
    changed.ok();
    assert!(
        changed.stdout.contains("(2 step(s) run, 1 from the cache)"),
        "{changed:?}"
    );
    assert_ne!(built_digest(&changed), built_digest(&first));
    let login = store.run(&["login", "d2", "--", "cat", "/app/hello.txt"]);
    assert_eq!(login.ok().stdout, "changed\n");

    // The tag is local: installing it again needs no registry.
    store.run(&["install", "demo:1", "-n", "again", "-q"]).ok();
    assert_eq!(
        store.run(&["run", "again"]).ok().stdout,
        "hello from run in /app\n"
    );
}

#[test]
fn a_failing_run_names_the_step_its_code_and_last_lines_and_tags_nothing() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    let store = TestStore::new();
    let base = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let good = context(&[("Dockerfile", &copy_only(base))]);
    let first = store.run(&["build", "-q", "-t", "app:1", good.path().to_str().unwrap()]);
    first.ok();

    let bad = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo one; echo two >&2; exit 7\n"),
    )]);
    let archive = store.root().join("bad.oci.tar");
    let out = store.run(&[
        "build",
        "-t",
        "app:1",
        "--install-as",
        "bad",
        "-o",
        archive.to_str().unwrap(),
        bad.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "/Dockerfile:2:1: RUN echo one; echo two >&2; exit 7 failed with exit code 7\n  | one\n  | two\nhint: nothing was tagged"
        ),
        "{out:?}"
    );
    assert!(!archive.exists(), "no archive for a failed build");
    assert!(!store.run(&["list"]).ok().stdout.contains("bad"));
    // The tag still names the image of the good build.
    store.run(&["install", "app:1", "-n", "app", "-q"]).ok();
    let copied = store.container_dir("app").join("rootfs/Dockerfile.copy");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), copy_only(base));
}

#[test]
fn an_output_archive_carries_the_config_and_one_layer_per_filesystem_step() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    let store = TestStore::new();
    let ctx = tempfile::tempdir().unwrap();
    demo_context(ctx.path());
    let archive = store.root().join("demo.oci.tar");
    store
        .run(&[
            "build",
            "-q",
            "--compress",
            "zstd",
            "-o",
            archive.to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ])
        .ok();
    let image = skopeo_inspect(&archive);
    let env: Vec<&str> = image["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hello"), "{image}");
    // busybox's 3 layers and WORKDIR, COPY, RUN.
    assert_eq!(image["Layers"].as_array().unwrap().len(), 6, "{image}");
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let zstd = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["mediaType"].as_str().unwrap_or("").ends_with("+zstd"))
        .count();
    assert_eq!(zstd, 3, "the built layers are zstd: {image}");
}

#[test]
fn a_rootless_build_runs_steps_on_subordinate_ids_with_no_helper() {
    let store = TestStore::for_who(As::User);
    let ctx = store.root().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    demo_context(&ctx);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nRUN id -u > /uid && chown 1234:5 /uid\n",
            rig().get("CD_RIG_FIXTURE_BUSYBOX")
        ),
    )
    .unwrap();
    let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
    for entry in ["ctx", "ctx/Dockerfile", "ctx/hello.txt"] {
        std::os::unix::fs::chown(store.root().join(entry), Some(uid), Some(uid)).unwrap();
    }
    let out = store.run_as(
        As::User,
        &[
            "build",
            "-t",
            "mine:1",
            "--install-as",
            "mine",
            ctx.to_str().unwrap(),
        ],
    );
    out.ok();
    assert!(!out.stderr.contains("Password"), "{out:?}");
    let login = store.run_as(
        As::User,
        &[
            "login",
            "mine",
            "--",
            "sh",
            "-c",
            "cat /uid; stat -c %u:%g /uid",
        ],
    );
    assert_eq!(login.ok().stdout, "0\n1234:5\n");
    // On the host the file belongs to the user's subordinate range.
    let start: u32 = rig().get("CD_RIG_SUBUID_START").parse().unwrap();
    let host = std::fs::metadata(store.container_dir("mine").join("rootfs/uid")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(host.uid(), start + 1234 - 1, "{host:?}");
}

#[test]
fn reproducible_builds_in_two_stores_give_the_same_image() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    let mut digests = Vec::new();
    for age in [0u64, 86_400] {
        let store = TestStore::new();
        let ctx = tempfile::tempdir().unwrap();
        demo_context(ctx.path());
        // Different file dates in each context, as on another machine.
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        std::fs::File::options()
            .write(true)
            .open(ctx.path().join("hello.txt"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        let out = store.run(&[
            "build",
            "--reproducible",
            "-t",
            "r:1",
            ctx.path().to_str().unwrap(),
        ]);
        out.ok();
        digests.push(built_digest(&out));
        if age == 0 {
            // Not reproducible: the dates of this run change the image.
            let plain = store.run(&[
                "build",
                "--no-cache",
                "-t",
                "r:2",
                ctx.path().to_str().unwrap(),
            ]);
            assert_ne!(built_digest(plain.ok()), digests[0]);
        }
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn features_still_to_come_say_not_yet_with_their_line() {
    let store = TestStore::new();
    let base = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nADD git@example.invalid:x/y.git /src\n"),
    )]);
    build(&store, &ctx, &["-q"]).fails_with(
        3,
        "Dockerfile:2:1: ADD from a git repository is not supported yet",
    );
}

/// `build ARGS CTX` in a pseudo-terminal (util-linux `script`): what the
/// terminal received.
fn build_on_a_terminal(store: &TestStore, ctx: &tempfile::TempDir, args: &[&str]) -> String {
    let mut words = vec![common::bin().display().to_string(), "build".into()];
    words.extend(args.iter().map(|a| a.to_string()));
    words.push(ctx.path().display().to_string());
    let line = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = store.cmd_with(Path::new("/usr/bin/script"));
    cmd.env("TERM", "xterm").args(["-qfec", &line, "/dev/null"]);
    let out = Outcome::of(&mut cmd);
    out.ok();
    out.stdout
}

#[test]
fn a_terminal_gets_a_live_line_per_step_and_a_pipe_plain_lines() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    let store = TestStore::new();
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo from-the-step\n",
            rig().get("CD_RIG_FIXTURE_BUSYBOX")
        ),
    )]);
    // auto and tty on a terminal: the running step is redrawn in place
    // (erase-line), then stays as `=> STEP TIME`; -v output above it.
    for mode in ["auto", "tty"] {
        let seen = build_on_a_terminal(&store, &ctx, &["--no-cache", "-v", "--progress", mode]);
        assert!(seen.contains("\x1b[2K"), "{mode}: no redraw in {seen:?}");
        assert!(
            seen.contains("=> [stage 0 1/1] RUN echo from-the-step "),
            "{mode}: {seen:?}"
        );
        assert!(seen.contains("  | from-the-step"), "{mode}: {seen:?}");
    }
    // plain on a terminal, and tty on a pipe: a line per step, no redraw.
    let seen = build_on_a_terminal(&store, &ctx, &["--no-cache", "--progress", "plain"]);
    assert!(
        seen.contains("[stage 0 1/1] RUN echo from-the-step"),
        "{seen:?}"
    );
    assert!(
        !seen.contains("=> ") && !seen.contains("\x1b[2K"),
        "{seen:?}"
    );
    let piped = build(&store, &ctx, &["--no-cache", "--progress", "tty"]);
    assert!(
        piped
            .ok()
            .stderr
            .contains("[stage 0 1/1] RUN echo from-the-step\n"),
        "{piped:?}"
    );
    assert!(!piped.stderr.contains('\x1b'), "{piped:?}");
}
