//! The mount plan as data: order, restrictions, and what each kind of
//! session gets. Both root paths apply this one plan.

use session_contract::mounts::{
    is_gpu_path, plan, Source, Step, MASKED, NODEV, NOEXEC, NOSUID, RDONLY, READ_ONLY,
};
use session_contract::request::{Bind, Request};
use std::path::Path;

fn req() -> Request {
    Request {
        binds: vec![Bind { src: "/h/x".into(), at: "data".into(), attrs: RDONLY }],
        argv: vec!["sh".into()],
        ..Request::default()
    }
}

fn names(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Fresh { at, .. } | Step::Mask(at) | Step::ReadOnly(at) => at.to_string(),
            Step::DevNode(n) => format!("node:{n}"),
            Step::DevLinks => "links".into(),
            Step::Bind { at, .. } => format!("bind:{}", at.display()),
        })
        .collect()
}

fn fresh(p: &[Step], at: &str) -> (u32, &'static str) {
    p.iter()
        .find_map(|s| match s {
            Step::Fresh { at: a, attrs, opts, .. } if *a == at => Some((*attrs, *opts)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {at}"))
}

fn bind(p: &[Step], source: Source) -> (String, u32, bool) {
    p.iter()
        .find_map(|s| match s {
            Step::Bind { from, at, attrs, idmap } if *from == source => {
                Some((at.display().to_string(), *attrs, *idmap))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no bind from {source:?}"))
}

#[test]
fn default_plan_is_hardened_and_ordered() {
    let p = plan(&req());
    let n = names(&p);
    assert_eq!(&n[..1], ["dev"]);
    assert_eq!(&n[7..13], ["links", "dev/pts", "dev/shm", "proc", "sys", "run"]);
    for path in MASKED.iter().chain(&READ_ONLY) {
        assert!(n.contains(&path.to_string()), "{path}");
    }
    assert_eq!(n[n.len() - 2], "tmp");
    assert_eq!(n.last().unwrap(), "bind:data");
    assert_eq!(fresh(&p, "proc"), (NOSUID | NODEV | NOEXEC, ""));
    assert_eq!(fresh(&p, "sys").0, NOSUID | NODEV | NOEXEC | RDONLY);
    // /dev is nodev: its nodes are the host's, bound one by one.
    assert_eq!(fresh(&p, "dev").0 & NODEV, NODEV);
    // A user bind's restrictions add to nosuid,nodev, through the id map.
    assert_eq!(bind(&p, Source::User(0)), ("data".into(), NOSUID | NODEV | RDONLY, true));
    let isolated = Request { isolated: true, ..req() };
    assert_eq!(fresh(&plan(&isolated), "proc").1, "hidepid=2");
}

#[test]
fn privileged_minimal_and_shared_tmp() {
    let mut r = Request { privileged: true, shared_tmp: true, ..req() };
    let n = names(&plan(&r));
    assert!(!n.iter().any(|x| x.starts_with("proc/")), "{n:?}");
    assert_eq!(fresh(&plan(&r), "sys").0 & RDONLY, 0);
    assert_eq!(bind(&plan(&r), Source::HostTmp), ("tmp".into(), NOSUID | NODEV, true));
    r.minimal = true;
    assert_eq!(names(&plan(&r)).last().unwrap(), "run");
    // Minimal sessions keep the masks: only --privileged drops them.
    r.privileged = false;
    let n = names(&plan(&r));
    assert_eq!(n.last().unwrap(), "proc/fs", "{n:?}");
    assert!(n.contains(&"proc/sysrq-trigger".into()) && !n.contains(&"tmp".into()));
}

/// GPU paths and the emulator reach the session (never silently dropped),
/// read-only and with their host owners; the emulator even in a minimal
/// session, since without it nothing runs.
#[test]
fn gpu_and_emulator_binds() {
    let qemu = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P";
    let r = Request {
        gpu: vec!["/dev/dri".into(), "/dev/nvidia0".into()],
        interpreter: Some(qemu.into()),
        ..req()
    };
    let p = plan(&r);
    assert_eq!(bind(&p, Source::Gpu(0)), ("dev/dri".into(), RDONLY | NOSUID, false));
    assert_eq!(bind(&p, Source::Gpu(1)).0, "dev/nvidia0");
    assert_eq!(bind(&p, Source::Interpreter), (qemu[1..].into(), RDONLY | NOSUID | NODEV, false));
    let minimal = plan(&Request { minimal: true, ..r });
    assert_eq!(bind(&minimal, Source::Interpreter).0, qemu[1..]);
    assert!(!names(&minimal).iter().any(|n| n == "bind:dev/dri"));
}

#[test]
fn gpu_paths_are_the_known_ones() {
    for ok in [
        "/dev/dri",
        "/dev/dxg",
        "/usr/lib/wsl",
        "/dev/nvidia0",
        "/dev/nvidiactl",
        "/dev/nvidia-caps",
    ] {
        assert!(is_gpu_path(Path::new(ok)), "{ok}");
    }
    for bad in
        ["/dev", "/dev/sda", "/dev/nvidia0/x", "/dev/nvidia/../sda", "/etc", "/dev/dri/card0"]
    {
        assert!(!is_gpu_path(Path::new(bad)), "{bad}");
    }
}
