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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

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
/// its file system) and writes the index to `out`.
pub fn write(
    root: BorrowedFd,
    hashes: &HashMap<u64, Hashed>,
    out: &mut impl Write,
) -> io::Result<usize> {
    let dev = rustix::fs::fstat(root)?.st_dev;
    let mut entries = Vec::new();
    let root_st = rustix::fs::fstat(root)?;
    entries.push(entry(Vec::new(), &root_st, None, None));
    walk(root, &mut Vec::new(), dev, hashes, &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    for e in &entries {
        serde_json::to_writer(&mut *out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(entries.len())
}

fn walk(
    dir: BorrowedFd,
    prefix: &mut Vec<u8>,
    dev: u64,
    hashes: &HashMap<u64, Hashed>,
    out: &mut Vec<Entry>,
) -> io::Result<()> {
    let fd = openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names: Vec<OsString> = Vec::new();
    for item in rustix::fs::Dir::read_from(&fd)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    for name in names {
        let st = statat(&fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name.as_bytes());
        let ft = FileType::from_raw_mode(st.st_mode);
        let (hash, target) = match ft {
            FileType::RegularFile => (Some(file_hash(&fd, &name, &st, hashes)?), None),
            FileType::Symlink => (
                None,
                Some(
                    readlinkat(&fd, name.as_os_str(), Vec::new())?
                        .to_string_lossy()
                        .into_owned(),
                ),
            ),
            _ => (None, None),
        };
        out.push(entry(prefix.clone(), &st, hash, target));
        if ft == FileType::Directory && st.st_dev == dev {
            let sub: OwnedFd = openat(
                &fd,
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            walk(sub.as_fd(), prefix, dev, hashes, out)?;
        }
        prefix.truncate(len);
    }
    Ok(())
}

fn file_hash(
    dir: &OwnedFd,
    name: &OsString,
    st: &rustix::fs::Stat,
    hashes: &HashMap<u64, Hashed>,
) -> io::Result<String> {
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
        assert_eq!(write(root.as_fd(), &hashes, &mut out).unwrap(), 6);
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
}
