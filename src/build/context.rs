//! The build context and COPY/ADD sources taken from it.
//!
//! Every source is resolved beneath the context directory as the guest
//! resolves paths beneath its root: `..` is clamped at the context and a
//! symlink, even an absolute one, is read relative to the context
//! (BuildKit's scoping). So a context that holds `link -> /etc` copies the
//! context's own `etc`, never the host's. Only a source named on the COPY
//! line is followed when it is a symlink; symlinks found while walking a
//! source directory are copied as symlinks.
//!
//! What comes out is a tar stream of the files as they must appear in the
//! image (names relative to the image root, ownership and modes already
//! applied), which the unpacker applies to the stage's rootfs with its
//! usual confinement. The context is read with the caller's own rights.

use super::ignore::{has_glob, Patterns};
use crate::ioerr::IoError;
use crate::unpack::resolve::{normalize, open_in_root, ResolveMode};
use rustix::fs::{Dir, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {source}")]
    Pattern {
        file: String,
        source: super::ignore::PatternError,
    },
    #[error("COPY source '{0}' is not in the build context (or is excluded by .dockerignore)")]
    NotFound(String),
    #[error("COPY source '{0}' matches no file in the build context")]
    NoMatch(String),
    #[error("with more than one source, the destination '{0}' must be a directory ending in '/'")]
    DestNotDir(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("cannot write the copy stream: {0}")]
    Write(io::Error),
}

/// The build context: a directory fd and its ignore rules.
pub struct Context {
    dir: PathBuf,
    root: OwnedFd,
    ignore: Patterns,
}

/// How COPY lays the files down.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `--chown`, already resolved to numbers; else 0:0.
    pub owner: Option<(u32, u32)>,
    /// `--chmod`, for files and directories alike.
    pub mode: Option<u32>,
    /// `--parents`: keep each source's path (below a `/./` pivot if any).
    pub parents: bool,
    /// `--exclude`, matched below each source.
    pub exclude: Patterns,
}

/// What the destination looks like in the stage rootfs, asked by the
/// executor (which can read the rootfs).
pub trait Destination {
    /// An existing directory (symlinks resolved inside the rootfs).
    fn is_dir(&self, path: &Path) -> bool;
    /// Anything exists there.
    fn exists(&self, path: &Path) -> bool;
}

/// A file the build makes rather than finds in the context: a
/// here-document's body, a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Its name when the destination is a directory (one component).
    pub name: String,
    pub content: Content,
    /// Before `--chmod`: 0644 for a here-document, 0600 for a download.
    pub mode: u32,
    pub mtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file the build wrote (a finished download), read by path.
    File(PathBuf),
}

/// ADD's local archive: a source that unpacks rather than copies.
#[derive(Debug)]
pub struct Archive {
    /// Its path in the context.
    pub rel: PathBuf,
    /// Open for reading, at its start.
    pub file: std::fs::File,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub bytes: u64,
    /// Sockets and devices: not copyable from a context.
    pub skipped: u64,
}

/// One resolved source: its path in the context and whether it is a
/// directory (whose contents are copied) or a single object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    rel: PathBuf,
    /// Part of `rel` kept under the destination with `--parents`.
    keep: PathBuf,
    is_dir: bool,
}

impl Context {
    /// Opens `dir` and reads its ignore file: `<dockerfile>.dockerignore`
    /// beside the Dockerfile when there is one, else `.dockerignore` at the
    /// context's top.
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<Self, Error> {
        let root = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IoError::new("open the build context", dir, e.into()))?;
        let specific = dockerfile.map(|f| {
            let mut name = f.as_os_str().to_owned();
            name.push(".dockerignore");
            PathBuf::from(name)
        });
        let candidates = specific.into_iter().chain([dir.join(".dockerignore")]);
        let mut ignore = Patterns::default();
        for path in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    ignore = Patterns::parse_file(&text).map_err(|source| Error::Pattern {
                        file: path.display().to_string(),
                        source,
                    })?;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::new("read", &path, e).into()),
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            root,
            ignore,
        })
    }

    /// Another stage's rootfs as a source tree: no ignore file applies.
    pub fn open_tree(dir: &Path) -> Result<Self, Error> {
        let root = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IoError::new("open", dir, e.into()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            root,
            ignore: Patterns::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an ignore file hides some of it.
    pub fn has_ignore_rules(&self) -> bool {
        !self.ignore.is_empty()
    }

    /// Writes the tar stream for `COPY words… dest` to `out`. `dest` is
    /// absolute in the image (the executor resolves it against WORKDIR);
    /// its trailing `/` is significant.
    pub fn copy(
        &self,
        words: &[String],
        dest: &str,
        opts: &CopyOptions,
        image: &dyn Destination,
        out: impl Write,
    ) -> Result<CopyStats, Error> {
        self.copy_with(words, &[], dest, opts, image, out)
    }

    /// [`Context::copy`] with files the build made, after the context's
    /// sources. With no source at all, `dest` (a directory) is created.
    pub fn copy_with(
        &self,
        words: &[String],
        made: &[Made],
        dest: &str,
        opts: &CopyOptions,
        image: &dyn Destination,
        out: impl Write,
    ) -> Result<CopyStats, Error> {
        let mut sources = Vec::new();
        let mut wildcard = false;
        for word in words {
            wildcard |= has_glob(word);
            sources.extend(self.expand(word, opts.parents)?);
        }
        let dest_rel = normalize(dest.as_bytes())
            .map_err(|e| IoError::new("use the destination", dest, io::Error::other(e)))?;
        let into_dir = dest.ends_with('/')
            || dest_rel.as_os_str().is_empty()
            || image.is_dir(&dest_rel)
            || opts.parents;
        if words.len() + made.len() > 1 && !into_dir {
            return Err(Error::DestNotDir(dest.to_owned()));
        }
        let many = sources.len() + made.len() > 1 || wildcard;
        let mut w = Writer {
            tar: tar::Builder::new(out),
            opts,
            stats: CopyStats::default(),
            made: Vec::new(),
        };
        if words.is_empty() && made.is_empty() {
            w.parents(&dest_rel, true, image)?;
        }
        for src in &sources {
            let target = if src.is_dir {
                dest_rel.join(&src.keep)
            } else if into_dir || many {
                dest_rel
                    .join(&src.keep)
                    .join(src.rel.file_name().unwrap_or_default())
            } else {
                dest_rel.clone()
            };
            w.parents(&target, src.is_dir, image)?;
            self.emit(&mut w, src, &target)?;
        }
        for m in made {
            let target = match into_dir || many {
                true => dest_rel.join(one_component(&m.name)),
                false => dest_rel.clone(),
            };
            w.parents(&target, false, image)?;
            w.made(&target, m)?;
        }
        w.tar.finish().map_err(Error::Write)?;
        Ok(w.stats)
    }

    /// ADD: splits `words` into the local archives they name (regular
    /// files, not reached through a symlink of their own, whose first
    /// bytes `is_archive` recognises) and the words left to copy. A
    /// wildcard that matched archives and other files leaves the others
    /// by name.
    pub fn take_archives(
        &self,
        words: &[String],
        is_archive: impl Fn(&[u8]) -> bool,
    ) -> Result<(Vec<String>, Vec<Archive>), Error> {
        let (mut rest, mut archives) = (Vec::new(), Vec::new());
        for word in words {
            let sources = self.expand(word, false)?;
            let before = archives.len();
            let mut others = Vec::new();
            for src in sources {
                match self.open_archive(&src, &is_archive) {
                    Some(file) => archives.push(Archive { rel: src.rel, file }),
                    None => others.push(src.rel),
                }
            }
            match archives.len() == before {
                true => rest.push(word.clone()),
                false => rest.extend(others.iter().map(|p| p.to_string_lossy().into_owned())),
            }
        }
        Ok((rest, archives))
    }

    /// `src` opened for reading when it is a regular file itself (not a
    /// symlink to one) that starts like an archive.
    fn open_archive(
        &self,
        src: &Source,
        is_archive: &dyn Fn(&[u8]) -> bool,
    ) -> Option<std::fs::File> {
        use std::os::unix::fs::FileExt;
        let name = src.rel.file_name().filter(|_| !src.is_dir)?;
        let parent = src.rel.parent().unwrap_or(Path::new(""));
        let dir = match parent.as_os_str().is_empty() {
            true => self.root.try_clone().ok()?,
            false => open_in_root(self.root.as_fd(), parent, ResolveMode::Auto).ok()?,
        };
        let st = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let file = std::fs::File::from(fd);
        let mut head = [0u8; 262];
        let n = file.read_at(&mut head, 0).ok()?;
        is_archive(&head[..n]).then_some(file)
    }

    /// A COPY word → the sources it names (a glob → every match that is
    /// not ignored, in name order).
    fn expand(&self, word: &str, parents: bool) -> Result<Vec<Source>, Error> {
        let (pivot, rest) = match word.split_once("/./") {
            Some((before, after)) if parents => (normalize(before.as_bytes()).ok(), after),
            _ => (None, word),
        };
        let full = match &pivot {
            Some(p) => format!("{}/{rest}", p.display()),
            None => rest.to_owned(),
        };
        let rel = normalize(full.as_bytes())
            .map_err(|e| IoError::new("use the source", word, io::Error::other(e)))?;
        let paths = if has_glob(word) {
            let found = self.glob(&rel)?;
            if found.is_empty() {
                return Err(Error::NoMatch(word.to_owned()));
            }
            found
        } else {
            if !rel.as_os_str().is_empty() && self.ignore.excludes(&rel) {
                return Err(Error::NotFound(word.to_owned()));
            }
            vec![rel]
        };
        paths
            .into_iter()
            .map(|rel| {
                let fd =
                    open_in_root(self.root.as_fd(), &rel, ResolveMode::Auto).map_err(
                        |e| match e.kind() {
                            io::ErrorKind::NotFound => Error::NotFound(word.to_owned()),
                            _ => IoError::new("open", self.dir.join(&rel), e).into(),
                        },
                    )?;
                let st = rustix::fs::fstat(&fd)
                    .map_err(|e| IoError::new("stat", self.dir.join(&rel), e.into()))?;
                let keep = match parents {
                    false => PathBuf::new(),
                    true => {
                        let below = pivot.as_deref().and_then(|p| rel.strip_prefix(p).ok());
                        let kept = below.unwrap_or(&rel);
                        match FileType::from_raw_mode(st.st_mode) {
                            FileType::Directory => kept.to_path_buf(),
                            _ => kept.parent().map(Path::to_path_buf).unwrap_or_default(),
                        }
                    }
                };
                Ok(Source {
                    is_dir: FileType::from_raw_mode(st.st_mode) == FileType::Directory,
                    rel,
                    keep,
                })
            })
            .collect()
    }

    /// Matches a glob path component by component against the context.
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, Error> {
        let mut found = vec![PathBuf::new()];
        for comp in pattern.iter() {
            let mut next = Vec::new();
            for base in &found {
                if !has_glob(&comp.to_string_lossy()) {
                    next.push(base.join(comp));
                    continue;
                }
                let Ok(dir) = self.open_dir(base) else {
                    continue;
                };
                let mut names: Vec<Vec<u8>> = entries(dir)
                    .map_err(|e| IoError::new("read", self.dir.join(base), e))?
                    .into_iter()
                    .filter(|n| super::ignore::component(comp.as_bytes(), n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(OsStr::from_bytes(&n))));
            }
            found = next;
        }
        Ok(found
            .into_iter()
            .filter(|p| !self.ignore.excludes(p))
            .filter(|p| open_in_root(self.root.as_fd(), p, ResolveMode::Auto).is_ok())
            .collect())
    }

    fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let fd = open_in_root(self.root.as_fd(), rel, ResolveMode::Auto)?;
        reopen(&fd, OFlags::RDONLY | OFlags::DIRECTORY)
    }

    /// Writes one source at `target` (a directory's contents go below it).
    fn emit(&self, w: &mut Writer<impl Write>, src: &Source, target: &Path) -> Result<(), Error> {
        let at = self.dir.join(&src.rel);
        let fd = open_in_root(self.root.as_fd(), &src.rel, ResolveMode::Auto)
            .map_err(|e| IoError::new("open", &at, e))?;
        if !src.is_dir {
            let file = reopen(&fd, OFlags::RDONLY).map_err(|e| IoError::new("open", &at, e))?;
            let st = rustix::fs::fstat(&file).map_err(|e| IoError::new("stat", &at, e.into()))?;
            return w.file(target, &st, std::fs::File::from(file), &at);
        }
        let dir = reopen(&fd, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| IoError::new("open", &at, e))?;
        self.walk(w, dir, &src.rel, Path::new(""), target)
    }

    /// Copies a directory's contents without following any symlink in it.
    /// `ctx_rel` is its path in the context (for .dockerignore), `below` its
    /// path under the source (for `--exclude`).
    fn walk(
        &self,
        w: &mut Writer<impl Write>,
        dir: OwnedFd,
        ctx_rel: &Path,
        below: &Path,
        target: &Path,
    ) -> Result<(), Error> {
        let at = self.dir.join(ctx_rel);
        let mut list = entries(dir.try_clone().map_err(|e| IoError::new("read", &at, e))?)
            .map_err(|e| IoError::new("read", &at, e))?;
        list.sort();
        for name in list {
            let name = OsStr::from_bytes(&name);
            let (ctx_path, src_path, dst) =
                (ctx_rel.join(name), below.join(name), target.join(name));
            let path = self.dir.join(&ctx_path);
            let st = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| IoError::new("stat", &path, e.into()))?;
            let kind = FileType::from_raw_mode(st.st_mode);
            let ignored = self.ignore.excludes(&ctx_path) || w.opts.exclude.excludes(&src_path);
            if ignored
                && !(kind == FileType::Directory
                    && (self.ignore.may_reinclude_below(&ctx_path)
                        || w.opts.exclude.may_reinclude_below(&src_path)))
            {
                continue;
            }
            match kind {
                FileType::Directory => {
                    if !ignored {
                        w.dir(&dst, &st)?;
                    }
                    let sub = rustix::fs::openat(
                        &dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| IoError::new("open", &path, e.into()))?;
                    self.walk(w, sub, &ctx_path, &src_path, &dst)?;
                }
                FileType::RegularFile => {
                    let file = rustix::fs::openat(
                        &dir,
                        name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| IoError::new("open", &path, e.into()))?;
                    w.file(&dst, &st, std::fs::File::from(file), &path)?;
                }
                FileType::Symlink => {
                    let to = rustix::fs::readlinkat(&dir, name, Vec::new())
                        .map_err(|e| IoError::new("read the link", &path, e.into()))?;
                    w.special(&dst, &st, tar::EntryType::Symlink, Some(to.as_bytes()))?;
                }
                FileType::Fifo => w.special(&dst, &st, tar::EntryType::Fifo, None)?,
                _ => w.stats.skipped += 1,
            }
        }
        Ok(())
    }
}

/// A made file's name as one path component (a here-document's name is
/// its delimiter; a download's, the end of its URL path).
fn one_component(name: &str) -> &str {
    match name.rsplit('/').next() {
        Some("" | "." | "..") | None => "__unnamed__",
        Some(n) => n,
    }
}

/// Names in a directory, without `.` and `..`.
fn entries(dir: OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for entry in Dir::new(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// An O_PATH fd reopened for reading through its /proc link (the object
/// stays the one resolved inside the context).
fn reopen(fd: &OwnedFd, flags: OFlags) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::open(
        link.as_str(),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

struct Writer<'a, W: Write> {
    tar: tar::Builder<W>,
    opts: &'a CopyOptions,
    stats: CopyStats,
    /// Directories this stream creates, so each gets one header.
    made: Vec<PathBuf>,
}

impl<W: Write> Writer<'_, W> {
    fn header(&self, st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        let (uid, gid) = self.opts.owner.unwrap_or((0, 0));
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        let perm = self.opts.mode.unwrap_or(st.st_mode & 0o7777);
        h.set_mode(perm);
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    /// Missing directories above `target` (and `target` itself for a
    /// directory source): 0755, or `--chmod`, owned as `--chown` says.
    fn parents(
        &mut self,
        target: &Path,
        dir_source: bool,
        image: &dyn Destination,
    ) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut at = if dir_source {
            Some(target)
        } else {
            target.parent()
        };
        while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
            if image.exists(p) || self.made.iter().any(|m| m == p) {
                break;
            }
            missing.push(p.to_path_buf());
            at = p.parent();
        }
        for p in missing.into_iter().rev() {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            let (uid, gid) = self.opts.owner.unwrap_or((0, 0));
            h.set_uid(uid.into());
            h.set_gid(gid.into());
            h.set_mode(self.opts.mode.unwrap_or(0o755));
            h.set_size(0);
            self.tar
                .append_data(&mut h, &p, io::empty())
                .map_err(Error::Write)?;
            self.made.push(p);
        }
        Ok(())
    }

    fn dir(&mut self, dst: &Path, st: &rustix::fs::Stat) -> Result<(), Error> {
        let mut h = self.header(st, tar::EntryType::Directory);
        self.tar
            .append_data(&mut h, dst, io::empty())
            .map_err(Error::Write)?;
        self.made.push(dst.to_path_buf());
        Ok(())
    }

    fn file(
        &mut self,
        dst: &Path,
        st: &rustix::fs::Stat,
        file: std::fs::File,
        at: &Path,
    ) -> Result<(), Error> {
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = self.header(st, tar::EntryType::Regular);
        h.set_size(size);
        // A file that changes size while we copy would corrupt the stream:
        // read exactly what the header promised, and fail if it shrank.
        let mut exact = ExactReader {
            inner: file,
            left: size,
            at,
        };
        self.tar
            .append_data(&mut h, dst, &mut exact)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => IoError::new("read", at, e).into(),
                _ => Error::Write(e),
            })?;
        self.stats.files += 1;
        self.stats.bytes += size;
        Ok(())
    }

    fn made(&mut self, dst: &Path, m: &Made) -> Result<(), Error> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        let (uid, gid) = self.opts.owner.unwrap_or((0, 0));
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mode(self.opts.mode.unwrap_or(m.mode));
        h.set_mtime(m.mtime);
        let appended = match &m.content {
            Content::Bytes(b) => {
                h.set_size(b.len() as u64);
                self.tar.append_data(&mut h, dst, b.as_slice())
            }
            Content::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| IoError::new("open", path, e))?;
                let size = file
                    .metadata()
                    .map_err(|e| IoError::new("stat", path, e))?
                    .len();
                h.set_size(size);
                let mut exact = ExactReader {
                    inner: file,
                    left: size,
                    at: path,
                };
                self.tar.append_data(&mut h, dst, &mut exact)
            }
        };
        appended.map_err(Error::Write)?;
        self.stats.files += 1;
        Ok(())
    }

    fn special(
        &mut self,
        dst: &Path,
        st: &rustix::fs::Stat,
        kind: tar::EntryType,
        link: Option<&[u8]>,
    ) -> Result<(), Error> {
        let mut h = self.header(st, kind);
        if kind == tar::EntryType::Symlink {
            // Symlink modes mean nothing, and --chmod does not apply to them.
            h.set_mode(0o777);
        }
        match link {
            Some(to) => self.tar.append_link(&mut h, dst, OsStr::from_bytes(to)),
            None => self.tar.append_data(&mut h, dst, io::empty()),
        }
        .map_err(Error::Write)?;
        self.stats.files += 1;
        Ok(())
    }
}

struct ExactReader<'a> {
    inner: std::fs::File,
    left: u64,
    at: &'a Path,
}

impl io::Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let cap = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being copied", self.at.display()),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The stage's rootfs as COPY's destination, every path resolved inside
/// it (a symlink in the image means what it means to the guest).
pub struct Rootfs(OwnedFd);

impl Rootfs {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IoError::new("open", path, e.into()))?;
        Ok(Self(fd))
    }

    fn stat(&self, rel: &Path) -> Option<rustix::fs::Stat> {
        let fd = open_in_root(self.0.as_fd(), rel, ResolveMode::Auto).ok()?;
        rustix::fs::fstat(&fd).ok()
    }
}

impl Destination for Rootfs {
    fn is_dir(&self, path: &Path) -> bool {
        self.stat(path)
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
    }
    fn exists(&self, path: &Path) -> bool {
        self.stat(path).is_some()
    }
}
