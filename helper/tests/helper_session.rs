//! Sessions the helper grants: real root on an idmapped rootless store,
//! exit codes passed through, nothing of the helper's inside.

mod support;
use support::*;

fn prepare() -> bool {
    if !require_root("running the setcap'd helper as the rig user") {
        return false;
    }
    set_policy(REAL_ROOT);
    true
}

#[test]
fn real_root_sees_image_owners_and_writes_as_the_caller() {
    if !prepare() {
        return;
    }
    let rootfs = debian("helper-deb");
    let _ = std::fs::remove_file(rootfs.join("root/made-by-root"));
    let script =
        format!("id -u; stat -c '%U %G' /etc/shadow; touch /root/made-by-root; {REAL_ROOT_PROBE}");
    let out = session("helper-deb", &[], &["/bin/sh", "-c", &script]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "root shadow"], "{out:?}");
    // A rootless session prints the two lines above too.
    support::assert_real_root(&lines[2..]);
    use std::os::unix::fs::MetadataExt;
    let made = std::fs::symlink_metadata(rootfs.join("root/made-by-root")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (rig().uid(), rig().gid()),
        "container root's file on disk"
    );
}

#[test]
fn no_descriptor_of_the_helper_reaches_the_container() {
    if !prepare() {
        return;
    }
    debian("helper-deb");
    let out = session("helper-deb", &[], &["/bin/ls", "/proc/self/fd"]);
    // 0-2, and the directory ls itself is reading.
    assert_eq!(out.ok().stdout, "0\n1\n2\n3\n");
}

#[test]
fn exit_codes_pass_through() {
    if !prepare() {
        return;
    }
    busybox("helper-bb");
    assert_eq!(session("helper-bb", &[], &["sh", "-c", "exit 7"]).no_leak().code, 7);
    assert_eq!(session("helper-bb", &[], &["sh", "-c", "kill -9 $$"]).no_leak().code, 137);
    let missing = session("helper-bb", &[], &["no-such-command"]);
    assert_eq!(missing.code, 127, "{missing:#?}");
    assert!(missing.stderr.contains("not found"), "{missing:#?}");
    assert_eq!(session("helper-bb", &[], &["/etc/passwd"]).code, 126);
}

#[test]
fn the_command_gets_exactly_the_given_environment_user_and_cwd() {
    if !prepare() {
        return;
    }
    busybox("helper-bb-env");
    let rig = rig();
    let mut args = vec![
        "--store".to_string(),
        rig.store().display().to_string(),
        "--name".into(),
        "helper-bb-env".into(),
    ];
    args.extend(
        [
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--group",
            "5",
            "--cwd",
            "/etc",
            "--env",
            "GREETING=hi",
            "--env",
            "PATH=/bin",
            "--",
            "sh",
            "-c",
            "env | sort; id -u; id -G; pwd; grep CapEff /proc/self/status",
        ]
        .map(String::from),
    );
    let out = run_as_user(
        &helper_bin(),
        Groups::Init,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    out.ok();
    assert_eq!(out.stdout, "GREETING=hi\nPATH=/bin\nPWD=/etc\nSHLVL=1\n1000\n1000 5\n/etc\nCapEff:\t0000000000000000\n");
}

#[test]
fn binds_from_home_are_idmapped_and_isolated_sessions_get_their_namespaces() {
    if !prepare() {
        return;
    }
    busybox("helper-bb-bind");
    let rig = rig();
    let src = std::path::Path::new(rig.get("CD_RIG_HOME")).join("helper-bind");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::chown(&src, Some(rig.uid()), Some(rig.gid())).unwrap();
    let bind = format!("{}:/mnt/host", src.display());
    let out = session(
        "helper-bb-bind",
        &["--bind", &bind],
        &["sh", "-c", "touch /mnt/host/f && stat -c %u /mnt/host/f"],
    );
    assert_eq!(out.ok().stdout, "0\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(src.join("f")).unwrap().uid(), rig.uid());
    // The whole home holds the store itself: its copy must not drag the
    // session's own mounts along (or fail re-idmapping them).
    let home = format!("{}:/mnt/home", rig.get("CD_RIG_HOME"));
    let out = session(
        "helper-bb-bind",
        &["--bind", &home],
        &["sh", "-c", "ls /mnt/home/helper-bind; ls /mnt/home/.local/share/chroot-distro/containers/helper-bb-bind/rootfs/dev | wc -l"],
    );
    assert_eq!(out.ok().stdout, "f\n0\n", "the rootfs's /dev in the bind is the bare directory");
    let out = session(
        "helper-bb-bind",
        &["--isolated", "--hostname", "box"],
        &["sh", "-c", "hostname; cat /proc/1/comm; grep ' /proc ' /proc/self/mountinfo | grep -q -e hidepid=2 -e hidepid=invisible && echo hidepid"],
    );
    assert_eq!(
        out.ok().stdout,
        "box\ncd-mount-helper\nhidepid\n",
        "PID 1 is the session's init, and --isolated hides other users' processes"
    );
}

/// `--bind HOST:GUEST:BITS` adds ro (1) and noexec (8) to a bind; with no
/// bits, or only some, it stays nosuid,nodev (rule 6): never fewer.
#[test]
fn bind_bits_only_add_restrictions() {
    if !prepare() {
        return;
    }
    busybox("helper-bb-bind");
    let rig = rig();
    let src = std::path::Path::new(rig.get("CD_RIG_HOME")).join("helper-bind-flags");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::chown(&src, Some(rig.uid()), Some(rig.gid())).unwrap();
    let binds: Vec<String> = ["ro:1", "nx:8", "none:0", "plain"]
        .iter()
        .map(|b| {
            let (at, bits) = b.split_once(':').map_or((*b, None), |(a, f)| (a, Some(f)));
            let bits = bits.map(|f| format!(":{f}")).unwrap_or_default();
            format!("{}:/mnt/{at}{bits}", src.display())
        })
        .collect();
    let mut extra = Vec::new();
    for b in &binds {
        extra.extend(["--bind", b.as_str()]);
    }
    let probe = "touch /mnt/ro/f 2>/dev/null || echo ro-refused; cat /proc/self/mountinfo";
    let out = session("helper-bb-bind", &extra, &["sh", "-c", probe]);
    let text = &out.ok().stdout;
    // The options field of the mount at /mnt/NAME.
    let opts = |m: &str| -> Vec<&str> {
        let at = format!("/mnt/{m}");
        let mut fields = text.lines().rev().map(|l| l.split(' ').collect::<Vec<_>>());
        let line = fields.find(|f| f.len() > 5 && f[4] == at).expect(&at);
        line[5].split(',').collect()
    };
    for m in ["ro", "nx", "none", "plain"] {
        let o = opts(m);
        assert!(o.contains(&"nosuid") && o.contains(&"nodev"), "{m}: {o:?}");
        assert_eq!(o.contains(&"ro"), m == "ro", "{m}: {o:?}");
        assert_eq!(o.contains(&"noexec"), m == "nx", "{m}: {o:?}");
    }
    assert!(text.contains("ro-refused"), "{text}");
}

#[test]
fn proc_and_sys_stay_read_only_even_in_minimal_sessions() {
    if !prepare() {
        return;
    }
    busybox("helper-bb");
    for extra in [&[][..], &["--minimal"]] {
        // Each file gets its own current value back: harmless even if the
        // masks were missing. (busybox's `test -w` says yes to root.)
        let probe = "for f in /proc/sys/kernel/core_pattern /sys/kernel/uevent_helper; do \
                     v=$(cat $f); (echo \"$v\" > $f) 2>/dev/null && echo $f; done; \
                     touch /etc/probe && echo rootfs";
        let out = session("helper-bb", extra, &["sh", "-c", probe]);
        assert_eq!(out.ok().stdout, "rootfs\n", "{extra:?}");
    }
}

#[test]
fn check_policy_explains_the_grant() {
    if !prepare() {
        return;
    }
    // An exit code and one line; `info` explains the policy itself.
    let out = run_as_user(&helper_bin(), Groups::Init, &["--check-policy"]);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
    assert!(out.stdout.contains("real-root sessions granted by"), "{out:#?}");
    // Refused: the refusing rule's code and line, as for a session.
    set_policy("groups = cdhelper\n");
    let out = run_as_user(&helper_bin(), Groups::Init, &["--check-policy"]);
    set_policy(REAL_ROOT);
    out.refused(7, "real_root = no");
    let out = run_as_user(&helper_bin(), Groups::Clear, &["--check-policy"]);
    out.refused(3, "none of the policy's groups");
}

/// The keyring is not namespaced: container root must not reach host
/// root's keys. (x86_64 syscall numbers; Debian's perl makes the call.)
#[cfg(target_arch = "x86_64")]
#[test]
fn sessions_cannot_reach_the_kernel_keyring_unless_privileged() {
    if !prepare() {
        return;
    }
    debian("helper-deb");
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)
    let probe = "$r = syscall(250, 0, -4, 0); print $r < 0 ? \"$!\\n\" : \"key\\n\"";
    let out = session("helper-deb", &[], &["perl", "-e", probe]);
    assert_eq!(out.ok().stdout, "Operation not permitted\n");
    let status = session("helper-deb", &[], &["grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(status.ok().stdout, "Seccomp:\t2\n");
    set_policy("groups = cdhelper\nreal_root = yes\nprivileged = yes\n");
    let out = session("helper-deb", &["--privileged"], &["perl", "-e", probe]);
    set_policy(REAL_ROOT);
    assert_eq!(out.ok().stdout, "key\n");
}
