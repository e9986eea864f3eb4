//! login and run for a root caller: commands, users, environment, mounts,
//! and the refusals that keep the host safe.

mod common;

use common::{require_root, rig, Outcome, TestStore};
use std::path::Path;
use std::process::Command;

fn sh(store: &TestStore, extra: &[&str], script: &str) -> Outcome {
    let mut args = vec!["login", "bb"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    store.run(&args)
}

#[test]
fn commands_run_and_exit_codes_pass_through() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let out = sh(
        &store,
        &[],
        "echo \"quoted words\" > /tmp/x && cat /tmp/x; exit 7",
    );
    assert_eq!(out.code, 7, "{out:#?}");
    assert_eq!(out.stdout, "quoted words\n");
    let out = store.run(&["sh", "bb", "--", "/nonexistent"]);
    assert_eq!(out.code, 127, "{out:#?}");
    store
        .run(&["login", "ghost", "--", "true"])
        .fails_with(1, "not installed");
}

#[test]
fn users_resolve_from_the_guest() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // nobody's shell is /bin/false: the command still runs through /bin/sh.
    assert_eq!(
        sh(&store, &["-u", "nobody"], "id -u").ok().stdout,
        "65534\n"
    );
    assert_eq!(
        sh(&store, &["-u", "app"], "id -u; id -g; echo $HOME; pwd")
            .ok()
            .stdout,
        "42\n42\n/home/app\n/home/app\n"
    );
    assert_eq!(
        sh(&store, &["-u", "42:0"], "id -u; id -g").ok().stdout,
        "42\n0\n"
    );
    assert_eq!(sh(&store, &["-u", "1234"], "id -u").ok().stdout, "1234\n");
    sh(&store, &["-u", "nosuchuser"], "true").fails_with(1, "nosuchuser");
}

#[test]
fn the_guest_environment_is_built_from_scratch() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let out = Outcome::of(store.cmd().env("SECRET_HOST_VAR", "leak").args([
        "login",
        "bb",
        "-e",
        "FOO=bar baz",
        "-w",
        "/etc",
        "--",
        "sh",
        "-c",
        "env; pwd",
    ]));
    out.ok();
    for want in [
        "HOSTNAME=bb",
        "FOO=bar baz",
        "HOME=/root",
        "USER=root",
        "TERM=xterm-256color",
        "/etc",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want}: {}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("SECRET_HOST_VAR"),
        "host environment leaked"
    );
    store
        .run(&["login", "bb", "-w", "relative", "--", "true"])
        .fails_with(1, "work directory 'relative' is not an absolute path");
}

#[test]
fn a_workdir_that_cannot_be_entered_stops_the_session_with_125() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // A file, and a directory the user may not search: Docker stops there.
    store
        .run(&[
            "login",
            "bb",
            "-w",
            "/etc/passwd",
            "--",
            "sh",
            "-c",
            "echo started",
        ])
        .fails_with(
            125,
            "cannot enter the working directory: /etc/passwd: Not a directory",
        );
    store
        .run(&[
            "login",
            "bb",
            "-u",
            "nobody",
            "-w",
            "/root",
            "--",
            "sh",
            "-c",
            "echo started",
        ])
        .fails_with(125, "/root: Permission denied");
    // A missing one still starts in /, as login(1) does.
    let out = Outcome::of(
        store
            .cmd()
            .args(["login", "bb", "-w", "/nowhere", "--", "sh", "-c", "pwd"]),
    );
    out.ok();
    assert_eq!(out.stdout.trim(), "/");
}

#[test]
fn run_follows_the_entrypoint_cmd_table() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // The fixture has Cmd ["/bin/sh"]: arguments replace it.
    assert_eq!(
        store
            .run(&["run", "bb", "--", "echo", "from", "run"])
            .ok()
            .stdout,
        "from run\n"
    );
    store.run(&["run", "bb"]).ok();
    store
        .run(&[
            "install",
            rig().get("CD_RIG_FIXTURE_ROOTFS_TAR"),
            "-n",
            "plain",
            "-q",
        ])
        .ok();
    store
        .run(&["run", "plain", "--", "true"])
        .fails_with(1, "no manifest.json");
}

#[test]
fn mounts_are_fresh_hardened_and_private() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let out = sh(
        &store,
        &[],
        "echo x > /proc/sys/kernel/hostname 2>&1 || echo ro; test -c /dev/null && echo devnull; \
         test -c /dev/pts/ptmx && echo devpts; touch /tmp/mark && echo tmp",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        out.stdout.contains("Read-only") || lines.contains(&"ro"),
        "{out:#?}"
    );
    for want in ["devnull", "devpts", "tmp"] {
        assert!(lines.contains(&want), "missing {want}: {out:#?}");
    }
    // Root could read kcore or write /proc/sys only if the mounts let it;
    // the mounts themselves, on the masked paths this kernel has.
    common::masks::check(&sh(&store, &[], &common::masks::probe()).stdout);
    // /tmp is fresh per session and nothing was written to the rootfs's tmp.
    assert_eq!(sh(&store, &[], "ls /tmp | wc -l").ok().stdout.trim(), "0");
    assert!(!store.container_dir("bb").join("rootfs/tmp/mark").exists());
    // A host directory bound in, and --isolated gets its own host name.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), b"shared\n").unwrap();
    let bind = format!("{}:/mnt/b", host.path().display());
    assert_eq!(
        sh(&store, &["-b", &bind], "cat /mnt/b/f").ok().stdout,
        "shared\n"
    );
    sh(&store, &["-b", "/tmp:relative"], "true").fails_with(2, "absolute");
    let out = sh(
        &store,
        &["--isolated", "--hostname", "boxy", "-b", &bind],
        "hostname; test -e /mnt/b/f || echo nobind",
    );
    out.ok();
    assert_eq!(out.stdout, "boxy\nnobind\n");
    assert!(
        out.stderr
            .contains("binds nothing from the host, so --bind is ignored"),
        "{out:#?}"
    );
}

#[test]
fn proc_or_dev_symlinked_to_the_host_is_refused() {
    if !require_root("root-mode sessions") {
        return;
    }
    for target in ["proc", "dev"] {
        let store = common::store_with_busybox();
        let rootfs = store.container_dir("bb").join("rootfs");
        let decoy = tempfile::tempdir().unwrap();
        std::fs::write(decoy.path().join("canary"), b"x").unwrap();
        let _ = std::fs::remove_dir_all(rootfs.join(target));
        std::os::unix::fs::symlink(decoy.path(), rootfs.join(target)).unwrap();
        let out = sh(&store, &[], "true");
        assert_eq!(out.code, 125, "{out:#?}");
        assert!(
            out.stderr
                .contains(&format!("unsafe mount target /{target}: it is a symlink")),
            "{out:#?}"
        );
        assert_eq!(std::fs::read_dir(decoy.path()).unwrap().count(), 1);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&decoy.path().display().to_string()));
    }
}

#[test]
fn root_in_a_session_has_dockers_capabilities_unless_privileged() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
    // NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    let docker = "00000000a80425fb";
    let out = sh(
        &store,
        &[],
        "grep -E '^(Cap(Eff|Bnd)|Seccomp):' /proc/self/status",
    );
    out.ok();
    // ...and the seccomp deny-list (mode 2: filter), without no_new_privs.
    assert_eq!(
        out.stdout,
        format!("CapEff:\t{docker}\nCapBnd:\t{docker}\nSeccomp:\t2\n")
    );
    // How /sys and /proc/sys are mounted, from the session's own mount table.
    let opts = "awk '$2 == \"/sys\" || $2 == \"/proc/sys\" { split($4, o, \",\"); print $2, o[1] }' /proc/self/mounts";
    let out = sh(
        &store,
        &["--privileged"],
        &format!("grep -E '^(CapBnd|Seccomp):' /proc/self/status; {opts}"),
    );
    out.ok();
    assert!(!out.stdout.contains(docker), "{out:#?}");
    assert!(out.stdout.contains("Seccomp:\t0"), "{out:#?}");
    assert!(out.stdout.contains("/sys rw"), "{out:#?}");
    assert!(!out.stdout.contains("/proc/sys"), "{out:#?}");
    let out = sh(&store, &[], opts);
    // In mount-table order, which a recursive copy of the tree may change.
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["/proc/sys ro", "/sys ro"], "{out:#?}");
    let out = sh(&store, &["-u", "app"], "grep CapEff /proc/self/status");
    assert_eq!(out.stdout, "CapEff:\t0000000000000000\n");
}

#[test]
fn get_chroot_cmd_reproduces_the_session_with_standard_tools() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let probe =
        "id; echo $HOSTNAME; pwd; grep -E '^Cap(Eff|Bnd)' /proc/self/status; ls /dev; env | sort; \
                 awk '{print $2, $3}' /proc/self/mounts | grep -v '^/ ' | sort";
    for extra in [
        &[][..],
        &["-u", "app", "-w", "/etc", "-e", "X=it's quoted"][..],
        &["--isolated", "--hostname", "h1"][..],
    ] {
        let mut args = vec!["login", "bb"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", probe]);
        let real = store.run(&args);
        real.ok();
        let mut print = args.clone();
        print.insert(2, "--get-chroot-cmd");
        let line = store.run(&print).ok().stdout.clone();
        assert!(line.starts_with("unshare --mount"), "{line}");
        let replay = Outcome::of(store.cmd_with(Path::new("sh")).args(["-c", &line]));
        replay.ok();
        assert_eq!(replay.stdout, real.stdout, "{extra:?}\n{line}");
    }
}

/// Switches a binfmt_misc entry back on when dropped.
struct Reenable(String);

impl Drop for Reenable {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "1");
    }
}

#[test]
fn a_disabled_emulator_gives_the_fix() {
    if !require_root("switching binfmt_misc entries") {
        return;
    }
    let store = TestStore::new();
    common::install_foreign(&store, common::As::Root);
    let entry = rig().get("CD_RIG_BINFMT_ENTRY").to_owned();
    let _guard = Reenable(entry.clone());
    std::fs::write(&entry, "0").unwrap();
    let out = store.run(&["login", "foreign", "--", "uname", "-m"]);
    out.fails_with(1, "is disabled");
    assert!(out.stderr.contains("update-binfmts --enable"), "{out:#?}");
}

#[test]
fn shared_display_binds_only_the_display_sockets() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let runtime = tempfile::tempdir().unwrap();
    let wayland = runtime.path().join("wayland-7");
    let _listener = std::os::unix::net::UnixListener::bind(&wayland).unwrap();
    std::fs::write(runtime.path().join("secret"), b"x").unwrap();
    let out = Outcome::of(
        store
            .cmd()
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("WAYLAND_DISPLAY", "wayland-7")
            .args([
                "login",
                "bb",
                "--shared-display",
                "--",
                "sh",
                "-c",
                "test -S \"$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY\" && echo socket; ls \"$XDG_RUNTIME_DIR\"",
            ]),
    );
    out.ok();
    assert!(out.stdout.starts_with("socket\n"), "{out:#?}");
    assert!(
        !out.stdout.contains("secret"),
        "the whole runtime dir leaked: {out:#?}"
    );
    // Without the option, nothing is shared.
    let out = Outcome::of(
        store
            .cmd()
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("WAYLAND_DISPLAY", "wayland-7")
            .args([
                "login",
                "bb",
                "--",
                "sh",
                "-c",
                "echo \"[$WAYLAND_DISPLAY]\"",
            ]),
    );
    assert_eq!(out.ok().stdout, "[]\n");
}

#[test]
fn cd_use_ns_adds_namespaces_but_keeps_the_binds() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), b"kept\n").unwrap();
    let bind = format!("{}:/mnt/b", host.path().display());
    let out = Outcome::of(store.cmd().env("CD_USE_NS", "yes").args([
        "login",
        "bb",
        "-b",
        &bind,
        "--",
        "sh",
        "-c",
        "echo $$; hostname; cat /mnt/b/f",
    ]));
    assert_eq!(out.ok().stdout, "1\nbb\nkept\n", "{out:#?}");
}

/// `login NAME -- CMD ARG…` runs exactly that argument vector: quotes, `$`,
/// globs, repeated spaces and empty words reach the command untouched, and
/// its exit status comes back; `--get-chroot-cmd` replays the same argv.
#[test]
fn login_runs_exactly_the_words_after_the_separator() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let words = ["echo", "$HOME", "a  b", "*", "", "it's", "-n"];
    let mut args = vec!["login", "bb", "--"];
    args.extend_from_slice(&words);
    let out = store.run(&args);
    assert_eq!(out.ok().stdout, "$HOME a  b *  it's -n\n", "{out:#?}");
    // The reference's own example, and an exit status through a shell.
    let out = store.run(&["login", "bb", "--", "sh", "-c", "echo hello"]);
    assert_eq!(out.ok().stdout, "hello\n");
    assert_eq!(
        store.run(&["login", "bb", "--", "sh", "-c", "exit 7"]).code,
        7
    );
    // A word is never re-read as shell syntax.
    let out = store.run(&["login", "bb", "--", "echo hi > /tmp/x"]);
    assert_eq!(out.code, 127, "{out:#?}");
    // The printed command line passes the same words.
    let mut print = vec!["login", "bb", "--get-chroot-cmd", "--"];
    print.extend_from_slice(&words);
    let line = store.run(&print);
    line.ok();
    let replay = Outcome::of(Command::new("/bin/sh").args(["-c", line.stdout.trim()]));
    assert_eq!(replay.ok().stdout, "$HOME a  b *  it's -n\n", "{line:#?}");
}

/// chroot-distro 3.2's `--no-new-privs` (and `CD_NO_NEW_PRIVS=1`) and
/// `CD_USE_ISOLATION=1` (the variable form of `--isolated`).
#[test]
fn no_new_privs_and_use_isolation_as_in_3_2() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let nnp = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["login", "bb"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "grep", "NoNewPrivs", "/proc/self/status"]);
        let out = Outcome::of(store.cmd().envs(env.iter().copied()).args(&args));
        out.ok()
            .stdout
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(nnp(&[], &[]), "0");
    assert_eq!(nnp(&["--no-new-privs"], &[]), "1");
    assert_eq!(nnp(&[], &[("CD_NO_NEW_PRIVS", "1")]), "1");
    let out = store.run(&[
        "login",
        "bb",
        "--no-new-privs",
        "--get-chroot-cmd",
        "--",
        "true",
    ]);
    assert!(
        out.ok().stdout.contains("setpriv --no-new-privs"),
        "{out:#?}"
    );
    let pid1 = |env: &[(&str, &str)]| {
        let out = Outcome::of(
            store
                .cmd()
                .envs(env.iter().copied())
                .args(["login", "bb", "--", "sh", "-c", "echo $$"]),
        );
        out.ok().stdout.trim().to_owned()
    };
    assert_eq!(pid1(&[("CD_USE_ISOLATION", "1")]), "1");
    assert_ne!(pid1(&[]), "1");
}

#[test]
fn the_command_holds_no_fd_of_ours() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    // The applet's channel to the session child (and anything else of
    // ours) must be closed before the command runs: only stdio is open.
    let mut cmd = store.cmd();
    cmd.args(["login", "bb", "--", "sh", "-c", "ls /proc/$$/fd; true"]);
    common::assert_command_holds_only_stdio(&mut cmd);
}
