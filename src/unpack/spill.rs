//! Sorting the install index in bounded memory: lines are held up to a
//! budget, then sorted and spilled as a run to an unlinked file; the
//! runs and what is left in memory are merged at the end. A tree of a
//! million paths would otherwise hold a million index entries at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// What the index may hold in memory before it spills.
pub(super) const BUDGET: usize = 8 << 20;
/// Per held line, beyond its bytes: two Vec headers and the allocator's.
const OVERHEAD: usize = 64;

type Item = (Vec<u8>, Vec<u8>);

pub(super) struct Sorter {
    dir: PathBuf,
    budget: usize,
    held: Vec<Item>,
    bytes: usize,
    runs: Vec<File>,
}

impl Sorter {
    /// Runs go to unlinked files in `dir`.
    pub fn new(dir: &Path, budget: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            budget,
            held: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, key: Vec<u8>, line: Vec<u8>) -> io::Result<()> {
        self.bytes += key.len() + line.len() + OVERHEAD;
        self.held.push((key, line));
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.held.sort_unstable();
        let path = self.dir.join(format!(
            ".index-run-{}-{}",
            std::process::id(),
            self.runs.len()
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        let mut w = BufWriter::new(file);
        for (key, line) in self.held.drain(..) {
            for part in [&key, &line] {
                w.write_all(&(part.len() as u32).to_le_bytes())?;
                w.write_all(part)?;
            }
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        io::Seek::rewind(&mut file)?;
        self.runs.push(file);
        self.held = Vec::new();
        self.bytes = 0;
        Ok(())
    }

    /// Writes every line in key order; returns how many.
    pub fn finish(mut self, out: &mut impl Write) -> io::Result<usize> {
        self.held.sort_unstable();
        let mut sources: Vec<Source> = self
            .runs
            .into_iter()
            .map(|f| Source::Run(BufReader::with_capacity(64 << 10, f)))
            .collect();
        sources.push(Source::Held(self.held.into_iter()));
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some((k, l)) = s.next()? {
                heap.push(Reverse((k, l, i)));
            }
        }
        let mut n = 0;
        while let Some(Reverse((_, line, i))) = heap.pop() {
            out.write_all(&line)?;
            n += 1;
            if let Some((k, l)) = sources[i].next()? {
                heap.push(Reverse((k, l, i)));
            }
        }
        Ok(n)
    }
}

enum Source {
    Run(BufReader<File>),
    Held(std::vec::IntoIter<Item>),
}

impl Source {
    fn next(&mut self) -> io::Result<Option<Item>> {
        match self {
            Source::Held(it) => Ok(it.next()),
            Source::Run(r) => {
                let mut len = [0u8; 4];
                match r.read_exact(&mut len) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    r => r?,
                }
                let key = read_part(r, len)?;
                r.read_exact(&mut len)?;
                Ok(Some((key, read_part(r, len)?)))
            }
        }
    }
}

fn read_part(r: &mut impl Read, len: [u8; 4]) -> io::Result<Vec<u8>> {
    let mut part = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut part)?;
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sorter::new(dir.path(), 300);
        let mut want = Vec::new();
        for i in (0..100u32).rev() {
            let key = format!("{:03}", (i * 37) % 100).into_bytes();
            let line = format!("line {}\n", (i * 37) % 100);
            want.push((key.clone(), line.clone()));
            s.push(key, line.into_bytes()).unwrap();
        }
        assert!(s.runs.len() > 5, "it spilled");
        want.sort();
        let mut out = Vec::new();
        assert_eq!(s.finish(&mut out).unwrap(), 100);
        let want: String = want.into_iter().map(|(_, l)| l).collect();
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
