//! Tar streams written header by header, so tests can make the hostile
//! names (`..`, absolute paths, planted links) that tar::Builder refuses.
#![allow(dead_code)]

use tar::{EntryType, Header};

pub struct Tb {
    buf: Vec<u8>,
}

impl Default for Tb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tb {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }

    pub fn entry(
        &mut self,
        name: &str,
        ty: EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
        self
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, EntryType::Directory, "", b"", 0o755)
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, EntryType::Regular, "", data, 0o644)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, EntryType::Symlink, target, b"", 0o777)
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, EntryType::Link, target, b"", 0o644)
    }
    pub fn chardev(&mut self, name: &str) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(EntryType::Char);
        h.set_size(0);
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self
    }

    /// A minimal rootfs so the archive classifies as one.
    pub fn rootfs_skeleton(&mut self) -> &mut Self {
        self.dir("bin")
            .dir("etc")
            .dir("usr")
            .file("etc/os-release", b"ID=hostile\n")
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.resize(out.len() + 1024, 0);
        out
    }
}
