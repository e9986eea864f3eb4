//! The unpacker's side of a fed extract job: a thread reads the parent's
//! feed lines, and a layer that still downloads is read as it grows, never
//! past the bytes the parent reported written, and ends only when the
//! parent says it matched its digest.

use super::job::{Feed, Layer};
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};

/// What the extractor does next.
pub(super) enum Next {
    /// A complete, verified layer.
    Layer(Layer),
    /// A layer still downloading into `partial` (renamed to the layer's
    /// own path once verified): read it through a [`FollowReader`].
    Stream {
        layer: Layer,
        partial: PathBuf,
        growing: Arc<Growing>,
    },
    End,
}

/// The feed, read on a thread of its own so a layer can grow while the
/// main thread extracts it.
pub(super) struct Feeder {
    rx: Receiver<Result<Next, String>>,
}

impl Feeder {
    /// Reads the rest of the parent's lines (after the job) on a new thread.
    pub(super) fn start(mut inbox: crate::sandbox::child::Inbox) -> Self {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut current: Option<Arc<Growing>> = None;
            loop {
                let item = match inbox.recv::<Feed>() {
                    Ok(None) => Err("the parent stopped sending layers".to_owned()),
                    Ok(Some(feed)) => Ok(feed),
                    Err(e) => Err(e),
                };
                let next = match item {
                    Ok(Feed::Layer { layer }) => Next::Layer(layer),
                    Ok(Feed::Stream {
                        layer,
                        partial,
                        available,
                    }) => {
                        let growing = Arc::new(Growing::new(available));
                        if let Some(old) = current.replace(growing.clone()) {
                            old.end(Err("a new layer began before this one was verified".into()));
                        }
                        Next::Stream {
                            layer,
                            partial,
                            growing,
                        }
                    }
                    Ok(Feed::Grow { available }) => {
                        if let Some(g) = &current {
                            g.grow(available);
                        }
                        continue;
                    }
                    Ok(Feed::Verified { size }) => {
                        if let Some(g) = current.take() {
                            g.end(Ok(size));
                        }
                        continue;
                    }
                    Ok(Feed::End) => Next::End,
                    Ok(Feed::Snapshot | Feed::WriteLayer { .. }) => {
                        let _ = tx.send(Err("a build request in a layer feed".into()));
                        return;
                    }
                    Ok(Feed::Abort { reason }) | Err(reason) => {
                        if let Some(g) = current.take() {
                            g.end(Err(reason.clone()));
                        }
                        let _ = tx.send(Err(reason));
                        return;
                    }
                };
                let end = matches!(next, Next::End);
                if tx.send(Ok(next)).is_err() || end {
                    return;
                }
            }
        });
        Self { rx }
    }

    pub(super) fn next(&self) -> Result<Next, String> {
        self.rx.recv().map_err(|_| "the feed stopped".to_owned())?
    }
}

/// How far a downloading layer got, and how it ended.
pub(super) struct Growing {
    state: Mutex<GrowState>,
    changed: Condvar,
}

struct GrowState {
    available: u64,
    end: Option<Result<(), String>>,
}

impl Growing {
    pub(super) fn new(available: u64) -> Self {
        Self {
            state: Mutex::new(GrowState {
                available,
                end: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GrowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn grow(&self, available: u64) {
        let mut s = self.lock();
        s.available = s.available.max(available);
        self.changed.notify_all();
    }

    /// `Ok(size)`: complete and verified at `size` bytes; `Err`: the
    /// download failed, and so must everything read from it.
    pub(super) fn end(&self, result: Result<u64, String>) {
        let mut s = self.lock();
        if s.end.is_none() {
            match result {
                Ok(size) => {
                    s.available = size;
                    s.end = Some(Ok(()));
                }
                Err(e) => s.end = Some(Err(e)),
            }
        }
        self.changed.notify_all();
    }

    /// Waits until more than `pos` bytes are available (`Some(total)`) or
    /// the layer is verified and has no more (`None`).
    fn beyond(&self, pos: u64) -> io::Result<Option<u64>> {
        let mut s = self.lock();
        loop {
            match &s.end {
                Some(Err(e)) => return Err(io::Error::other(e.clone())),
                _ if s.available > pos => return Ok(Some(s.available)),
                Some(Ok(())) => return Ok(None),
                None => s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Blocks until the download ended: only a verified layer counts.
    pub(super) fn verified(&self) -> Result<(), String> {
        let mut s = self.lock();
        loop {
            match &s.end {
                Some(r) => return r.clone(),
                None => s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

/// Reads a growing file up to what [`Growing`] allows; EOF only once the
/// layer is verified, an error as soon as its download failed.
pub(super) struct FollowReader {
    file: File,
    growing: Arc<Growing>,
    pos: u64,
}

impl FollowReader {
    pub(super) fn new(file: File, growing: Arc<Growing>) -> Self {
        Self {
            file,
            growing,
            pos: 0,
        }
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(available) = self.growing.beyond(self.pos)? else {
            return Ok(0);
        };
        let want = (available - self.pos).min(buf.len() as u64) as usize;
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the downloading layer is shorter than reported",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn reads_only_what_was_reported_and_ends_when_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"hello, ").unwrap();
        w.write_all(b"not yet reported").unwrap();
        let growing = Arc::new(Growing::new(7));
        let mut r = FollowReader::new(File::open(&path).unwrap(), growing.clone());
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 7);
        assert_eq!(&buf[..7], b"hello, ");
        let g = growing.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            g.grow(11);
            std::thread::sleep(Duration::from_millis(50));
            g.end(Ok(23));
        });
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"not yet reported");
        assert_eq!(growing.verified(), Ok(()));
        writer.join().unwrap();
    }

    #[test]
    fn a_failed_download_fails_the_reader_and_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"0123456789").unwrap();
        let growing = Arc::new(Growing::new(4));
        let mut r = FollowReader::new(File::open(&path).unwrap(), growing.clone());
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        growing.grow(10);
        growing.end(Err("digest mismatch".into()));
        // Bytes were reported, but the download failed: nothing more.
        let e = r.read(&mut buf).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        assert_eq!(growing.verified(), Err("digest mismatch".into()));
        // A later verdict does not change the first.
        growing.end(Ok(10));
        assert!(growing.verified().is_err());
    }
}
