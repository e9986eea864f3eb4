//! Removal confined to a directory fd, never following a symlink.
//!
//! Used when an entry replaces something of another type and for
//! whiteouts: a symlink at the name is unlinked itself (its target is
//! untouched) and a directory is emptied through fds opened with
//! O_NOFOLLOW, so a symlink swapped into the tree is never descended.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{fchmod, openat, unlinkat, AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

/// Deeper trees than this are refused rather than risking the stack; no
/// real rootfs comes near it (PATH_MAX allows ~2000 levels of one-letter
/// names, and every level costs an fd).
const MAX_DEPTH: u32 = 1024;

/// Removes whatever is at `name` in `dir`; absent is fine.
pub(crate) fn remove_at(dir: BorrowedFd, name: &OsStr) -> io::Result<()> {
    remove(dir, name, 0)
}

fn remove(dir: BorrowedFd, name: &OsStr, depth: u32) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        // Linux answers EISDIR when unlink meets a directory.
        Err(Errno::ISDIR) => remove_tree(dir, name, depth),
        Err(e) => Err(e.into()),
    }
}

fn remove_tree(dir: BorrowedFd, name: &OsStr, depth: u32) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Err(Errno::LOOP.into());
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())?;
    let mut opened_up = false;
    for child in list(&fd)? {
        loop {
            match remove(fd.as_fd(), &child, depth + 1) {
                // A read-only directory of an earlier layer, when we are not
                // root: make it ours to empty.
                Err(e) if e.raw_os_error() == Some(libc::EACCES) && !opened_up => {
                    fchmod(&fd, Mode::from_raw_mode(0o700))?;
                    opened_up = true;
                }
                r => break r?,
            }
        }
    }
    match unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names in a directory, `.` and `..` left out.
pub(crate) fn list(fd: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
    let dup = fd.try_clone()?;
    let mut dir = Dir::new(dup)?;
    let mut names = Vec::new();
    while let Some(ent) = dir.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn removes_trees_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("canary"), "x").unwrap();
        let r = t.path().join("root");
        std::fs::create_dir_all(r.join("d/e/f")).unwrap();
        std::fs::write(r.join("d/e/f/g"), "x").unwrap();
        symlink(&outside, r.join("d/link")).unwrap();
        symlink(&outside, r.join("top")).unwrap();
        std::fs::set_permissions(r.join("d/e"), std::fs::Permissions::from_mode(0o555)).unwrap();
        let root = rustix::fs::open(&r, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        remove_at(root.as_fd(), OsStr::new("d")).unwrap();
        remove_at(root.as_fd(), OsStr::new("top")).unwrap();
        remove_at(root.as_fd(), OsStr::new("absent")).unwrap();
        assert_eq!(std::fs::read_dir(&r).unwrap().count(), 0);
        assert!(outside.join("canary").exists());
    }
}
