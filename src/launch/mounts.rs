//! The mount plan of a root-mode session, as data (unit-tested as such),
//! and its application beneath the rootfs.

use super::target::{fd_path, open_target, Kind};
use super::{Error, LaunchSpec};
use nix::mount::{mount, MsFlags};
use std::os::fd::BorrowedFd;
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
    /// The standard device nodes and links in the fresh /dev.
    DevNodes,
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

const USER_BIND: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);

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

/// The container's mounts and this session's own.
fn mounts(spec: &LaunchSpec) -> (Vec<Mount>, Vec<Mount>) {
    use Mount::*;
    // A user namespace may mount a fresh proc only for a PID namespace it
    // owns, and a fresh sysfs only with a network namespace of its own:
    // rootless sessions bind the host's instead, hardened.
    let proc = if spec.userns && !spec.namespaces {
        Bind {
            source: "/proc".into(),
            target: "proc".into(),
            kind: Kind::Dir,
            flags: NOSUID_NODEV_NOEXEC,
        }
    } else {
        Fresh {
            fstype: "proc",
            target: "proc",
            flags: NOSUID_NODEV_NOEXEC,
            // As chroot-distro 3.2: under --isolated a user sees only its
            // own processes' /proc entries, not another uid's.
            data: if spec.isolated { HIDEPID } else { "" },
        }
    };
    let sys_flags = if spec.privileged {
        NOSUID_NODEV_NOEXEC
    } else {
        NOSUID_NODEV_NOEXEC.union(MsFlags::MS_RDONLY)
    };
    let sys = if spec.userns {
        Bind {
            source: "/sys".into(),
            target: "sys".into(),
            kind: Kind::Dir,
            flags: sys_flags,
        }
    } else {
        Fresh {
            fstype: "sysfs",
            target: "sys",
            flags: sys_flags,
            data: "",
        }
    };
    let mut m = vec![
        Fresh {
            fstype: "tmpfs",
            target: "dev",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
            data: "mode=755,size=65536k",
        },
        DevNodes,
        Fresh {
            fstype: "devpts",
            target: "dev/pts",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
            data: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        },
        Fresh {
            fstype: "tmpfs",
            target: "dev/shm",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            data: "mode=1777",
        },
        proc,
        sys,
        Fresh {
            fstype: "tmpfs",
            target: "run",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            data: "mode=755",
        },
    ];
    if spec.minimal {
        return (m, Vec::new());
    }
    // The container's /tmp is its own and shared by its sessions; a
    // session that asks for the host's binds it over in its own namespace.
    m.push(Fresh {
        fstype: "tmpfs",
        target: "tmp",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777",
    });
    if !spec.privileged {
        m.extend(MASKED.iter().map(|t| Mask { target: t }));
        m.extend(READ_ONLY.iter().map(|t| ReadOnly { target: t }));
    }
    let mut own = Vec::new();
    if spec.shared_tmp && !spec.isolated {
        own.push(Bind {
            source: "/tmp".into(),
            target: "tmp".into(),
            kind: Kind::Dir,
            flags: USER_BIND,
        });
    }
    for (src, dst) in &spec.system_binds {
        own.push(Bind {
            source: src.clone(),
            target: dst.strip_prefix("/").unwrap_or(dst).to_path_buf(),
            kind: Kind::of(src),
            flags: MsFlags::MS_NOSUID,
        });
    }
    if !spec.isolated {
        for b in &spec.binds {
            own.push(Bind {
                source: b.source.clone(),
                target: b
                    .target
                    .strip_prefix("/")
                    .unwrap_or(&b.target)
                    .to_path_buf(),
                kind: Kind::of(&b.source),
                // The user's restrictions only add to ours.
                flags: USER_BIND | b.flags.mount_flags(),
            });
        }
    }
    (m, own)
}

/// Applies `plan` beneath `root` (a directory fd on `rootfs`).
pub fn apply(root: BorrowedFd, rootfs: &Path, plan: &[Mount], userns: bool) -> Result<(), Error> {
    for m in plan {
        match m {
            Mount::Fresh {
                fstype,
                target,
                flags,
                data,
            } => {
                let fd = open_target(root, Path::new(target), Kind::Dir)?;
                let at = fd_path(&fd, rootfs)?;
                let data = (!data.is_empty()).then_some(*data);
                mount(Some(*fstype), &at, Some(*fstype), *flags, data)
                    .map_err(|e| Error::setup(format!("mount {fstype} on /{target}"), e))?;
            }
            Mount::DevNodes => dev_nodes(root, rootfs, userns)?,
            Mount::Bind {
                source,
                target,
                kind,
                flags,
            } => {
                // The source is opened as the caller would (root here):
                // a path that does not exist is an error, not a silent skip.
                if std::fs::symlink_metadata(source).is_err() {
                    return Err(Error::setup(
                        format!("bind {}", source.display()),
                        "no such file or directory",
                    ));
                }
                let fd = open_target(root, target, *kind)?;
                let at = fd_path(&fd, rootfs)?;
                mount(
                    Some(source.as_path()),
                    &at,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| Error::setup(format!("bind {}", source.display()), e))?;
                remount(root, rootfs, target, *kind, *flags)?;
            }
            Mount::Mask { target } => {
                let Ok(fd) = open_existing(root, target) else {
                    continue;
                };
                let at = fd_path(&fd, rootfs)?;
                let is_dir = std::fs::metadata(&at).is_ok_and(|m| m.is_dir());
                let r = if is_dir {
                    mount(
                        Some("tmpfs"),
                        &at,
                        Some("tmpfs"),
                        MsFlags::MS_RDONLY,
                        None::<&str>,
                    )
                } else {
                    mount(
                        Some("/dev/null"),
                        &at,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                };
                r.map_err(|e| Error::setup(format!("mask /{target}"), e))?;
            }
            Mount::ReadOnly { target } => {
                let Ok(fd) = open_existing(root, target) else {
                    continue;
                };
                let at = fd_path(&fd, rootfs)?;
                mount(
                    Some(&at),
                    &at,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| Error::setup(format!("bind /{target}"), e))?;
                let kind = Kind::of(&at);
                remount(
                    root,
                    rootfs,
                    Path::new(target),
                    kind,
                    MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC,
                )?;
            }
        }
    }
    Ok(())
}

/// Changes the flags of the mount just made at `target`. The fd used to
/// make it still points at the covered directory, so the target is
/// resolved again to reach the new mount's root.
fn remount(
    root: BorrowedFd,
    rootfs: &Path,
    target: &Path,
    kind: Kind,
    flags: MsFlags,
) -> Result<(), Error> {
    let fd = open_target(root, target, kind)?;
    let at = fd_path(&fd, rootfs)?;
    // A remount replaces the flags: keep what the mount already enforces
    // (in a user namespace, dropping a locked flag is EPERM anyway).
    let kept = rustix::fs::fstatvfs(&fd)
        .map(|st| enforced_flags(st.f_flag))
        .unwrap_or(MsFlags::empty());
    mount(
        None::<&str>,
        &at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | kept,
        None::<&str>,
    )
    .map_err(|e| Error::setup(format!("restrict /{}", target.display()), e))
}

/// The mount flags behind statvfs's `f_flag` bits.
fn enforced_flags(f: rustix::fs::StatVfsMountFlags) -> MsFlags {
    use rustix::fs::StatVfsMountFlags as S;
    [
        (S::RDONLY, MsFlags::MS_RDONLY),
        (S::NOSUID, MsFlags::MS_NOSUID),
        (S::NODEV, MsFlags::MS_NODEV),
        (S::NOEXEC, MsFlags::MS_NOEXEC),
        (S::NOATIME, MsFlags::MS_NOATIME),
        (S::NODIRATIME, MsFlags::MS_NODIRATIME),
        (S::RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(s, _)| f.contains(*s))
    .fold(MsFlags::empty(), |acc, (_, m)| acc | m)
}

/// A proc/sys path that exists (masks skip what the kernel lacks).
fn open_existing(root: BorrowedFd, rel: &str) -> Result<std::os::fd::OwnedFd, ()> {
    let fd = rustix::fs::openat2(
        root,
        rel,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::BENEATH | rustix::fs::ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|_| ())?;
    Ok(fd)
}

/// null, zero, full, random, urandom, tty, and the usual links. A user
/// namespace may not mknod: there the host's nodes are bound instead.
fn dev_nodes(root: BorrowedFd, rootfs: &Path, userns: bool) -> Result<(), Error> {
    use rustix::fs::{mknodat, symlinkat, FileType, Mode};
    let dev = open_target(root, Path::new("dev"), Kind::Dir)?;
    let dev = rustix::fs::openat(
        &dev,
        ".",
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::setup("open /dev", e))?;
    for (name, major, minor) in DEV_NODES {
        if userns {
            let target = Path::new("dev").join(name);
            let fd = open_target(root, &target, Kind::File)?;
            let at = fd_path(&fd, rootfs)?;
            let host = Path::new("/dev").join(name);
            mount(
                Some(&host),
                &at,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::setup(format!("bind {}", host.display()), e))?;
            continue;
        }
        mknodat(
            &dev,
            name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(major, minor),
        )
        .map_err(|e| Error::setup(format!("create /dev/{name}"), e))?;
        // mknod applies the umask; the nodes must be world read/write.
        rustix::fs::chmodat(
            &dev,
            name,
            Mode::from_raw_mode(0o666),
            rustix::fs::AtFlags::empty(),
        )
        .map_err(|e| Error::setup(format!("chmod /dev/{name}"), e))?;
    }
    for (name, target) in DEV_LINKS {
        symlinkat(target, &dev, name).map_err(|e| Error::setup(format!("link /dev/{name}"), e))?;
    }
    for d in ["pts", "shm"] {
        rustix::fs::mkdirat(&dev, d, Mode::from_raw_mode(0o755))
            .map_err(|e| Error::setup(format!("create /dev/{d}"), e))?;
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
            system_binds: vec![],
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
                Mount::DevNodes => "dev:nodes".into(),
                Mount::Bind { target, .. } => format!("bind:{}", target.display()),
            })
            .collect()
    }

    #[test]
    fn default_plan_order_and_hardening() {
        let p = flat(&spec());
        let t = targets(&p);
        assert_eq!(
            &t[..8],
            [
                "dev",
                "dev:nodes",
                "dev/pts",
                "dev/shm",
                "proc",
                "sys",
                "run",
                "tmp"
            ]
        );
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
            Some(USER_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC)
        );
    }

    #[test]
    fn minimal_and_isolated() {
        let mut s = spec();
        s.minimal = true;
        assert_eq!(
            targets(&flat(&s)),
            [
                "dev",
                "dev:nodes",
                "dev/pts",
                "dev/shm",
                "proc",
                "sys",
                "run"
            ]
        );
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
}
