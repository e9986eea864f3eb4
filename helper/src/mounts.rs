//! Applying the session contract's mount plan (`session_contract::mounts`,
//! tested there as data): every mount made detached (fsmount/open_tree)
//! and moved onto an O_PATH fd that `resolve` checked (rules 5 and 6).

use crate::idmap::set_attrs;
use crate::refusal::{OrSetup, Refusal};
use crate::resolve::{open_target, Kind};
use rustix::fs::{statat, AtFlags, FileType, Mode, OFlags};
use rustix::mount::{self as m, MountAttrFlags as A};
use session_contract::mounts::{Step, DEV_LINKS};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

const NOSUID_NODEV_NOEXEC: A =
    A::MOUNT_ATTR_NOSUID.union(A::MOUNT_ATTR_NODEV).union(A::MOUNT_ATTR_NOEXEC);

/// What the steps take their sources from.
pub struct Sources<'a> {
    /// The attached rootfs view: every target is resolved beneath it.
    pub root: BorrowedFd<'a>,
    /// Detached copies of the bind sources, one per `Step::Bind` in order,
    /// with the kind of target each needs.
    pub binds: &'a [(OwnedFd, Kind)],
}

pub fn apply(steps: &[Step], src: &Sources) -> Result<(), Refusal> {
    // The new file systems by mount point. Paths below one are resolved from
    // the mount itself, not again from the rootfs: the caller owns the rootfs
    // on disk and could rename `proc` between our proc mount and its masks,
    // moving an unmasked proc elsewhere into the container.
    let mut fresh: Vec<(&str, OwnedFd)> = Vec::new();
    let mut binds = src.binds.iter();
    for step in steps {
        match step {
            Step::Fresh { fs, at, attrs, opts } => {
                let (base, rel) = beneath(src.root, &fresh, Path::new(at));
                let target = open_target(base, rel, Some(Kind::Dir))?;
                let attrs = A::from_bits_retain(*attrs);
                let mnt = detached(fs, opts, attrs).or_setup(format_args!("mount a new {fs}"))?;
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
            Step::Bind { at, .. } => {
                let (tree, kind) =
                    binds.next().ok_or_else(|| Refusal::setup("bind", "no source"))?;
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
                        // Not nodev: reading the mask must find /dev/null.
                        let attrs = ro.difference(A::MOUNT_ATTR_NODEV);
                        clone_onto(null.as_fd(), target.as_fd(), attrs, None)?;
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
