//! Streaming, progress, unsupported and odd entries, and the resolver
//! against a real magic link.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use caps::Capability as Cap;
use rustix::fs::{Mode, OFlags};
use tar::{EntryType, Header};

use super::extract::fail;
use super::resolve::{ResolveMode, Resolver};
use super::stats::Error;
use super::testutil::*;

/// A tar stream of one big all-zero file, produced as it is read.
struct LazyTar {
    header: [u8; 512],
    total: u64,
    pos: u64,
}

impl LazyTar {
    fn new(size: u64) -> Self {
        let mut h = Header::new_gnu();
        h.set_path("big").unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(EntryType::Regular);
        h.set_cksum();
        let total = 512 + size.div_ceil(512) * 512 + 1024;
        Self {
            header: *h.as_bytes(),
            total,
            pos: 0,
        }
    }
}

impl Read for LazyTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = (self.total - self.pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..left].iter_mut().enumerate() {
            let at = self.pos as usize + i;
            *b = if at < 512 { self.header[at] } else { 0 };
        }
        self.pos += left as u64;
        Ok(left)
    }
}

/// Counts heap bytes per thread, so a test can bound what one extraction
/// holds at once whatever the other tests do meanwhile.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        track(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            track(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn large_files_stream_in_constant_memory() {
    const SIZE: u64 = 64 << 20;
    let fx = Fx::new();
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let mut ex = fx.extractor(ResolveMode::Auto);
    let mut calls = 0;
    ex.apply(LazyTar::new(SIZE), false, &mut |_| calls += 1)
        .unwrap();
    let st = ex.finish().unwrap();
    let held = PEAK.with(Cell::get) - base;
    assert_eq!(std::fs::metadata(fx.root.join("big")).unwrap().len(), SIZE);
    assert_eq!(st.bytes, SIZE);
    assert!(calls >= 16, "progress every 4 MiB: {calls}");
    assert!(
        held < 1 << 20,
        "{held} bytes on the heap for a {SIZE}-byte file"
    );
}

#[test]
fn progress_is_reported_every_256_entries() {
    let fx = Fx::new();
    let mut tb = Tb::new();
    for i in 0..600 {
        tb.file(format!("f{i}").as_bytes(), b"x");
    }
    let mut seen = Vec::new();
    let mut ex = fx.extractor(ResolveMode::Auto);
    ex.apply(&tb.finish()[..], false, &mut |p| seen.push(p.entries))
        .unwrap();
    assert_eq!(seen, [256, 512, 600]);
}

#[test]
fn sparse_files_are_unsupported_and_odd_types_skipped() {
    let fx = Fx::new();
    let tar = Tb::new()
        .entry(b"sp", EntryType::GNUSparse, b"", b"", |h| {
            h.as_gnu_mut().unwrap().set_real_size(0);
        })
        .finish();
    let e = run(&mut fx.extractor(ResolveMode::Auto), &tar, false).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert_eq!(e.to_string(), "unsupported archive entry 'sp': sparse file");

    let tar = Tb::new()
        .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .file(b"GNUSparseFile.0/sp", b"map")
        .finish();
    let e = run(&mut fx.extractor(ResolveMode::Auto), &tar, false).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");

    let tar = Tb::new()
        .entry(b"vol", EntryType::new(b'V'), b"", b"", |_| {})
        .entry(b"g", EntryType::XGlobalHeader, b"", b"9 a=b\n", |_| {})
        .file(b"after", b"a")
        .finish();
    let st = extract(&fx, ResolveMode::Auto, &tar);
    assert_eq!(st.skipped_invalid, 1);
    assert_eq!(st.invalid_examples, ["vol: unsupported entry type 'V'"]);
    assert!(exists(&fx.root.join("after")));
}

#[test]
fn refused_xattrs_are_counted() {
    let fx = Fx::new();
    let tar = Tb::new()
        .pax(&[
            ("SCHILY.xattr.trusted.x", b"1"),
            ("SCHILY.xattr.user.y", b"2"),
        ])
        .file(b"f", b"f")
        .pax(&[("SCHILY.xattr.user.z", b"3")])
        .symlink(b"s", b"f")
        .finish();
    let st = without_caps(&[Cap::CAP_SYS_ADMIN], || {
        extract(&fx, ResolveMode::Auto, &tar)
    });
    assert_eq!(st.xattrs_skipped, 2);
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(fx.root.join("f"), "user.y", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"2");
}

#[test]
fn fatal_and_per_entry_errors_are_told_apart() {
    let p = Path::new("usr/bin/x");
    let e = |n| fail("write", p, std::io::Error::from_raw_os_error(n));
    let super::extract::Fail::Fatal(f) = e(libc::ENOSPC) else {
        panic!("ENOSPC must stop the extraction");
    };
    assert_eq!(
        f.to_string(),
        "cannot write usr/bin/x: No space left on device"
    );
    assert!(matches!(e(libc::ENOTDIR), super::extract::Fail::Skip(_)));
    assert!(matches!(e(libc::ELOOP), super::extract::Fail::Skip(_)));
}

#[test]
fn real_magic_links_are_never_traversed() {
    // /proc/self as the "root": `root` and `cwd` in it are magic links to
    // the host's / and cwd.
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let proc_self = rustix::fs::open("/proc/self", flags, Mode::empty()).unwrap();
    let at = |fd: &std::os::fd::OwnedFd| {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    };
    for mode in MODES {
        let res = Resolver::new(mode);
        for p in ["root/etc", "cwd/src", "root/proc"] {
            let r = res.dir(proc_self.as_fd(), Path::new(p), false, &mut 0);
            let e = r.expect_err(&format!("{mode:?} {p} resolved"));
            // ELOOP is RESOLVE_NO_MAGICLINKS refusing; the walk never
            // enters the link at all, so finds nothing.
            let want = if mode == ResolveMode::Auto {
                libc::ELOOP
            } else {
                libc::ENOENT
            };
            assert_eq!(e.raw_os_error(), Some(want), "{mode:?} {p}");
        }
        // The walk reads `root -> /` as text, which means our root again.
        if let Ok(fd) = res.dir(proc_self.as_fd(), Path::new("root"), false, &mut 0) {
            assert_eq!(at(&fd), at(&proc_self), "{mode:?}");
        }
    }
}

#[test]
fn auto_mode_really_uses_openat2() {
    let fx = Fx::new();
    std::fs::create_dir(fx.root.join("d")).unwrap();
    std::os::unix::fs::symlink("/d", fx.root.join("abs")).unwrap();
    let res = Resolver::new(ResolveMode::Auto);
    res.dir(fx.root_fd().as_fd(), Path::new("abs"), false, &mut 0)
        .unwrap();
    assert!(res.uses_openat2(), "openat2 was given up");
}
