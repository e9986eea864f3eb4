//! What an install shows while it works: bars with speed and ETA on a
//! terminal, one line per step on a pipe, nothing but errors with -q.

mod common;

use common::registry::{push_big_image, PrivateRegistry};
use common::{bin, require_root, Outcome, TestStore};
use std::path::Path;

#[test]
fn bars_on_a_terminal_lines_on_a_pipe_and_nothing_with_q() {
    if !require_root("a private registry") {
        return;
    }
    if Outcome::of(std::process::Command::new("script").arg("--version")).code != 0 {
        panic!("util-linux 'script' is required for the TTY tests");
    }
    let reg = PrivateRegistry::start();
    let (image, _) = push_big_image(&reg.addr, 12);
    let store = TestStore::new();
    // Throttled to about two seconds, so the bars draw a few times.
    let throttled = |cmd: &mut std::process::Command| {
        cmd.env("CD_DOWNLOAD_RATE_LIMIT", "6M");
    };

    // `install ARGS` on a pseudo-terminal (script's output is ours).
    let on_tty = |args: &str| {
        let mut cmd = store.cmd_with(Path::new("script"));
        cmd.args([
            "-qec",
            &format!("{} install {image} {args}", bin().display()),
            "/dev/null",
        ])
        .env("TERM", "xterm");
        throttled(&mut cmd);
        Outcome::of(&mut cmd)
    };
    let tty = on_tty("-n tty");
    tty.ok();
    for needle in ["layer  1", "/s", "eta "] {
        assert!(
            tty.stdout.contains(needle),
            "no '{needle}' on a tty: {tty:#?}"
        );
    }

    // Cache cleared, so the second install downloads too.
    store.run(&["clear-cache"]).ok();
    let mut cmd = store.cmd();
    cmd.args(["install", &image, "-n", "pipe"]);
    throttled(&mut cmd);
    let pipe = Outcome::of(&mut cmd);
    pipe.ok();
    let lines: Vec<&str> = pipe.stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with(":: ")),
        "only step lines on a pipe: {pipe:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("to download")), "{pipe:#?}");
    assert!(!pipe.stderr.contains('\x1b') && !pipe.stderr.contains('\r'));

    store.run(&["clear-cache"]).ok();
    let quiet = on_tty("-n quiet -q");
    quiet.ok();
    assert!(
        quiet.stdout.trim().is_empty(),
        "-q shows nothing: {quiet:#?}"
    );
    // Errors still show with -q.
    let clash = on_tty("-n quiet -q");
    assert_ne!(clash.code, 0);
    assert!(clash.stdout.contains("already exists"), "{clash:#?}");
}
