//! Content hashes of a cached layer's regular files, in stream order, so
//! the next install of that layer fills its install index without hashing
//! the data again (sha256 was a fifth of a warm install's CPU).
//!
//! One small file per layer digest in the cache's `layer_hashes/`: a
//! version line, the sha256 of the whole uncompressed stream (all zeros
//! when it was not taken: it vouches for the layer's diff_id on later
//! installs, which then need not hash the stream again), the count, then
//! per regular-file entry its size and sha256 (all zeros for an entry
//! that was skipped), and a sha256 of all of that. The unpacker only reads memos (the cache is read-only to it);
//! a new one goes to the staging tree and the applet moves it into the
//! cache once the install succeeded.
//!
//! Every regular-file entry of the stream takes one slot, whatever became
//! of it, so the slots line up on any host. A size that disagrees, or a
//! count that does, means the memo does not describe this stream: the
//! hashes it lent are withdrawn (the index then reads those files again)
//! and the memo is reported stale.

use sha2::{Digest, Sha256};
use std::io;
use std::path::Path;

/// The format; a change in what counts as a slot needs a new version.
const MAGIC: &[u8] = b"chroot-distro layer hashes 2\n";
const SLOT: usize = 8 + 32;
/// A memo this big describes more files than any layer holds.
const MAX_SLOTS: u64 = 16 << 20;

pub(super) const NONE: [u8; 32] = [0; 32];

/// Slots read from a memo, handed out one per regular-file entry.
pub(super) struct Memo {
    /// The uncompressed stream's sha256, when it was taken.
    pub diff: Option<[u8; 32]>,
    slots: Vec<(u64, [u8; 32])>,
    next: usize,
    stale: bool,
}

impl Memo {
    /// The memo at `path`; `None` when missing, truncated or corrupt.
    pub(super) fn load(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        let body = bytes.strip_prefix(MAGIC)?;
        let (body, sum) = body.split_at_checked(body.len().checked_sub(32)?)?;
        let mut check = Sha256::new();
        check.update(MAGIC);
        check.update(body);
        if check.finalize().as_slice() != sum {
            return None;
        }
        let (diff, body) = body.split_at_checked(32)?;
        let diff: [u8; 32] = diff.try_into().ok()?;
        let (count, slots) = body.split_at_checked(8)?;
        let count = u64::from_le_bytes(count.try_into().ok()?);
        if count > MAX_SLOTS || slots.len() as u64 != count * SLOT as u64 {
            return None;
        }
        let slots = slots
            .chunks_exact(SLOT)
            .map(|s| {
                let mut size = [0u8; 8];
                let mut hash = [0u8; 32];
                size.copy_from_slice(&s[..8]);
                hash.copy_from_slice(&s[8..]);
                (u64::from_le_bytes(size), hash)
            })
            .collect();
        Some(Self {
            diff: (diff != NONE).then_some(diff),
            slots,
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
        match self.slots.get(self.next) {
            Some(&(s, hash)) if s == size => {
                self.next += 1;
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
        !self.stale && self.next == self.slots.len()
    }
}

/// Writes a memo of `slots` to `path` (a new file).
pub(super) fn write(
    path: &Path,
    diff: Option<[u8; 32]>,
    slots: &[(u64, [u8; 32])],
) -> io::Result<()> {
    let mut out = Vec::with_capacity(MAGIC.len() + 32 + 8 + slots.len() * SLOT + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&diff.unwrap_or(NONE));
    out.extend_from_slice(&(slots.len() as u64).to_le_bytes());
    for (size, hash) in slots {
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(hash);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    std::fs::write(path, out)
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
        super::super::index::write(root.as_fd(), &kept, &mut out).unwrap();
        super::super::index::read(std::str::from_utf8(&out).unwrap())
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == 'f')
            .map(|e| (e.path, e.sha256))
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
        let mut gather = Hashes::Gather(Vec::new());
        let truth = apply(&tar, &mut gather);
        let Hashes::Gather(slots) = gather else {
            unreachable!()
        };
        assert_eq!(slots.len(), 3, "one slot per regular-file entry");
        assert_eq!(slots[1].1, NONE, "the skipped entry's slot is empty");
        assert_eq!(
            truth[0].1.as_deref(),
            Some(hex::encode(Sha256::digest(b"alpha")).as_str())
        );

        // A memo whose hashes differ but whose sizes fit: they are used,
        // which shows the data was not hashed again.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
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
