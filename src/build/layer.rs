//! One build step's changes as a layer blob in the cache: a tar stream
//! (see [`super::tarwrite`]) of the changed entries read from the rootfs,
//! compressed, with the uncompressed stream's sha256 (the diff_id) and the
//! blob's digest and size taken in the same pass that writes the blob into
//! `oci_layers/`. A blob lands there under its digest exactly as a pulled
//! one does, so `install` uses it offline like any other; its hash memo
//! (`layer_hashes/`) is made by the first install, as for a pulled layer.
//!
//! How the executor calls it: as a plain function over the stage rootfs,
//! in the process that owns the tree's ids. For a root caller that is the
//! applet itself (with its read capabilities); for a rootless store it
//! runs inside the store's user namespace (the unpacker child,
//! `crate::unpack::job`), where the rootfs's subordinate ids read back as
//! the container's own 0…65535 and `security.capability` comes back in
//! its namespace-neutral form; the layer then carries container ids, as
//! a pulled one does. Nothing it opens follows a symlink: parents are
//! resolved beneath the root fd ([`crate::unpack::resolve::Resolver`]),
//! and every final component is opened with `O_NOFOLLOW`.
//!
//! Entries: regular files (hard links within the layer kept as links to
//! the first name written), directories, symlinks, character and block
//! devices, fifos; sockets are left out (tar cannot carry them). Xattrs
//! `user.*` and `security.capability` of files and directories go in PAX
//! `SCHILY.xattr.*` records (other namespaces are host-specific: SELinux
//! labels, ACLs, trusted.*). Whiteouts are empty files named `.wh.NAME`,
//! opaque directories get `DIR/.wh..wh..opq`.

use super::diff::{ChangeKind, Changes};
use super::error::Error;
use super::tarwrite::{EntryHeader, TarWriter, TypeFlag};
use crate::ioerr::IoError;
use crate::oci::{self, Digest};
use crate::store::blobs::{BlobCache, BlobWriter};
use crate::unpack::resolve::{ResolveMode, Resolver};
use rustix::fs::{openat, statat, AtFlags, Mode, OFlags};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// gzip level: zlib's default, the size/speed point registries and
/// Docker use. Fixed, because the level changes the compressed bytes.
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => oci::MT_OCI_LAYER_GZIP,
            Compression::Zstd => oci::MT_OCI_LAYER_ZSTD,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LayerOptions {
    pub compression: Compression,
    /// Reproducible mode (`--reproducible`, `SOURCE_DATE_EPOCH`): every
    /// mtime later than this is written as this.
    pub epoch: Option<i64>,
}

impl LayerOptions {
    /// Reproducible mode at `SOURCE_DATE_EPOCH` when the environment sets
    /// a valid one, else at 0 when `reproducible` asks for it.
    pub fn epoch_from(env: &crate::env::EnvSnapshot, reproducible: bool) -> Option<i64> {
        env.get("SOURCE_DATE_EPOCH")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|e| *e >= 0)
            .or(reproducible.then_some(0))
    }
}

/// A layer blob in the cache, as a manifest and a config describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// Of the compressed blob (its name in the cache).
    pub digest: Digest,
    /// Of the uncompressed tar stream (`rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Compressed bytes.
    pub size: u64,
    pub media_type: &'static str,
}

/// Writes `changes` of the tree at `root` as a layer into `cache`.
pub fn write_layer(
    root: &Path,
    changes: &Changes,
    opts: &LayerOptions,
    cache: &BlobCache,
) -> Result<LayerDescriptor, Error> {
    let fd = openat(
        rustix::fs::CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| IoError::new("open", root, e.into()))?;
    write_layer_fd(fd.as_fd(), root, changes, opts, cache)
}

/// The same over an open root directory fd; `shown` names it in messages.
pub fn write_layer_fd(
    root: BorrowedFd,
    shown: &Path,
    changes: &Changes,
    opts: &LayerOptions,
    cache: &BlobCache,
) -> Result<LayerDescriptor, Error> {
    let blob = cache.writer()?;
    let partial = blob.path().to_path_buf();
    let io_err = |e: io::Error| Error::from(IoError::new("write", &partial, e));
    let encoder = Encoder::new(opts.compression, blob).map_err(io_err)?;
    let hashing = Hashing {
        inner: encoder,
        sha: Sha256::new(),
    };
    let tar = TarWriter::new(io::BufWriter::with_capacity(256 << 10, hashing));
    let mut w = Writer {
        root,
        shown,
        opts,
        tar,
        resolver: Resolver::new(ResolveMode::Auto),
        parent: None,
        links: HashMap::new(),
    };
    for change in &changes.changes {
        w.change(&change.path, change.kind)?;
    }
    let hashing = w
        .tar
        .finish()
        .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
        .map_err(io_err)?;
    let diff_id = Digest::from_hex(&hex::encode(hashing.sha.finalize()))
        .unwrap_or_else(|| unreachable!("sha256 hex is a digest"));
    let blob = hashing.inner.finish().map_err(io_err)?;
    let size = blob.size();
    let digest = blob
        .commit(cache, None, None)?
        .unwrap_or_else(|_| unreachable!("nothing expected, nothing to mismatch"));
    Ok(LayerDescriptor {
        digest,
        diff_id,
        size,
        media_type: opts.compression.media_type(),
    })
}

struct Writer<'a, W: Write> {
    root: BorrowedFd<'a>,
    shown: &'a Path,
    opts: &'a LayerOptions,
    tar: TarWriter<W>,
    resolver: Resolver,
    /// The last parent directory resolved: changes come sorted, so
    /// siblings follow each other.
    parent: Option<(PathBuf, OwnedFd)>,
    /// First name written for each multiply-linked inode.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Writer<'_, W> {
    fn change(&mut self, path: &[u8], kind: ChangeKind) -> Result<(), Error> {
        match kind {
            ChangeKind::Deleted => self.whiteout(path),
            ChangeKind::Replaced => {
                self.whiteout(path)?;
                self.put(path)
            }
            ChangeKind::Opaque => {
                self.put(path)?;
                let mut marker = path.to_vec();
                marker.extend_from_slice(b"/.wh..wh..opq");
                self.marker(marker)
            }
            ChangeKind::Added | ChangeKind::Modified | ChangeKind::Metadata => self.put(path),
        }
    }

    fn shown(&self, path: &[u8]) -> PathBuf {
        self.shown.join(OsStr::from_bytes(path))
    }

    fn io(&self, op: &'static str, path: &[u8], e: impl Into<io::Error>) -> Error {
        IoError::new(op, self.shown(path), e.into()).into()
    }

    fn whiteout(&mut self, path: &[u8]) -> Result<(), Error> {
        let (dir, name) = split(path);
        let mut marker = dir.to_vec();
        marker.extend_from_slice(b".wh.");
        marker.extend_from_slice(name);
        self.marker(marker)
    }

    /// An empty file with a whiteout name: fixed mode, owner and time.
    fn marker(&mut self, name: Vec<u8>) -> Result<(), Error> {
        let h = EntryHeader::new(name, TypeFlag::File);
        self.tar
            .append(&h, Some(&mut io::empty()))
            .map_err(|e| self.io("write the layer entry for", &h.name, e))
    }

    /// The directory holding `path`, resolved beneath the root.
    fn parent_fd(&mut self, dir: &[u8]) -> Result<BorrowedFd<'_>, Error> {
        let rel = Path::new(OsStr::from_bytes(dir.strip_suffix(b"/").unwrap_or(dir)));
        let hit = matches!(&self.parent, Some((p, _)) if p == rel);
        if !hit {
            let fd = self
                .resolver
                .dir(self.root, rel, false, &mut 0)
                .map_err(|e| self.io("open", dir, e))?;
            self.parent = Some((rel.to_path_buf(), fd));
        }
        Ok(self.parent.as_ref().map_or(self.root, |(_, fd)| fd.as_fd()))
    }

    fn put(&mut self, path: &[u8]) -> Result<(), Error> {
        let (dir, name) = split(path);
        let name = OsStr::from_bytes(name).to_owned();
        let epoch = self.opts.epoch;
        let parent = self.parent_fd(dir)?.try_clone_to_owned();
        let parent = parent.map_err(|e| self.io("open", dir, e))?;
        let st = match statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Err(self.changed(path)),
            Err(e) => return Err(self.io("stat", path, e)),
        };
        let meta = super::snapshot::Meta::from_stat(&st);
        let flag = match meta.kind {
            super::snapshot::Kind::File => TypeFlag::File,
            super::snapshot::Kind::Dir => TypeFlag::Dir,
            super::snapshot::Kind::Symlink => TypeFlag::Symlink,
            super::snapshot::Kind::CharDev => TypeFlag::CharDev,
            super::snapshot::Kind::BlockDev => TypeFlag::BlockDev,
            super::snapshot::Kind::Fifo => TypeFlag::Fifo,
            // Tar has no sockets; a socket is runtime state anyway.
            super::snapshot::Kind::Socket => return Ok(()),
        };
        let mut entry_name = path.to_vec();
        if flag == TypeFlag::Dir {
            entry_name.push(b'/');
        }
        let mut h = EntryHeader::new(entry_name, flag);
        h.mode = meta.mode;
        h.uid = u64::from(meta.uid);
        h.gid = u64::from(meta.gid);
        h.mtime = match epoch {
            Some(e) => meta.mtime.0.min(e),
            None => meta.mtime.0,
        }
        .max(0);
        match flag {
            TypeFlag::File => return self.file(&parent, &name, path, h, &meta),
            TypeFlag::Dir => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = openat(&parent, &name, flags, Mode::empty())
                    .map_err(|e| self.io("open", path, e))?;
                h.xattrs = xattrs(fd.as_fd());
            }
            TypeFlag::Symlink => {
                let t = rustix::fs::readlinkat(&parent, &name, Vec::new())
                    .map_err(|e| self.io("read the link", path, e))?;
                h.link = Some(t.into_bytes());
            }
            TypeFlag::CharDev | TypeFlag::BlockDev => {
                h.dev_major = rustix::fs::major(meta.rdev);
                h.dev_minor = rustix::fs::minor(meta.rdev);
            }
            _ => {}
        }
        self.tar
            .append(&h, None)
            .map_err(|e| self.io("write the layer entry for", path, e))
    }

    fn file(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        path: &[u8],
        mut h: EntryHeader,
        meta: &super::snapshot::Meta,
    ) -> Result<(), Error> {
        if meta.nlink > 1 {
            let key = (meta.dev, meta.ino);
            if let Some(first) = self.links.get(&key) {
                h.flag = TypeFlag::HardLink;
                h.link = Some(first.clone());
                return self
                    .tar
                    .append(&h, None)
                    .map_err(|e| self.io("write the layer entry for", path, e));
            }
            self.links.insert(key, path.to_vec());
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd =
            openat(parent, name, flags, Mode::empty()).map_err(|e| self.io("open", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| self.io("stat", path, e))?;
        if st.st_ino != meta.ino || st.st_size as u64 != meta.size {
            return Err(self.changed(path));
        }
        h.size = meta.size;
        h.xattrs = xattrs(fd.as_fd());
        let mut file = std::fs::File::from(fd);
        match self.tar.append(&h, Some(&mut file)) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.changed(path)),
            r => r.map_err(|e| self.io("write the layer entry for", path, e)),
        }
    }

    fn changed(&self, path: &[u8]) -> Error {
        Error::Changed {
            path: self.shown(path).display().to_string(),
        }
    }
}

/// `(parent with its trailing '/', name)` of a relative path.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

/// The xattrs a layer carries, sorted by name.
fn xattrs(fd: BorrowedFd) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::flistxattr(fd, &mut names) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !(name.starts_with(b"user.") || name == b"security.capability") {
            continue;
        }
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let mut value = vec![0u8; 64 << 10];
        if let Ok(len) = rustix::fs::fgetxattr(fd, cname.as_c_str(), &mut value) {
            value.truncate(len);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    out
}

/// Hashes what passes through: the uncompressed stream, for the diff_id.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<BlobWriter>),
    Zstd(zstd::stream::write::Encoder<'static, BlobWriter>),
}

impl Encoder {
    /// A gzip header with no name and no mtime (`GzBuilder`'s defaults),
    /// and one compression level, whatever the machine: the same tar
    /// stream always compresses to the same bytes.
    fn new(c: Compression, blob: BlobWriter) -> io::Result<Self> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new().write(blob, flate2::Compression::new(GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(blob, ZSTD_LEVEL)?;
                e.include_checksum(true)?;
                Encoder::Zstd(e)
            }
        })
    }

    fn finish(self) -> io::Result<BlobWriter> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::diff::Change;
    use std::io::Read;

    fn changes(list: &[(&str, ChangeKind)]) -> Changes {
        Changes {
            changes: list
                .iter()
                .map(|(p, k)| Change {
                    path: p.as_bytes().to_vec(),
                    kind: *k,
                })
                .collect(),
        }
    }

    /// (name, type byte, link target, contents) of every entry.
    fn entries(blobs: &BlobCache, d: &LayerDescriptor) -> Vec<(String, u8, String, String)> {
        let gz = flate2::read::GzDecoder::new(blobs.open(&d.digest).unwrap());
        let mut ar = tar::Archive::new(gz);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let flag = e.header().entry_type().as_byte();
                let mut data = String::new();
                e.read_to_string(&mut data).unwrap();
                (name, flag, link, data)
            })
            .collect()
    }

    #[test]
    fn whiteouts_opaque_markers_and_hard_links_come_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        std::fs::write(root.join("d/sub/f"), "data").unwrap();
        std::fs::hard_link(root.join("d/sub/f"), root.join("d/sub/g")).unwrap();
        std::fs::write(root.join("x"), "new x").unwrap();
        let blobs = BlobCache::new(dir.path().join("oci_layers"));
        let list = changes(&[
            ("d", ChangeKind::Opaque),
            ("d/sub", ChangeKind::Added),
            ("d/sub/f", ChangeKind::Added),
            ("d/sub/g", ChangeKind::Added),
            ("gone", ChangeKind::Deleted),
            ("x", ChangeKind::Replaced),
        ]);
        let d = write_layer(&root, &list, &LayerOptions::default(), &blobs).unwrap();
        let got: Vec<_> = entries(&blobs, &d)
            .into_iter()
            .map(|(n, f, l, c)| format!("{n} {} {l} {c}", f as char))
            .collect();
        assert_eq!(
            got,
            [
                "d/ 5  ",
                "d/.wh..wh..opq 0  ",
                "d/sub/ 5  ",
                "d/sub/f 0  data",
                "d/sub/g 1 d/sub/f ",
                ".wh.gone 0  ",
                ".wh.x 0  ",
                "x 0  new x",
            ]
        );
        // The digest names the compressed bytes, the diff_id the tar.
        let blob = std::fs::read(blobs.path(&d.digest)).unwrap();
        assert_eq!(blob.len() as u64, d.size);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(d.diff_id, crate::store::blobs::digest_of(&tar));
        assert_eq!(&blob[4..8], &[0; 4], "no mtime in the gzip header");
    }

    #[test]
    fn a_symlink_swapped_in_for_a_parent_never_reads_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "the rootfs's own").unwrap();
        // After the snapshot, a step turned `escape` into a link to the
        // host's /etc; the change list still names a file below it.
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let blobs = BlobCache::new(dir.path().join("oci_layers"));
        let list = changes(&[("escape/passwd", ChangeKind::Added)]);
        let d = write_layer(&root, &list, &LayerOptions::default(), &blobs).unwrap();
        let got = entries(&blobs, &d);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].3, "the rootfs's own", "resolved inside the root");
        // With no such file inside, the writer fails rather than look outside.
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        assert!(write_layer(&root, &list, &LayerOptions::default(), &blobs).is_err());
        // And a final symlink is stored as a link, never followed.
        let list = changes(&[("escape", ChangeKind::Added)]);
        let d = write_layer(&root, &list, &LayerOptions::default(), &blobs).unwrap();
        assert_eq!(entries(&blobs, &d)[0].2, "/etc");
    }
}
