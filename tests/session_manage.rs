//! ps, kill and unmount against real running sessions.

mod common;

use common::{require_root, TestStore};
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
        .args(["login", "bb", "--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
            // The session's PID holds its namespaces; the command is its child.
            let cmdline = common::children_cmdlines(pid).join("\n");
            // sh may exec a lone command, so look for the script's last word.
            if cmdline.contains(script.rsplit(' ').next().unwrap_or(script)) {
                // The shell runs; give it a moment to start its children.
                std::thread::sleep(Duration::from_millis(100));
                return (child, pid);
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the session never started: {:#?} {:?} {}",
                store.run(&["ps"]),
                new.map(common::children_cmdlines),
                String::from_utf8_lossy(&out.stderr)
            );
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
    // list names the session, not the applet behind it.
    let list = store.run(&["list"]);
    assert!(
        list.stdout.contains(&format!("in use ({pid})")),
        "{list:#?}"
    );
    // Random host PIDs are refused; the session's PID names its container.
    store
        .run(&["kill", "1"])
        .fails_with(1, "not a chroot-distro session");
    let tree = common::descendants(pid);
    assert!(
        tree.len() >= 3,
        "holder, shell and background job: {tree:?}"
    );
    store.run(&["kill", &pid.to_string()]).ok();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the session's shell got SIGTERM"
    );
    assert_eq!(store.run(&["ps", "-q"]).stdout, "");
    // Its background job went with it.
    let left: Vec<u32> = tree
        .into_iter()
        .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        .collect();
    assert!(left.is_empty(), "leftover processes: {left:?}");
}

#[test]
fn unmount_ends_every_session_of_a_container() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let (a, pid_a) = background(&store, "sleep 61");
    let (b, pid_b) = background(&store, "trap '' TERM; sleep 62");
    let before = store.run(&["ps"]);
    let procs = common::descendants(pid_a)
        .into_iter()
        .chain(common::descendants(pid_b))
        .collect::<Vec<_>>();
    assert!(procs.len() >= 4, "holders, shells, sleeps: {procs:?}");
    let out = store.run(&["unmount", "bb"]);
    out.ok();
    assert!(
        out.stdout.contains("2 session(s) ended"),
        "{out:#?} {before:#?}"
    );
    // When unmount returns, nothing of either session runs any more (a
    // zombie only waits for its parent, the client, to reap it).
    let running: Vec<u32> = procs
        .iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, r)| !r.starts_with('Z'))
            })
        })
        .collect();
    assert!(running.is_empty(), "still running: {running:?}");
    // The first ended on SIGTERM; the one that ignored it was killed after
    // the grace period. The clients report the commands' deaths as 128+N.
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(128 + libc::SIGTERM), "{a:?}");
    assert_eq!(b.status.code(), Some(128 + libc::SIGKILL), "{b:?}");
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

#[test]
fn concurrent_sessions_share_the_containers_namespaces() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let (mut first, pid) = background(&store, "echo one > /tmp/mark; sleep 64");
    // The second session sees the first one's /tmp: one mount namespace.
    let out = store.run(&["login", "bb", "--", "cat", "/tmp/mark"]);
    assert_eq!(out.ok().stdout, "one\n");
    let ns = |p: u32| std::fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    let (mut second, pid2) = background(&store, "sleep 65");
    assert_eq!(ns(pid), ns(pid2));
    // A session of another shape would need other mounts: refused.
    let refused = store.run(&["login", "bb", "--isolated", "--", "true"]);
    refused.fails_with(1, "is running as root (session");
    assert!(
        refused.stderr.contains("chroot-distro unmount bb"),
        "{refused:#?}"
    );
    store.run(&["unmount", "bb"]).ok();
    let _ = first.wait();
    let _ = second.wait();
    // Once every session ended, the next one starts afresh.
    assert_eq!(
        store
            .run(&[
                "login",
                "bb",
                "--isolated",
                "--",
                "sh",
                "-c",
                "ls /tmp | wc -l"
            ])
            .ok()
            .stdout
            .trim(),
        "0"
    );
}

#[test]
fn killing_a_sessions_applet_leaves_nothing_behind() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let (mut child, pid) = background(&store, "sleep 66 & sleep 67");
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    // Held open so that its inode number is not reused while we look.
    let _pin = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    let in_ns = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path().join("ns/mnt")).is_ok_and(|n| n == ns))
            .count()
    };
    while in_ns() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(in_ns(), 0, "processes (and so mounts) outlived the applet");
    assert_eq!(store.run(&["ps", "-q"]).stdout, "");
}

#[test]
fn run_detached_shows_in_ps_and_ends_with_kill() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // Mistakes are reported at once, not in the log.
    store
        .run(&["run", "-d", "ghost", "--", "true"])
        .fails_with(1, "not installed");
    let out = store.run(&[
        "run",
        "-d",
        "bb",
        "--",
        "sh",
        "-c",
        "echo started; exec sleep 68",
    ]);
    out.ok();
    let pid: u32 = out.stdout.trim().parse().expect("the session's PID");
    let ps = store.run(&["ps"]);
    ps.ok();
    let row = ps.stdout.lines().nth(1).unwrap().to_owned();
    assert!(
        row.starts_with(&format!("{pid} ")) && row.contains(" run* "),
        "{row}"
    );
    assert!(ps.stdout.contains("* detached"), "{ps:#?}");
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["ps", "--json"]).stdout).unwrap();
    let log = json[0]["log"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started")
    {
        assert!(Instant::now() < deadline, "nothing logged in {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    store.run(&["kill", &pid.to_string()]).ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.run(&["ps", "-q"]).stdout.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the detached session survived kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A background command that is done before `run -d` returns succeeded:
/// exit 0 every time, not "ended at once" when it beats the check.
#[test]
fn run_detached_that_ends_at_once_with_success_succeeds() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    for _ in 0..5 {
        let out = store.run(&["run", "-d", "bb", "--", "true"]);
        out.ok();
        out.stdout.trim().parse::<u32>().expect("a PID on stdout");
    }
}

/// `run -d` says where its output goes; `logs NAME` prints it, and
/// `logs NAME -f` follows it until the session ends.
#[test]
fn logs_prints_and_follows_a_background_session() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    store
        .run(&["logs", "bb"])
        .fails_with(1, "'bb' has no logs: only run -d sessions keep one");
    let script = "echo one; sleep 1; echo two; sleep 1; echo three";
    let out = store.run(&["run", "-d", "bb", "--", "sh", "-c", script]);
    out.ok();
    assert!(
        out.stderr.contains("follow it: chroot-distro logs bb -f"),
        "{out:#?}"
    );
    // Follows to the end: all three lines, then returns by itself.
    let follow = store.run(&["logs", "bb", "-f"]);
    follow.ok();
    assert_eq!(follow.stdout, "one\ntwo\nthree\n", "{follow:#?}");
    // Afterwards, without -f: the same log, at once.
    assert_eq!(store.run(&["logs", "bb"]).stdout, "one\ntwo\nthree\n");
    // A second run: logs shows the newest, --all both in order.
    store
        .run(&["run", "-d", "bb", "--", "sh", "-c", "echo again; sleep 1"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.run(&["ps", "-q"]).stdout.is_empty() {
        assert!(Instant::now() < deadline, "the second session did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.run(&["logs", "bb"]).stdout, "again\n");
    assert_eq!(
        store.run(&["logs", "bb", "--all"]).stdout,
        "one\ntwo\nthree\nagain\n"
    );
}

/// Ignored options are said to be ignored; a command given without `--`
/// gets the way to write it.
#[test]
fn hostname_without_a_uts_namespace_and_a_missing_separator_are_explained() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let out = store.run(&["login", "bb", "--hostname", "box", "--get-chroot-cmd"]);
    out.ok();
    assert!(
        out.stderr.contains("--hostname sets only $HOSTNAME here"),
        "{out:#?}"
    );
    let out = store.run(&[
        "login",
        "bb",
        "--isolated",
        "--hostname",
        "box",
        "--get-chroot-cmd",
    ]);
    assert!(!out.stderr.contains("--hostname"), "{out:#?}");
    let out = store.run(&["login", "bb", "cat", "/etc/hostname"]);
    out.fails_with(2, "unexpected argument 'cat'");
    assert!(
        out.stderr.contains("hint: put the command after '--'"),
        "{out:#?}"
    );
}

/// "in use by PID N" names the applet holding the container; `kill N`
/// takes that PID as well as the session's own from `ps`.
#[test]
fn kill_takes_the_pid_an_in_use_error_names() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let mut session = store
        .cmd()
        .args(["login", "bb", "--", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.run(&["ps", "-q"]).stdout.is_empty() {
        assert!(Instant::now() < deadline, "the session never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy = store.run(&["remove", "bb"]);
    let applet = session.id().to_string();
    assert!(
        busy.stderr.contains(&applet),
        "the applet's PID is named: {busy:#?}"
    );
    store.run(&["kill", &applet]).ok();
    let status = session.wait().unwrap();
    assert!(!status.success(), "the session was ended: {status:?}");
}
