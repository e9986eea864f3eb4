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

/// Changes the flags of the mount just made at `target` (for the mounts
/// a build step adds, `step_mounts`), with the kernel's calls.
pub(super) fn remount(
    root: BorrowedFd,
    rootfs: &Path,
    target: &Path,
    kind: Kind,
    flags: MsFlags,
) -> Result<(), Error> {
    let mut at = Applier {
        calls: &mut Kernel,
        root,
        rootfs,
    };
    at.remount(target, kind, flags)
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
#[path = "mounts_tests.rs"]
mod tests;
