//! A tar writer for layers: ustar headers, with a PAX extended header in
//! front of an entry only when it needs one (long names or link targets,
//! ids or sizes too large for octal, xattrs). Every byte it writes is a
//! function of the entry alone: no uname/gname, no atime/ctime, PAX
//! records in one fixed order, fixed names and times for the PAX headers,
//! so the same entries always give the same stream.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;

/// The tar type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFlag {
    File,
    HardLink,
    Symlink,
    CharDev,
    BlockDev,
    Dir,
    Fifo,
}

impl TypeFlag {
    fn byte(self) -> u8 {
        match self {
            TypeFlag::File => b'0',
            TypeFlag::HardLink => b'1',
            TypeFlag::Symlink => b'2',
            TypeFlag::CharDev => b'3',
            TypeFlag::BlockDev => b'4',
            TypeFlag::Dir => b'5',
            TypeFlag::Fifo => b'6',
        }
    }
}

/// Everything a header says of one entry.
#[derive(Debug, Clone)]
pub struct EntryHeader {
    /// Without a leading `/`; a directory's name ends in `/`.
    pub name: Vec<u8>,
    pub flag: TypeFlag,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of data that follow (regular files only).
    pub size: u64,
    pub mtime: i64,
    /// Symlink target or hard link's first name.
    pub link: Option<Vec<u8>>,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// Sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EntryHeader {
    pub fn new(name: Vec<u8>, flag: TypeFlag) -> Self {
        Self {
            name,
            flag,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            link: None,
            dev_major: 0,
            dev_minor: 0,
            xattrs: Vec::new(),
        }
    }
}

pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes one entry; `data` must yield exactly `h.size` bytes (fewer
    /// is an `UnexpectedEof` error: the file shrank while being read).
    pub fn append(&mut self, h: &EntryHeader, data: Option<&mut dyn Read>) -> io::Result<()> {
        let mut block = [0u8; BLOCK];
        let mut pax: Vec<(&[u8], Vec<u8>)> = Vec::new();
        if !put_bytes(&mut block[0..100], &h.name) {
            pax.push((b"path", h.name.clone()));
        }
        if let Some(link) = &h.link {
            if !put_bytes(&mut block[157..257], link) {
                pax.push((b"linkpath", link.clone()));
            }
        }
        put_octal(&mut block[100..108], u64::from(h.mode & 0o7777));
        if !put_octal(&mut block[124..136], h.size) {
            pax.push((b"size", h.size.to_string().into_bytes()));
        }
        if !put_octal(&mut block[108..116], h.uid) {
            pax.push((b"uid", h.uid.to_string().into_bytes()));
        }
        if !put_octal(&mut block[116..124], h.gid) {
            pax.push((b"gid", h.gid.to_string().into_bytes()));
        }
        let mtime = u64::try_from(h.mtime).unwrap_or(0);
        if !put_octal(&mut block[136..148], mtime) {
            pax.push((b"mtime", mtime.to_string().into_bytes()));
        }
        block[156] = h.flag.byte();
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        if matches!(h.flag, TypeFlag::CharDev | TypeFlag::BlockDev) {
            put_octal(&mut block[329..337], u64::from(h.dev_major));
            put_octal(&mut block[337..345], u64::from(h.dev_minor));
        }
        let mut records = Vec::new();
        for (key, value) in &pax {
            records.extend(record(key, value));
        }
        for (name, value) in &h.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            records.extend(record(&key, value));
        }
        if !records.is_empty() {
            self.pax_header(&records)?;
        }
        checksum(&mut block);
        self.out.write_all(&block)?;
        if let Some(data) = data {
            let copied = io::copy(&mut data.take(h.size), &mut self.out)?;
            if copied != h.size {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.pad(h.size)?;
        }
        Ok(())
    }

    fn pax_header(&mut self, records: &[u8]) -> io::Result<()> {
        let mut block = [0u8; BLOCK];
        put_bytes(&mut block[0..100], b"././@PaxHeader");
        put_octal(&mut block[100..108], 0o644);
        put_octal(&mut block[108..116], 0);
        put_octal(&mut block[116..124], 0);
        put_octal(&mut block[124..136], records.len() as u64);
        put_octal(&mut block[136..148], 0);
        block[156] = b'x';
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        checksum(&mut block);
        self.out.write_all(&block)?;
        self.out.write_all(records)?;
        self.pad(records.len() as u64)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// The end-of-archive marker (two zero blocks); returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

/// `bytes` into `field` when they fit (a full field needs no NUL).
fn put_bytes(field: &mut [u8], bytes: &[u8]) -> bool {
    if bytes.len() > field.len() {
        field.copy_from_slice(&bytes[..field.len()]);
        return false;
    }
    field[..bytes.len()].copy_from_slice(bytes);
    true
}

/// Zero-padded octal and a NUL, when `value` fits the field.
fn put_octal(field: &mut [u8], value: u64) -> bool {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    true
}

fn checksum(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(text.as_bytes());
}

/// One PAX record: `LEN KEY=VALUE\n`, LEN counting itself.
fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = len.to_string().into_bytes();
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        for n in [0usize, 1, 5, 6, 7, 90, 95, 96, 97, 990, 995, 996, 997] {
            let r = record(b"k", &vec![b'v'; n]);
            let (len, _) = std::str::from_utf8(&r).unwrap().split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "value of {n}");
        }
    }

    #[test]
    fn the_tar_crate_reads_back_long_names_big_ids_and_xattrs() {
        let long = [b'd'; 150]
            .iter()
            .chain(b"/file")
            .copied()
            .collect::<Vec<u8>>();
        let mut w = TarWriter::new(Vec::new());
        let mut h = EntryHeader::new(long.clone(), TypeFlag::File);
        h.size = 3;
        h.uid = 100_000_000;
        h.gid = 7;
        h.mode = 0o4755;
        h.mtime = 1_700_000_000;
        h.xattrs = vec![(b"security.capability".to_vec(), vec![1, 0, 0, 2])];
        w.append(&h, Some(&mut &b"abc"[..])).unwrap();
        let mut l = EntryHeader::new(b"ln".to_vec(), TypeFlag::Symlink);
        l.link = Some(vec![b'x'; 120]);
        w.append(&l, None).unwrap();
        let mut short = EntryHeader::new(b"short".to_vec(), TypeFlag::File);
        short.size = 10;
        assert!(w.append(&short, Some(&mut &b"abc"[..])).is_err());
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), &long[..]);
        assert_eq!(e.header().uid().unwrap(), 100_000_000, "the PAX uid wins");
        let exts: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| {
                let x = x.unwrap();
                (x.key().unwrap().to_owned(), x.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(exts[1], ("uid".to_owned(), b"100000000".to_vec()));
        assert_eq!(
            exts[2],
            (
                "SCHILY.xattr.security.capability".to_owned(),
                vec![1, 0, 0, 2]
            )
        );
        assert_eq!(e.header().mode().unwrap(), 0o4755);
        let mut data = String::new();
        e.read_to_string(&mut data).unwrap();
        assert_eq!(data, "abc");
        let e = entries.next().unwrap().unwrap();
        assert_eq!(e.link_name_bytes().unwrap().len(), 120);
    }
}
