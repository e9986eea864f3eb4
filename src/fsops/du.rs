//! Disk usage of a tree, walked by a few threads at once.
//!
//! `du`'s rules: allocated blocks, hard-linked files counted once, symlinks
//! never followed, and the walk stays on the root's file system (a container
//! with live bind mounts must not count the host's `/proc` or `/home`).

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Allocated bytes (`st_blocks * 512`), what `du` prints.
    pub bytes: u64,
    /// Sum of file sizes.
    pub apparent_bytes: u64,
    pub entries: u64,
    /// Directories that could not be read (the total is then a lower bound).
    pub unreadable_dirs: u64,
}

#[derive(Default)]
struct Queue {
    dirs: Vec<PathBuf>,
    busy: usize,
}

#[derive(Default)]
struct Partial {
    usage: Usage,
    /// Multiply-linked files: (dev, ino) → (blocks bytes, size), merged at the end.
    linked: HashMap<(u64, u64), (u64, u64)>,
}

/// Walks `root` with up to `threads` workers.
pub fn disk_usage(root: &Path, threads: usize) -> io::Result<Usage> {
    let meta = std::fs::symlink_metadata(root)?;
    let mut total = Partial::default();
    account(&mut total, &meta);
    if !meta.is_dir() {
        return Ok(finish(vec![total]));
    }
    let dev = meta.dev();
    let queue = Mutex::new(Queue {
        dirs: vec![root.to_path_buf()],
        busy: 0,
    });
    let wake = Condvar::new();
    let workers = threads.clamp(1, 16);
    let mut parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| worker(&queue, &wake, dev)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect::<Vec<_>>()
    });
    parts.push(total);
    Ok(finish(parts))
}

fn worker(queue: &Mutex<Queue>, wake: &Condvar, dev: u64) -> Partial {
    let mut part = Partial::default();
    let mut found = Vec::new();
    loop {
        let dir = {
            let Ok(mut q) = queue.lock() else { return part };
            loop {
                if let Some(d) = q.dirs.pop() {
                    q.busy += 1;
                    break d;
                }
                if q.busy == 0 {
                    wake.notify_all();
                    return part;
                }
                q = match wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return part,
                };
            }
        };
        scan(&dir, dev, &mut part, &mut found);
        let Ok(mut q) = queue.lock() else { return part };
        q.dirs.append(&mut found);
        q.busy -= 1;
        wake.notify_all();
    }
}

fn scan(dir: &Path, dev: u64, part: &mut Partial, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        part.usage.unreadable_dirs += 1;
        return;
    };
    for entry in entries.flatten() {
        // DirEntry::metadata is fstatat(AT_SYMLINK_NOFOLLOW) on the open dir.
        let Ok(meta) = entry.metadata() else { continue };
        account(part, &meta);
        if meta.is_dir() && meta.dev() == dev {
            found.push(entry.path());
        }
    }
}

fn account(part: &mut Partial, meta: &std::fs::Metadata) {
    part.usage.entries += 1;
    let blocks = meta.blocks() * 512;
    if !meta.is_dir() && meta.nlink() > 1 {
        part.linked
            .insert((meta.dev(), meta.ino()), (blocks, meta.size()));
        return;
    }
    part.usage.bytes += blocks;
    part.usage.apparent_bytes += meta.size();
}

fn finish(parts: Vec<Partial>) -> Usage {
    let mut usage = Usage::default();
    let mut linked = HashMap::new();
    for p in parts {
        usage.bytes += p.usage.bytes;
        usage.apparent_bytes += p.usage.apparent_bytes;
        usage.entries += p.usage.entries;
        usage.unreadable_dirs += p.usage.unreadable_dirs;
        linked.extend(p.linked);
    }
    for (blocks, size) in linked.values() {
        usage.bytes += blocks;
        usage.apparent_bytes += size;
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hard_links_once_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..40 {
            let d = root.join(format!("d{i}/sub"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), vec![7u8; 10_000]).unwrap();
        }
        std::fs::write(root.join("big"), vec![1u8; 100_000]).unwrap();
        std::fs::hard_link(root.join("big"), root.join("big2")).unwrap();
        std::os::unix::fs::symlink("/usr", root.join("usr-link")).unwrap();
        let one = disk_usage(root, 1).unwrap();
        let many = disk_usage(root, 4).unwrap();
        assert_eq!(one, many);
        // 40 files of 10_000 + one 100_000 file (linked twice) + link text.
        assert_eq!(one.apparent_bytes - dir_sizes(root), 400_000 + 100_000 + 4);
        // root + 80 dirs + 40 files + big + big2 + link
        assert_eq!(one.entries, 1 + 80 + 40 + 2 + 1);
    }

    fn dir_sizes(root: &Path) -> u64 {
        let mut n = std::fs::metadata(root).unwrap().size();
        for e in std::fs::read_dir(root).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                n += dir_sizes(&e.path());
            }
        }
        n
    }

    #[test]
    fn a_file_root_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        let u = disk_usage(&f, 2).unwrap();
        assert_eq!((u.entries, u.apparent_bytes), (1, 3));
    }
}
