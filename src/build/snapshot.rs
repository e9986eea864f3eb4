//! What a stage's rootfs looks like before and after a build step, without
//! reading any file's contents: one `lstat` per entry (plus `readlink` for
//! symlinks and one `getxattr` for regular files), enough for
//! [`super::diff`] to see content changes, metadata-only changes and
//! replaced entries.
//!
//! The walk never follows a symlink (every directory is opened with
//! `O_NOFOLLOW` relative to its parent's fd) and stays on the root's file
//! system: an entry on another device (a mount point) is left out with
//! everything below it. Session binds never show up here anyway, since
//! sessions mount in their own namespace.

use super::error::Error;
use crate::ioerr::IoError;
use rustix::fs::{openat, statat, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The kind of an entry, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl Kind {
    fn of(mode: u32) -> Self {
        match FileType::from_raw_mode(mode) {
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::CharacterDevice => Kind::CharDev,
            FileType::BlockDevice => Kind::BlockDev,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            _ => Kind::File,
        }
    }
}

/// What `lstat` (and a little more) says of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (no type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Seconds and nanoseconds.
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub rdev: u64,
    /// A symlink's target, as stored.
    pub target: Option<Vec<u8>>,
    /// A regular file's `security.capability`, when it has one. Other
    /// xattr changes are seen through `ctime`, which every xattr write moves.
    pub capability: Option<Vec<u8>>,
}

impl Meta {
    pub(crate) fn from_stat(st: &Stat) -> Self {
        Self {
            kind: Kind::of(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime, st.st_ctime_nsec as u32),
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
            target: None,
            capability: None,
        }
    }

    /// Same inode on the same device: the entry was not removed and made
    /// again (whatever else changed).
    pub fn same_inode(&self, other: &Meta) -> bool {
        self.ino == other.ino && self.dev == other.dev
    }
}

/// One entry: its path relative to the root (no leading `/` or `./`) and
/// its metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub meta: Meta,
}

/// Every entry below a root (the root itself excluded), sorted by path bytes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    entries: Vec<Entry>,
}

impl Snapshot {
    /// Walks the tree at `root` (a directory; symlinks in `root` itself are
    /// the caller's business, nothing below it is followed).
    pub fn take(root: &Path) -> Result<Self, Error> {
        let fd = openat(
            rustix::fs::CWD,
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IoError::new("open", root, e.into()))?;
        Self::take_fd(fd.as_fd(), root)
    }

    /// The same over an open directory fd; `shown` names it in messages.
    pub fn take_fd(root: BorrowedFd, shown: &Path) -> Result<Self, Error> {
        let st = rustix::fs::fstat(root).map_err(|e| IoError::new("stat", shown, e.into()))?;
        let mut walk = Walk {
            dev: st.st_dev,
            shown,
            entries: Vec::new(),
            path: Vec::new(),
        };
        walk.dir(root)?;
        let mut entries = walk.entries;
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &[u8]) -> Option<&Meta> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i].meta)
    }
}

struct Walk<'a> {
    dev: u64,
    shown: &'a Path,
    entries: Vec<Entry>,
    /// The directory being read, relative to the root, `/`-terminated
    /// below the root.
    path: Vec<u8>,
}

impl Walk<'_> {
    fn fail(&self, op: &'static str, name: &[u8], e: Errno) -> Error {
        let mut p = self.path.clone();
        p.extend_from_slice(name);
        let shown = self.shown.join(std::ffi::OsStr::from_bytes(&p));
        IoError::new(op, shown, e.into()).into()
    }

    fn dir(&mut self, dir: BorrowedFd) -> Result<(), Error> {
        let mut names = Vec::new();
        let read = rustix::fs::Dir::read_from(dir).map_err(|e| self.fail("read", b"", e))?;
        for item in read {
            let item = item.map_err(|e| self.fail("read", b"", e))?;
            let name = item.file_name();
            if name != c"." && name != c".." {
                names.push(name.to_owned());
            }
        }
        for name in names {
            self.entry(dir, &name)?;
        }
        Ok(())
    }

    fn entry(&mut self, dir: BorrowedFd, name: &CStr) -> Result<(), Error> {
        let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone since the directory was read: not part of the tree.
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.fail("stat", name.to_bytes(), e)),
        };
        if st.st_dev != self.dev {
            return Ok(());
        }
        let mut meta = Meta::from_stat(&st);
        let bytes = name.to_bytes();
        match meta.kind {
            Kind::Symlink => {
                let t = rustix::fs::readlinkat(dir, name, Vec::new())
                    .map_err(|e| self.fail("read the link", bytes, e))?;
                meta.target = Some(t.into_bytes());
            }
            Kind::File => meta.capability = capability(dir, name),
            _ => {}
        }
        let mut path = self.path.clone();
        path.extend_from_slice(bytes);
        let is_dir = meta.kind == Kind::Dir;
        self.entries.push(Entry {
            path: path.clone(),
            meta,
        });
        if is_dir {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let sub: OwnedFd = match openat(dir, name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(self.fail("open", bytes, e)),
            };
            let saved = std::mem::replace(&mut self.path, path);
            self.path.push(b'/');
            let result = self.dir(sub.as_fd());
            self.path = saved;
            result?;
        }
        Ok(())
    }
}

/// `security.capability` of `name` in `dir`, through the directory's
/// `/proc/self/fd` link (no `getxattrat` before Linux 6.13, and opening
/// every file only to ask would cost more).
fn capability(dir: BorrowedFd, name: &CStr) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = std::ffi::OsStr::from_bytes(&path);
    let mut buf = [0u8; 64];
    match rustix::fs::lgetxattr(path, c"security.capability", &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_snapshot_lists_every_entry_sorted_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::fs::write(root.join("a-c"), b"yy").unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("a", root.join("rel")).unwrap();
        let snap = Snapshot::take(root).unwrap();
        let paths: Vec<&[u8]> = snap.entries().iter().map(|e| e.path.as_slice()).collect();
        assert_eq!(
            paths,
            [&b"a"[..], b"a-c", b"a/b", b"a/b/f", b"escape", b"rel"]
        );
        let esc = snap.get(b"escape").unwrap();
        assert_eq!(esc.kind, Kind::Symlink);
        assert_eq!(esc.target.as_deref(), Some(&b"/"[..]));
        assert_eq!(snap.get(b"a-c").unwrap().size, 2);
        assert!(snap.get(b"rel/b").is_none(), "symlinked dir not walked");
    }
}
