//! Mount targets inside an untrusted rootfs: resolved beneath it without
//! following any symlink, held as O_PATH fds and mounted through
//! `/proc/self/fd/N`, so an image whose `proc` is a symlink to a host
//! directory can never get something mounted on the host.

use super::Error;
use rustix::fs::{mkdirat, openat, openat2, Mode, OFlags, ResolveFlags};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

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

/// Opens (creating if missing) `rel` beneath `root` as an O_PATH fd, with no
/// symlink allowed anywhere on the way.
pub fn open_target(root: BorrowedFd, rel: &Path, kind: Kind) -> Result<OwnedFd, Error> {
    let name = rel.display().to_string();
    let unsafe_target = || Error::UnsafeTarget(name.trim_start_matches('/').to_owned());
    let parts: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    if parts.is_empty() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(unsafe_target());
    }
    let mut dir: OwnedFd = openat(
        root,
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::setup("open the rootfs", e))?;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let opened = match openat2(&dir, *part, flags, Mode::empty(), how) {
            Err(rustix::io::Errno::NOSYS) => openat(&dir, *part, flags, Mode::empty()),
            r => r,
        };
        let fd = match opened {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                create(dir.as_fd(), part, if last { kind } else { Kind::Dir })?;
                openat(&dir, *part, flags, Mode::empty()).map_err(|_| unsafe_target())?
            }
            Err(_) => return Err(unsafe_target()),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::setup("inspect a mount target", e))?;
        let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if ft == rustix::fs::FileType::Symlink || (!last && ft != rustix::fs::FileType::Directory) {
            return Err(unsafe_target());
        }
        dir = fd;
    }
    Ok(dir)
}

/// Creates a missing target; O_EXCL|O_NOFOLLOW so a racing symlink loses.
fn create(dir: BorrowedFd, name: &OsStr, kind: Kind) -> Result<(), Error> {
    let r = match kind {
        Kind::Dir => mkdirat(dir, name, Mode::from_raw_mode(0o755)),
        Kind::File => openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match r {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::setup(
            format!("create mount target {}", name.to_string_lossy()),
            e,
        )),
    }
}

/// The `/proc/self/fd/N` path of an fd, checked to lie strictly inside
/// `rootfs` (read back from the kernel, not trusted from our own walk).
pub fn fd_path(fd: &OwnedFd, rootfs: &Path) -> Result<PathBuf, Error> {
    let link = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let real =
        std::fs::read_link(&link).map_err(|e| Error::setup("read back a mount target", e))?;
    if !real.starts_with(rootfs) || real == rootfs {
        return Err(Error::UnsafeTarget(real.display().to_string()));
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinked_targets_are_refused_missing_ones_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("proc")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("etc/up")).unwrap();
        let fd = std::fs::File::open(&root).unwrap();
        assert!(matches!(
            open_target(fd.as_fd(), Path::new("proc"), Kind::Dir),
            Err(Error::UnsafeTarget(_))
        ));
        assert!(matches!(
            open_target(fd.as_fd(), Path::new("etc/up/x"), Kind::Dir),
            Err(Error::UnsafeTarget(_))
        ));
        assert!(matches!(
            open_target(fd.as_fd(), Path::new("../x"), Kind::Dir),
            Err(Error::UnsafeTarget(_))
        ));
        let t = open_target(fd.as_fd(), Path::new("dev/pts"), Kind::Dir).unwrap();
        assert!(root.join("dev/pts").is_dir());
        let p = fd_path(&t, &root.canonicalize().unwrap()).unwrap();
        assert!(p.starts_with("/proc/self/fd"));
        open_target(fd.as_fd(), Path::new("etc/hosts"), Kind::File).unwrap();
        assert!(root.join("etc/hosts").is_file());
    }
}
