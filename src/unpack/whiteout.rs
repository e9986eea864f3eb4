//! OCI whiteouts: `.wh.<name>` deletes `<name>` from the layers below,
//! `.wh..wh..opq` empties its directory of everything the layers below put
//! there. Both act only beneath the root, never through a symlink's
//! target outside it, and never on what the current layer wrote.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{openat, Mode, OFlags};
use rustix::io::Errno;

use super::remove::{list, remove_at};
use super::resolve::Resolver;

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What an entry name means with respect to whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    Plain,
    /// Delete `name` in `dir`.
    Whiteout {
        dir: &'a Path,
        name: &'a OsStr,
    },
    /// Delete everything in `dir` not written by this layer.
    Opaque {
        dir: &'a Path,
    },
    Invalid(&'static str),
}

/// Classifies a normalised path. In a plain rootfs tarball whiteout names
/// are refused rather than applied: they would delete files of the very
/// archive that carries them.
pub(crate) fn classify(path: &Path, layer: bool) -> Kind<'_> {
    let Some(base) = path.file_name() else {
        return Kind::Plain;
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let in_dir = dir
        .components()
        .any(|c| c.as_os_str().as_bytes().starts_with(PREFIX));
    let b = base.as_bytes();
    if !b.starts_with(PREFIX) && !in_dir {
        return Kind::Plain;
    }
    if !layer {
        return Kind::Invalid("whiteout name in a plain archive");
    }
    if in_dir {
        return Kind::Invalid("whiteout name used as a directory");
    }
    if b == OPAQUE {
        return Kind::Opaque { dir };
    }
    // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs) is not content.
    if b.starts_with(b".wh..wh.") {
        return Kind::Invalid("aufs metadata");
    }
    match &b[PREFIX.len()..] {
        // `.wh.`, `.wh..`, `.wh...`: the directory itself or its parent.
        b"" | b"." | b".." => Kind::Invalid("whiteout of '.' or '..'"),
        name => Kind::Whiteout {
            dir,
            name: OsStr::from_bytes(name),
        },
    }
}

/// Paths the current layer wrote, with their ancestors: the layer's own
/// entries survive its whiteouts and opaque markers, whatever their order.
/// Held as 128-bit keyed hashes, not paths: a layer of a million files
/// would otherwise hold a million paths. The keys are random per run, so
/// an archive cannot aim for a collision (which would at worst spare a
/// lower layer's file from a whiteout).
#[derive(Debug, Default)]
pub(crate) struct Written {
    on: bool,
    keys: (RandomState, RandomState),
    set: HashSet<u128>,
}

impl Written {
    pub fn new(layer: bool) -> Self {
        Self {
            on: layer,
            ..Default::default()
        }
    }

    fn key(&self, path: &Path) -> u128 {
        let bytes = path.as_os_str().as_bytes();
        let (a, b) = (self.keys.0.hash_one(bytes), self.keys.1.hash_one(bytes));
        (u128::from(a) << 64) | u128::from(b)
    }

    pub fn add(&mut self, path: &Path) {
        if !self.on {
            return;
        }
        let mut p = path;
        // Once an ancestor is present, all of its ancestors are too.
        while !p.as_os_str().is_empty() && self.set.insert(self.key(p)) {
            p = p.parent().unwrap_or(Path::new(""));
        }
    }

    fn contains(&self, path: &Path) -> bool {
        self.on && self.set.contains(&self.key(path))
    }
}

/// Applies `.wh.<name>` in `dir`. Something absent is not an error; a
/// directory on the way that is missing or not a directory means there
/// is nothing to delete.
pub(crate) fn whiteout(
    root: BorrowedFd,
    res: &Resolver,
    dir: &Path,
    name: &OsStr,
    written: &Written,
) -> io::Result<()> {
    if written.contains(&dir.join(name)) {
        return Ok(());
    }
    match res.dir(root, dir, false, &mut 0) {
        // The final name is removed through the parent fd with unlinkat:
        // a symlink there is deleted itself, its target left alone.
        Ok(fd) => remove_at(fd.as_fd(), name),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Applies `.wh..wh..opq` to `dir`: everything below it that this layer
/// did not write goes, also inside subdirectories this layer merged into
/// (in the overlay view, the lower `dir/sub/old` is hidden too).
pub(crate) fn opaque(
    root: BorrowedFd,
    res: &Resolver,
    dir: &Path,
    written: &Written,
) -> io::Result<()> {
    match res.dir(root, dir, false, &mut 0) {
        Ok(fd) => prune(&fd, dir, written, 0),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn prune(fd: &OwnedFd, dir: &Path, written: &Written, depth: u32) -> io::Result<()> {
    if depth > 1024 {
        return Err(Errno::LOOP.into());
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let readable = openat(fd, ".", flags, Mode::empty())?;
    for name in list(&readable)? {
        let path = dir.join(&name);
        if !written.contains(&path) {
            remove_at(fd.as_fd(), &name)?;
            continue;
        }
        // Only real directories are descended: O_NOFOLLOW keeps a symlink
        // this layer wrote from leading the pruning elsewhere.
        let sub = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match openat(fd, &name, sub, Mode::empty()) {
            Ok(child) => prune(&child, &path, written, depth + 1)?,
            Err(Errno::NOTDIR) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::NOENT) | Some(Errno::NOTDIR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str, layer: bool) -> Kind<'_> {
        classify(Path::new(s), layer)
    }

    #[test]
    fn names_are_classified() {
        assert_eq!(k("a/b", true), Kind::Plain);
        assert_eq!(k("", true), Kind::Plain);
        assert_eq!(
            k("a/.wh.b", true),
            Kind::Whiteout {
                dir: Path::new("a"),
                name: OsStr::new("b")
            }
        );
        assert_eq!(
            k(".wh.b", true),
            Kind::Whiteout {
                dir: Path::new(""),
                name: OsStr::new("b")
            }
        );
        assert_eq!(
            k("a/.wh..wh..opq", true),
            Kind::Opaque {
                dir: Path::new("a")
            }
        );
        for bad in [".wh.", "a/.wh..", "a/.wh...", "a/.wh..wh.plnk", "a/.wh.x/y"] {
            assert!(matches!(k(bad, true), Kind::Invalid(_)), "{bad}");
        }
        assert!(matches!(k("a/.wh.b", false), Kind::Invalid(_)));
        assert!(matches!(k("a/.wh..wh..opq", false), Kind::Invalid(_)));
    }

    #[test]
    fn written_keeps_ancestors() {
        let mut w = Written::new(true);
        w.add(Path::new("a/b/c"));
        assert!(w.contains(Path::new("a/b")) && w.contains(Path::new("a")));
        assert!(!w.contains(Path::new("")));
        let mut off = Written::new(false);
        off.add(Path::new("a"));
        assert!(!off.contains(Path::new("a")));
    }
}
