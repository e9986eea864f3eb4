//! Mount targets inside an untrusted rootfs: resolved beneath it by the
//! session contract's resolver (the one cd-mount-helper uses, so an image
//! whose `proc` is a symlink to a host directory is refused the same way on
//! both root paths), held as O_PATH fds and mounted through
//! `/proc/self/fd/N`.

use super::Error;
use session_contract::refusal::{Refusal, Rule};
pub use session_contract::resolve::Kind;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r.rule {
            Rule::Target => Error::UnsafeTarget(r.msg),
            _ => Error::Setup {
                what: "resolve a mount target".into(),
                reason: r.msg,
            },
        }
    }
}

/// Opens (creating if missing) `rel` beneath `root` as an O_PATH fd, with no
/// symlink allowed anywhere on the way and the result checked to lie
/// strictly inside the rootfs.
pub fn open_target(root: BorrowedFd, rel: &Path, kind: Kind) -> Result<OwnedFd, Error> {
    Ok(session_contract::resolve::open_target(
        root,
        rel,
        Some(kind),
    )?)
}

/// An existing target (masks skip what the kernel lacks): `None` when
/// missing or refused.
pub fn open_existing(root: BorrowedFd, rel: &Path) -> Option<OwnedFd> {
    session_contract::resolve::open_target(root, rel, None).ok()
}

/// The `/proc/self/fd/N` path of an fd, checked to lie strictly inside
/// `rootfs` (read back from the kernel, not trusted from our own walk).
pub fn fd_path(fd: &OwnedFd, rootfs: &Path) -> Result<PathBuf, Error> {
    let link = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let real =
        std::fs::read_link(&link).map_err(|e| Error::setup("read back a mount target", e))?;
    if !real.starts_with(rootfs) || real == rootfs {
        let why = format!("{}: it resolves outside the rootfs", real.display());
        return Err(Error::UnsafeTarget(why));
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

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
        assert!(open_existing(fd.as_fd(), Path::new("sys/kernel")).is_none());
        let t = open_target(fd.as_fd(), Path::new("dev/pts"), Kind::Dir).unwrap();
        assert!(root.join("dev/pts").is_dir());
        let p = fd_path(&t, &root.canonicalize().unwrap()).unwrap();
        assert!(p.starts_with("/proc/self/fd"));
        open_target(fd.as_fd(), Path::new("etc/hosts"), Kind::File).unwrap();
        assert!(root.join("etc/hosts").is_file());
        assert!(open_existing(fd.as_fd(), Path::new("etc/hosts")).is_some());
    }
}
