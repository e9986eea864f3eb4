//! What must hold in both session modes: root (a root caller) and
//! rootless (the rig's unprivileged user in a user namespace).

mod common;

use common::{bin, require_root, rig, user_bin, As, Outcome, TestStore};
use std::path::Path;

const BOTH: [As; 2] = [As::Root, As::User];

#[test]
fn sessions_leave_no_mounts_on_a_shared_host() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let login = match who {
            As::Root => format!("'{}'", bin().display()),
            As::User => format!(
                "setpriv --reuid {} --regid {} --init-groups -- '{}'",
                rig().get("CD_RIG_UID"),
                rig().get("CD_RIG_GID"),
                user_bin().display()
            ),
        };
        // Shared propagation, as on systemd hosts: anything not made
        // private would leak out of the session.
        let script = format!(
            "mount --make-rshared / && {login} login bb -- true && grep -c '{}' /proc/self/mountinfo || true",
            store.root().display()
        );
        let out = Outcome::of(store.cmd_with(Path::new("unshare")).args([
            "-m",
            "--propagation",
            "shared",
            "sh",
            "-c",
            &script,
        ]));
        assert_eq!(out.stdout.trim(), "0", "{who:?}: mounts leaked: {out:#?}");
    }
}

#[test]
fn debian_su_works_and_shadow_keeps_its_group() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = TestStore::for_who(who);
        store
            .run_as(
                who,
                &[
                    "install",
                    rig().get("CD_RIG_FIXTURE_DEBIAN"),
                    "-n",
                    "deb",
                    "-q",
                ],
            )
            .ok();
        let out = store.run_as(
            who,
            &[
                "login",
                "deb",
                "--",
                "sh",
                "-c",
                "stat -c %G /etc/shadow; su nobody -s /bin/sh -c 'id -u'",
            ],
        );
        assert_eq!(out.ok().stdout, "shadow\n65534\n", "{who:?}: {out:#?}");
    }
}

#[test]
fn a_foreign_architecture_runs_through_qemu_user() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = TestStore::for_who(who);
        let arch = common::install_foreign(&store, who);
        let out = store.run_as(who, &["login", "foreign", "--", "sh", "-c", "uname -m"]);
        assert_eq!(out.ok().stdout.trim(), arch, "{who:?}");
    }
}

#[test]
fn isolated_sessions_get_their_own_pids_and_host_name() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let outside = std::process::id();
        let script = format!(
            "hostname; echo $$; ls /proc | grep -c '^[0-9]'; \
             kill -0 {outside} 2>/dev/null || echo host-invisible; \
             [ \"$(ls /proc/self/root/../..)\" = \"$(ls /)\" ] && echo root-stays"
        );
        let out = store.run_as(
            who,
            &[
                "login",
                "bb",
                "--isolated",
                "--hostname",
                "boxy",
                "--",
                "sh",
                "-c",
                &script,
            ],
        );
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], "boxy", "{who:?}: {out:#?}");
        assert_eq!(lines[1], "1", "{who:?}: the session is PID 1: {out:#?}");
        let visible: u32 = lines[2].parse().unwrap();
        assert!(visible < 5, "{who:?}: host PIDs visible: {out:#?}");
        assert!(
            lines.contains(&"host-invisible") && lines.contains(&"root-stays"),
            "{who:?}: {out:#?}"
        );
    }
}

#[test]
fn a_second_session_joins_the_first_ones_namespaces() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let mut first = match who {
            As::Root => store.cmd(),
            As::User => store.user_cmd(&user_bin()),
        };
        let mut first = first
            .args([
                "login",
                "bb",
                "--",
                "sh",
                "-c",
                "echo one > /tmp/mark; exec sleep 30",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The container's /tmp is its own: seeing the mark means sharing.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let seen = loop {
            let out = store.run_as(
                who,
                &["login", "bb", "--", "sh", "-c", "cat /tmp/mark 2>/dev/null"],
            );
            if out.stdout == "one\n" || std::time::Instant::now() > deadline {
                break out.stdout;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        store.run_as(who, &["unmount", "bb"]).ok();
        let _ = first.wait();
        assert_eq!(seen, "one\n", "{who:?}: the second session did not join");
    }
}

/// `--isolated` as chroot-distro 3.2 describes it: nothing bound from the
/// host (the sharing options named in one warning), a procfs with
/// `hidepid=2`, and PID 1 inside the container's root. `CD_USE_NS=1` is the
/// control: the same namespaces, no hidepid.
#[test]
fn isolated_binds_nothing_and_hides_other_users_processes() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    let marker = format!("/tmp/cd-isolated-{}", std::process::id());
    std::fs::write(&marker, "host\n").unwrap();
    let host = tempfile::tempdir_in(rig().get("CD_RIG_TMP")).unwrap();
    std::fs::write(host.path().join("f"), "host\n").unwrap();
    let bind = format!("{}:/mnt/b:ro", host.path().display());
    let script = format!(
        "grep ' /proc ' /proc/self/mountinfo | grep -q -e hidepid=2 -e hidepid=invisible && echo hidepid || echo no-hidepid; \
         sleep 30 & p=$!; \
         /bin/busybox su -s /bin/sh app -c \"test -e /proc/$p && echo seen || echo hidden\"; \
         kill $p; cat /proc/1/root/etc/motd; \
         test -e /mnt/b/f && echo bound || echo nobind; \
         test -e {marker} && echo host-tmp || echo own-tmp"
    );
    for who in BOTH {
        let store = common::store_with_busybox_as(who);
        let session = |isolated: bool| {
            let mut cmd = match who {
                As::Root => store.cmd(),
                As::User => store.user_cmd(&user_bin()),
            };
            cmd.args(["login", "bb"]);
            if isolated {
                cmd.args(["--isolated", "--shared-tmp", "--shared-home", "-b", &bind]);
            } else {
                cmd.env("CD_USE_NS", "1");
            }
            Outcome::of(cmd.args(["--", "sh", "-c", &script]))
        };
        let out = session(true);
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], "hidepid", "{who:?}: {out:#?}");
        assert_eq!(
            lines[1..],
            ["hidden", "cd-test fixture", "nobind", "own-tmp"],
            "{who:?}: {out:#?}"
        );
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("ignored"))
            .collect();
        assert_eq!(warnings.len(), 1, "{who:?}: one line: {out:#?}");
        assert!(
            warnings[0].contains("--shared-home, --shared-tmp, --bind are ignored"),
            "{who:?}: {out:#?}"
        );
        let out = session(false);
        assert_eq!(
            out.ok().stdout.lines().take(2).collect::<Vec<_>>(),
            ["no-hidepid", "seen"],
            "{who:?}: the control: {out:#?}"
        );
    }
    let _ = std::fs::remove_file(&marker);
}

/// Container root keeps CAP_SYS_CHROOT (Docker's set), with which a
/// chroot is left: chroot into a subdirectory, then `..` past the old
/// root. The session's root is pivoted, so the climb ends at the
/// container's own `/` and the host's files stay out of reach (the
/// "no host path to escape through" of chroot-distro 3.2's --isolated),
/// with and without --isolated.
#[test]
fn a_session_cannot_climb_out_of_its_root_with_chroot() {
    if !require_root("sessions as root and as the rig's user") {
        return;
    }
    let rig_dir = rig().get("CD_RIG_DIR");
    let climb = format!(
        "mkdir \"/climb\"; chroot \"/climb\" or die \"chroot: $!\"; chdir \"..\" for 1..64; \
         chroot \".\" or die \"chroot .: $!\"; print -d \"{rig_dir}\" ? \"escaped\\n\" : \"inside\\n\""
    );
    for who in BOTH {
        let store = TestStore::for_who(who);
        store
            .run_as(
                who,
                &[
                    "install",
                    rig().get("CD_RIG_FIXTURE_DEBIAN"),
                    "-n",
                    "deb",
                    "-q",
                ],
            )
            .ok();
        for extra in [&[][..], &["--isolated"]] {
            let mut args = vec!["login", "deb"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--", "perl", "-e", &climb]);
            let out = store.run_as(who, &args);
            assert_eq!(out.ok().stdout, "inside\n", "{who:?} {extra:?}: {out:#?}");
        }
    }
}
