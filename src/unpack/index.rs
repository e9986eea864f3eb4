//! The install index: every path of a fresh rootfs with its type, mode,
//! owner, size, mtime and (regular files) content hash, so `diff` of an
//! untouched container is empty and needs no layer replay.
//!
//! One JSON object per line, sorted by path. Content hashes come from the
//! extractor (taken while the data streamed through); only files the
//! extractor did not write, such as the /etc fixups, are read again.

use rustix::fs::{openat, readlinkat, statat, AtFlags, FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::spill::Sorter;

/// A content hash with what the file looked like when it was taken: an
/// inode number reused by a later file must not lend it its hash.
#[derive(Debug, Clone, Copy)]
pub struct Hashed {
    pub size: u64,
    pub mtime: i64,
    pub hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the rootfs ("" is the root itself); lossy for
    /// names that are not UTF-8, which then also carry `raw`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// f, d, l, c, b, p, s
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdev: Option<u64>,
}

/// Walks the tree beneath `root` (never following symlinks, never leaving
/// its file system) and writes the index to `out`; a big tree's entries
/// are sorted in runs spilled to `spill` (a writable directory).
pub fn write(
    root: BorrowedFd,
    hashes: &HashMap<u64, Hashed>,
    spill: &Path,
    out: &mut impl Write,
) -> io::Result<usize> {
    let root_st = rustix::fs::fstat(root)?;
    let sorter = Mutex::new(Sorter::new(spill, super::spill::BUDGET));
    add(&sorter, &mut vec![entry(Vec::new(), &root_st, None, None)])?;
    walk(root, root_st.st_dev, hashes, &sorter)?;
    sorter
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .finish(out)
}

/// Hands `entries` to the sorter as JSON lines keyed by (path, raw): the
/// raw name too, as two names that differ only in invalid UTF-8 share a
/// lossy path, and the walk's order is not fixed. A path holds no NUL, so
/// the separator keeps a prefix first.
fn add(sorter: &Mutex<Sorter>, entries: &mut Vec<Entry>) -> io::Result<()> {
    let mut lines = Vec::with_capacity(entries.len());
    for e in entries.drain(..) {
        let mut key = Vec::with_capacity(e.path.len() + 2);
        key.extend_from_slice(e.path.as_bytes());
        key.push(0);
        if let Some(raw) = &e.raw {
            key.push(1);
            key.extend_from_slice(raw.as_bytes());
        }
        let mut line = serde_json::to_vec(&e)?;
        line.push(b'\n');
        lines.push((key, line));
    }
    let mut s = sorter.lock().unwrap_or_else(|p| p.into_inner());
    for (key, line) in lines {
        s.push(key, line)?;
    }
    Ok(())
}

/// A directory to list: its name in a parent kept open only while some of
/// its children wait (so open fds stay few however wide the tree is), and
/// its path.
type Todo = (Arc<OwnedFd>, OsString, Vec<u8>);

/// Directories still to list, shared by the walkers, and how many of them
/// are listing one (the walk is over when none is and none is left).
struct Pending {
    state: Mutex<(Vec<Todo>, usize)>,
    more: Condvar,
}

/// Everything beneath `root`, unsorted. A few threads share the
/// directories: the walk is stat calls, and it is the last thing an
/// install waits for, when the decompressor's core is idle.
fn walk(
    root: BorrowedFd,
    dev: u64,
    hashes: &HashMap<u64, Hashed>,
    sorter: &Mutex<Sorter>,
) -> io::Result<()> {
    let top = Arc::new(openat(root, ".", DIR_FLAGS, Mode::empty())?);
    let pending = Pending {
        state: Mutex::new((vec![(top, OsString::from("."), Vec::new())], 0)),
        more: Condvar::new(),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    let results: Vec<io::Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| walker(&pending, dev, hashes, sorter)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("index walker panicked")))
            })
            .collect()
    });
    results.into_iter().collect()
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn walker(
    pending: &Pending,
    dev: u64,
    hashes: &HashMap<u64, Hashed>,
    sorter: &Mutex<Sorter>,
) -> io::Result<()> {
    let mut out = Vec::new();
    loop {
        let (parent, name, prefix) = {
            let mut s = pending.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(next) = s.0.pop() {
                    s.1 += 1;
                    break next;
                }
                if s.1 == 0 {
                    return Ok(());
                }
                s = pending.more.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        let listed = openat(&*parent, name.as_os_str(), DIR_FLAGS, Mode::empty())
            .map_err(io::Error::from)
            .and_then(|dir| list(Arc::new(dir), &prefix, dev, hashes, &mut out))
            .and_then(|subdirs| add(sorter, &mut out).map(|()| subdirs));
        drop(parent);
        let mut s = pending.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 -= 1;
        match listed {
            Ok(subdirs) => s.0.extend(subdirs),
            Err(e) => {
                // Nothing more to list: the others finish what they hold.
                s.0.clear();
                pending.more.notify_all();
                return Err(e);
            }
        }
        pending.more.notify_all();
    }
}

/// The entries of one directory; returns its subdirectories to walk.
fn list(
    dir: Arc<OwnedFd>,
    prefix: &[u8],
    dev: u64,
    hashes: &HashMap<u64, Hashed>,
    out: &mut Vec<Entry>,
) -> io::Result<Vec<Todo>> {
    let fd = &*dir;
    let mut names: Vec<OsString> = Vec::new();
    for item in rustix::fs::Dir::read_from(fd)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    let mut subdirs = Vec::new();
    for name in names {
        let st = statat(fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
        path.extend_from_slice(prefix);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        let ft = FileType::from_raw_mode(st.st_mode);
        let (hash, target) = match ft {
            FileType::RegularFile => (Some(file_hash(fd, &name, &st, hashes)?), None),
            FileType::Symlink => (
                None,
                Some(
                    readlinkat(fd, name.as_os_str(), Vec::new())?
                        .to_string_lossy()
                        .into_owned(),
                ),
            ),
            _ => (None, None),
        };
        out.push(entry(path.clone(), &st, hash, target));
        if ft == FileType::Directory && st.st_dev == dev {
            subdirs.push((dir.clone(), name, path));
        }
    }
    Ok(subdirs)
}

fn file_hash(
    dir: &OwnedFd,
    name: &OsString,
    st: &rustix::fs::Stat,
    hashes: &HashMap<u64, Hashed>,
) -> io::Result<String> {
    // Empty files are common (a million of them must not cost a million
    // recorded hashes) and all hash alike.
    if st.st_size == 0 {
        return Ok(hex::encode(Sha256::digest(b"")));
    }
    if let Some(h) = hashes.get(&st.st_ino) {
        if h.size == st.st_size as u64 && h.mtime == st.st_mtime {
            return Ok(hex::encode(h.hash));
        }
    }
    let fd = openat(
        dir,
        name.as_os_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut file = std::fs::File::from(fd);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn entry(
    path: Vec<u8>,
    st: &rustix::fs::Stat,
    sha256: Option<String>,
    target: Option<String>,
) -> Entry {
    let ft = FileType::from_raw_mode(st.st_mode);
    let kind = match ft {
        FileType::RegularFile => 'f',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharacterDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        _ => 's',
    };
    let (text, raw) = match String::from_utf8(path) {
        Ok(s) => (s, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                Some(hex::encode(&bytes)),
            )
        }
    };
    Entry {
        path: text,
        raw,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: if ft == FileType::RegularFile {
            st.st_size as u64
        } else {
            0
        },
        mtime: st.st_mtime,
        sha256,
        target,
        rdev: matches!(ft, FileType::CharacterDevice | FileType::BlockDevice).then_some(st.st_rdev),
    }
}

/// Reads an index written by [`write`].
pub fn read(text: &str) -> Result<Vec<Entry>, serde_json::Error> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(serde_json::from_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn indexes_a_tree_and_rehashes_what_it_did_not_see() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/sub")).unwrap();
        std::fs::write(r.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
        std::fs::write(r.join("etc/sub/x"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/hosts", r.join("link")).unwrap();
        let root = std::fs::File::open(r).unwrap();
        // A stale recorded hash for etc/hosts' inode must not be used.
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(r.join("etc/hosts")).unwrap().ino();
        let mut hashes = HashMap::new();
        hashes.insert(
            ino,
            Hashed {
                size: 1,
                mtime: 0,
                hash: [0; 32],
            },
        );
        let mut out = Vec::new();
        let spill = tempfile::tempdir().unwrap();
        assert_eq!(
            write(root.as_fd(), &hashes, spill.path(), &mut out).unwrap(),
            6
        );
        let entries = read(std::str::from_utf8(&out).unwrap()).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["", "etc", "etc/hosts", "etc/sub", "etc/sub/x", "link"]
        );
        let hosts = &entries[2];
        assert_eq!(hosts.kind, 'f');
        assert_eq!(
            hosts.sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"127.0.0.1 localhost\n")).as_str())
        );
        assert_eq!(entries[5].target.as_deref(), Some("/etc/hosts"));
        assert_eq!(entries[5].kind, 'l');
    }

    #[test]
    fn a_wide_and_deep_tree_is_listed_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let mut want = vec![String::new()];
        for i in 0..300 {
            let d = format!("wide/d{i:03}");
            std::fs::create_dir_all(r.join(&d)).unwrap();
            std::fs::write(r.join(&d).join("f"), i.to_string()).unwrap();
            want.push(d.clone());
            want.push(format!("{d}/f"));
        }
        want.push("wide".into());
        let mut deep = String::from("deep");
        want.push(deep.clone());
        for _ in 0..60 {
            deep.push_str("/x");
            want.push(deep.clone());
        }
        std::fs::create_dir_all(r.join(&deep)).unwrap();
        want.sort();
        let root = std::fs::File::open(r).unwrap();
        let mut out = Vec::new();
        let spill = tempfile::tempdir().unwrap();
        assert_eq!(
            write(root.as_fd(), &HashMap::new(), spill.path(), &mut out).unwrap(),
            want.len()
        );
        let got: Vec<String> = read(std::str::from_utf8(&out).unwrap())
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(got, want);
    }
}
