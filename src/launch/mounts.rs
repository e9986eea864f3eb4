//! The mount plan of a root-mode session, as data (unit-tested as such),
//! and its application beneath the rootfs.

use super::mount_calls::{Kernel, MountCall, MountCalls};
use super::target::{fd_path, open_existing, open_target, Kind};
use super::{Error, LaunchSpec};
use nix::mount::MsFlags;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A fresh file system of `fstype` with `data` options.
    Fresh {
        fstype: &'static str,
        target: &'static str,
        flags: MsFlags,
        data: &'static str,
    },
    /// The standard links in the fresh /dev.
    DevLinks,
    /// A host path bound (recursively) onto a guest path, then remounted
    /// with `flags` added to whatever the source mount already enforces.
    Bind {
        source: PathBuf,
        target: PathBuf,
        kind: Kind,
        flags: MsFlags,
    },
    /// Hide a proc/sys file (bind /dev/null) or directory (read-only tmpfs).
    Mask { target: &'static str },
    /// Bind a path onto itself, read-only.
    ReadOnly { target: &'static str },
}

/// proc's option hiding other users' processes (`hidepid=invisible`).
pub const HIDEPID: &str = "hidepid=2";

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

// The fixed paths are the session contract's, which cd-mount-helper
// applies too: one list, so both routes hide the same.
pub use session_contract::mounts::{DEV_LINKS, DEV_NODES, MASKED, READ_ONLY};

/// The mounts of a session, by who makes them.
#[derive(Debug, Default)]
pub struct Plan {
    /// The container's mount namespace, made once and shared by sessions.
    pub container: Vec<Mount>,
    /// /proc of a new PID namespace: mounted by its first process, which
    /// is the only one inside it.
    pub pid_ns: Vec<Mount>,
    /// This session's own binds, in a child mount namespace.
    pub session: Vec<Mount>,
}

impl Plan {
    pub fn all(&self) -> impl Iterator<Item = &Mount> {
        self.container
            .iter()
            .chain(&self.pid_ns)
            .chain(&self.session)
    }
}

/// A device node of the host's bound into the fresh /dev.
const DEV_NODE: u32 = session_contract::mounts::NOSUID | session_contract::mounts::NOEXEC;

/// Which mounts a session gets, in order.
pub fn plan(spec: &LaunchSpec) -> Plan {
    let (shared, session) = mounts(spec);
    let mut p = Plan {
        session,
        ..Plan::default()
    };
    for m in shared {
        let in_proc = match &m {
            Mount::Fresh { target, .. } | Mount::Mask { target } | Mount::ReadOnly { target } => {
                Path::new(target).starts_with("proc")
            }
            _ => false,
        };
        if spec.namespaces && in_proc {
            p.pid_ns.push(m);
        } else {
            p.container.push(m);
        }
    }
    p
}

/// The container's mounts and this session's own: the session contract's
/// plan, which cd-mount-helper applies too, so a root session has the same
/// mounts whichever way it starts. Only a rootless session differs: a user
/// namespace may mount a fresh proc only for a PID namespace it owns, and a
/// fresh sysfs only with a network namespace of its own, so it binds the
/// host's instead, hardened the same way.
fn mounts(spec: &LaunchSpec) -> (Vec<Mount>, Vec<Mount>) {
    use session_contract::mounts::{plan, Source, Step};
    let req = spec.contract();
    let flags = |attrs: u32| MsFlags::from_bits_retain(libc::c_ulong::from(attrs));
    let host = |source: &str, target: &str, kind, attrs| Mount::Bind {
        source: source.into(),
        target: target.into(),
        kind,
        flags: flags(attrs),
    };
    let (mut shared, mut own) = (Vec::new(), Vec::new());
    for step in plan(&req) {
        shared.push(match step {
            Step::Fresh {
                fs: "proc", attrs, ..
            } if spec.userns && !spec.namespaces => host("/proc", "proc", Kind::Dir, attrs),
            Step::Fresh {
                fs: "sysfs", attrs, ..
            } if spec.userns => host("/sys", "sys", Kind::Dir, attrs),
            Step::Fresh {
                fs,
                at,
                attrs,
                opts,
            } => Mount::Fresh {
                fstype: fs,
                target: at,
                flags: flags(attrs),
                data: opts,
            },
            // The host's nodes, bound: /dev itself stays nodev, so a node
            // container root makes with MKNOD opens nothing.
            Step::DevNode(name) => host(
                &format!("/dev/{name}"),
                &format!("dev/{name}"),
                Kind::File,
                DEV_NODE,
            ),
            Step::DevLinks => Mount::DevLinks,
            Step::Mask(target) => Mount::Mask { target },
            Step::ReadOnly(target) => Mount::ReadOnly { target },
            // Binds are the session's own, in its child mount namespace.
            Step::Bind {
                from, at, attrs, ..
            } => {
                let source = match from {
                    Source::User(i) => spec.binds[i].source.clone(),
                    Source::HostTmp => "/tmp".into(),
                    Source::Gpu(i) => req.gpu[i].clone(),
                    Source::Interpreter => req.interpreter.clone().unwrap_or_default(),
                };
                let kind = Kind::of(&source);
                own.push(Mount::Bind {
                    source,
                    target: at,
                    kind,
                    flags: flags(attrs),
                });
                continue;
            }
        });
    }
    (shared, own)
}

/// Applies `plan` beneath `root` (a directory fd on `rootfs`) with the
/// kernel's mount calls.
pub fn apply(root: BorrowedFd, rootfs: &Path, plan: &[Mount]) -> Result<(), Error> {
    apply_with(&mut Kernel, root, rootfs, plan)
}

/// [`apply`] through `calls`. Every target is resolved beneath `root`
/// (never following a symlink) and mounted through its fd's path.
pub fn apply_with(
    calls: &mut dyn MountCalls,
    root: BorrowedFd,
    rootfs: &Path,
    plan: &[Mount],
) -> Result<(), Error> {
    let mut at = Applier {
        calls,
        root,
        rootfs,
    };
    for m in plan {
        match m {
            Mount::Fresh {
                fstype,
                target,
                flags,
                data,
            } => at.fresh(fstype, Path::new(target), *flags, data)?,
            Mount::DevLinks => dev_links(root)?,
            Mount::Bind {
                source,
                target,
                kind,
                flags,
            } => at.bind(source, target, *kind, *flags)?,
            Mount::Mask { target } => at.mask(Path::new(target))?,
            Mount::ReadOnly { target } => at.read_only(Path::new(target))?,
        }
    }
    Ok(())
}

/// Mounts beneath one rootfs.
struct Applier<'a> {
    calls: &'a mut dyn MountCalls,
    root: BorrowedFd<'a>,
    rootfs: &'a Path,
}

impl Applier<'_> {
    fn call(
        &mut self,
        source: Option<&Path>,
        at: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        self.calls.mount(MountCall {
            source,
            target: at,
            fstype,
            flags,
            data,
        })
    }

    fn fresh(
        &mut self,
        fstype: &str,
        target: &Path,
        flags: MsFlags,
        data: &str,
    ) -> Result<(), Error> {
        let fd = open_target(self.root, target, Kind::Dir)?;
        let at = fd_path(&fd, self.rootfs)?;
        let data = (!data.is_empty()).then_some(data);
        let fs = Path::new(fstype);
        self.call(Some(fs), &at, Some(fstype), flags, data)
            .map_err(|e| Error::setup(format!("mount {fstype} on /{}", target.display()), e))
    }

    /// A host path, recursively, then `flags` added by a remount.
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        kind: Kind,
        flags: MsFlags,
    ) -> Result<(), Error> {
        // The source is opened as the caller would (root here): a path
        // that does not exist is an error, not a silent skip.
        let err = |e: &dyn std::fmt::Display| Error::setup(format!("bind {}", source.display()), e);
        if std::fs::symlink_metadata(source).is_err() {
            return Err(err(&"no such file or directory"));
        }
        let fd = open_target(self.root, target, kind)?;
        let at = fd_path(&fd, self.rootfs)?;
        self.call(
            Some(source),
            &at,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(|e| err(&e))?;
        self.remount(target, kind, flags)
    }

    /// As cd-mount-helper masks (the session contract): an empty read-only
    /// tmpfs over a directory, /dev/null bound read-only over a file (not
    /// nodev: reading it must work). What this kernel lacks needs no mask.
    fn mask(&mut self, target: &Path) -> Result<(), Error> {
        let Some(fd) = open_existing(self.root, target) else {
            return Ok(());
        };
        let at = fd_path(&fd, self.rootfs)?;
        let err = |e| Error::setup(format!("mask /{}", target.display()), e);
        if std::fs::metadata(&at).is_ok_and(|m| m.is_dir()) {
            let flags = MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC;
            let tmpfs = Path::new("tmpfs");
            return self
                .call(Some(tmpfs), &at, Some("tmpfs"), flags, Some("size=0"))
                .map_err(err);
        }
        let null = Path::new("/dev/null");
        self.call(Some(null), &at, None, MsFlags::MS_BIND, None)
            .map_err(err)?;
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        self.remount(target, Kind::File, flags)
    }

    /// A path bound onto itself, then made read-only.
    fn read_only(&mut self, target: &Path) -> Result<(), Error> {
        let Some(fd) = open_existing(self.root, target) else {
            return Ok(());
        };
        let at = fd_path(&fd, self.rootfs)?;
        self.call(
            Some(&at),
            &at,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(|e| Error::setup(format!("bind /{}", target.display()), e))?;
        let kind = Kind::of(&at);
        self.remount(target, kind, MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC)
    }

    /// Changes the flags of the mount just made at `target`. The fd used to
    /// make it still points at the covered directory, so the target is
    /// resolved again to reach the new mount's root.
    fn remount(&mut self, target: &Path, kind: Kind, flags: MsFlags) -> Result<(), Error> {
        let fd = open_target(self.root, target, kind)?;
        let at = fd_path(&fd, self.rootfs)?;
        // A remount replaces the flags: keep what the mount already enforces.
        let kept = self.calls.enforced(fd.as_fd());
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | kept;
        self.call(None, &at, None, flags, None)
            .map_err(|e| Error::setup(format!("restrict /{}", target.display()), e))
    }
}

/// The usual links in the fresh /dev (its nodes are bound from the host's).
fn dev_links(root: BorrowedFd) -> Result<(), Error> {
    let dev = open_target(root, Path::new("dev"), Kind::Dir)?;
    let flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
    let dev = rustix::fs::openat(&dev, ".", flags, rustix::fs::Mode::empty())
        .map_err(|e| Error::setup("open /dev", e))?;
    for (name, target) in DEV_LINKS {
        rustix::fs::symlinkat(target, &dev, name)
            .map_err(|e| Error::setup(format!("link /dev/{name}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            network: crate::launch::Network::Host,
        }
    }

    fn flat(spec: &LaunchSpec) -> Vec<Mount> {
        plan(spec).all().cloned().collect()
    }

    fn targets(plan: &[Mount]) -> Vec<String> {
        plan.iter()
            .map(|m| match m {
                Mount::Fresh { target, .. }
                | Mount::Mask { target }
                | Mount::ReadOnly { target } => target.to_string(),
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
}
