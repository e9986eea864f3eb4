//! The one in-root path resolver: every path of an untrusted rootfs, for
//! the unpacker (archive names), `info` and the session's reads of the
//! guest's files, and (rule 5) the mount targets of cd-mount-helper and the
//! main binary's root sessions alike.
//!
//! Paths resolve as if the rootfs were `/`: `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` where the kernel has it, else a walk one
//! `O_NOFOLLOW` component at a time from the root's fd, each symlink read
//! and its target resolved again beneath the root (at most 40, as the
//! kernel), `..` never rising above it. Mount targets are stricter
//! ([`open_target`]): no symlink at all on the way, held as O_PATH fds,
//! checked by walking up from them (device and inode, not path strings) and
//! refused if outside or equal to the rootfs. Mounts then go onto the fd,
//! never onto a path someone could swap.

use crate::refusal::{refuse, Refusal, Rule};
use rustix::fs::ResolveFlags;
use rustix::fs::{fchmod, fstat, mkdirat, openat, readlinkat, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// How paths are looked up beneath the root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResolveMode {
    /// `openat2` where the kernel has it, the walk otherwise.
    #[default]
    Auto,
    /// Always the O_PATH walk (old kernels; tests of the fallback).
    Walk,
}

/// What a symlink met on the way means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Followed, as the guest would, but resolved beneath the root.
    InRoot,
    /// Refused (ELOOP): a mount target must not be reached through one.
    Refuse,
}

/// The kernel's limit on symlink hops, kept by the walk too.
const MAX_HOPS: u32 = 40;
/// Longer names cannot be used from inside the guest anyway.
pub const MAX_PATH: usize = 4095;

/// Normalises a name lexically: leading `/` and `.` components go, `..` is
/// clamped at the root. The result is relative and has only normal
/// components; empty means the root itself.
pub fn normalize(raw: &[u8]) -> Result<PathBuf, &'static str> {
    // The kernel would cut the name at a NUL: what we check and what we
    // create would differ.
    if raw.contains(&0) {
        return Err("NUL byte in name");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let out = parts.join(&b'/');
    if out.len() > MAX_PATH {
        return Err("name longer than PATH_MAX");
    }
    Ok(PathBuf::from(OsString::from_vec(out)))
}

/// Splits a normalised, non-empty path into its parent and final name.
pub fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
    let name = rel.file_name()?;
    Some((rel.parent().unwrap_or(Path::new("")), name))
}

/// Resolves paths beneath a root fd, remembering when `openat2` proved
/// unusable so the walk is taken directly afterwards.
#[derive(Debug)]
pub struct Resolver {
    links: Links,
    no_openat2: Cell<bool>,
}

impl Resolver {
    /// Symlinks followed beneath the root, as the guest sees its files.
    pub fn new(mode: ResolveMode) -> Self {
        Self { links: Links::InRoot, no_openat2: Cell::new(mode == ResolveMode::Walk) }
    }

    /// No symlink at all (mount targets). A test build of the helper may
    /// pretend openat2 is missing.
    fn strict() -> Self {
        let walk = cfg!(feature = "force-openat2-fallback");
        Self { links: Links::Refuse, no_openat2: Cell::new(walk) }
    }

    /// Whether openat2 is still in use (not a walk from the start, nor
    /// given up on a kernel without it).
    pub fn uses_openat2(&self) -> bool {
        !self.no_openat2.get()
    }

    /// The directory `rel` (normalised) beneath `root` as an O_PATH fd.
    /// With `create`, missing directories are made (0755) and counted in
    /// `created`.
    pub fn dir(
        &self,
        root: BorrowedFd,
        rel: &Path,
        create: bool,
        created: &mut u64,
    ) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return root.try_clone_to_owned();
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match self.openat2(root, rel, flags) {
            Some(Ok(fd)) => return Ok(fd),
            // The walk can create through dangling symlinks; openat2 cannot.
            Some(Err(Errno::NOENT)) if create => {}
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        self.walk(root, rel, Want::Dir { create }, created)
    }

    /// Any object at `rel`, a final symlink followed (inside the root), as
    /// an O_PATH fd.
    pub fn any(&self, root: BorrowedFd, rel: &Path) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return root.try_clone_to_owned();
        }
        match self.openat2(root, rel, OFlags::PATH | OFlags::CLOEXEC) {
            Some(r) => Ok(r?),
            None => self.walk(root, rel, Want::Any, &mut 0),
        }
    }

    /// `None` when openat2 is unavailable and the walk must be used.
    fn openat2(
        &self,
        root: BorrowedFd,
        rel: &Path,
        flags: OFlags,
    ) -> Option<Result<OwnedFd, Errno>> {
        if self.no_openat2.get() {
            return None;
        }
        // RESOLVE_NO_MAGICLINKS: a /proc/<pid>/root style link would jump
        // to wherever the kernel says, ignoring RESOLVE_IN_ROOT.
        let mut how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        if self.links == Links::Refuse {
            how |= ResolveFlags::NO_SYMLINKS;
        }
        for _ in 0..4 {
            match rustix::fs::openat2(root, rel, flags, Mode::empty(), how) {
                // ENOSYS: kernel < 5.6; EPERM: a seccomp filter (containers).
                Err(Errno::NOSYS) | Err(Errno::PERM) => {
                    self.no_openat2.set(true);
                    return None;
                }
                // A concurrent rename raced a `..`: retry, then walk.
                Err(Errno::AGAIN) => continue,
                r => return Some(r),
            }
        }
        None
    }

    /// The fallback: one component at a time, never letting the kernel
    /// follow a symlink. Symlinks are refused, or read and their targets
    /// resolved again from the root (absolute) or the current directory
    /// (relative), so even a `/proc/self/root` link is only text re-read
    /// beneath our root.
    fn walk(
        &self,
        root: BorrowedFd,
        rel: &Path,
        want: Want,
        created: &mut u64,
    ) -> io::Result<OwnedFd> {
        // Resolved directories below the root; `..` pops, clamping at the root.
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut pending: Vec<Vec<u8>> = Vec::new();
        push_components(&mut pending, rel.as_os_str().as_bytes());
        let mut hops = 0;
        while let Some(comp) = pending.pop() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let cur = stack.last().map_or(root, |f| f.as_fd());
            let link = if pending.is_empty() && want == Want::Any {
                match readlinkat(cur, comp.as_slice(), Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(Errno::INVAL) => {
                        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                        return Ok(openat(cur, comp.as_slice(), flags, Mode::empty())?);
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match openat(cur, comp.as_slice(), flags, Mode::empty()) {
                    Ok(fd) => {
                        stack.push(fd);
                        continue;
                    }
                    // O_NOFOLLOW|O_DIRECTORY on a symlink is ENOTDIR: is it one?
                    Err(Errno::NOTDIR) => match readlinkat(cur, comp.as_slice(), Vec::new()) {
                        Ok(t) => t.into_bytes(),
                        Err(Errno::INVAL) => return Err(Errno::NOTDIR.into()),
                        Err(e) => return Err(e.into()),
                    },
                    Err(Errno::NOENT) if want == (Want::Dir { create: true }) => {
                        stack.push(make_dir(cur, &comp)?);
                        *created += 1;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            hops += 1;
            if hops > MAX_HOPS || self.links == Links::Refuse {
                return Err(Errno::LOOP.into());
            }
            if link.first() == Some(&b'/') {
                stack.clear();
            }
            push_components(&mut pending, &link);
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => root.try_clone_to_owned(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Dir { create: bool },
    Any,
}

/// Queues the components of `path` so that the first is popped next.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    for c in path.rsplit(|&b| b == b'/') {
        if !c.is_empty() {
            pending.push(c.to_vec());
        }
    }
}

/// A missing directory, 0755 whatever the umask. Opened with O_NOFOLLOW:
/// if something else appeared at the name, we do not enter it.
fn make_dir(parent: BorrowedFd, name: &[u8]) -> io::Result<OwnedFd> {
    match mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(parent, name, flags, Mode::empty())?;
    fchmod(&fd, Mode::from_raw_mode(0o755))?;
    Ok(fd)
}

/// The parent directory of `rel` beneath `root` (O_PATH) and the final
/// name, which is never followed. Nothing is created; `rel` may be absolute
/// or contain `..`: both stay inside the root.
pub fn resolve_parent(
    root: BorrowedFd,
    rel: &Path,
    mode: ResolveMode,
) -> io::Result<(OwnedFd, OsString)> {
    let rel = normalize(rel.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let (parent, name) = split(&rel).ok_or_else(|| io::Error::from_raw_os_error(libc::EISDIR))?;
    let fd = Resolver::new(mode).dir(root, parent, false, &mut 0)?;
    Ok((fd, name.to_owned()))
}

/// Opens `rel` beneath `root` as an O_PATH fd. Symlinks, the final one
/// included, are followed but resolved inside the root (as the guest would
/// see them), so `etc/os-release -> ../usr/lib/os-release` works and
/// `-> /etc/shadow` means the rootfs's own file.
pub fn open_in_root(root: BorrowedFd, rel: &Path, mode: ResolveMode) -> io::Result<OwnedFd> {
    let rel = normalize(rel.as_os_str().as_bytes()).map_err(io::Error::other)?;
    Resolver::new(mode).any(root, &rel)
}

/// What to create when a mount target is missing.
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

/// The reason a strict lookup failed, in the words of rule 5.
fn target_error(rel: &Path, e: io::Error) -> Refusal {
    let why = match e.raw_os_error() {
        Some(libc::ELOOP) => "a symlink is on the way".to_owned(),
        Some(libc::ENOTDIR) => "a non-directory is on the way".to_owned(),
        _ => e.to_string(),
    };
    unsafe_target(rel, &why)
}

const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Rule 5: opens the mount target `rel` beneath `root`, no symlink on the
/// way nor at its end, creating what is missing when `create` is given
/// (O_EXCL/O_NOFOLLOW, so a racing symlink loses).
pub fn open_target(root: BorrowedFd, rel: &Path, create: Option<Kind>) -> Result<OwnedFd, Refusal> {
    let parts: Vec<_> = rel.components().collect();
    if parts.is_empty() || !parts.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(unsafe_target(rel, "not a plain path below the rootfs"));
    }
    let (parent, name) = split(rel).ok_or_else(|| unsafe_target(rel, "no name"))?;
    let dir = Resolver::strict()
        .dir(root, parent, create.is_some(), &mut 0)
        .map_err(|e| target_error(rel, e))?;
    let fd = match (openat(&dir, name, PATH_FLAGS, Mode::empty()), create) {
        (Ok(fd), _) => fd,
        (Err(Errno::NOENT), Some(kind)) => {
            let made = match kind {
                Kind::Dir => mkdirat(&dir, name, Mode::from_raw_mode(0o755)),
                Kind::File => {
                    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
                    openat(&dir, name, flags | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
                        .map(drop)
                }
            };
            made.map_err(|e| unsafe_target(rel, &format!("cannot create it: {e}")))?;
            openat(&dir, name, PATH_FLAGS, Mode::empty())
                .map_err(|e| target_error(rel, e.into()))?
        }
        (Err(e), _) => return Err(target_error(rel, e.into())),
    };
    // O_PATH|O_NOFOLLOW hands out a final symlink itself rather than failing.
    let st = fstat(&fd).map_err(|e| Refusal::setup("inspect a mount target", e))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(unsafe_target(rel, "it is a symlink"));
    }
    check_inside(fd.as_fd(), root, rel)?;
    Ok(fd)
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
                false => {
                    Resolver::strict().dir(root, parent, false, &mut 0).map_err(|_| outside())?
                }
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
