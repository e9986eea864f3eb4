//! login and run for a non-root caller: a user namespace on the rig
//! user's subordinate ids, with no privilege anywhere.

mod common;

use common::{require_root, rig, user_bin, Outcome, TestStore};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The rig user's store with the busybox fixture as `bb`, installed by
/// that user (so it is laid out on their subordinate ids).
fn user_store() -> Option<TestStore> {
    if !require_root("switching to the rig's unprivileged user") {
        return None;
    }
    Some(common::store_with_busybox_as(common::As::User))
}

fn ush(store: &TestStore, extra: &[&str], script: &str) -> Outcome {
    let mut args = vec!["login", "bb"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    store.run_as_user(&args)
}

fn uid(key: &str) -> u32 {
    rig().get(key).parse().unwrap()
}

#[test]
fn container_root_is_the_caller_and_other_ids_are_subordinate() {
    let Some(store) = user_store() else { return };
    let out = ush(
        &store,
        &[],
        "id -u; tr -s ' ' < /proc/self/uid_map; mkdir /u1234 && chown 1234:1234 /u1234 && touch /made",
    );
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out:#?}");
    assert_eq!(lines[1].trim(), format!("0 {} 1", uid("CD_RIG_UID")));
    let rootfs = store.container_dir("bb").join("rootfs");
    assert_eq!(
        std::fs::metadata(rootfs.join("made")).unwrap().uid(),
        uid("CD_RIG_UID")
    );
    // Every user form works, and a guest uid lands on its subordinate id.
    let out = ush(&store, &["-u", "1234:1234"], "id -u; id -g; touch /u1234/f");
    out.ok();
    assert_eq!(out.stdout, "1234\n1234\n");
    let meta = std::fs::metadata(rootfs.join("u1234/f")).unwrap();
    assert_eq!(meta.uid(), uid("CD_RIG_SUBUID_START") + 1233);
    assert_eq!(meta.gid(), uid("CD_RIG_SUBGID_START") + 1233);
    assert_eq!(
        ush(&store, &["-u", "nobody"], "id -u").ok().stdout,
        "65534\n"
    );
    // Exit codes pass through as in root mode.
    assert_eq!(ush(&store, &[], "exit 9").code, 9);
    assert_eq!(store.run_as_user(&["login", "bb", "--", "/nope"]).code, 127);
}

#[test]
fn host_proc_and_sys_are_bound_and_hardened() {
    let Some(store) = user_store() else { return };
    let out = ush(
        &store,
        &[],
        "grep -E ' /(proc|sys) ' /proc/self/mounts | cut -d' ' -f2,4; \
         test -c /dev/null && echo hi > /dev/null && echo devnull; \
         test -c /dev/pts/ptmx && echo devpts; touch /tmp/t && echo tmp",
    );
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let proc = lines.iter().find(|l| l.starts_with("/proc ")).unwrap();
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(proc.contains(flag), "{proc}");
    }
    let sys = lines.iter().find(|l| l.starts_with("/sys ")).unwrap();
    assert!(sys.contains("ro,") && sys.contains("nosuid"), "{sys}");
    for want in ["devnull", "devpts", "tmp"] {
        assert!(lines.contains(&want), "missing {want}: {out:#?}");
    }
    // The hardening itself, as mounts (a write or read failing proves
    // nothing for a non-root uid).
    let masks = ush(&store, &[], &common::masks::probe());
    common::masks::check(&masks.ok().stdout);
    // A directory the user owns, bound in.
    let host = tempfile::tempdir_in(rig().get("CD_RIG_TMP")).unwrap();
    std::fs::write(host.path().join("f"), b"shared\n").unwrap();
    std::os::unix::fs::chown(host.path(), Some(uid("CD_RIG_UID")), None).unwrap();
    let bind = format!("{}:/mnt/b", host.path().display());
    assert_eq!(
        ush(&store, &["-b", &bind], "cat /mnt/b/f").ok().stdout,
        "shared\n"
    );
}

#[test]
fn rootless_get_chroot_cmd_reproduces_the_session() {
    let Some(store) = user_store() else { return };
    let script = "id -u; id -g; test -c /dev/null && echo devnull; grep -c . /proc/self/uid_map";
    let direct = ush(&store, &[], script);
    direct.ok();
    let line = store.run_as_user(&["login", "bb", "--get-chroot-cmd", "--", "sh", "-c", script]);
    line.ok();
    assert!(line.stdout.starts_with("unshare --map-auto"), "{line:#?}");
    let mut cmd = store.user_cmd(Path::new("/bin/sh"));
    cmd.args(["-c", line.stdout.trim()]);
    let replay = Outcome::of(&mut cmd);
    replay.ok();
    assert_eq!(replay.stdout, direct.stdout);
}

/// `login ARGS` as the rig user with `extra_path` first in PATH.
fn as_user_with_path(store: &TestStore, extra_path: &Path, args: &[&str]) -> Outcome {
    let mut cmd = store.user_cmd(&user_bin());
    cmd.env(
        "PATH",
        format!("{}:/usr/local/bin:/usr/bin:/bin", extra_path.display()),
    )
    .env("CD_DOCKER_AUTH", "me:s3cret-pass")
    .env("CD_DOWNLOAD_WORKERS", "3")
    // A cd-mount-helper installed on this machine, with a policy that
    // grants the rig user, would turn --root into a helper session: pin
    // one that grants nothing, so elevation is what these tests see.
    .env("CD_MOUNT_HELPER", "/bin/false")
    .args(args);
    Outcome::of(&mut cmd)
}

#[test]
fn real_root_for_a_user_elevates_through_sudo_unless_told_not_to() {
    let Some(store) = user_store() else { return };
    let fake = tempfile::tempdir_in(rig().get("CD_RIG_TMP")).unwrap();
    let record = fake.path().join("args");
    std::fs::write(
        fake.path().join("sudo"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nexit 42\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(
        fake.path().join("sudo"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = as_user_with_path(
        &store,
        fake.path(),
        &["login", "bb", "--root", "--no-elevate", "--", "true"],
    );
    out.fails_with(1, "elevation is turned off");
    assert!(!record.exists(), "sudo ran despite --no-elevate");
    // The re-run goes through sudo, with our variables but no secret on
    // its command line; its exit code is the command's.
    let out = as_user_with_path(
        &store,
        fake.path(),
        &["login", "bb", "--root", "--", "true"],
    );
    assert_eq!(out.code, 42, "{out:#?}");
    // Never a bare password prompt: why, which program, whose password.
    assert!(
        out.stderr.contains("real root in the container (--root) needs privilege: running this command again through sudo, which may ask for your own password"),
        "{out:#?}"
    );
    let args = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = args.lines().collect();
    for want in [
        "CD_ELEVATED=1",
        "CD_DOWNLOAD_WORKERS=3",
        &format!("XDG_DATA_HOME={}", store.data_home().display()),
        "login",
        "--root",
    ] {
        assert!(lines.contains(&want), "{want} missing from {lines:?}");
    }
    assert!(
        !args.contains("s3cret-pass"),
        "secret on the command line: {args}"
    );
    let secrets = lines
        .iter()
        .find_map(|l| l.strip_prefix("CD_ELEVATE_SECRETS="))
        .expect("secrets file forwarded");
    let meta = std::fs::metadata(secrets).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), uid("CD_RIG_UID"));
    assert!(std::fs::read_to_string(secrets)
        .unwrap()
        .contains("s3cret-pass"));
    let _ = std::fs::remove_file(secrets);
}

#[test]
fn the_command_holds_no_fd_of_ours() {
    let Some(store) = user_store() else { return };
    // The applet's channel to the session child (and anything else of
    // ours) must be closed before the command runs: only stdio is open.
    let mut cmd = store.user_cmd(&user_bin());
    cmd.args(["login", "bb", "--", "sh", "-c", "ls /proc/$$/fd; true"]);
    common::assert_command_holds_only_stdio(&mut cmd);
}
