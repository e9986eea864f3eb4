//! Content hashes for the install index, taken on a thread of their own:
//! the extractor's main thread writes a chunk and hands the same buffer
//! over, so sha256 runs beside the file writes instead of between them.
//! A few buffers circulate, so memory stays constant.

use super::index::Hashed;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Buffers in circulation, and their size.
const BUFFERS: usize = 4;
const BUF_SIZE: usize = 128 * 1024;

enum Msg {
    /// The first `len` bytes of the buffer are the file's next bytes.
    Data(Vec<u8>, usize),
    /// The file is complete: record its hash under this inode.
    Done { ino: u64, size: u64, mtime: i64 },
    /// The file failed: forget what was sent of it.
    Discard,
}

pub(super) struct Hasher {
    tx: Option<SyncSender<Msg>>,
    free: Receiver<Vec<u8>>,
    /// A buffer handed out and returned unused.
    spare: Option<Vec<u8>>,
    worker: Option<JoinHandle<HashMap<u64, Hashed>>>,
}

impl Hasher {
    pub(super) fn new() -> Self {
        let (tx, rx) = sync_channel::<Msg>(BUFFERS + 2);
        let (back, free) = sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 0..BUFFERS {
            let _ = back.send(vec![0; BUF_SIZE]);
        }
        let worker = std::thread::spawn(move || {
            let mut hashes = HashMap::new();
            let mut hasher = Sha256::new();
            for msg in rx {
                match msg {
                    Msg::Data(buf, len) => {
                        hasher.update(&buf[..len]);
                        // The extractor may be gone already: then so are we.
                        let _ = back.try_send(buf);
                    }
                    Msg::Done { ino, size, mtime } => {
                        let hash = std::mem::take(&mut hasher).finalize().into();
                        hashes.insert(ino, Hashed { size, mtime, hash });
                    }
                    Msg::Discard => hasher = Sha256::new(),
                }
            }
            hashes
        });
        Self {
            tx: Some(tx),
            free,
            spare: None,
            worker: Some(worker),
        }
    }

    /// A buffer to read the next chunk into (waits while all are queued).
    /// Every buffer goes back, through [`Self::data`] or [`Self::unused`].
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        self.spare
            .take()
            .unwrap_or_else(|| self.free.recv().unwrap_or_else(|_| vec![0; BUF_SIZE]))
    }

    /// Returns a buffer that holds nothing to hash.
    pub(super) fn unused(&mut self, buf: Vec<u8>) {
        self.spare = Some(buf);
    }

    /// Hashes `buf[..len]` as the current file's next bytes.
    pub(super) fn data(&self, buf: Vec<u8>, len: usize) {
        self.send(Msg::Data(buf, len));
    }

    pub(super) fn done(&self, ino: u64, size: u64, mtime: i64) {
        self.send(Msg::Done { ino, size, mtime });
    }

    pub(super) fn discard(&self) {
        self.send(Msg::Discard);
    }

    fn send(&self, msg: Msg) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(msg);
        }
    }

    /// Waits for the queued work; returns every hash taken.
    pub(super) fn finish(&mut self) -> HashMap<u64, Hashed> {
        self.tx = None;
        self.worker
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_files_in_order_and_forgets_discarded_ones() {
        let mut h = Hasher::new();
        let feed = |h: &mut Hasher, parts: &[&[u8]]| {
            for p in parts {
                let mut buf = h.buffer();
                buf[..p.len()].copy_from_slice(p);
                h.data(buf, p.len());
            }
            // The read that finds the end of each file.
            let buf = h.buffer();
            h.unused(buf);
        };
        feed(&mut h, &[b"hel", b"lo"]);
        h.done(1, 5, 7);
        feed(&mut h, &[b"junk"]);
        h.discard();
        // More chunks and files than buffers: they must all come back.
        let many: Vec<&[u8]> = (0..3 * BUFFERS).map(|_| &b"x"[..]).collect();
        feed(&mut h, &many);
        h.done(2, many.len() as u64, 0);
        for ino in 10..10 + 3 * BUFFERS as u64 {
            feed(&mut h, &[]);
            h.done(ino, 0, 0);
        }
        let map = h.finish();
        assert_eq!(map[&1].hash, <[u8; 32]>::from(Sha256::digest(b"hello")));
        assert_eq!((map[&1].size, map[&1].mtime), (5, 7));
        let xs = vec![b'x'; 3 * BUFFERS];
        assert_eq!(map[&2].hash, <[u8; 32]>::from(Sha256::digest(&xs)));
        assert_eq!(map.len(), 2 + 3 * BUFFERS);
    }
}
