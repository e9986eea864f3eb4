//! What a well-formed archive must come out as: modes, owners, xattrs,
//! times, hard links, whiteouts.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use caps::Capability as Cap;
use tar::EntryType;

use super::testutil::*;

const CAP: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn fidelity_tar() -> Vec<u8> {
    Tb::new()
        .entry(b"usr/", EntryType::Directory, b"", b"", |h| {
            h.set_mtime(1_000)
        })
        .entry(b"usr/bin/", EntryType::Directory, b"", b"", |h| {
            h.set_mode(0o555);
            h.set_mtime(2_000);
        })
        .pax(&[
            ("SCHILY.xattr.user.foo", b"bar"),
            ("SCHILY.xattr.security.capability", &CAP),
            ("mtime", b"1500000000.25"),
        ])
        .entry(b"usr/bin/su", EntryType::Regular, b"", b"#!su", |h| {
            h.set_mode(0o4755);
            h.set_uid(42);
            h.set_gid(42);
        })
        .hardlink(b"usr/bin/su2", b"usr/bin/su")
        .entry(b"usr/bin/sh", EntryType::Symlink, b"busybox", b"", |h| {
            h.set_mtime(3_000);
            h.set_uid(42);
        })
        .entry(b"run/fifo", EntryType::Fifo, b"", b"", |h| {
            h.set_mode(0o620)
        })
        .entry(b"tmp", EntryType::Directory, b"", b"", |h| {
            h.set_mode(0o1777)
        })
        .entry(b"sg", EntryType::Regular, b"", b"x", |h| h.set_mode(0o2755))
        .dir(b"ro", 0o555)
        .dir(b"ro/sub", 0o500)
        .file(b"ro/sub/child", b"c")
        .dir(b"nox", 0o600)
        .dir(b"nox/inner", 0o750)
        .finish()
}

fn meta(root: &Path, p: &str) -> std::fs::Metadata {
    std::fs::symlink_metadata(root.join(p)).unwrap()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
    Some(buf[..n].to_vec())
}

/// What holds for any caller: modes (setuid included), hard links, times.
fn check_common(root: &Path) {
    let mode = |p| meta(root, p).permissions().mode() & 0o7777;
    assert_eq!(mode("usr/bin/su"), 0o4755);
    assert_eq!(mode("usr/bin"), 0o555);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("run/fifo"), 0o620);
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(mode("ro/sub"), 0o500);
    assert_eq!(mode("nox"), 0o600);
    assert_eq!(mode("nox/inner"), 0o750);
    assert_eq!(std::fs::read(root.join("ro/sub/child")).unwrap(), b"c");
    let su = meta(root, "usr/bin/su");
    assert_eq!(su.ino(), meta(root, "usr/bin/su2").ino());
    assert_eq!(su.nlink(), 2);
    assert_eq!((su.mtime(), su.mtime_nsec()), (1_500_000_000, 250_000_000));
    assert_eq!(meta(root, "usr").mtime(), 1_000);
    // Written into after creation, still the header's time.
    assert_eq!(meta(root, "usr/bin").mtime(), 2_000);
    assert_eq!(meta(root, "ro").mtime(), MTIME as i64);
    let sh = meta(root, "usr/bin/sh");
    assert!(sh.file_type().is_symlink());
    assert_eq!(sh.mtime(), 3_000);
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(meta(root, "run/fifo").file_type().is_fifo());
    assert_eq!(xattr(&root.join("usr/bin/su"), "user.foo").unwrap(), b"bar");
}

#[test]
fn good_path_fidelity_as_root() {
    if !is_root() {
        crate::testskip::skip("ownership and device nodes need root");
        return;
    }
    for mode in MODES {
        let fx = Fx::new();
        let st = extract(&fx, mode, &fidelity_tar());
        check_common(&fx.root);
        let r = &fx.root;
        assert_eq!(meta(r, "sg").permissions().mode() & 0o7777, 0o2755);
        let su = meta(r, "usr/bin/su");
        assert_eq!((su.uid(), su.gid()), (42, 42));
        assert_eq!(meta(r, "usr/bin/sh").uid(), 42);
        assert_eq!(
            xattr(&r.join("usr/bin/su"), "security.capability").unwrap(),
            CAP
        );
        assert_eq!(
            (st.files, st.dirs, st.symlinks, st.hardlinks, st.fifos),
            (3, 7, 1, 1, 1)
        );
        assert_eq!(
            (st.owners_unmapped, st.xattrs_skipped, st.skipped_invalid),
            (0, 0, 0)
        );
        assert_eq!(st.implicit_dirs, 1); // run/
        fx.assert_outside_unchanged();
    }
}

#[test]
fn fidelity_without_privileges() {
    for mode in MODES {
        let fx = Fx::new();
        let drop = [
            Cap::CAP_CHOWN,
            Cap::CAP_DAC_OVERRIDE,
            Cap::CAP_DAC_READ_SEARCH,
            Cap::CAP_SETFCAP,
        ];
        let st = without_caps(&drop, || extract(&fx, mode, &fidelity_tar()));
        check_common(&fx.root);
        // su (42:42) and sh (42:0): owners refused, counted, not fatal.
        assert_eq!(st.owners_unmapped, 2);
        assert_eq!(st.xattrs_skipped, 1); // security.capability
        assert_eq!(st.skipped_invalid, 0);
        fx.assert_outside_unchanged();
    }
}

#[test]
fn squash_never_chowns() {
    let fx = Fx::new();
    let opts = super::extract::ExtractOptions {
        ownership: super::apply::Ownership::Squash,
        ..Default::default()
    };
    let mut ex = super::extract::Extractor::new(fx.root_fd(), opts);
    run(&mut ex, &fidelity_tar(), false).unwrap();
    let st = ex.finish().unwrap();
    let me = rustix::process::geteuid().as_raw();
    assert_eq!(meta(&fx.root, "usr/bin/su").uid(), me);
    assert_eq!(meta(&fx.root, "usr/bin/sh").uid(), me);
    assert_eq!(st.owners_unmapped, 0);
}

#[test]
fn whiteouts_and_opaque_dirs_across_layers() {
    for mode in MODES {
        let fx = Fx::new();
        let mut ex = fx.extractor(mode);
        let l1 = Tb::new()
            .file(b"removed.txt", b"r")
            .dir(b"opaque", 0o755)
            .file(b"opaque/a", b"a")
            .file(b"opaque/b", b"b")
            .file(b"opaque/sub/old", b"o")
            .file(b"keep/x", b"x")
            .file(b"tree/a/b/c", b"c")
            .symlink(b"keep/link", b"../removed.txt")
            .finish();
        run(&mut ex, &l1, true).unwrap();
        let l2 = Tb::new()
            .file(b".wh.removed.txt", b"")
            .file(b".wh.tree", b"")
            .file(b"keep/.wh.link", b"")
            .file(b"opaque/early", b"e")
            .file(b"opaque/sub/new", b"n")
            .file(b"opaque/.wh..wh..opq", b"")
            .file(b"opaque/c", b"c")
            .file(b"same", b"s")
            .file(b".wh.same", b"")
            .finish();
        run(&mut ex, &l2, true).unwrap();
        let st = ex.finish().unwrap();
        let r = &fx.root;
        assert!(!exists(&r.join("removed.txt")) && !exists(&r.join("tree")));
        assert!(!exists(&r.join(".wh.removed.txt")) && !exists(&r.join("opaque/.wh..wh..opq")));
        assert!(!exists(&r.join("keep/link")));
        let mut names: Vec<_> = std::fs::read_dir(r.join("opaque"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c", "early", "sub"]);
        let sub: Vec<_> = std::fs::read_dir(r.join("opaque/sub")).unwrap().collect();
        assert_eq!(sub.len(), 1);
        assert!(exists(&r.join("keep/x")));
        // A layer's whiteouts apply to the layers below only.
        assert!(exists(&r.join("same")));
        assert_eq!((st.whiteouts, st.skipped_invalid), (5, 0));
        fx.assert_outside_unchanged();
    }
}

#[test]
fn replacing_across_types() {
    for mode in MODES {
        let fx = Fx::new();
        let tar = Tb::new()
            .file(b"x/deep/file", b"1")
            .symlink(b"x/deep/link", &fx.outside_bytes())
            .file(b"x", b"now a file")
            .file(b"y", b"file")
            .dir(b"y", 0o750)
            .file(b"m/a", b"a")
            .dir(b"m", 0o700)
            .file(b"s", b"f")
            .symlink(b"s", b"target")
            .file(b"l", b"f")
            .file(b"t", b"t")
            .hardlink(b"l", b"t")
            .finish();
        let st = extract(&fx, mode, &tar);
        let r = &fx.root;
        assert_eq!(std::fs::read(r.join("x")).unwrap(), b"now a file");
        assert!(meta(r, "y").is_dir());
        assert_eq!(meta(r, "y").permissions().mode() & 0o777, 0o750);
        assert!(exists(&r.join("m/a")));
        assert_eq!(
            std::fs::read_link(r.join("s")).unwrap(),
            Path::new("target")
        );
        assert_eq!(meta(r, "l").ino(), meta(r, "t").ino());
        assert_eq!(st.skipped_invalid, 0, "{:?}", st.invalid_examples);
        fx.assert_outside_unchanged();
    }
}

#[test]
fn root_entries_set_metadata_and_strip_components() {
    let fx = Fx::new();
    let ino = std::fs::metadata(&fx.root).unwrap().ino();
    let opts = super::extract::ExtractOptions {
        strip_components: 1,
        ..Default::default()
    };
    let tar = Tb::new()
        .dir(b"./", 0o755)
        .entry(b"./rootfs/", EntryType::Directory, b"", b"", |h| {
            h.set_mode(0o750);
            h.set_mtime(4_000);
        })
        .file(b"./rootfs/etc/x", b"x")
        .hardlink(b"./rootfs/etc/y", b"./rootfs/etc/x")
        .file(b"rootfs", b"names the root")
        .finish();
    let mut ex = super::extract::Extractor::new(fx.root_fd(), opts);
    run(&mut ex, &tar, false).unwrap();
    let st = ex.finish().unwrap();
    let m = std::fs::metadata(&fx.root).unwrap();
    assert_eq!(
        (m.ino(), m.permissions().mode() & 0o7777, m.mtime()),
        (ino, 0o750, 4_000)
    );
    assert_eq!(meta(&fx.root, "etc/y").ino(), meta(&fx.root, "etc/x").ino());
    assert_eq!(st.skipped_invalid, 1);
    assert!(st.invalid_examples[0].contains("root directory"));
}
