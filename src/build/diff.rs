//! The difference between two snapshots of one rootfs, as a layer must
//! carry it: what to write, what to white out, which directories hide
//! everything their lower layers held.
//!
//! Rules, in the order they are checked for a path:
//! - Present only before: deleted (a `.wh.NAME` whiteout). Below a deleted
//!   or opaque directory nothing more is said: its whiteout already hides it.
//! - Present only after: added.
//! - Below an opaque directory (next rule): added, whatever it was before.
//! - A directory before and after, but another inode: it was removed and
//!   made again, so it becomes **opaque** (`DIR/.wh..wh..opq`) and every
//!   entry below it is written again. Inode numbers can be reused at once
//!   on some file systems; then the directory counts as the same one and
//!   its children are compared one by one, which describes the same tree.
//! - Another type (file → directory, directory → symlink, …): replaced, a
//!   whiteout of the old entry followed by the new one.
//! - Content (size, mtime, symlink target, device number, or another inode
//!   for a non-directory): modified.
//! - Only metadata (mode, owner, ctime, file capability, link count):
//!   metadata. `ctime` moves with every chmod, chown, xattr write and new
//!   hard link, so no metadata change slips through unseen.
//!
//! The root directory itself is never part of a diff (tar layers do not
//! describe it). Changes come sorted by path bytes.

use super::snapshot::{Entry, Kind, Meta, Snapshot};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    /// Same content, other mode, owner, capability or link count.
    Metadata,
    /// Another type at the same path: whiteout, then the new entry.
    Replaced,
    /// A directory made anew: the entry, its opaque marker, then all of
    /// its contents (listed as `Added`).
    Opaque,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Relative to the root, no leading `/`.
    pub path: Vec<u8>,
    pub kind: ChangeKind,
}

/// Every change of one step, sorted by path bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub changes: Vec<Change>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// How many changes are of `kind`.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }

    /// The change at `path`, if any.
    pub fn get(&self, path: &[u8]) -> Option<ChangeKind> {
        self.changes
            .binary_search_by(|c| c.path.as_slice().cmp(path))
            .ok()
            .map(|i| self.changes[i].kind)
    }
}

/// What changed from `before` to `after` (two snapshots of one tree).
pub fn diff(before: &Snapshot, after: &Snapshot) -> Changes {
    let mut d = Differ::default();
    let (mut b, mut a) = (
        before.entries().iter().peekable(),
        after.entries().iter().peekable(),
    );
    loop {
        match (b.peek(), a.peek()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.path == y.path => {
                d.both(x, y);
                b.next();
                a.next();
            }
            (Some(x), Some(y)) if x.path < y.path => {
                d.gone(x);
                b.next();
            }
            (Some(x), None) => {
                d.gone(x);
                b.next();
            }
            (_, Some(y)) => {
                d.push(&y.path, ChangeKind::Added);
                a.next();
            }
        }
    }
    Changes { changes: d.out }
}

#[derive(Default)]
struct Differ {
    out: Vec<Change>,
    /// Directories whose whole lower content a whiteout or opaque marker
    /// already hides.
    hidden: HashSet<Vec<u8>>,
    opaque: HashSet<Vec<u8>>,
}

impl Differ {
    fn push(&mut self, path: &[u8], kind: ChangeKind) {
        self.out.push(Change {
            path: path.to_vec(),
            kind,
        });
    }

    fn gone(&mut self, e: &Entry) {
        if under(&e.path, &self.hidden) {
            return;
        }
        if e.meta.kind == Kind::Dir {
            self.hidden.insert(e.path.clone());
        }
        self.push(&e.path, ChangeKind::Deleted);
    }

    fn both(&mut self, old: &Entry, new: &Entry) {
        if under(&new.path, &self.opaque) {
            return self.push(&new.path, ChangeKind::Added);
        }
        let (o, n) = (&old.meta, &new.meta);
        if o.kind != n.kind {
            if o.kind == Kind::Dir {
                self.hidden.insert(old.path.clone());
            }
            return self.push(&new.path, ChangeKind::Replaced);
        }
        if n.kind == Kind::Dir && !o.same_inode(n) {
            self.hidden.insert(new.path.clone());
            self.opaque.insert(new.path.clone());
            return self.push(&new.path, ChangeKind::Opaque);
        }
        if content_differs(o, n) {
            self.push(&new.path, ChangeKind::Modified);
        } else if metadata_differs(o, n) {
            self.push(&new.path, ChangeKind::Metadata);
        }
    }
}

fn content_differs(o: &Meta, n: &Meta) -> bool {
    o.size != n.size
        || o.mtime != n.mtime
        || o.target != n.target
        || o.rdev != n.rdev
        || (n.kind != Kind::Dir && !o.same_inode(n))
}

fn metadata_differs(o: &Meta, n: &Meta) -> bool {
    o.mode != n.mode
        || o.uid != n.uid
        || o.gid != n.gid
        || o.ctime != n.ctime
        || o.capability != n.capability
        || o.nlink != n.nlink
}

/// Whether a proper ancestor of `path` is in `dirs`.
fn under(path: &[u8], dirs: &HashSet<Vec<u8>>) -> bool {
    if dirs.is_empty() {
        return false;
    }
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .any(|(i, _)| dirs.contains(&path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;

    fn kinds(c: &Changes) -> Vec<(String, ChangeKind)> {
        c.changes
            .iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
            .collect()
    }

    fn tree(root: &Path) {
        for d in ["etc", "gone/deep", "remade/sub", "swap", "keep"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "etc/a",
            "etc/mode",
            "gone/deep/x",
            "remade/sub/y",
            "remade/z",
            "filedir",
            "keep/same",
        ] {
            std::fs::write(root.join(f), f).unwrap();
        }
        symlink("etc/a", root.join("link")).unwrap();
    }

    #[test]
    fn every_kind_of_change_is_named_once_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root);
        let before = Snapshot::take(root).unwrap();
        // Let mtimes move on file systems with coarse timestamps.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("etc/a"), "changed!").unwrap();
        std::fs::set_permissions(root.join("etc/mode"), PermissionsExt::from_mode(0o600)).unwrap();
        std::fs::write(root.join("etc/new"), "n").unwrap();
        std::fs::remove_dir_all(root.join("gone")).unwrap();
        // Renamed away first, so the new directory cannot reuse its inode.
        std::fs::rename(root.join("remade"), root.join("old")).unwrap();
        std::fs::create_dir_all(root.join("remade/sub")).unwrap();
        std::fs::remove_dir_all(root.join("old")).unwrap();
        std::fs::write(root.join("remade/sub/y"), "remade/sub/y").unwrap();
        std::fs::remove_dir(root.join("swap")).unwrap();
        std::fs::write(root.join("swap"), "now a file").unwrap();
        std::fs::remove_file(root.join("filedir")).unwrap();
        std::fs::create_dir(root.join("filedir")).unwrap();
        std::fs::write(root.join("filedir/inner"), "i").unwrap();
        std::fs::remove_file(root.join("link")).unwrap();
        symlink("etc/new", root.join("link")).unwrap();
        let after = Snapshot::take(root).unwrap();
        let got = kinds(&diff(&before, &after));
        use ChangeKind::*;
        let want: Vec<(String, ChangeKind)> = [
            ("etc", Modified),
            ("etc/a", Modified),
            ("etc/mode", Metadata),
            ("etc/new", Added),
            ("filedir", Replaced),
            ("filedir/inner", Added),
            ("gone", Deleted),
            ("link", Modified),
            ("remade", Opaque),
            ("remade/sub", Added),
            ("remade/sub/y", Added),
            ("swap", Replaced),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_owned(), k))
        .collect();
        // The root's own mtime changed too, but the root is never listed;
        // `keep` and `keep/same` did not change.
        assert_eq!(got, want);
    }

    #[test]
    fn an_unchanged_tree_has_no_changes() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let a = Snapshot::take(dir.path()).unwrap();
        let b = Snapshot::take(dir.path()).unwrap();
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn a_new_hard_link_rewrites_every_name_of_its_inode() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root);
        let before = Snapshot::take(root).unwrap();
        std::fs::hard_link(root.join("keep/same"), root.join("keep/twin")).unwrap();
        let after = Snapshot::take(root).unwrap();
        let c = diff(&before, &after);
        assert_eq!(c.get(b"keep/twin"), Some(ChangeKind::Added));
        assert_eq!(c.get(b"keep/same"), Some(ChangeKind::Metadata));
    }
}
