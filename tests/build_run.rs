//! RUN steps through the session machinery (`build::run`), on a real
//! rootfs installed from the rig.

mod common;

use chroot_distro::build::run::{run, Outcome, Sandbox, Step};
use common::{bin, require_root};

fn step(script: &str) -> Step {
    Step {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![("GREETING".into(), "hello  there".into())],
        user: None,
        workdir: "/".into(),
        mounts: Vec::new(),
        network: Default::default(),
    }
}

fn run_in(rootfs: &std::path::Path, step: &Step) -> (Outcome, Vec<String>) {
    let scratch = tempfile::tempdir().unwrap();
    let mut echoed = Vec::new();
    let out = run(
        &bin(),
        rootfs,
        step,
        &Sandbox::default(),
        scratch.path(),
        &mut |l| echoed.push(l.to_owned()),
    )
    .unwrap();
    (out, echoed)
}

#[test]
fn a_step_runs_with_its_env_and_reports_code_and_output() {
    if !require_root("root-mode build steps") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let (out, echoed) = run_in(
        &rootfs,
        &step("echo \"$GREETING\"; id -u; echo $HOME; echo $PATH; echo oops >&2; exit 3"),
    );
    assert_eq!(out.code, 3);
    assert_eq!(
        out.tail,
        [
            "hello  there",
            "0",
            "/root",
            chroot_distro::build::run::DEFAULT_PATH,
            "oops"
        ]
    );
    assert_eq!(echoed, out.tail);
}

#[test]
fn name_servers_are_there_during_the_step_and_gone_after() {
    if !require_root("root-mode build steps") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    for f in ["etc/resolv.conf", "etc/hosts"] {
        let _ = std::fs::remove_file(rootfs.join(f));
    }
    let (out, _) = run_in(
        &rootfs,
        &step("grep -c nameserver /etc/resolv.conf; grep -c localhost /etc/hosts"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_ne!(out.tail[0], "0", "{out:?}");
    assert_ne!(out.tail[1], "0", "{out:?}");
    for f in ["etc/resolv.conf", "etc/hosts"] {
        assert!(!rootfs.join(f).exists(), "{f} left behind");
    }
    // A file the image has keeps its own contents.
    std::fs::write(rootfs.join("etc/hosts"), "10.0.0.1 image-own\n").unwrap();
    let (out, _) = run_in(&rootfs, &step("cat /etc/hosts"));
    assert!(out.tail.iter().any(|l| l.contains("localhost")), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/hosts")).unwrap(),
        "10.0.0.1 image-own\n"
    );
}

#[test]
fn a_step_that_swaps_etc_for_a_host_symlink_cannot_make_us_delete_host_files() {
    if !require_root("root-mode build steps") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let _ = std::fs::remove_file(rootfs.join("etc/resolv.conf"));
    // After the step, etc points at a host directory holding an empty
    // resolv.conf: the clean-up must stay inside the rootfs.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("resolv.conf"), "").unwrap();
    let script = format!("mv /etc /etc.old && ln -s {} /etc", host.path().display());
    let (out, _) = run_in(&rootfs, &step(&script));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        host.path().join("resolv.conf").exists(),
        "a host file was deleted"
    );
}

#[test]
fn user_and_workdir_apply() {
    if !require_root("root-mode build steps") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    std::fs::create_dir_all(rootfs.join("srv/app")).unwrap();
    let mut s = step("id -u; id -g; pwd");
    s.user = Some("1234:5678".into());
    s.workdir = "/srv/app".into();
    let (out, _) = run_in(&rootfs, &s);
    assert_eq!(out.tail, ["1234", "5678", "/srv/app"], "{out:?}");
}
