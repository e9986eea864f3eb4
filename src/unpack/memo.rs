//! Content hashes of a cached layer's regular files, in stream order, so
//! the next install of that layer fills its install index without hashing
//! the data again (sha256 was a fifth of a warm install's CPU).
//!
//! One small file per layer digest in the cache's `layer_hashes/`: a
//! version line, per regular-file entry its size and sha256 (all zeros
//! for an entry that was skipped), then the sha256 of the whole
//! uncompressed stream (all zeros when it was not taken: it vouches for
//! the layer's diff_id on later installs, which then need not hash the
//! stream again), the count, and a sha256 of all of that. The count and
//! the stream's hash come last so a memo is written as the layer streams
//! and read slot by slot: memory stays flat however many files a layer
//! holds.
//!
//! The unpacker only reads memos (the cache is read-only to it); a new
//! one goes to the staging tree and the applet moves it into the cache
//! once the install succeeded.
//!
//! Every regular-file entry of the stream takes one slot, whatever became
//! of it, so the slots line up on any host. A size that disagrees, or a
//! count that does, means the memo does not describe this stream: the
//! hashes it lent are withdrawn (the index then reads those files again)
//! and the memo is reported stale.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The format; a change in what counts as a slot needs a new version.
const MAGIC: &[u8] = b"chroot-distro layer hashes 2\n";
const SLOT: u64 = 8 + 32;
/// The stream's hash and the count.
const TRAILER: u64 = 32 + 8;
/// A memo this big describes more files than any layer holds.
const MAX_SLOTS: u64 = 16 << 20;

pub(super) const NONE: [u8; 32] = [0; 32];

/// Slots read from a memo, handed out one per regular-file entry.
pub(super) struct Memo {
    /// The uncompressed stream's sha256, when it was taken.
    pub diff: Option<[u8; 32]>,
    slots: BufReader<File>,
    count: u64,
    next: u64,
    stale: bool,
}

impl Memo {
    /// The memo at `path`; `None` when missing, truncated or corrupt.
    pub(super) fn load(path: &Path) -> Option<Self> {
        let mut file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let magic = MAGIC.len() as u64;
        let body = len.checked_sub(magic + TRAILER + 32)?;
        if body % SLOT != 0 || body / SLOT > MAX_SLOTS {
            return None;
        }
        // The checksum first, streamed: nothing is lent from a memo that
        // is not whole.
        let mut check = Sha256::new();
        let mut head = (&mut file).take(len - 32);
        io::copy(&mut head, &mut check).ok()?;
        let mut sum = [0u8; 32];
        file.read_exact(&mut sum).ok()?;
        if check.finalize().as_slice() != sum {
            return None;
        }
        file.seek(SeekFrom::Start(magic + body)).ok()?;
        let mut diff = [0u8; 32];
        let mut count = [0u8; 8];
        file.read_exact(&mut diff).ok()?;
        file.read_exact(&mut count).ok()?;
        let count = u64::from_le_bytes(count);
        if count != body / SLOT {
            return None;
        }
        let mut magic_read = vec![0u8; MAGIC.len()];
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_exact(&mut magic_read).ok()?;
        if magic_read != MAGIC {
            return None;
        }
        Some(Self {
            diff: (diff != NONE).then_some(diff),
            slots: BufReader::with_capacity(64 << 10, file),
            count,
            next: 0,
            stale: false,
        })
    }

    /// The hash of the next regular file, `size` bytes long; `None` when
    /// the memo has none for it (or no longer fits this stream).
    pub(super) fn take(&mut self, size: u64) -> Option<[u8; 32]> {
        if self.stale {
            return None;
        }
        let slot = (self.next < self.count)
            .then(|| {
                let mut s = [0u8; SLOT as usize];
                self.slots.read_exact(&mut s).ok().map(|()| s)
            })
            .flatten();
        match slot {
            Some(s) if s[..8] == size.to_le_bytes() => {
                self.next += 1;
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&s[8..]);
                (hash != NONE).then_some(hash)
            }
            _ => {
                self.stale = true;
                None
            }
        }
    }

    /// Whether the memo described the whole stream (call at its end).
    pub(super) fn fitted(&self) -> bool {
        !self.stale && self.next == self.count
    }
}

/// A memo written as the layer streams (a new file at `path`).
pub(super) struct MemoWriter {
    out: BufWriter<File>,
    sum: Sha256,
    count: u64,
}

impl MemoWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(path)?;
        let mut w = Self {
            out: BufWriter::with_capacity(64 << 10, file),
            sum: Sha256::new(),
            count: 0,
        };
        w.put(MAGIC)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sum.update(bytes);
        self.out.write_all(bytes)
    }

    pub fn push(&mut self, size: u64, hash: &[u8; 32]) -> io::Result<()> {
        self.count += 1;
        self.put(&size.to_le_bytes())?;
        self.put(hash)
    }

    /// Seals the memo with the stream's hash, when it was taken.
    pub fn finish(mut self, diff: Option<[u8; 32]>) -> io::Result<()> {
        self.put(&diff.unwrap_or(NONE))?;
        self.put(&self.count.to_le_bytes())?;
        let sum = self.sum.clone().finalize();
        self.out.write_all(&sum)?;
        self.out.flush()
    }
}

/// Writes a memo of `slots` to `path` (replacing one there).
#[cfg(test)]
pub(super) fn write(
    path: &Path,
    diff: Option<[u8; 32]>,
    slots: &[(u64, [u8; 32])],
) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut w = MemoWriter::create(path)?;
    for (size, hash) in slots {
        w.push(*size, hash)?;
    }
    w.finish(diff)
}

#[cfg(test)]
mod tests {
    use super::super::extract::Hashes;
    use super::super::testutil::{Fx, Tb, MODES};
    use super::*;
    use std::os::fd::AsFd;

    /// Applies `tar` into a fresh root with `hashes`; the index of the
    /// result (with the hashes the extractor kept).
    fn apply(tar: &[u8], hashes: &mut Hashes) -> Vec<(String, Option<String>)> {
        let fx = Fx::new();
        let mut ex = fx.extractor(MODES[0]);
        ex.apply_hashed(tar, true, &mut |_| {}, hashes).unwrap();
        let kept = ex.take_hashes();
        ex.finish().unwrap();
        let root = std::fs::File::open(&fx.root).unwrap();
        let mut out = Vec::new();
        let spill = tempfile::tempdir().unwrap();
        super::super::index::write(root.as_fd(), &kept, spill.path(), &mut out).unwrap();
        super::super::index::read(std::str::from_utf8(&out).unwrap())
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == 'f')
            .map(|e| (e.path, e.sha256))
            .collect()
    }

    fn read_slots(path: &Path) -> Vec<(u64, [u8; 32])> {
        let mut m = Memo::load(path).unwrap();
        (0..m.count)
            .map(|_| {
                let mut s = [0u8; SLOT as usize];
                m.slots.read_exact(&mut s).unwrap();
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&s[8..]);
                (u64::from_le_bytes(s[..8].try_into().unwrap()), hash)
            })
            .collect()
    }

    #[test]
    fn a_memo_lends_its_hashes_and_withdraws_them_when_it_does_not_fit() {
        let tar = Tb::new()
            .dir(b"etc", 0o755)
            .file(b"etc/a", b"alpha")
            .file(b".", b"names the root: skipped, yet it takes a slot")
            .file(b"etc/b", b"bravo")
            .finish();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let gathered = dir.path().join("gathered");
        let mut gather = Hashes::Gather(MemoWriter::create(&gathered).ok());
        let truth = apply(&tar, &mut gather);
        let Hashes::Gather(Some(w)) = gather else {
            unreachable!()
        };
        w.finish(None).unwrap();
        let slots = read_slots(&gathered);
        assert_eq!(slots.len(), 3, "one slot per regular-file entry");
        assert_eq!(slots[1].1, NONE, "the skipped entry's slot is empty");
        assert_eq!(
            truth[0].1.as_deref(),
            Some(hex::encode(Sha256::digest(b"alpha")).as_str())
        );

        // A memo whose hashes differ but whose sizes fit: they are used,
        // which shows the data was not hashed again.
        let mut lying = slots.clone();
        lying[0].1 = [7; 32];
        write(&path, None, &lying).unwrap();
        let mut lend = Hashes::Lend(Memo::load(&path).unwrap(), Vec::new());
        let lent = apply(&tar, &mut lend);
        assert_eq!(lent[0].1, Some(hex::encode([7u8; 32])));
        assert_eq!(lent[1], truth[1]);

        // Sizes that do not fit this stream: nothing it lent stays.
        let mut wrong = lying.clone();
        wrong[2].0 += 1;
        write(&path, None, &wrong).unwrap();
        let mut lend = Hashes::Lend(Memo::load(&path).unwrap(), Vec::new());
        assert_eq!(apply(&tar, &mut lend), truth);
        let Hashes::Lend(m, _) = lend else {
            unreachable!()
        };
        assert!(!m.fitted());
    }

    #[test]
    fn round_trips_and_refuses_what_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let slots = vec![(3, [1u8; 32]), (0, NONE), (9, [2u8; 32])];
        write(&path, Some([5; 32]), &slots).unwrap();
        let mut m = Memo::load(&path).unwrap();
        assert_eq!(m.diff, Some([5; 32]));
        assert_eq!(m.take(3), Some([1; 32]));
        assert_eq!(m.take(0), None, "a skipped entry lends nothing");
        assert!(!m.fitted());
        assert_eq!(m.take(9), Some([2; 32]));
        assert!(m.fitted());
        // A longer stream than the memo: stale.
        assert_eq!(m.take(1), None);
        assert!(!m.fitted());

        let mut m = Memo::load(&path).unwrap();
        assert_eq!(m.take(4), None, "another size: not this stream");
        assert_eq!(m.take(0), None, "stale stays stale");
        assert!(!m.fitted());

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 40;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Memo::load(&path).is_none(), "corrupt");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(Memo::load(&path).is_none(), "truncated");
        assert!(Memo::load(&dir.path().join("missing")).is_none());
    }
}
