//! Creating regular files, directories, symlinks and hard links beneath
//! a parent fd, with the final name never followed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{
    fchmod, futimens, linkat, mkdirat, openat, statat, symlinkat, AtFlags, FileType, Mode, OFlags,
};
use rustix::io::Errno;

use super::apply::{chown_at, chown_fd, set_xattrs, Meta};
use super::extract::{fail, io_fail, DirMeta, Extractor, Fail, Step};
use super::resolve::split;
use super::special;
use super::stats::{Error, Progress};
use crate::ioerr::IoError;

impl Extractor {
    pub(super) fn file<R: Read>(
        &mut self,
        dir: BorrowedFd,
        name: &OsStr,
        path: &Path,
        entry: &mut tar::Entry<R>,
        meta: &Meta,
        progress: &mut dyn FnMut(&Progress),
    ) -> Step {
        // O_EXCL|O_NOFOLLOW: a planted symlink (even dangling) is EEXIST,
        // never opened; it is removed and the file created in its place.
        // Created with its permission bits (never setuid/setgid/sticky,
        // which only a chmod after the chown sets) inside the private
        // staging directory: under the usual umask that is its final mode.
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(meta.mode & 0o777);
        let fd = match openat(dir, name, flags, mode) {
            Err(Errno::EXIST) => {
                self.clear(dir, name, path)?;
                openat(dir, name, flags, mode)
            }
            r => r,
        }
        .map_err(io_fail("create", path))?;
        let mut file = File::from(fd);
        let mut done = 0u64;
        let lent = self.lent.take();
        let mut hasher = lent.is_none().then(<sha2::Sha256 as sha2::Digest>::new);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fail::Fatal(Error::tar(e))),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| Fail::Fatal(IoError::new("write", path, e).into()))?;
            if let Some(h) = hasher.as_mut() {
                sha2::Digest::update(h, &self.buf[..n]);
            }
            done += n as u64;
            self.stats.bytes += n as u64;
            self.tick(progress);
        }
        // The tar crate stops quietly at the end of the stream.
        if done != entry.size() {
            return Err(Fail::Fatal(Error::truncated(
                path.as_os_str().as_encoded_bytes(),
            )));
        }
        self.stats.files += 1;
        // Owner and mode as created are often already the archive's (a
        // root unpacker, 0644 under umask 022); each chown or chmod would
        // dirty the inode once more, so only what differs is changed.
        let st = rustix::fs::fstat(&file).map_err(io_fail("stat", path))?;
        let owned = u64::from(st.st_uid) == meta.uid && u64::from(st.st_gid) == meta.gid;
        if self.preserve() && !owned {
            chown_fd(file.as_fd(), meta, &mut self.stats).map_err(|e| fail("chown", path, e))?;
        }
        set_xattrs(file.as_fd(), meta, &mut self.stats)
            .map_err(|e| fail("set xattrs of", path, e))?;
        if st.st_mode & 0o7777 != meta.mode {
            fchmod(&file, Mode::from_raw_mode(meta.mode)).map_err(io_fail("chmod", path))?;
        }
        futimens(&file, &meta.times()).map_err(io_fail("set times of", path))?;
        let hash = match hasher {
            Some(h) => sha2::Digest::finalize(h).into(),
            None => lent.unwrap_or_default(),
        };
        self.took = Some((st.st_ino, hash, lent.is_some()));
        // futimens set exactly this mtime: the index compares it with a
        // stat. An empty file's hash needs no record: the index knows it.
        if done > 0 {
            self.hashes.insert(
                st.st_ino,
                super::index::Hashed {
                    size: done,
                    mtime: meta.mtime.tv_sec,
                    hash,
                },
            );
        }
        Ok(())
    }

    /// Owner then xattrs: chown clears setuid/setgid and
    /// `security.capability`, so both must come after it (and the mode
    /// after both).
    fn metadata(&mut self, fd: BorrowedFd, path: &Path, meta: &Meta) -> Step {
        if self.preserve() {
            chown_fd(fd, meta, &mut self.stats).map_err(|e| fail("chown", path, e))?;
        }
        set_xattrs(fd, meta, &mut self.stats).map_err(|e| fail("set xattrs of", path, e))
    }

    pub(super) fn dir(&mut self, dir: BorrowedFd, name: &OsStr, path: &Path, meta: &Meta) -> Step {
        match mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st =
                    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_fail("stat", path))?;
                // Existing directories merge; a symlink to one is replaced,
                // or later entries would be written through it.
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.clear(dir, name, path)?;
                    mkdirat(dir, name, Mode::from_raw_mode(0o700))
                        .map_err(io_fail("create", path))?;
                }
            }
            Err(e) => return Err(fail("create", path, e.into())),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(dir, name, flags, Mode::empty()).map_err(io_fail("open", path))?;
        self.metadata(fd.as_fd(), path, meta)?;
        // Final mode in finish(); until then we keep the right to write.
        fchmod(&fd, Mode::from_raw_mode(meta.mode | 0o700)).map_err(io_fail("chmod", path))?;
        let m = DirMeta {
            mode: meta.mode,
            times: meta.times(),
        };
        self.deferred.insert(path.to_owned(), m);
        self.stats.dirs += 1;
        Ok(())
    }

    /// A directory entry naming the root: its metadata, never a new root.
    pub(super) fn root_meta(&mut self, meta: &Meta) -> Step {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = Path::new("/");
        let fd = openat(&self.root, ".", flags, Mode::empty()).map_err(io_fail("open", root))?;
        self.metadata(fd.as_fd(), root, meta)?;
        let m = DirMeta {
            mode: meta.mode,
            times: meta.times(),
        };
        self.deferred.insert(PathBuf::new(), m);
        Ok(())
    }

    pub(super) fn symlink<R: Read>(
        &mut self,
        dir: BorrowedFd,
        name: &OsStr,
        path: &Path,
        entry: &tar::Entry<R>,
        meta: &Meta,
    ) -> Step {
        // The target is stored as-is, absolute or not: it is resolved later
        // in the guest's view, and never by us while writing.
        let target = match entry.link_name_bytes() {
            Some(t) if !t.is_empty() && !t.contains(&0) => t.into_owned(),
            _ => return Err(Fail::Skip("symbolic link without a valid target".into())),
        };
        match symlinkat(target.as_slice(), dir, name) {
            Err(Errno::EXIST) => {
                self.clear(dir, name, path)?;
                symlinkat(target.as_slice(), dir, name)
            }
            r => r,
        }
        .map_err(io_fail("create symlink", path))?;
        if self.preserve() {
            chown_at(dir, name, meta, &mut self.stats).map_err(|e| fail("chown", path, e))?;
        }
        // Only trusted.* and security.* may sit on symlinks, and rarely do.
        self.stats.xattrs_skipped += meta.xattrs.len() as u64;
        special::times_at(dir, name, path, meta)?;
        self.stats.symlinks += 1;
        Ok(())
    }

    /// A hard link only ever joins an inode already inside the root: the
    /// target is normalised like any name, its parent resolved beneath
    /// the root and its final component not followed (linkat without
    /// AT_SYMLINK_FOLLOW). A missing target is skipped, never copied.
    pub(super) fn hardlink<R: Read>(
        &mut self,
        dir: BorrowedFd,
        name: &OsStr,
        path: &Path,
        entry: &tar::Entry<R>,
    ) -> Step {
        let raw = entry.link_name_bytes().unwrap_or_default();
        let target = match self.entry_path(&raw)? {
            Some(t) if !t.as_os_str().is_empty() => t,
            _ => {
                return Err(Fail::Skip(
                    "hard link target is not a file in the archive".into(),
                ))
            }
        };
        if target == path {
            return Ok(());
        }
        let Some((tparent, tname)) = split(&target) else {
            return Err(Fail::Skip("hard link to the root directory".into()));
        };
        let root = self.root.as_fd();
        let tdir = match self.resolver.dir(root, tparent, false, &mut 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(Fail::Skip("hard link target missing".into()));
            }
            Err(e) => return Err(fail("resolve hard link target", &target, e)),
        };
        let link = |_: ()| linkat(&tdir, tname, dir, name, AtFlags::empty());
        match link(()) {
            Err(Errno::EXIST) if special::same_inode(tdir.as_fd(), tname, dir, name) => {}
            Err(Errno::EXIST) => {
                self.clear(dir, name, path)?;
                link(()).map_err(|e| link_fail(path, e))?;
            }
            r => r.map_err(|e| link_fail(path, e))?,
        }
        self.stats.hardlinks += 1;
        Ok(())
    }
}

/// linkat's EPERM means a directory target (or protected_hardlinks): the
/// archive's fault, not the disk's.
fn link_fail(path: &Path, e: Errno) -> Fail {
    match e {
        Errno::NOENT => Fail::Skip("hard link target missing".into()),
        Errno::PERM => Fail::Skip("cannot hard link: target is a directory or protected".into()),
        e => fail("hard link", path, e.into()),
    }
}
