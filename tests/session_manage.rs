//! ps, kill and unmount against real running sessions.

mod common;

use common::{require_root, Outcome, TestStore};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts `login bb -- script` in the background and waits until its
/// process runs the script (ps lists a session from its very start).
// The child is handed to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
fn background(store: &TestStore, script: &str) -> (Child, u32) {
    let before = store.run(&["ps", "-q"]).stdout;
    let mut child = store
        .cmd()
        .args(["login", "bb", "--", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = store.run(&["ps", "-q"]);
        let new = out
            .stdout
            .lines()
            .find(|l| !before.lines().any(|b| b == *l))
            .and_then(|l| l.parse::<u32>().ok());
        if let Some(pid) = new {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // sh may exec a lone command, so look for the script's last word.
            if cmdline.contains(script.rsplit(' ').next().unwrap_or(script)) {
                // The shell runs; give it a moment to start its children.
                std::thread::sleep(Duration::from_millis(100));
                return (child, pid);
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the session never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ps_lists_live_sessions_and_kill_ends_them() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    assert_eq!(store.run(&["ps"]).ok().stdout, "No active sessions.\n");
    let (mut child, pid) = background(&store, "sleep 60 & sleep 60");
    let out = store.run(&["ps"]);
    out.ok();
    let row = out.stdout.lines().nth(1).unwrap().to_owned();
    assert!(row.starts_with(&format!("{pid} ")), "{row}");
    assert!(
        row.contains(" bb ") && row.contains(" login ") && row.contains(" root "),
        "{row}"
    );
    assert!(row.contains("sleep 60 & sleep 60"), "{row}");
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["ps", "--json"]).stdout).unwrap();
    assert_eq!(json[0]["pid"], pid);
    assert_eq!(json[0]["container"], "bb");
    // Random host PIDs are refused; the session's PID names its container.
    store
        .run(&["kill", "1"])
        .fails_with(1, "not a chroot-distro session");
    store.run(&["kill", &pid.to_string()]).ok();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the session's shell got SIGTERM"
    );
    assert_eq!(store.run(&["ps", "-q"]).stdout, "");
    // Its background job went with it (same mount namespace).
    let stray = Outcome::of(std::process::Command::new("pgrep").args(["-f", "sleep 60"]));
    assert_ne!(stray.code, 0, "leftover processes: {}", stray.stdout);
}

#[test]
fn unmount_ends_every_session_of_a_container() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let (mut a, _) = background(&store, "sleep 61");
    let (mut b, _) = background(&store, "trap '' TERM; sleep 62");
    let out = store.run(&["unmount", "bb"]);
    out.ok();
    assert!(out.stdout.contains("2 session(s) ended"), "{out:#?}");
    assert!(a.wait().unwrap().code().is_some());
    // The one that ignored SIGTERM was killed after the grace period.
    let _ = b.wait().unwrap();
    assert_eq!(store.run(&["ps", "-q"]).stdout, "");
    store
        .run(&["unmount", "ghost"])
        .fails_with(1, "not installed");
    // While sessions run, a mutation is refused with their PIDs.
    let (mut c, pid) = background(&store, "sleep 63");
    store.run(&["remove", "bb"]).fails_with(4, "in use by PID");
    store.run(&["kill", "bb"]).ok();
    let _ = c.wait();
    let _ = pid;
    store.run(&["remove", "bb"]).ok();
}
