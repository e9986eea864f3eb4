//! Opening a path inside an untrusted rootfs without ever leaving it.
//!
//! A rootfs comes from an image: `bin/sh` may be an absolute symlink
//! (`/bin/busybox`, meaning the guest's busybox) or a `../../..` chain aimed
//! at the host. Paths are resolved as if the rootfs were `/`: with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel has it,
//! else by walking one component at a time from the root's fd, reading each
//! symlink and re-rooting absolute targets (at most 40 links, like the kernel).
//! A device node or FIFO is never opened for reading: the path is resolved to
//! an `O_PATH` fd, checked to be a regular file, and only then reopened.

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Symlinks followed before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// A directory treated as `/` for every lookup through it.
pub struct Root {
    fd: OwnedFd,
    use_openat2: bool,
}

impl Root {
    /// Opens `dir` itself without following a symlink there. With
    /// `use_openat2` false, lookups use the component walk only.
    pub fn open(dir: &Path, use_openat2: bool) -> io::Result<Self> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::open(dir, flags, Mode::empty())?;
        Ok(Self { fd, use_openat2 })
    }

    /// Resolves `path` inside the root to an `O_PATH` fd.
    pub fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        if self.use_openat2 {
            let flags = OFlags::PATH | OFlags::CLOEXEC;
            let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
            for _ in 0..4 {
                match rfs::openat2(&self.fd, path, flags, Mode::empty(), how) {
                    Ok(fd) => return Ok(fd),
                    // A concurrent rename inside the root; the kernel asks to retry.
                    Err(Errno::AGAIN) => continue,
                    // No openat2 (kernel < 5.6) or a seccomp filter refusing it.
                    Err(Errno::NOSYS) | Err(Errno::PERM) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        walk(self.fd.as_fd(), path.as_os_str().as_bytes())
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

/// The fallback resolver: one `openat(O_PATH | O_NOFOLLOW)` per component,
/// `..` never rising above the root, symlink targets resolved in the root.
fn walk(root: BorrowedFd<'_>, path: &[u8]) -> io::Result<OwnedFd> {
    let mut pending: VecDeque<Vec<u8>> = components(path).collect();
    // Directories entered below the root; the root itself is implied.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == b".." {
            stack.pop();
            continue;
        }
        let dir = stack.last().map(|f| f.as_fd()).unwrap_or(root);
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(dir, name.as_slice(), flags, Mode::empty())?;
        match FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP.into());
                }
                let target = rfs::readlinkat(&fd, c"", Vec::new())?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    stack.clear();
                }
                for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(c);
                }
            }
            FileType::Directory => stack.push(fd),
            _ if pending.is_empty() => return Ok(fd),
            _ => return Err(Errno::NOTDIR.into()),
        }
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => Ok(rustix::io::fcntl_dupfd_cloexec(root, 0)?),
    }
}

fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
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
