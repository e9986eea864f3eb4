//! Opening a path inside an untrusted rootfs without ever leaving it.
//!
//! A rootfs comes from an image: `bin/sh` may be an absolute symlink
//! (`/bin/busybox`, meaning the guest's busybox) or a `../../..` chain aimed
//! at the host. Paths are resolved as if the rootfs were `/` by the session
//! contract's one in-root resolver (the unpacker's and the sessions' too).
//! A device node or FIFO is never opened for reading: the path is resolved to
//! an `O_PATH` fd, checked to be a regular file, and only then reopened.

use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use session_contract::resolve::{ResolveMode, Resolver};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// A directory treated as `/` for every lookup through it.
pub struct Root {
    fd: OwnedFd,
    resolver: Resolver,
}

impl Root {
    /// Opens `dir` itself without following a symlink there. With
    /// `use_openat2` false, lookups use the component walk only.
    pub fn open(dir: &Path, use_openat2: bool) -> io::Result<Self> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::open(dir, flags, Mode::empty())?;
        let mode = match use_openat2 {
            true => ResolveMode::Auto,
            false => ResolveMode::Walk,
        };
        Ok(Self {
            fd,
            resolver: Resolver::new(mode),
        })
    }

    /// Resolves `path` inside the root to an `O_PATH` fd.
    pub fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        self.resolver.any(self.fd.as_fd(), path)
    }

    /// The type of what `path` names inside the root.
    pub fn file_type(&self, path: &Path) -> io::Result<FileType> {
        let fd = self.resolve(path)?;
        Ok(FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode))
    }

    /// Opens a regular file inside the root for reading.
    pub fn open_file(&self, path: &Path) -> io::Result<File> {
        let fd = self.resolve(path)?;
        if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        // Reopen the very inode we checked (not the path again) through its
        // /proc/self/fd entry.
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        Ok(File::from(rfs::open(
            proc_path.as_str(),
            flags,
            Mode::empty(),
        )?))
    }

    /// Up to `n` bytes from the start of a regular file inside the root.
    pub fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        self.open_file(path)?.take(n as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostinfo::elf;
    use std::os::unix::fs::symlink;

    fn both_modes(root: &Path, check: impl Fn(&Root, &str)) {
        for (use_openat2, mode) in [(true, "openat2"), (false, "walk")] {
            check(&Root::open(root, use_openat2).unwrap(), mode);
        }
    }

    fn arch_of(root: &Root, path: &str) -> io::Result<String> {
        let head = root.read_head(Path::new(path), elf::HEADER_LEN)?;
        Ok(elf::parse(&head).map(|a| a.arch).unwrap_or_default())
    }

    #[test]
    fn absolute_symlink_resolves_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::write(rootfs.join("bin/busybox"), elf::fake_header(183, 64, false)).unwrap();
        symlink("/bin/busybox", rootfs.join("bin/sh")).unwrap();
        // The host's /bin/busybox, if any, is not an aarch64 binary here; the
        // answer must come from the rootfs.
        both_modes(&rootfs, |root, mode| {
            assert_eq!(arch_of(root, "bin/sh").unwrap(), "aarch64", "{mode}");
            assert_eq!(arch_of(root, "/bin/sh").unwrap(), "aarch64", "{mode}");
        });
    }

    #[test]
    fn dotdot_chains_do_not_escape() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        symlink("../../../../etc/passwd", rootfs.join("bin/sh")).unwrap();
        // A file right next to the rootfs, where an unconfined `../..` lands.
        std::fs::write(dir.path().join("secret"), elf::fake_header(62, 64, false)).unwrap();
        symlink("../../secret", rootfs.join("bin/bash")).unwrap();
        both_modes(&rootfs, |root, mode| {
            let e = root.read_head(Path::new("bin/sh"), 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{mode}: {e}");
            let e = root.read_head(Path::new("bin/bash"), 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{mode}: {e}");
        });
        // The same link finds the rootfs's own file of that name.
        std::fs::write(rootfs.join("secret"), elf::fake_header(40, 32, false)).unwrap();
        both_modes(&rootfs, |root, mode| {
            assert_eq!(arch_of(root, "bin/bash").unwrap(), "arm", "{mode}");
        });
    }

    #[test]
    fn merged_usr_and_relative_links() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
        symlink("usr/bin", rootfs.join("bin")).unwrap();
        std::fs::write(rootfs.join("usr/bin/dash"), elf::fake_header(3, 32, false)).unwrap();
        symlink("dash", rootfs.join("usr/bin/sh")).unwrap();
        both_modes(&rootfs, |root, mode| {
            assert_eq!(arch_of(root, "bin/sh").unwrap(), "i686", "{mode}");
            assert_eq!(
                root.file_type(Path::new("bin")).unwrap(),
                FileType::Directory,
                "{mode}"
            );
            assert_eq!(
                root.file_type(Path::new("bin/../..")).unwrap(),
                FileType::Directory,
                "{mode}"
            );
        });
    }

    #[test]
    fn loops_fifos_and_file_components_fail() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        symlink("b", rootfs.join("bin/a")).unwrap();
        symlink("a", rootfs.join("bin/b")).unwrap();
        std::fs::write(rootfs.join("bin/file"), b"x").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            rootfs.join("bin/fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        both_modes(&rootfs, |root, mode| {
            let e = root.read_head(Path::new("bin/a"), 4).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{mode}: {e}");
            let e = root.read_head(Path::new("bin/file/x"), 4).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{mode}: {e}");
            // Must return at once instead of blocking on a writer.
            let e = root.read_head(Path::new("bin/fifo"), 4).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{mode}: {e}");
        });
    }
}
