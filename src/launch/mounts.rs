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
    /// A host path bound (recursively) onto a guest path.
    Bind {
        source: PathBuf,
        target: PathBuf,
        kind: Kind,
        readonly: bool,
    },
    /// Hide a proc/sys file (bind /dev/null) or directory (read-only tmpfs).
    Mask { target: &'static str },
    /// Bind a path onto itself, read-only.
    ReadOnly { target: &'static str },
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Device nodes of a fresh /dev: (name, major, minor), all mode 0666.
pub const DEV_NODES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
/// Symlinks of a fresh /dev: (name, target).
pub const DEV_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

/// Docker's default masked and read-only /proc and /sys paths.
const MASKED: &[&str] = &[
    "proc/kcore",
    "proc/keys",
    "proc/timer_list",
    "proc/sched_debug",
    "proc/scsi",
    "proc/acpi",
    "sys/firmware",
];
const READ_ONLY: &[&str] = &[
    "proc/sys",
    "proc/sysrq-trigger",
    "proc/irq",
    "proc/bus",
    "proc/fs",
];

/// Which mounts a session gets, in order.
pub fn plan(spec: &LaunchSpec) -> Vec<Mount> {
    use Mount::*;
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
        Fresh {
            fstype: "proc",
            target: "proc",
            flags: NOSUID_NODEV_NOEXEC,
            data: "",
        },
        Fresh {
            fstype: "sysfs",
            target: "sys",
            flags: if spec.privileged {
                NOSUID_NODEV_NOEXEC
            } else {
                NOSUID_NODEV_NOEXEC.union(MsFlags::MS_RDONLY)
            },
            data: "",
        },
        Fresh {
            fstype: "tmpfs",
            target: "run",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            data: "mode=755",
        },
    ];
    if spec.minimal {
        return m;
    }
    if spec.shared_tmp && !spec.isolated {
        m.push(Bind {
            source: "/tmp".into(),
            target: "tmp".into(),
            kind: Kind::Dir,
            readonly: false,
        });
    } else {
        m.push(Fresh {
            fstype: "tmpfs",
            target: "tmp",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            data: "mode=1777",
        });
    }
    if !spec.privileged {
        m.extend(MASKED.iter().map(|t| Mask { target: t }));
        m.extend(READ_ONLY.iter().map(|t| ReadOnly { target: t }));
    }
    if !spec.isolated {
        for (src, dst) in &spec.binds {
            let kind = if src.is_dir() { Kind::Dir } else { Kind::File };
            m.push(Bind {
                source: src.clone(),
                target: dst.strip_prefix("/").unwrap_or(dst).to_path_buf(),
                kind,
                readonly: false,
            });
        }
    }
    m
}

/// Applies `plan` beneath `root` (a directory fd on `rootfs`).
pub fn apply(root: BorrowedFd, rootfs: &Path, plan: &[Mount]) -> Result<(), Error> {
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
            Mount::DevNodes => dev_nodes(root)?,
            Mount::Bind {
                source,
                target,
                kind,
                readonly,
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
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if *readonly {
                    flags |= MsFlags::MS_RDONLY;
                }
                remount(root, rootfs, target, *kind, flags)?;
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
                let kind = if std::fs::metadata(&at).is_ok_and(|m| m.is_dir()) {
                    Kind::Dir
                } else {
                    Kind::File
                };
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
    mount(
        None::<&str>,
        &at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None::<&str>,
    )
    .map_err(|e| Error::setup(format!("restrict /{}", target.display()), e))
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

/// null, zero, full, random, urandom, tty, and the usual links.
fn dev_nodes(root: BorrowedFd) -> Result<(), Error> {
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
            hostname: None,
            shared_tmp: false,
            privileged: false,
            binds: vec![("/srv/data".into(), "/data".into())],
            uid: 0,
            gid: 0,
            groups: vec![],
            cwd: "/".into(),
            argv: vec!["/bin/sh".into()],
            env: vec![],
        }
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
        let p = plan(&spec());
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
        let sys_ro = p.iter().any(|m| matches!(m, Mount::Fresh { target: "sys", flags, .. } if flags.contains(MsFlags::MS_RDONLY)));
        assert!(sys_ro);
    }

    #[test]
    fn minimal_and_isolated() {
        let mut s = spec();
        s.minimal = true;
        assert_eq!(
            targets(&plan(&s)),
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
        let t = targets(&plan(&s));
        assert!(!t.iter().any(|x| x.starts_with("bind:")), "{t:?}");
        assert!(t.contains(&"tmp".to_string()));
    }
}
