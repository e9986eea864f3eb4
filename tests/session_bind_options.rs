//! `-b SRC:DEST:OPTIONS` as chroot-distro 3.2 reads it, in both direct
//! session modes (root, and rootless as the rig's user); the route through
//! cd-mount-helper is tested in helper/tests/helper_client.rs.

mod common;

use common::{require_root, rig, As};
use std::os::unix::fs::PermissionsExt;

const BOTH: [As; 2] = [As::Root, As::User];

/// A host directory `who` can read, holding a file and a runnable script.
fn host_dir(who: As) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bind-")
        .tempdir_in(rig().get("CD_RIG_TMP"))
        .unwrap();
    std::fs::write(dir.path().join("f"), "host\n").unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    if who == As::User {
        let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
        for p in [dir.path().to_path_buf(), dir.path().join("f"), script] {
            std::os::unix::fs::chown(p, Some(uid), None).unwrap();
        }
    }
    dir
}

/// The options field of the mount at `point` in a mountinfo dump.
fn options_of<'a>(mountinfo: &'a str, point: &str) -> Vec<&'a str> {
    mountinfo
        .lines()
        .rev()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 5 && f[4] == point)
        .map(|f| f[5].split(',').collect())
        .unwrap_or_else(|| panic!("no mount at {point} in {mountinfo}"))
}

#[test]
fn bind_options_are_applied_as_a_remount() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let host = host_dir(who);
        let src = host.path().display().to_string();
        let script = "touch /mnt/ro/new 2>&1 || echo write-refused; \
                      /mnt/nx/run.sh 2>/dev/null; echo noexec=$?; \
                      /mnt/plain/run.sh; echo ===; cat /proc/self/mountinfo";
        let out = store.run_as(
            who,
            &[
                "login",
                "bb",
                "-b",
                &format!("{src}:/mnt/ro:ro"),
                "-b",
                &format!("{src}:/mnt/nx:noexec,nosuid,nodev"),
                // rw is the default, z and Z mean nothing to a chroot.
                "-b",
                &format!("{src}:/mnt/plain:rw,z,Z"),
                "--",
                "sh",
                "-c",
                script,
            ],
        );
        out.ok();
        let (said, mountinfo) = out.stdout.split_once("===\n").unwrap();
        assert!(
            said.contains("Read-only file system") && said.contains("write-refused"),
            "{who:?}: {out:#?}"
        );
        assert!(said.contains("noexec=126\nran\n"), "{who:?}: {out:#?}");
        assert!(!host.path().join("new").exists());
        let ro = options_of(mountinfo, "/mnt/ro");
        assert!(ro.contains(&"ro"), "{who:?}: {ro:?}");
        let nx = options_of(mountinfo, "/mnt/nx");
        for want in ["rw", "noexec", "nosuid", "nodev"] {
            assert!(nx.contains(&want), "{who:?}: {want} in {nx:?}");
        }
        // Every bind is nosuid,nodev, whatever its options say.
        let plain = options_of(mountinfo, "/mnt/plain");
        for want in ["rw", "nosuid", "nodev"] {
            assert!(plain.contains(&want), "{who:?}: {want} in {plain:?}");
        }
        assert!(!plain.contains(&"noexec"), "{who:?}: {plain:?}");
    }
}

#[test]
fn a_bad_bind_option_is_a_usage_error_and_starts_nothing() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let rootfs = store.container_dir("bb").join("rootfs");
        for (bind, needle) in [
            ("/tmp:/x:ro,sync", "unknown bind option 'sync'"),
            ("/tmp:/x:suid", "unknown bind option 'suid'"),
            ("/tmp:/x:ro,rw", "contradict"),
            ("/tmp:x", "absolute"),
        ] {
            let out = store.run_as(who, &["login", "bb", "-b", bind, "--", "touch", "/started"]);
            out.fails_with(2, needle);
            assert!(
                !rootfs.join("started").exists() && !rootfs.join("x").exists(),
                "{who:?} {bind}: a session ran"
            );
        }
        // So is a run, which takes the same options.
        let out = store.run_as(who, &["run", "bb", "-b", "/tmp:/x:exec", "--", "true"]);
        out.fails_with(2, "unknown bind option 'exec'");
    }
}

#[test]
fn get_chroot_cmd_remounts_with_the_bind_options() {
    if !require_root("root-mode sessions") {
        return;
    }
    let store = common::store_with_busybox();
    let out = store.run(&[
        "login",
        "bb",
        "-b",
        "/tmp:/data:noexec,ro",
        "--get-chroot-cmd",
    ]);
    out.ok();
    assert!(
        out.stdout
            .contains("mount -o remount,bind,ro,nosuid,nodev,noexec \"$R\"/data"),
        "{out:#?}"
    );
}
