//! The mount plan as data, and its application recorded through
//! [`MountCalls`] (order and flags, no root needed).

use super::*;

fn spec() -> LaunchSpec {
    LaunchSpec {
        rootfs: "/r".into(),
        minimal: false,
        isolated: false,
        namespaces: false,
        hostname: None,
        shared_tmp: false,
        privileged: false,
        no_new_privs: false,
        binds: vec![crate::launch::bind::UserBind {
            source: "/srv/data".into(),
            target: "/data".into(),
            flags: Default::default(),
        }],
        uid: 0,
        gid: 0,
        groups: vec![],
        cwd: "/".into(),
        argv: vec!["/bin/sh".into()],
        env: vec![],
        userns: false,
        join: None,
        gpu: vec![],
        interpreter: None,
        step_mounts: Vec::new(),
        network: crate::launch::Network::Host,
    }
}

fn flat(spec: &LaunchSpec) -> Vec<Mount> {
    plan(spec).all().cloned().collect()
}

fn targets(plan: &[Mount]) -> Vec<String> {
    plan.iter()
        .map(|m| match m {
            Mount::Fresh { target, .. } | Mount::Mask { target } | Mount::ReadOnly { target } => {
                target.to_string()
            }
            Mount::DevLinks => "dev:links".into(),
            Mount::Bind { target, .. } if target.starts_with("dev") => "dev:node".into(),
            Mount::Bind { target, .. } => format!("bind:{}", target.display()),
        })
        .collect()
}

#[test]
fn default_plan_order_and_hardening() {
    let p = flat(&spec());
    let t = targets(&p);
    // The session contract's order: /dev and the host's six nodes
    // bound into it, then the rest; the masks come before /tmp.
    assert_eq!(t[1..7], ["dev:node"; 6]);
    assert_eq!(
        &t[..13],
        [
            "dev",
            "dev:node",
            "dev:node",
            "dev:node",
            "dev:node",
            "dev:node",
            "dev:node",
            "dev:links",
            "dev/pts",
            "dev/shm",
            "proc",
            "sys",
            "run"
        ]
    );
    assert_eq!(t[t.len() - 2], "tmp");
    assert!(t.contains(&"proc/kcore".to_string()));
    assert!(t.contains(&"proc/sys".to_string()));
    assert_eq!(t.last().unwrap(), "bind:data");
    let proc_flags = p.iter().find_map(|m| match m {
        Mount::Fresh {
            target: "proc",
            flags,
            ..
        } => Some(*flags),
        _ => None,
    });
    assert_eq!(proc_flags, Some(NOSUID_NODEV_NOEXEC));
    // Only --isolated hides other users' processes.
    let proc_data = p.iter().find_map(|m| match m {
        Mount::Fresh {
            target: "proc",
            data,
            ..
        } => Some(*data),
        _ => None,
    });
    assert_eq!(proc_data, Some(""));
    let sys_ro = p.iter().any(|m| matches!(m, Mount::Fresh { target: "sys", flags, .. } if flags.contains(MsFlags::MS_RDONLY)));
    assert!(sys_ro);
}

#[test]
fn a_binds_options_add_to_nosuid_nodev() {
    let mut s = spec();
    s.binds[0].flags = "/x:/y:ro,noexec"
        .parse::<crate::launch::bind::BindSpec>()
        .unwrap()
        .flags;
    let flags = plan(&s).session.iter().find_map(|m| match m {
        Mount::Bind { flags, .. } => Some(*flags),
        _ => None,
    });
    assert_eq!(
        flags,
        Some(MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC)
    );
}

#[test]
fn minimal_and_isolated() {
    let mut s = spec();
    s.minimal = true;
    // No /tmp and no binds, but masked like any root session.
    let t = targets(&flat(&s));
    assert_eq!(&t[10..13], ["proc", "sys", "run"]);
    assert_eq!(t.last().unwrap(), "proc/fs");
    assert!(t.contains(&"proc/kcore".to_string()) && !t.contains(&"tmp".to_string()));
    let mut s = spec();
    s.isolated = true;
    s.shared_tmp = true;
    let t = targets(&flat(&s));
    assert!(!t.iter().any(|x| x.starts_with("bind:")), "{t:?}");
    assert!(t.contains(&"tmp".to_string()));
}

#[test]
fn stages_and_rootless_variants() {
    // Container-wide mounts first, per-session binds apart.
    let p = plan(&spec());
    assert!(targets(&p.session) == ["bind:data"], "{:?}", p.session);
    assert!(p.pid_ns.is_empty());
    // A new PID namespace gets its own proc, mounted from inside it.
    let mut s = spec();
    s.isolated = true;
    s.namespaces = true;
    let p = plan(&s);
    let t = targets(&p.pid_ns);
    assert!(t.iter().all(|t| t.starts_with("proc")), "{t:?}");
    assert!(t.contains(&"proc".to_string()));
    // Rootless: the host's proc and sys bound and hardened.
    let mut s = spec();
    s.userns = true;
    let all = flat(&s);
    let bound = |target: &str| {
        all.iter().find_map(|m| match m {
            Mount::Bind {
                source,
                target: t,
                flags,
                ..
            } if t == Path::new(target) => Some((source.clone(), *flags)),
            _ => None,
        })
    };
    assert_eq!(bound("proc"), Some(("/proc".into(), NOSUID_NODEV_NOEXEC)));
    let (src, flags) = bound("sys").unwrap();
    assert_eq!(src, PathBuf::from("/sys"));
    assert!(flags.contains(MsFlags::MS_RDONLY));
    // ...but a rootless isolated session owns its PID namespace: fresh
    // proc, hiding other users' processes.
    s.isolated = true;
    s.namespaces = true;
    assert!(plan(&s).pid_ns.iter().any(|m| matches!(
        m,
        Mount::Fresh {
            target: "proc",
            data: HIDEPID,
            ..
        }
    )));
}

/// One recorded mount(2), with paths back inside the rootfs.
#[derive(Debug)]
struct Recorded {
    source: String,
    target: String,
    fstype: Option<String>,
    flags: MsFlags,
    data: Option<String>,
}

/// Records the calls instead of making them; a `/proc/self/fd/N` path
/// is read back to where it leads beneath the rootfs (`/x`).
struct Recorder {
    rootfs: PathBuf,
    calls: Vec<Recorded>,
}

impl Recorder {
    fn shown(&self, p: &Path) -> String {
        let real = std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf());
        match real.strip_prefix(&self.rootfs) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => p.display().to_string(),
        }
    }
}

impl MountCalls for Recorder {
    fn mount(&mut self, c: MountCall) -> nix::Result<()> {
        let r = Recorded {
            source: c.source.map(|s| self.shown(s)).unwrap_or_default(),
            target: self.shown(c.target),
            fstype: c.fstype.map(str::to_owned),
            flags: c.flags,
            data: c.data.map(str::to_owned),
        };
        self.calls.push(r);
        Ok(())
    }

    fn enforced(&mut self, _: BorrowedFd) -> MsFlags {
        MsFlags::empty()
    }
}

/// The calls that applying `spec`'s whole plan makes, beneath a rootfs
/// where some of the proc paths to mask and to protect exist.
fn applied(spec: &LaunchSpec) -> Vec<Recorded> {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().canonicalize().unwrap();
    for d in ["proc/sys", "proc/acpi"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("proc/kcore"), b"").unwrap();
    let root = std::fs::File::open(&rootfs).unwrap();
    let mut rec = Recorder {
        rootfs: rootfs.clone(),
        calls: Vec::new(),
    };
    let all: Vec<Mount> = plan(spec).all().cloned().collect();
    apply_with(&mut rec, root.as_fd(), &rootfs, &all).unwrap();
    rec.calls
}

fn position(calls: &[Recorded], target: &str, fstype: Option<&str>) -> usize {
    calls
        .iter()
        .position(|c| c.target == target && c.fstype.as_deref() == fstype)
        .unwrap_or_else(|| panic!("no mount on {target}: {calls:#?}"))
}

fn remounts(flags: MsFlags) -> bool {
    flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_BIND)
}

#[test]
fn proc_is_mounted_before_what_masks_and_protects_it() {
    let mut s = spec();
    s.binds[0].source = "/dev/null".into();
    let calls = applied(&s);
    let proc = position(&calls, "/proc", Some("proc"));
    assert_eq!(calls[proc].flags, NOSUID_NODEV_NOEXEC);
    // A directory is masked by an empty read-only tmpfs.
    let acpi = position(&calls, "/proc/acpi", Some("tmpfs"));
    assert_eq!(calls[acpi].flags, MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC);
    assert_eq!(calls[acpi].data.as_deref(), Some("size=0"));
    // A file by /dev/null, then made read-only.
    let kcore = position(&calls, "/proc/kcore", None);
    assert_eq!(calls[kcore].source, "/dev/null");
    assert!(remounts(calls[kcore + 1].flags) && calls[kcore + 1].target == "/proc/kcore");
    assert!(calls[kcore + 1].flags.contains(MsFlags::MS_RDONLY));
    // The kernel's knobs: bound onto themselves, then read-only.
    let sys = position(&calls, "/proc/sys", None);
    assert_eq!(calls[sys].source, "/proc/sys");
    assert_eq!(
        calls[sys + 1].flags,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC
    );
    assert!(proc < acpi && proc < kcore && proc < sys, "{calls:#?}");
    // What the kernel lacks is neither masked nor protected.
    assert!(!calls
        .iter()
        .any(|c| c.target == "/proc/keys" || c.target == "/proc/irq"));
}

#[test]
fn binds_come_last_each_remounted_nosuid_nodev_with_its_options() {
    let mut s = spec();
    s.binds[0].source = "/dev/null".into();
    s.binds[0].target = "/data".into();
    let mut ro = s.binds[0].clone();
    ro.source = std::env::temp_dir();
    ro.target = "/ro".into();
    ro.flags = "/x:/y:ro"
        .parse::<crate::launch::bind::BindSpec>()
        .unwrap()
        .flags;
    s.binds.push(ro);
    let calls = applied(&s);
    let n = calls.len();
    // The last four calls: each bind, then at once its remount.
    let tail: Vec<(&str, MsFlags)> = calls[n - 4..]
        .iter()
        .map(|c| (c.target.as_str(), c.flags))
        .collect();
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let rebind = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | nosuid_nodev;
    assert_eq!(
        tail,
        [
            ("/data", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/data", rebind),
            ("/ro", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/ro", rebind | MsFlags::MS_RDONLY),
        ],
        "{calls:#?}"
    );
    assert_eq!(calls[n - 4].source, "/dev/null");
    // Every read-only remount of the plan follows the mount it restricts.
    for (i, c) in calls.iter().enumerate().filter(|(_, c)| remounts(c.flags)) {
        assert!(
            i > 0 && calls[i - 1].target == c.target,
            "{c:?} after {:?}",
            calls[i - 1]
        );
    }
}

#[test]
fn a_missing_bind_source_stops_before_any_mount_of_it() {
    let mut s = spec();
    s.binds[0].source = "/nonexistent/source".into();
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::File::open(dir.path()).unwrap();
    let mut rec = Recorder {
        rootfs: dir.path().to_path_buf(),
        calls: Vec::new(),
    };
    let e = apply_with(&mut rec, root.as_fd(), dir.path(), &plan(&s).session).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    assert!(rec.calls.is_empty(), "{:#?}", rec.calls);
}
