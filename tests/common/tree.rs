//! A digest of a directory tree as a user of the rootfs would see it: one
//! line per path with its type, mode, owner, link target or content hash,
//! device numbers and extended attributes. Two trees are compared path by
//! path, so a report names exactly what differs.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Path relative to the root (`.` for the root) → its description.
pub type TreeDigest = BTreeMap<String, String>;

/// Walks `root` without following symlinks. A regular file with more than
/// one link that was already seen is described as `hardlink=FIRST`, FIRST
/// being the first path of that inode in sorted order, so a tree that
/// keeps a hard link and one that copies it differ on the second path.
pub fn digest(root: &Path) -> TreeDigest {
    let mut out = TreeDigest::new();
    let mut inodes = HashMap::new();
    walk(root, root, &mut out, &mut inodes);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut TreeDigest, inodes: &mut HashMap<(u64, u64), String>) {
    let rel = relative(root, dir);
    out.insert(
        rel,
        describe(dir, &std::fs::symlink_metadata(dir).unwrap(), inodes, root),
    );
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(root, &path, out, inodes);
        } else {
            let line = describe(&path, &meta, inodes, root);
            out.insert(relative(root, &path), line);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root).unwrap().to_string_lossy() {
        s if s.is_empty() => ".".to_owned(),
        s => s.into_owned(),
    }
}

fn describe(
    path: &Path,
    meta: &std::fs::Metadata,
    inodes: &mut HashMap<(u64, u64), String>,
    root: &Path,
) -> String {
    let ft = meta.file_type();
    let detail = if ft.is_file() {
        let key = (meta.dev(), meta.ino());
        match inodes.get(&key) {
            Some(first) if meta.nlink() > 1 => format!("hardlink={first}"),
            _ => {
                inodes.insert(key, relative(root, path));
                let data = std::fs::read(path).unwrap();
                format!(
                    "size={} sha256={}",
                    data.len(),
                    hex::encode(Sha256::digest(&data))
                )
            }
        }
    } else if ft.is_symlink() {
        format!("-> {}", std::fs::read_link(path).unwrap().display())
    } else if ft.is_block_device() || ft.is_char_device() {
        let rdev = meta.rdev();
        format!("dev={}:{}", libc::major(rdev), libc::minor(rdev))
    } else {
        String::new()
    };
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_file() {
        'f'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_fifo() {
        'p'
    } else {
        's'
    };
    format!(
        "{kind} {:04o} {}:{} {detail} xattrs[{}]",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
        xattrs(path).join(" ")
    )
}

/// `name=hex(value)` for every extended attribute, sorted.
fn xattrs(path: &Path) -> Vec<String> {
    let mut names = vec![0u8; 64 * 1024];
    let Ok(n) = rustix::fs::llistxattr(path, &mut names[..]) else {
        return Vec::new();
    };
    let mut out: Vec<String> = names[..n]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let name = std::ffi::OsStr::from_bytes(name);
            let mut value = vec![0u8; 64 * 1024];
            let len = rustix::fs::lgetxattr(path, name, &mut value[..]).unwrap_or(0);
            format!("{}={}", name.to_string_lossy(), hex::encode(&value[..len]))
        })
        .collect();
    out.sort();
    out
}

/// Every path whose description differs, or that only one tree has, with
/// both descriptions (`(absent)` for a missing path).
pub fn differences(a: &TreeDigest, b: &TreeDigest) -> Vec<(String, String, String)> {
    let absent = "(absent)".to_owned();
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| {
            let left = a.get(p).unwrap_or(&absent).clone();
            let right = b.get(p).unwrap_or(&absent).clone();
            (p.clone(), left, right)
        })
        .collect()
}
