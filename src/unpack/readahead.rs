//! Decompression on its own thread: the unpacker's main thread parses and
//! writes while the next megabytes inflate, which on two cores takes the
//! decompressor off the critical path.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

const CHUNK: usize = 1 << 20;
/// Chunks in flight: bounded, so memory stays constant.
const DEPTH: usize = 4;

pub struct ReadAhead {
    rx: Receiver<io::Result<Vec<u8>>>,
    /// Read chunks go back to the decompressor: a fresh 1 MiB buffer per
    /// chunk is a fresh mmap, faulted in and zeroed page by page.
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    pub fn new(mut inner: Box<dyn Read + Send>) -> Self {
        let (tx, rx) = sync_channel(DEPTH);
        let (spent, reuse) = sync_channel::<Vec<u8>>(DEPTH + 2);
        std::thread::spawn(move || loop {
            let mut buf = reuse.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let mut filled = 0;
            while filled < CHUNK {
                match inner.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            buf.truncate(filled);
            let last = filled == 0;
            if tx.send(Ok(buf)).is_err() || last {
                return;
            }
        });
        Self {
            rx,
            spent,
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.done = chunk.is_empty();
                    let spent = std::mem::replace(&mut self.current, chunk);
                    if spent.capacity() > 0 {
                        let _ = self.spent.try_send(spent);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the decompressor stopped",
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_and_errors_through() {
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = ReadAhead::new(Box::new(std::io::Cursor::new(data.clone())));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("boom"))
            }
        }
        let mut r = ReadAhead::new(Box::new(Broken));
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
