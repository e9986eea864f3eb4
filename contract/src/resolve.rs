//! Rule 5: mount targets inside an untrusted rootfs, for cd-mount-helper
//! and the main binary's root sessions alike. Resolved beneath the
//! rootfs without following any symlink (openat2, or an O_PATH walk one
//! component at a time where openat2 is missing), held as O_PATH fds, read
//! checked by walking up from it (device and inode, not path strings) and
//! refused if outside or equal to the rootfs.
//! Mounts then go onto the fd, never onto a path someone could swap.

use crate::refusal::{refuse, Refusal, Rule};
use rustix::fs::{fstat, mkdirat, openat, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

/// What to create when a target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

impl Kind {
    /// What a bind of the host path `source` needs as its target.
    pub fn of(source: &Path) -> Self {
        if source.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        }
    }
}

fn unsafe_target(rel: &Path, why: &str) -> Refusal {
    refuse(Rule::Target, format!("/{}: {why}; nothing was mounted there", rel.display()))
}

const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// openat2 with no symlinks at all, `None` where the kernel lacks it (or a
/// test build pretends so).
fn openat2_strict(dir: BorrowedFd, rel: &Path) -> Option<Result<OwnedFd, Errno>> {
    if cfg!(feature = "force-openat2-fallback") {
        return None;
    }
    use rustix::fs::ResolveFlags as R;
    let how = R::IN_ROOT | R::NO_SYMLINKS | R::NO_MAGICLINKS;
    match rustix::fs::openat2(dir, rel, PATH_FLAGS, Mode::empty(), how) {
        Err(Errno::NOSYS) => None,
        r => Some(r),
    }
}

/// Opens `rel` beneath `root`, creating what is missing when `create` is
/// given (O_EXCL/O_NOFOLLOW, so a racing symlink loses).
pub fn open_target(root: BorrowedFd, rel: &Path, create: Option<Kind>) -> Result<OwnedFd, Refusal> {
    let parts: Vec<_> = rel.components().collect();
    if parts.is_empty() || !parts.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(unsafe_target(rel, "not a plain path below the rootfs"));
    }
    let fd = match openat2_strict(root, rel) {
        Some(Ok(fd)) => fd,
        Some(Err(Errno::NOENT)) | None => walk(root, rel, create)?,
        Some(Err(Errno::LOOP)) => return Err(unsafe_target(rel, "a symlink is on the way")),
        Some(Err(e)) => return Err(unsafe_target(rel, &e.to_string())),
    };
    // O_PATH|O_NOFOLLOW hands out a final symlink itself rather than failing.
    let st = fstat(&fd).map_err(|e| Refusal::setup("inspect a mount target", e))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(unsafe_target(rel, "it is a symlink"));
    }
    check_inside(fd.as_fd(), root, rel)?;
    Ok(fd)
}

/// The fallback (and creation) path: one component at a time, each opened
/// O_PATH|O_NOFOLLOW relative to the previous fd and checked to be a
/// directory (or, last, the kind asked for); a symlink is never followed.
fn walk(root: BorrowedFd, rel: &Path, create: Option<Kind>) -> Result<OwnedFd, Refusal> {
    let parts: Vec<_> = rel.iter().collect();
    let mut dir = openat(root, ".", PATH_FLAGS | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| Refusal::setup("open the rootfs", e))?;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let kind = if last { create } else { create.map(|_| Kind::Dir) };
        let fd = match (openat(&dir, *part, PATH_FLAGS, Mode::empty()), kind) {
            (Ok(fd), _) => fd,
            (Err(Errno::NOENT), Some(kind)) => {
                let made = match kind {
                    Kind::Dir => mkdirat(&dir, *part, Mode::from_raw_mode(0o755)),
                    Kind::File => openat(
                        &dir,
                        *part,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | PATH_FLAGS.difference(OFlags::PATH),
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop),
                };
                made.map_err(|e| unsafe_target(rel, &format!("cannot create it: {e}")))?;
                openat(&dir, *part, PATH_FLAGS, Mode::empty())
                    .map_err(|e| unsafe_target(rel, &e.to_string()))?
            }
            (Err(e), _) => return Err(unsafe_target(rel, &e.to_string())),
        };
        let ft = FileType::from_raw_mode(
            fstat(&fd).map_err(|e| Refusal::setup("inspect a mount target", e))?.st_mode,
        );
        if ft == FileType::Symlink {
            return Err(unsafe_target(rel, "a symlink is on the way"));
        }
        if !last && ft != FileType::Directory {
            return Err(unsafe_target(rel, "a non-directory is on the way"));
        }
        dir = fd;
    }
    Ok(dir)
}

/// Where the kernel says an fd is (for allow-list prefixes of bind
/// sources; never for inside/outside decisions, see `check_inside`).
pub fn fd_path(fd: BorrowedFd) -> Result<std::path::PathBuf, Refusal> {
    std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)))
        .map_err(|e| Refusal::setup("read back a path", e))
}

/// (device, inode) of an fd: what the kernel says it is, not a path.
fn identity(fd: BorrowedFd) -> Result<(u64, u64), Refusal> {
    let st = fstat(fd).map_err(|e| Refusal::setup("inspect a mount target", e))?;
    Ok((st.st_dev, st.st_ino))
}

/// The target must lie strictly inside the rootfs as the tree is now, not
/// as our own walk believed: walking up from it by `..`, one fd at a time,
/// must meet the rootfs before the top of the tree. (Compared by device
/// and inode: path strings read back at two moments disagree whenever
/// the caller renames something meanwhile.) A file is checked through
/// its directory, which must hold it under its name.
fn check_inside(fd: BorrowedFd, root: BorrowedFd, rel: &Path) -> Result<(), Refusal> {
    let (root_id, target_id) = (identity(root)?, identity(fd)?);
    let outside = || unsafe_target(rel, "it resolves outside the rootfs");
    let dir_flags = PATH_FLAGS | OFlags::DIRECTORY;
    if target_id == root_id {
        return Err(unsafe_target(rel, "it is the rootfs itself"));
    }
    let mut dir = match openat(fd, ".", dir_flags, Mode::empty()) {
        Ok(d) => d,
        Err(_) => {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                return Err(outside());
            };
            let parent = match parent.as_os_str().is_empty() {
                true => openat(root, ".", dir_flags, Mode::empty()).map_err(|_| outside())?,
                false => match openat2_strict(root, parent) {
                    Some(r) => r.map_err(|_| outside())?,
                    None => walk(root, parent, None)?,
                },
            };
            let st = rustix::fs::statat(&parent, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|_| outside())?;
            if (st.st_dev, st.st_ino) != target_id {
                return Err(outside());
            }
            if identity(parent.as_fd())? == root_id {
                return Ok(());
            }
            parent
        }
    };
    // Bounded: no real tree is this deep, and a loop must not hang us.
    for _ in 0..4096 {
        let up = openat(&dir, "..", dir_flags, Mode::empty()).map_err(|_| outside())?;
        let id = identity(up.as_fd())?;
        if id == root_id {
            return Ok(());
        }
        if id == identity(dir.as_fd())? {
            return Err(outside());
        }
        dir = up;
    }
    Err(outside())
}

/// Rule 8: enters the working directory, resolved as the calling user
/// inside the root it has (after pivot_root or chroot), with no magic link
/// (/proc/N/cwd) on the way. A missing one falls back to / as login(1) does;
/// one that is a file or that the user cannot enter stops the session.
pub fn enter_cwd(cwd: &Path) -> Result<(), Refusal> {
    use crate::refusal::OrSetup;
    use rustix::fs::ResolveFlags as R;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let opened = match cfg!(feature = "force-openat2-fallback") {
        false => {
            let how = R::IN_ROOT | R::NO_MAGICLINKS;
            rustix::fs::openat2(rustix::fs::CWD, cwd, flags, Mode::empty(), how)
        }
        true => Err(Errno::NOSYS),
    };
    let dir = match opened {
        Err(Errno::NOSYS) => rustix::fs::open(cwd, flags, Mode::empty()),
        r => r,
    };
    // Not a directory, or not enterable by the session's user: a failed
    // setup (125), as Docker's; only leaving the root is a refusal.
    let unenterable = |e: Errno| refuse(Rule::Setup, format!("{}: {e}", cwd.display()));
    match dir {
        Ok(d) => rustix::process::fchdir(&d).map_err(unenterable)?,
        Err(Errno::NOENT) => rustix::process::chdir("/").or_setup("enter /")?,
        Err(e) => return Err(unenterable(e)),
    }
    // The kernel's own answer: an unreachable directory is outside the root.
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.to_bytes().starts_with(b"/") => Ok(()),
        _ => Err(refuse(Rule::Cwd, format!("{} lies outside the rootfs", cwd.display()))),
    }
}
