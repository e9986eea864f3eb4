//! The confined extractor: applies untrusted tar streams beneath a root
//! directory fd.
//!
//! The tar crate only parses. Every write is ours: parents resolved beneath
//! the root ([`super::resolve`]), the final name never followed (created
//! with O_EXCL|O_NOFOLLOW, linked or unlinked through the parent fd), so
//! names, symlinks and hard links in the archive cannot reach the host.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fchmod, futimens, openat, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use tar::EntryType;

use super::apply::Meta;
pub use super::apply::Ownership;
use super::memo::Memo;
pub use super::resolve::ResolveMode;
use super::resolve::{normalize, split, Resolver};
pub use super::stats::{Error, Progress, Stats};
use super::whiteout::{self, Kind, Written};
use super::{remove::remove_at, special};
use crate::ioerr::{os_reason, IoError};

/// Copy buffer and read-ahead: big enough that a large file costs few
/// syscalls, small enough to stay constant memory.
const COPY_BUF: usize = 256 * 1024;
const READ_BUF: usize = 64 * 1024;
const PROGRESS_ENTRIES: u64 = 256;
const PROGRESS_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    pub ownership: Ownership,
    /// Leading components dropped from every name (and hard link target);
    /// entries with fewer are skipped.
    pub strip_components: usize,
    pub resolver: ResolveMode,
    /// Try mknod for char/block devices; refused ones are only counted.
    pub allow_devices: bool,
    /// Every name (and hard link target), once normalised and stripped, is
    /// placed below this directory of the root (ADD's archive unpacked into
    /// its destination): `..` cannot climb out of it.
    pub into: PathBuf,
    /// Every entry owned by these ids instead of the archive's (ADD --chown).
    pub owner: Option<(u32, u32)>,
}

/// Why one entry failed: `Skip` is counted and extraction goes on, `Fatal`
/// ends it.
pub(crate) enum Fail {
    Skip(String),
    Fatal(Error),
}

pub(crate) type Step = Result<(), Fail>;

/// An OS error on one entry: problems the archive's own shape causes
/// (a file where a directory should be, a loop, a missing link target)
/// skip the entry; anything else (disk full, read-only, EIO) is fatal.
pub(crate) fn fail(op: &'static str, path: &Path, e: io::Error) -> Fail {
    match e.raw_os_error() {
        Some(
            libc::ENOTDIR
            | libc::ELOOP
            | libc::ENOENT
            | libc::ENAMETOOLONG
            | libc::EMLINK
            | libc::EXDEV
            | libc::EINVAL
            | libc::EISDIR
            | libc::EEXIST
            | libc::ENOTEMPTY,
        ) => Fail::Skip(format!("cannot {op}: {}", os_reason(&e))),
        _ => Fail::Fatal(Error::Io(IoError::new(op, path, e))),
    }
}

pub(crate) fn io_fail<'a>(op: &'static str, path: &'a Path) -> impl Fn(Errno) -> Fail + 'a {
    move |e| fail(op, path, e.into())
}

#[derive(Debug)]
pub(crate) struct DirMeta {
    pub mode: u32,
    pub times: Timestamps,
}

pub struct Extractor {
    pub(super) root: OwnedFd,
    pub(super) opts: ExtractOptions,
    pub(super) resolver: Resolver,
    /// Directory modes and times, applied by `finish` once nothing more
    /// is written into them: a 0555 directory must still receive its
    /// children, and every child written bumps the parent's mtime.
    pub(super) deferred: HashMap<PathBuf, DirMeta>,
    pub(super) stats: Stats,
    pub(super) buf: Vec<u8>,
    /// The last parent directory resolved. Sound only while nothing is
    /// removed: a removal may change what a path resolves to.
    cache: Option<(PathBuf, OwnedFd)>,
    removed: bool,
    /// Totals at the last progress report.
    reported: Progress,
    /// Content hashes of the regular files written, by inode, taken while
    /// the data streamed through (the install index needs no second read).
    pub(super) hashes: HashMap<u64, super::index::Hashed>,
    /// The hash a layer's memo lends the entry being applied, and what
    /// the entry's file took: (inode, hash, lent).
    pub(super) lent: Option<[u8; 32]>,
    pub(super) took: Option<(u64, [u8; 32], bool)>,
}

/// What `apply` does with the content hashes of a layer's regular files.
pub(super) enum Hashes {
    /// Nothing beyond the index (a plain tarball: there is no memo).
    Plain,
    /// Writes one slot per regular-file entry to a new memo, as the
    /// layer streams (`None` once that failed: a memo is best effort).
    Gather(Option<super::memo::MemoWriter>),
    /// Takes them from a memo instead of hashing; the inodes they went to.
    Lend(Memo, Vec<u64>),
}

impl Extractor {
    pub fn new(root: OwnedFd, opts: ExtractOptions) -> Self {
        Self {
            root,
            resolver: Resolver::new(opts.resolver),
            opts,
            deferred: HashMap::new(),
            stats: Stats::default(),
            buf: vec![0; COPY_BUF],
            cache: None,
            removed: false,
            reported: Progress::default(),
            hashes: HashMap::new(),
            lent: None,
            took: None,
        }
    }

    /// The content hashes gathered so far (for [`super::index::write`]).
    pub fn take_hashes(&mut self) -> HashMap<u64, super::index::Hashed> {
        std::mem::take(&mut self.hashes)
    }

    /// Applies one tar stream. With `layer`, OCI whiteouts are honoured;
    /// without, whiteout names are refused as invalid entries.
    pub fn apply<R: Read>(
        &mut self,
        tar: R,
        layer: bool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), Error> {
        self.apply_hashed(tar, layer, progress, &mut Hashes::Plain)
    }

    /// [`Extractor::apply`], with the layer's content hashes gathered for
    /// a memo or lent by one. A memo that turns out not to fit the stream
    /// withdraws what it lent (the index hashes those files itself).
    pub(super) fn apply_hashed<R: Read>(
        &mut self,
        tar: R,
        layer: bool,
        progress: &mut dyn FnMut(&Progress),
        hashes: &mut Hashes,
    ) -> Result<(), Error> {
        let mut archive = tar::Archive::new(BufReader::with_capacity(READ_BUF, tar));
        let mut written = Written::new(layer);
        for entry in archive.entries().map_err(Error::tar)? {
            let mut entry = entry.map_err(Error::tar)?;
            self.stats.entries += 1;
            let raw = entry.path_bytes().into_owned();
            // Pre-POSIX directories are "regular" entries named with a slash.
            let regular = matches!(
                entry.header().entry_type(),
                EntryType::Regular | EntryType::Continuous
            ) && !raw.ends_with(b"/");
            let size = entry.size();
            self.lent = match hashes {
                Hashes::Lend(memo, _) if regular => memo.take(size),
                _ => None,
            };
            self.took = None;
            match self.entry(&mut entry, &raw, layer, &mut written, progress) {
                Ok(()) => {}
                Err(Fail::Skip(reason)) => self.stats.invalid(&raw, &reason),
                Err(Fail::Fatal(e)) => return Err(e),
            }
            if std::mem::take(&mut self.removed) {
                self.cache = None;
            }
            match (hashes as &mut Hashes, self.took) {
                (Hashes::Gather(memo), took) if regular => {
                    let hash = took.map_or(super::memo::NONE, |t| t.1);
                    if memo.as_mut().is_some_and(|m| m.push(size, &hash).is_err()) {
                        *memo = None;
                    }
                }
                (Hashes::Lend(_, inodes), Some((ino, _, true))) => inodes.push(ino),
                _ => {}
            }
            self.tick(progress);
        }
        if let Hashes::Lend(memo, inodes) = hashes {
            if !memo.fitted() {
                for ino in inodes.drain(..) {
                    self.hashes.remove(&ino);
                }
            }
        }
        self.reported = self.stats.progress();
        progress(&self.reported);
        Ok(())
    }

    pub(super) fn tick(&mut self, progress: &mut dyn FnMut(&Progress)) {
        let now = self.stats.progress();
        if now.entries - self.reported.entries >= PROGRESS_ENTRIES
            || now.bytes - self.reported.bytes >= PROGRESS_BYTES
        {
            progress(&now);
            self.reported = now;
        }
    }

    /// Applies deferred directory modes and times, deepest first (so a
    /// 0500 parent does not lock us out of its children) and returns the
    /// totals.
    pub fn finish(mut self) -> Result<Stats, Error> {
        self.cache = None;
        let mut dirs: Vec<_> = std::mem::take(&mut self.deferred).into_iter().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (path, m) in dirs {
            let fd = match self.reopen_dir(&path) {
                Ok(fd) => fd,
                // Replaced or whited out since: nothing to restore.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(IoError::new("open directory", &path, e.into()).into()),
            };
            fchmod(&fd, Mode::from_raw_mode(m.mode))
                .and_then(|()| futimens(&fd, &m.times))
                .map_err(|e| IoError::new("set metadata of", &path, e.into()))?;
        }
        Ok(self.stats)
    }

    fn reopen_dir(&self, path: &Path) -> rustix::io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Some((parent, name)) = split(path) else {
            return openat(&self.root, ".", flags, Mode::empty());
        };
        let pfd = self
            .resolver
            .dir(self.root.as_fd(), parent, false, &mut 0)
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
        openat(&pfd, name, flags, Mode::empty())
    }

    /// The normalised, stripped name; `None` when stripping leaves nothing.
    pub(super) fn entry_path(&self, raw: &[u8]) -> Result<Option<PathBuf>, Fail> {
        let p = normalize(raw).map_err(|r| Fail::Skip(r.into()))?;
        let n = self.opts.strip_components;
        if p.components().count() < n {
            return Ok(None);
        }
        let p: PathBuf = match n {
            0 => p,
            _ => p.components().skip(n).collect(),
        };
        Ok(Some(match p.as_os_str().is_empty() {
            true => self.opts.into.clone(),
            false => self.opts.into.join(p),
        }))
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        raw: &[u8],
        layer: bool,
        written: &mut Written,
        progress: &mut dyn FnMut(&Progress),
    ) -> Step {
        let mut ty = entry.header().entry_type();
        // Global PAX headers carry nothing we apply per entry.
        if ty.is_pax_global_extensions() {
            return Ok(());
        }
        let Some(path) = self.entry_path(raw)? else {
            return Ok(());
        };
        match whiteout::classify(&path, layer) {
            Kind::Plain => {}
            Kind::Invalid(why) => return Err(Fail::Skip(why.into())),
            Kind::Whiteout { dir, name } => {
                self.removed = true;
                self.stats.whiteouts += 1;
                return whiteout::whiteout(self.root.as_fd(), &self.resolver, dir, name, written)
                    .map_err(|e| fail("apply whiteout", &path, e));
            }
            Kind::Opaque { dir } => {
                self.removed = true;
                self.stats.whiteouts += 1;
                return whiteout::opaque(self.root.as_fd(), &self.resolver, dir, written)
                    .map_err(|e| fail("apply opaque whiteout", &path, e));
            }
        }
        let mut meta = Meta::read(entry).map_err(Fail::Fatal)?;
        if let Some((uid, gid)) = self.opts.owner {
            (meta.uid, meta.gid) = (uid.into(), gid.into());
        }
        if meta.sparse || ty.is_gnu_sparse() {
            let path = String::from_utf8_lossy(raw).into_owned();
            return Err(Fail::Fatal(Error::Unsupported {
                path,
                what: "sparse file",
            }));
        }
        // Pre-POSIX archives mark directories by a trailing slash only.
        if ty == EntryType::Regular && raw.ends_with(b"/") {
            ty = EntryType::Directory;
        }
        let Some((parent, name)) = split(&path) else {
            return match ty {
                EntryType::Directory => self.root_meta(&meta),
                _ => Err(Fail::Skip("names the root directory".into())),
            };
        };
        let pfd = self.parent(parent)?;
        let dir = pfd.as_fd();
        let r = match ty {
            EntryType::Regular | EntryType::Continuous => {
                self.file(dir, name, &path, entry, &meta, progress)
            }
            EntryType::Directory => self.dir(dir, name, &path, &meta),
            EntryType::Symlink => self.symlink(dir, name, &path, entry, &meta),
            EntryType::Link => self.hardlink(dir, name, &path, entry),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                special::create(self, dir, name, &path, entry.header(), &meta)
            }
            other => Err(Fail::Skip(format!(
                "unsupported entry type '{}'",
                other.as_byte().escape_ascii()
            ))),
        };
        if r.is_ok() {
            written.add(&path);
        }
        if !self.removed {
            self.cache = Some((parent.to_owned(), pfd));
        }
        r
    }

    fn parent(&mut self, parent: &Path) -> Result<OwnedFd, Fail> {
        if let Some((p, fd)) = self.cache.take() {
            if p == parent {
                return Ok(fd);
            }
        }
        let root = self.root.as_fd();
        self.resolver
            .dir(root, parent, true, &mut self.stats.implicit_dirs)
            .map_err(|e| fail("resolve parent directory", parent, e))
    }

    /// Makes room at `name` for a new object: whatever is there goes, a
    /// symlink itself (never its target), a directory with its contents.
    pub(crate) fn clear(&mut self, dir: BorrowedFd, name: &OsStr, path: &Path) -> Step {
        self.removed = true;
        remove_at(dir, name).map_err(|e| fail("replace", path, e))
    }

    pub(crate) fn preserve(&self) -> bool {
        self.opts.ownership == Ownership::Preserve
    }

    pub(crate) fn allow_devices(&self) -> bool {
        self.opts.allow_devices
    }
}
