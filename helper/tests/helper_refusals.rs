//! Every refusal the design promises, asserted by its rule number, exit
//! code and message, and with the mount table around the helper unchanged.

mod support;
use std::os::unix::fs::symlink;
use std::path::Path;
use support::*;

fn prepare(policy: &str) -> bool {
    if !require_root("running the setcap'd helper as the rig user") {
        return false;
    }
    set_policy(policy);
    true
}

#[test]
fn proc_swapped_for_a_symlink_to_etc_is_refused() {
    if !prepare(REAL_ROOT) {
        return;
    }
    for bin in [helper_bin(), fallback_bin()] {
        let rootfs = busybox("helper-proc-link");
        std::fs::remove_dir(rootfs.join("proc")).unwrap();
        symlink("/etc", rootfs.join("proc")).unwrap();
        let args = session_args(rig(), "helper-proc-link", &[], &["true"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_as_user(&bin, Groups::Init, &args).refused(5, "/proc");
        assert!(Path::new("/etc/passwd").exists());
    }
}

#[test]
fn a_dangling_symlink_as_mount_target_is_refused() {
    if !prepare(REAL_ROOT) {
        return;
    }
    for bin in [helper_bin(), fallback_bin()] {
        let rootfs = busybox("helper-dangling");
        let _ = std::fs::remove_dir_all(rootfs.join("run"));
        symlink("/nonexistent-helper-target", rootfs.join("run")).unwrap();
        let args = session_args(rig(), "helper-dangling", &[], &["true"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_as_user(&bin, Groups::Init, &args).refused(5, "/run");
        assert!(!Path::new("/nonexistent-helper-target").exists());
    }
}

#[test]
fn a_symlink_in_the_middle_of_a_bind_target_is_refused() {
    if !prepare(REAL_ROOT) {
        return;
    }
    for bin in [helper_bin(), fallback_bin()] {
        let rootfs = busybox("helper-mid-link");
        symlink("/", rootfs.join("up")).unwrap();
        let home = rig().get("CD_RIG_HOME").to_string();
        let bind = format!("{home}:/up/mnt");
        let args = session_args(rig(), "helper-mid-link", &["--bind", &bind], &["true"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_as_user(&bin, Groups::Init, &args).refused(5, "/up/mnt");
    }
}

#[test]
fn binding_what_the_caller_cannot_read_is_refused() {
    if !prepare(&format!("{REAL_ROOT}bind_sources = /root /var/lib/cd-test-rig/helper\n")) {
        return;
    }
    busybox("helper-bb");
    std::fs::write("/root/secret", "s").unwrap();
    let unreadable = "/var/lib/cd-test-rig/helper/secret";
    std::fs::write(unreadable, "s").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(unreadable, std::fs::Permissions::from_mode(0o600)).unwrap();
    for src in ["/root/secret", unreadable] {
        session("helper-bb", &["--bind", &format!("{src}:/mnt/x")], &["cat", "/mnt/x"])
            .refused(6, "cannot read");
    }
    std::fs::remove_file("/root/secret").unwrap();
    // Readable, but neither under the caller's home nor allowed by policy.
    session("helper-bb", &["--bind", "/etc/passwd:/mnt/x"], &["true"]).refused(6, "/etc/passwd");
}

#[test]
fn a_container_in_another_users_store_is_refused() {
    let root = "/var/lib/cd-test-rig/helper/stores";
    if !prepare(&format!("{REAL_ROOT}store_roots = {root}\n")) {
        return;
    }
    // Under an allowed root, but root's.
    let rootfs = Path::new(root).join("chroot-distro/containers/theirs/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let store = format!("{root}/chroot-distro");
    let out = run_as_user(
        &helper_bin(),
        Groups::Init,
        &["--store", &store, "--name", "theirs", "--uid", "0", "--gid", "0", "--", "true"],
    );
    out.refused(3, "belongs to uid 0");
    // Outside the caller's home and every store root.
    let out = run_as_user(
        &helper_bin(),
        Groups::Init,
        &["--store", "/root", "--name", "x", "--uid", "0", "--gid", "0", "--", "true"],
    );
    out.refused(3, "neither under your home");
}

#[test]
fn a_caller_outside_the_policy_groups_is_refused() {
    if !prepare(REAL_ROOT) {
        return;
    }
    busybox("helper-bb");
    let args = session_args(rig(), "helper-bb", &[], &["true"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_as_user(&helper_bin(), Groups::Clear, &args).refused(3, "in none of the policy's groups");
}

#[test]
fn a_missing_or_unsafe_policy_grants_nothing() {
    if !prepare(REAL_ROOT) {
        return;
    }
    busybox("helper-bb");
    remove_policy();
    session("helper-bb", &[], &["true"]).refused(3, "No such file");
    set_policy_as(REAL_ROOT, rig().uid(), 0o644);
    session("helper-bb", &[], &["true"]).refused(3, "not a regular file owned by root");
    set_policy_as(REAL_ROOT, 0, 0o664);
    session("helper-bb", &[], &["true"]).refused(3, "writable only by root");
    set_policy("groups = cdhelper\nreal_root = perhaps\n");
    session("helper-bb", &[], &["true"]).refused(3, "yes or no");
    let out = run_as_user(&helper_bin(), Groups::Init, &["--check-policy"]);
    assert_eq!(out.code, 83, "{out:#?}");
    set_policy(REAL_ROOT);
}

#[test]
fn privileged_needs_its_own_grant() {
    if !prepare(REAL_ROOT) {
        return;
    }
    busybox("helper-bb");
    session("helper-bb", &["--privileged"], &["true"]).refused(7, "--privileged");
    set_policy("groups = cdhelper\nreal_root = yes\nprivileged = yes\n");
    let out = session(
        "helper-bb",
        &["--privileged"],
        &["sh", "-c", "touch /sys/kernel/x 2>&1; grep CapEff /proc/self/status"],
    );
    assert!(out.ok().stdout.contains("CapEff:\t00000000a82425fb"), "{out:#?}");
    set_policy(REAL_ROOT);
}

#[test]
fn real_root_needs_the_policy_line() {
    if !prepare("groups = cdhelper\n") {
        return;
    }
    busybox("helper-bb");
    session("helper-bb", &[], &["true"]).refused(7, "real_root = no");
    set_policy(REAL_ROOT);
}

#[test]
fn malformed_requests_are_refused_before_anything_else() {
    if !prepare(REAL_ROOT) {
        return;
    }
    let out = run_as_user(&helper_bin(), Groups::Init, &["--name", "../../etc", "--", "true"]);
    out.refused(1, "--store");
    session("helper-bb", &["--cwd", "relative"], &["true"]).refused(1, "--cwd");
}

/// With only fds 0-2 allowed (`ulimit -n 3`), a dynamically linked helper
/// would die in the loader; the static one starts and names its rule.
#[test]
fn three_descriptors_get_a_rule_not_a_loader_error() {
    if !prepare(REAL_ROOT) {
        return;
    }
    debian("helper-deb");
    let helper = helper_bin();
    let run = |args: &[String]| {
        let mut all = vec!["-c".to_owned(), "ulimit -n 3; exec \"$@\"".into(), "sh".into()];
        all.push(helper.display().to_string());
        all.extend(args.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_as_user(Path::new("/bin/sh"), Groups::Init, &all)
    };
    run(&["--name".into(), "x".into()]).refused(1, "missing --store");
    run(&session_args(rig(), "helper-deb", &[], &["true"])).refused(3, "Too many open files");
}

/// The in-rootfs check compares device and inode, not two /proc/self/fd
/// readlinks: a caller renaming its container's directory back and forth
/// while sessions start may make a start fail to find the container (125,
/// or rule 3), but never makes a mount target look outside the rootfs (rule 5).
#[test]
fn renaming_the_container_during_setup_never_fakes_an_escape() {
    if !prepare(REAL_ROOT) {
        return;
    }
    let rootfs = busybox("helper-rename");
    let dir = rootfs.parent().unwrap().to_path_buf();
    let moved = dir.with_file_name("helper-rename.moved");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (dir, moved, stop) = (dir.clone(), moved.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&dir, &moved).unwrap();
                std::thread::yield_now();
                std::fs::rename(&moved, &dir).unwrap();
                std::thread::yield_now();
            }
        })
    };
    let args = session_args(rig(), "helper-rename", &[], &["true"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut ran = 0;
    for _ in 0..40 {
        let out = run_as_user(&helper_bin(), Groups::Init, &args);
        match out.code {
            0 => ran += 1,
            // Looked for while it was away.
            125 if out.stderr.contains("cannot find container") => {}
            83 => {
                out.refused(3, "helper-rename");
            }
            _ => panic!("{out:#?}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    assert!(ran > 0, "no session started at all while renaming");
}

/// A bind's restrictions are four bits: anything else (another mount flag
/// such as MS_SYNCHRONOUS, or MS_REMOUNT, or option names) is refused
/// before anything is opened or mounted.
#[test]
fn a_bind_flag_beyond_ro_nosuid_nodev_noexec_is_refused() {
    if !prepare(REAL_ROOT) {
        return;
    }
    busybox("helper-bb");
    let home = rig().get("CD_RIG_HOME").to_string();
    for flags in ["16", "32", "4294967295", "ro", "-1", ""] {
        let bind = format!("{home}:/mnt/x:{flags}");
        session("helper-bb", &["--bind", &bind], &["true"]).refused(1, "--bind");
    }
}
