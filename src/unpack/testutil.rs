//! Test helpers: tar streams written header by header (so names the tar
//! crate's Builder refuses, like `..` and absolute paths, can be made) and
//! a root directory with an `outside/` sibling full of canaries.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use tar::{EntryType, Header};

use super::extract::{ExtractOptions, Extractor};
use super::resolve::ResolveMode;
use super::stats::{Error, Stats};

pub const MODES: [ResolveMode; 2] = [ResolveMode::Auto, ResolveMode::Walk];
pub const MTIME: u64 = 1_600_000_000;

/// Builds a tar stream entry by entry.
pub struct Tb {
    buf: Vec<u8>,
}

impl Tb {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }

    /// A header with `name` and `link` stored verbatim (GNU long-name
    /// records in front when they do not fit), `tweak` applied last.
    pub fn entry(
        &mut self,
        name: &[u8],
        ty: EntryType,
        link: &[u8],
        data: &[u8],
        tweak: impl FnOnce(&mut Header),
    ) -> &mut Self {
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name);
        }
        if link.len() > 100 {
            self.long(EntryType::GNULongLink, link);
        }
        let mut h = Header::new_gnu();
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        old.linkname[..l].copy_from_slice(&link[..l]);
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(if ty == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        tweak(&mut h);
        h.set_cksum();
        self.raw(&h, data)
    }

    fn long(&mut self, ty: EntryType, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", ty, b"", &data, |_| {});
    }

    /// A header and its data, padded to the block size.
    pub fn raw(&mut self, h: &Header, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
        self
    }

    /// A PAX extended header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3; // ' ', '=', '\n'
            let mut len = body + 1;
            while len != body + len.to_string().len() {
                len = body + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.entry(b"PaxHeader", EntryType::XHeader, b"", &data, |_| {})
    }

    pub fn file(&mut self, name: &[u8], data: &[u8]) -> &mut Self {
        self.entry(name, EntryType::Regular, b"", data, |_| {})
    }

    pub fn dir(&mut self, name: &[u8], mode: u32) -> &mut Self {
        self.entry(name, EntryType::Directory, b"", b"", |h| h.set_mode(mode))
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        self.entry(name, EntryType::Symlink, target, b"", |_| {})
    }

    pub fn hardlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        self.entry(name, EntryType::Link, target, b"", |_| {})
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.resize(out.len() + 1024, 0);
        out
    }
}

/// `root/` to extract into, next to `outside/` holding canaries.
pub struct Fx {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
    before: BTreeMap<PathBuf, String>,
}

impl Fx {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::write(outside.join("canary"), "canary").unwrap();
        std::fs::write(outside.join("dir/inner"), "inner").unwrap();
        std::os::unix::fs::symlink("canary", outside.join("link")).unwrap();
        let mut fx = Self {
            tmp,
            root,
            outside,
            before: BTreeMap::new(),
        };
        fx.before = fx.snapshot();
        fx
    }

    /// Everything under the temp dir except `root/`: type, mode, links,
    /// content or target.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.tmp.path().to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p == self.root {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).unwrap();
                let what = if m.is_dir() {
                    todo.push(p.clone());
                    String::from("dir")
                } else if m.file_type().is_symlink() {
                    format!("-> {:?}", std::fs::read_link(&p).unwrap())
                } else {
                    format!("{:?}", std::fs::read(&p).unwrap())
                };
                let perm = m.permissions().mode();
                out.insert(
                    p,
                    format!("{what} {perm:o} n{} u{} t{}", m.nlink(), m.uid(), m.mtime()),
                );
            }
        }
        out
    }

    pub fn assert_outside_unchanged(&self) {
        assert_eq!(
            self.snapshot(),
            self.before,
            "something outside root changed"
        );
    }

    pub fn root_fd(&self) -> OwnedFd {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        rustix::fs::open(&self.root, flags, Mode::empty()).unwrap()
    }

    pub fn extractor(&self, mode: ResolveMode) -> Extractor {
        let opts = ExtractOptions {
            resolver: mode,
            ..Default::default()
        };
        Extractor::new(self.root_fd(), opts)
    }

    /// `root/<absolute path of outside>`: where links to it must land.
    pub fn outside_in_root(&self) -> PathBuf {
        self.root.join(self.outside.strip_prefix("/").unwrap())
    }

    pub fn outside_bytes(&self) -> Vec<u8> {
        self.outside.as_os_str().as_encoded_bytes().to_vec()
    }
}

pub fn run(ex: &mut Extractor, tar: &[u8], layer: bool) -> Result<(), Error> {
    ex.apply(tar, layer, &mut |_| {})
}

/// One stream into a fresh extractor, finished.
pub fn extract(fx: &Fx, mode: ResolveMode, tar: &[u8]) -> Stats {
    let mut ex = fx.extractor(mode);
    run(&mut ex, tar, false).unwrap();
    ex.finish().unwrap()
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `f` on a thread without `caps` in its effective set: how the
/// extractor behaves for a caller without those privileges.
pub fn without_caps<T: Send>(caps: &[caps::Capability], f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            for &c in caps {
                caps::drop(None, caps::CapSet::Effective, c).unwrap();
            }
            f()
        })
        .join()
        .unwrap()
    })
}
