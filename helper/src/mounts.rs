//! The session's mounts, as data (unit-tested as such), and their
//! application: every one made detached (fsmount/open_tree) and moved onto
//! an O_PATH fd that `resolve` checked (rules 5 and 6).

use crate::idmap::set_attrs;
use crate::refusal::{OrSetup, Refusal};
use crate::request::Request;
use crate::resolve::{open_target, Kind};
use rustix::fs::{statat, AtFlags, FileType, Mode, OFlags};
use rustix::mount::{self as m, MountAttrFlags as A};
use session_contract::mounts::{DEV_LINKS, DEV_NODES, MASKED, READ_ONLY};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new file system of type `fs` with comma-separated `opts`.
    Fresh { fs: &'static str, at: &'static str, attrs: A, opts: &'static str },
    /// The host's device node bound onto a file in the fresh /dev, so that
    /// /dev itself can be nodev: a node container root makes with MKNOD
    /// opens nothing.
    DevNode(&'static str),
    /// The usual symlinks in /dev.
    DevLinks,
    /// The n-th bind tree (the user binds, then the host's /tmp), already
    /// idmapped and nosuid,nodev (plus the caller's restrictions) throughout.
    Bind { index: usize, at: PathBuf },
    /// Hide a proc/sys path: /dev/null over a file, a read-only tmpfs over a directory.
    Mask(&'static str),
    /// A proc path bound onto itself read-only.
    ReadOnly(&'static str),
}

const NOSUID_NODEV_NOEXEC: A =
    A::MOUNT_ATTR_NOSUID.union(A::MOUNT_ATTR_NODEV).union(A::MOUNT_ATTR_NOEXEC);

/// Which mounts a session gets, in order (the main binary's plan).
pub fn plan(req: &Request) -> Vec<Step> {
    use Step::*;
    let sys_attrs = if req.privileged {
        NOSUID_NODEV_NOEXEC
    } else {
        NOSUID_NODEV_NOEXEC.union(A::MOUNT_ATTR_RDONLY)
    };
    let proc_opts = if req.isolated { "hidepid=2" } else { "" };
    let mut s = vec![Fresh {
        fs: "tmpfs",
        at: "dev",
        attrs: NOSUID_NODEV_NOEXEC,
        opts: "mode=755,size=65536k",
    }];
    s.extend(DEV_NODES.map(|(name, ..)| DevNode(name)));
    s.extend([
        DevLinks,
        Fresh {
            fs: "devpts",
            at: "dev/pts",
            attrs: A::MOUNT_ATTR_NOSUID.union(A::MOUNT_ATTR_NOEXEC),
            opts: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        },
        Fresh { fs: "tmpfs", at: "dev/shm", attrs: NOSUID_NODEV_NOEXEC, opts: "mode=1777" },
        // --isolated: a user sees no other uid's processes (as chroot-distro 3.2).
        Fresh { fs: "proc", at: "proc", attrs: NOSUID_NODEV_NOEXEC, opts: proc_opts },
        Fresh { fs: "sysfs", at: "sys", attrs: sys_attrs, opts: "" },
        Fresh {
            fs: "tmpfs",
            at: "run",
            attrs: A::MOUNT_ATTR_NOSUID.union(A::MOUNT_ATTR_NODEV),
            opts: "mode=755",
        },
    ]);
    // Unlike the main binary (whose root-mode callers are root anyway),
    // masks apply to minimal sessions too: a writable /proc/sysrq-trigger
    // or /proc/sys/kernel/core_pattern is the host.
    if !req.privileged {
        s.extend(MASKED.iter().map(|t| Mask(t)));
        s.extend(READ_ONLY.iter().map(|t| ReadOnly(t)));
    }
    if req.minimal {
        return s;
    }
    s.push(if req.shared_tmp && !req.isolated {
        Bind { index: req.binds.len(), at: "tmp".into() }
    } else {
        Fresh {
            fs: "tmpfs",
            at: "tmp",
            attrs: A::MOUNT_ATTR_NOSUID.union(A::MOUNT_ATTR_NODEV),
            opts: "mode=1777",
        }
    });
    s.extend(req.binds.iter().enumerate().map(|(index, b)| Bind { index, at: b.at.clone() }));
    s
}

/// What the steps take their sources from.
pub struct Sources<'a> {
    /// The attached rootfs view: every target is resolved beneath it.
    pub root: BorrowedFd<'a>,
    /// Detached copies of the bind sources, with the kind of each.
    pub binds: &'a [(OwnedFd, Kind)],
}

pub fn apply(steps: &[Step], src: &Sources) -> Result<(), Refusal> {
    // The new file systems by mount point. Paths below one are resolved from
    // the mount itself, not again from the rootfs: the caller owns the rootfs
    // on disk and could rename `proc` between our proc mount and its masks,
    // moving an unmasked proc elsewhere into the container.
    let mut fresh: Vec<(&str, OwnedFd)> = Vec::new();
    for step in steps {
        match step {
            Step::Fresh { fs, at, attrs, opts } => {
                let (base, rel) = beneath(src.root, &fresh, Path::new(at));
                let target = open_target(base, rel, Some(Kind::Dir))?;
                let mnt = detached(fs, opts, *attrs).or_setup(format_args!("mount a new {fs}"))?;
                move_onto(mnt.as_fd(), target.as_fd())?;
                fresh.push((at, mnt));
            }
            Step::DevNode(name) => {
                let host = format!("/dev/{name}");
                let host = rustix::fs::open(&host, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                    .or_setup(format_args!("open the host's {host}"))?;
                let at = Path::new("dev").join(name);
                let (base, rel) = beneath(src.root, &fresh, &at);
                let target = open_target(base, rel, Some(Kind::File))?;
                let attrs = A::MOUNT_ATTR_NOSUID | A::MOUNT_ATTR_NOEXEC;
                move_onto(clone_tree(host.as_fd(), attrs, None)?.as_fd(), target.as_fd())?;
            }
            Step::DevLinks => {
                let dev = fresh.iter().find(|(at, _)| *at == "dev").map(|(_, fd)| fd);
                let dev = dev.ok_or_else(|| Refusal::setup("link in /dev", "no /dev mounted"))?;
                for (name, to) in DEV_LINKS {
                    rustix::fs::symlinkat(to, dev, name)
                        .or_setup(format_args!("link /dev/{name}"))?;
                }
            }
            Step::Bind { index, at } => {
                let (tree, kind) = &src.binds[*index];
                let (base, rel) = beneath(src.root, &fresh, at);
                let target = open_target(base, rel, Some(*kind))?;
                move_onto(tree.as_fd(), target.as_fd())?;
            }
            Step::Mask(at) | Step::ReadOnly(at) => {
                let (base, rel) = beneath(src.root, &fresh, Path::new(at));
                // Kernel paths that this kernel lacks need no hiding.
                let Ok(st) = statat(base, rel, AtFlags::SYMLINK_NOFOLLOW) else {
                    continue;
                };
                let target = open_target(base, rel, None)?;
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                let ro = A::MOUNT_ATTR_RDONLY | NOSUID_NODEV_NOEXEC;
                match (step, is_dir) {
                    (Step::Mask(_), true) => {
                        let mnt = detached("tmpfs", "size=0", ro).or_setup("mount a mask")?;
                        move_onto(mnt.as_fd(), target.as_fd())?;
                    }
                    (Step::Mask(_), false) => {
                        let null = rustix::fs::open("/dev/null", OFlags::PATH, Mode::empty())
                            .or_setup("open /dev/null")?;
                        let attrs = A::MOUNT_ATTR_RDONLY | A::MOUNT_ATTR_NOSUID;
                        clone_onto(
                            null.as_fd(),
                            target.as_fd(),
                            attrs | A::MOUNT_ATTR_NOEXEC,
                            None,
                        )?;
                    }
                    _ => drop(clone_onto(target.as_fd(), target.as_fd(), ro, None)?),
                }
            }
        }
    }
    Ok(())
}

/// Where to resolve `at` from: the innermost new file system it lies in
/// (with the rest of the path), else the rootfs.
fn beneath<'a>(
    root: BorrowedFd<'a>,
    fresh: &'a [(&str, OwnedFd)],
    at: &'a Path,
) -> (BorrowedFd<'a>, &'a Path) {
    let below = |(name, fd): &'a (&str, OwnedFd)| {
        let rest = at.strip_prefix(name).ok().filter(|r| !r.as_os_str().is_empty())?;
        Some((fd.as_fd(), rest))
    };
    fresh.iter().rev().find_map(below).unwrap_or((root, at))
}

/// A new file system with comma-separated `opts`, mounted nowhere yet.
pub fn detached(fs: &str, opts: &str, attrs: A) -> rustix::io::Result<OwnedFd> {
    let ctx = m::fsopen(fs, m::FsOpenFlags::FSOPEN_CLOEXEC)?;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some((k, v)) => m::fsconfig_set_string(&ctx, k, v)?,
            None => m::fsconfig_set_flag(&ctx, opt)?,
        }
    }
    m::fsconfig_create(&ctx)?;
    m::fsmount(&ctx, m::FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

fn move_onto(mnt: BorrowedFd, target: BorrowedFd) -> Result<(), Refusal> {
    use m::MoveMountFlags as F;
    let flags = F::MOVE_MOUNT_F_EMPTY_PATH | F::MOVE_MOUNT_T_EMPTY_PATH;
    m::move_mount(mnt, "", target, "", flags).or_setup("attach a mount")
}

/// A recursive detached copy of the mount tree at `source`, with `attrs` on
/// every submount (and the id map when given).
pub fn clone_tree(
    source: BorrowedFd,
    attrs: A,
    userns: Option<BorrowedFd>,
) -> Result<OwnedFd, Refusal> {
    use m::OpenTreeFlags as T;
    let flags = T::OPEN_TREE_CLONE | T::OPEN_TREE_CLOEXEC | T::AT_EMPTY_PATH | T::AT_RECURSIVE;
    let tree = m::open_tree(source, "", flags).or_setup("copy a mount tree")?;
    set_attrs(tree.as_fd(), attrs, userns)?;
    Ok(tree)
}

/// `clone_tree` moved onto `target`; the copy stays an fd on its root.
pub fn clone_onto(
    source: BorrowedFd,
    target: BorrowedFd,
    attrs: A,
    userns: Option<BorrowedFd>,
) -> Result<OwnedFd, Refusal> {
    let tree = clone_tree(source, attrs, userns)?;
    move_onto(tree.as_fd(), target)?;
    Ok(tree)
}
