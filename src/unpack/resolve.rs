//! Path resolution confined beneath a root directory fd.
//!
//! Archive names are untrusted: `..`, absolute names and symlinks planted by
//! earlier entries must never reach outside the rootfs. Names are first
//! normalised lexically, then resolved with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, or, where that syscall is missing (Linux < 5.6,
//! seccomp filters), by walking one `O_NOFOLLOW` component at a time and
//! re-resolving every symlink ourselves relative to the root.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{fchmod, mkdirat, openat, openat2, readlinkat, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How parent directories are resolved beneath the root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolveMode {
    /// `openat2` where the kernel has it, the walk otherwise.
    #[default]
    Auto,
    /// Always the O_PATH walk (old kernels; tests of the fallback).
    Walk,
}

/// The kernel's limit on symlink hops, kept by the walk too.
const MAX_HOPS: u32 = 40;
/// Longer names cannot be used from inside the guest anyway.
pub const MAX_PATH: usize = 4095;

/// Normalises an archive name lexically: leading `/` and `.` components go,
/// `..` is clamped at the root. The result is relative and has only normal
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
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
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
    no_openat2: Cell<bool>,
}

impl Resolver {
    pub fn new(mode: ResolveMode) -> Self {
        Self {
            no_openat2: Cell::new(mode == ResolveMode::Walk),
        }
    }

    /// Whether openat2 is still in use (not a walk from the start, nor
    /// given up on a kernel without it).
    #[cfg(test)]
    pub(crate) fn uses_openat2(&self) -> bool {
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
        match self.openat2(root, rel, flags)? {
            Some(Ok(fd)) => return Ok(fd),
            // The walk can create through dangling symlinks; openat2 cannot.
            Some(Err(Errno::NOENT)) if create => {}
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        walk(root, rel, Want::Dir { create }, created)
    }

    /// Any object at `rel`, final symlinks followed (inside the root), as an
    /// O_PATH fd.
    pub fn any(&self, root: BorrowedFd, rel: &Path) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return root.try_clone_to_owned();
        }
        match self.openat2(root, rel, OFlags::PATH | OFlags::CLOEXEC)? {
            Some(r) => Ok(r?),
            None => walk(root, rel, Want::Any, &mut 0),
        }
    }

    /// `None` when openat2 is unavailable and the walk must be used.
    fn openat2(
        &self,
        root: BorrowedFd,
        rel: &Path,
        flags: OFlags,
    ) -> io::Result<Option<Result<OwnedFd, Errno>>> {
        if self.no_openat2.get() {
            return Ok(None);
        }
        // RESOLVE_NO_MAGICLINKS: a /proc/<pid>/root style link would jump
        // to wherever the kernel says, ignoring RESOLVE_IN_ROOT.
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..4 {
            match openat2(root, rel, flags, Mode::empty(), how) {
                // ENOSYS: kernel < 5.6; EPERM: a seccomp filter (containers).
                Err(Errno::NOSYS) | Err(Errno::PERM) => {
                    self.no_openat2.set(true);
                    return Ok(None);
                }
                // A concurrent rename raced a `..`: retry, then walk.
                Err(Errno::AGAIN) => continue,
                r => return Ok(Some(r)),
            }
        }
        Ok(None)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Dir { create: bool },
    Any,
}

/// The fallback: one component at a time, never letting the kernel follow
/// a symlink. Symlinks are read and their targets resolved again from the
/// root (absolute) or the current directory (relative), so even a
/// `/proc/self/root` link is only text re-read beneath our root.
fn walk(root: BorrowedFd, rel: &Path, want: Want, created: &mut u64) -> io::Result<OwnedFd> {
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
        let last = pending.is_empty();
        let target = if last && want == Want::Any {
            match readlinkat(cur, comp.as_slice(), Vec::new()) {
                Ok(t) => Some(t.into_bytes()),
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
                    None
                }
                // O_NOFOLLOW|O_DIRECTORY on a symlink is ENOTDIR: is it one?
                Err(Errno::NOTDIR) => match readlinkat(cur, comp.as_slice(), Vec::new()) {
                    Ok(t) => Some(t.into_bytes()),
                    Err(Errno::INVAL) => return Err(Errno::NOTDIR.into()),
                    Err(e) => return Err(e.into()),
                },
                Err(Errno::NOENT) if want == (Want::Dir { create: true }) => {
                    stack.push(make_dir(cur, &comp)?);
                    *created += 1;
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(t) = target {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(Errno::LOOP.into());
            }
            if t.first() == Some(&b'/') {
                stack.clear();
            }
            push_components(&mut pending, &t);
        }
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => root.try_clone_to_owned(),
    }
}

/// Queues the components of `path` so that the first is popped next.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    for c in path.rsplit(|&b| b == b'/') {
        if !c.is_empty() {
            pending.push(c.to_vec());
        }
    }
}

/// A missing parent directory, 0755 whatever the umask. Opened with
/// O_NOFOLLOW: if something else appeared at the name, we do not enter it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn n(s: &str) -> String {
        normalize(s.as_bytes())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn normalisation_is_lexical_and_clamped() {
        assert_eq!(n("../escape"), "escape");
        assert_eq!(n("/abs/file"), "abs/file");
        assert_eq!(n("a/../../b"), "b");
        assert_eq!(n("./a/./b//c/"), "a/b/c");
        assert_eq!(n("/"), "");
        assert_eq!(n("./.."), "");
        assert!(normalize(b"a\0b").is_err());
        assert!(normalize(&vec![b'a'; 5000]).is_err());
    }

    fn root_and_outside() -> (tempfile::TempDir, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("root")).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        let fd = rustix::fs::open(
            t.path().join("root"),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (t, fd)
    }

    fn where_is(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    #[test]
    fn symlinks_resolve_inside_the_root_in_both_modes() {
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            let (t, root) = root_and_outside();
            let r = t.path().join("root");
            let out = t.path().join("outside");
            std::fs::create_dir_all(r.join(out.strip_prefix("/").unwrap())).unwrap();
            symlink(&out, r.join("abs")).unwrap();
            symlink("../../..", r.join("up")).unwrap();
            let res = Resolver::new(mode);
            let fd = res
                .dir(root.as_fd(), Path::new("abs"), false, &mut 0)
                .unwrap();
            assert_eq!(where_is(&fd), r.join(out.strip_prefix("/").unwrap()));
            let fd = res
                .dir(root.as_fd(), Path::new("up"), false, &mut 0)
                .unwrap();
            assert_eq!(where_is(&fd), r);
            // An absolute target restarts at the root, wherever the link is.
            std::fs::create_dir(r.join("sub")).unwrap();
            symlink(&out, r.join("sub/abs")).unwrap();
            let fd = res
                .dir(root.as_fd(), Path::new("sub/abs"), false, &mut 0)
                .unwrap();
            assert_eq!(where_is(&fd), r.join(out.strip_prefix("/").unwrap()));
            // A dangling absolute link: the walk creates the target inside.
            symlink("/nowhere/deep", r.join("dang")).unwrap();
            let mut created = 0;
            let fd = res
                .dir(root.as_fd(), Path::new("dang/x"), true, &mut created)
                .unwrap();
            assert_eq!(where_is(&fd), r.join("nowhere/deep/x"));
            assert_eq!(created, 3);
        }
    }

    #[test]
    fn symlink_loops_end_in_eloop() {
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            let (t, root) = root_and_outside();
            symlink("b", t.path().join("root/a")).unwrap();
            symlink("a", t.path().join("root/b")).unwrap();
            let e = Resolver::new(mode).dir(root.as_fd(), Path::new("a/x"), true, &mut 0);
            assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ELOOP), "{mode:?}");
        }
    }

    #[test]
    fn files_in_the_middle_are_not_directories() {
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            let (t, root) = root_and_outside();
            std::fs::write(t.path().join("root/f"), "x").unwrap();
            let e = Resolver::new(mode).dir(root.as_fd(), Path::new("f/x"), true, &mut 0);
            assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
        }
    }

    #[test]
    fn public_helpers_stay_inside() {
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            let (t, root) = root_and_outside();
            let r = t.path().join("root");
            std::fs::create_dir_all(r.join("usr/lib")).unwrap();
            std::fs::create_dir(r.join("etc")).unwrap();
            std::fs::write(r.join("usr/lib/os-release"), "ID=x").unwrap();
            symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
            symlink("/etc", r.join("e")).unwrap();
            let fd = open_in_root(root.as_fd(), Path::new("/e/os-release"), mode).unwrap();
            assert_eq!(where_is(&fd), r.join("usr/lib/os-release"));
            let (p, name) = resolve_parent(root.as_fd(), Path::new("../e/hosts"), mode).unwrap();
            assert_eq!(
                (where_is(&p), name.to_str().unwrap()),
                (r.join("etc"), "hosts")
            );
            assert!(resolve_parent(root.as_fd(), Path::new("/"), mode).is_err());
        }
    }
}
