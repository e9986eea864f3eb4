//! Hostile archives: each must leave everything outside the root as it
//! was, in both resolver modes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::stats::Error;
use super::testutil::*;

#[test]
fn dotdot_and_absolute_names_land_inside() {
    for mode in MODES {
        let fx = Fx::new();
        let tar = Tb::new()
            .file(b"../escape", b"1")
            .file(b"/abs/file", b"2")
            .file(b"a/../../b", b"3")
            .file(b"../outside/canary", b"4")
            .file(b"../../../../../../../../../../tmp/cd-escape", b"5")
            .finish();
        let st = extract(&fx, mode, &tar);
        assert_eq!(std::fs::read(fx.root.join("escape")).unwrap(), b"1");
        assert_eq!(std::fs::read(fx.root.join("abs/file")).unwrap(), b"2");
        assert_eq!(std::fs::read(fx.root.join("b")).unwrap(), b"3");
        assert_eq!(std::fs::read(fx.root.join("outside/canary")).unwrap(), b"4");
        assert!(exists(&fx.root.join("tmp/cd-escape")));
        assert!(!exists(Path::new("/tmp/cd-escape")));
        assert_eq!((st.files, st.skipped_invalid), (5, 0));
        fx.assert_outside_unchanged();
    }
}

#[test]
fn pax_path_and_gnu_long_names_are_confined() {
    for mode in MODES {
        let fx = Fx::new();
        let long = format!("../../{}/y", "d".repeat(150));
        let abs = format!("{}/canary", fx.outside.display());
        let tar = Tb::new()
            .pax(&[("path", b"../../x")])
            .file(b"innocent", b"p")
            .file(long.as_bytes(), b"g")
            .pax(&[("path", abs.as_bytes())])
            .file(b"innocent2", b"q")
            .finish();
        extract(&fx, mode, &tar);
        assert_eq!(std::fs::read(fx.root.join("x")).unwrap(), b"p");
        assert!(!exists(&fx.root.join("innocent")));
        assert_eq!(std::fs::read(fx.root.join(&long[6..])).unwrap(), b"g");
        assert_eq!(
            std::fs::read(fx.outside_in_root().join("canary")).unwrap(),
            b"q"
        );
        fx.assert_outside_unchanged();
    }
}

#[test]
fn writes_through_symlinked_parents_stay_inside() {
    for mode in MODES {
        let fx = Fx::new();
        let tar = Tb::new()
            .symlink(b"a", &fx.outside_bytes())
            .file(b"a/x", b"1")
            .file(b"a/dir/inner", b"2")
            .symlink(b"b", b"/outside-abs")
            .file(b"b/x", b"3")
            .symlink(b"c", b"../../../../../../..")
            .file(b"c/y", b"4")
            .finish();
        let st = extract(&fx, mode, &tar);
        assert_eq!(std::fs::read(fx.outside_in_root().join("x")).unwrap(), b"1");
        assert_eq!(
            std::fs::read(fx.outside_in_root().join("dir/inner")).unwrap(),
            b"2"
        );
        assert_eq!(std::fs::read(fx.root.join("outside-abs/x")).unwrap(), b"3");
        assert_eq!(std::fs::read(fx.root.join("y")).unwrap(), b"4");
        assert!(!exists(Path::new("/outside-abs")));
        assert_eq!(st.skipped_invalid, 0, "{:?}", st.invalid_examples);
        fx.assert_outside_unchanged();
    }
}

#[test]
fn symlink_planted_in_an_earlier_layer_is_replaced() {
    for mode in MODES {
        let fx = Fx::new();
        let canary = format!("{}/canary", fx.outside.display());
        let mut ex = fx.extractor(mode);
        let l1 = Tb::new()
            .symlink(b"etc/passwd", canary.as_bytes())
            .symlink(b"etc/rel", b"../../outside/canary")
            .finish();
        run(&mut ex, &l1, true).unwrap();
        let l2 = Tb::new()
            .file(b"etc/passwd", b"root:x:0:0")
            .file(b"etc/rel", b"r")
            .finish();
        run(&mut ex, &l2, true).unwrap();
        ex.finish().unwrap();
        let m = std::fs::symlink_metadata(fx.root.join("etc/passwd")).unwrap();
        assert!(m.is_file());
        assert_eq!(
            std::fs::read(fx.root.join("etc/passwd")).unwrap(),
            b"root:x:0:0"
        );
        assert_eq!(std::fs::read(fx.root.join("etc/rel")).unwrap(), b"r");
        fx.assert_outside_unchanged();
    }
}

#[test]
fn symlink_then_file_in_one_stream_file_wins() {
    for mode in MODES {
        let fx = Fx::new();
        let canary = format!("{}/canary", fx.outside.display());
        let tar = Tb::new()
            .symlink(b"f", canary.as_bytes())
            .file(b"f", b"mine")
            .symlink(b"d", &fx.outside_bytes())
            .dir(b"d", 0o755)
            .file(b"d/canary", b"inside")
            .finish();
        extract(&fx, mode, &tar);
        assert_eq!(std::fs::read(fx.root.join("f")).unwrap(), b"mine");
        assert!(std::fs::symlink_metadata(fx.root.join("d"))
            .unwrap()
            .is_dir());
        assert_eq!(std::fs::read(fx.root.join("d/canary")).unwrap(), b"inside");
        fx.assert_outside_unchanged();
    }
}

#[test]
fn hard_links_never_reach_host_inodes() {
    let passwd = std::fs::metadata("/etc/passwd").unwrap();
    for mode in MODES {
        let fx = Fx::new();
        let canary = format!("{}/canary", fx.outside.display());
        let tar = Tb::new()
            .hardlink(b"h1", b"/etc/passwd")
            .hardlink(b"h2", b"../../etc/passwd")
            .symlink(b"d", b"/etc")
            .hardlink(b"h3", b"d/passwd")
            .hardlink(b"h4", canary.as_bytes())
            .symlink(b"o", &fx.outside_bytes())
            .hardlink(b"h5", b"o/canary")
            .hardlink(b"h6", b"../outside/canary")
            .finish();
        let st = extract(&fx, mode, &tar);
        assert_eq!(st.hardlinks, 0);
        assert_eq!(st.skipped_invalid, 6, "{:?}", st.invalid_examples);
        for h in ["h1", "h2", "h3", "h4", "h5", "h6"] {
            assert!(!exists(&fx.root.join(h)), "{h}");
        }
        fx.assert_outside_unchanged();

        // With a passwd of its own, the same links join the rootfs's inode.
        let fx = Fx::new();
        let tar = Tb::new()
            .file(b"etc/passwd", b"guest")
            .hardlink(b"h1", b"/etc/passwd")
            .hardlink(b"h2", b"../../etc/passwd")
            .symlink(b"d", b"/etc")
            .hardlink(b"h3", b"d/passwd")
            .symlink(b"s", canary.as_bytes())
            .hardlink(b"h7", b"s")
            .finish();
        let st = extract(&fx, mode, &tar);
        assert_eq!(st.hardlinks, 4, "{:?}", st.invalid_examples);
        let ino = std::fs::metadata(fx.root.join("etc/passwd")).unwrap().ino();
        for h in ["h1", "h2", "h3"] {
            assert_eq!(std::fs::metadata(fx.root.join(h)).unwrap().ino(), ino);
        }
        // A link to a symlink is that symlink, not what it points at.
        assert!(std::fs::symlink_metadata(fx.root.join("h7"))
            .unwrap()
            .file_type()
            .is_symlink());
        fx.assert_outside_unchanged();
    }
    let after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!((after.ino(), after.nlink()), (passwd.ino(), passwd.nlink()));
}

#[test]
fn whiteouts_aiming_out_stay_inside() {
    for mode in MODES {
        let fx = Fx::new();
        let inside = fx.outside_in_root();
        let mut ex = fx.extractor(mode);
        let mut l1 = Tb::new();
        l1.file(b"canary", b"c")
            .symlink(b"d", &fx.outside_bytes())
            .symlink(b"d2", &fx.outside_bytes())
            .file(b"keep", b"k");
        let l1 = l1
            .file(format!("{}/canary", fx.outside.display()).as_bytes(), b"i")
            .finish();
        run(&mut ex, &l1, true).unwrap();
        let l2 = Tb::new()
            .file(b".wh...", b"")
            .file(b".wh..", b"")
            .file(b"x/.wh.", b"")
            .file(b"../.wh.canary", b"")
            .file(b"d/.wh.canary", b"")
            .file(b"d/.wh.link", b"")
            .file(b"d2/.wh..wh..opq", b"")
            .file(b"d/.wh.absent", b"")
            .finish();
        run(&mut ex, &l2, true).unwrap();
        let st = ex.finish().unwrap();
        assert_eq!(st.skipped_invalid, 3, "{:?}", st.invalid_examples);
        assert_eq!(st.whiteouts, 5);
        assert!(!exists(&fx.root.join("canary")));
        assert!(!exists(&inside.join("canary")));
        assert!(exists(&fx.root.join("keep")));
        assert!(std::fs::read_dir(&inside).unwrap().next().is_none());
        fx.assert_outside_unchanged();
    }
}

#[test]
fn magic_proc_links_are_not_followed() {
    for mode in MODES {
        let fx = Fx::new();
        let tar = Tb::new()
            .symlink(b"p", b"/proc/self/root")
            .file(b"p/etc/cd-magic-test", b"m")
            .symlink(b"q", b"/proc/self/cwd")
            .file(b"q/cd-magic-test", b"n")
            .finish();
        extract(&fx, mode, &tar);
        assert!(!exists(Path::new("/etc/cd-magic-test")));
        assert!(!exists(
            &std::env::current_dir().unwrap().join("cd-magic-test")
        ));
        assert!(exists(&fx.root.join("proc/self/root/etc/cd-magic-test")));
        assert!(exists(&fx.root.join("proc/self/cwd/cd-magic-test")));
        fx.assert_outside_unchanged();
    }
}

#[test]
fn devices_are_skipped_when_not_allowed_or_not_permitted() {
    for mode in MODES {
        let fx = Fx::new();
        let tar = Tb::new()
            .entry(b"dev/null", tar::EntryType::Char, b"", b"", |h| {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
            })
            .finish();
        let st = extract(&fx, mode, &tar);
        assert_eq!(
            (st.devices, st.devices_skipped, st.skipped_invalid),
            (0, 1, 0)
        );
        assert!(!exists(&fx.root.join("dev/null")));

        // Allowed, but without CAP_MKNOD (as a non-root caller would be).
        let fx = Fx::new();
        let st = without_caps(&[caps::Capability::CAP_MKNOD], || {
            let opts = super::extract::ExtractOptions {
                resolver: mode,
                allow_devices: true,
                ..Default::default()
            };
            let mut ex = super::extract::Extractor::new(fx.root_fd(), opts);
            run(&mut ex, &tar, false).unwrap();
            ex.finish().unwrap()
        });
        assert_eq!(
            (st.devices, st.devices_skipped, st.skipped_invalid),
            (0, 1, 0)
        );
        assert!(!exists(&fx.root.join("dev/null")));
        fx.assert_outside_unchanged();
    }
}

#[test]
fn truncated_streams_are_malformed() {
    let big = vec![7u8; 100_000];
    let tar = Tb::new().file(b"a", b"x").file(b"big", &big).finish();
    for cut in [512 * 3 + 50_000, 512 * 2 + 100, 512 * 3 + 100_000] {
        let fx = Fx::new();
        let mut ex = fx.extractor(MODES[0]);
        let e = run(&mut ex, &tar[..cut], false).unwrap_err();
        assert!(matches!(e, Error::Tar(_)), "{cut}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
    let fx = Fx::new();
    let e = run(&mut fx.extractor(MODES[0]), &tar[..512 * 3 + 50_000], false).unwrap_err();
    assert_eq!(e.to_string(), "malformed archive: truncated entry 'big'");
}

#[test]
fn whiteout_names_in_plain_archives_are_refused() {
    let fx = Fx::new();
    std::fs::write(fx.root.join("victim"), "v").unwrap();
    let tar = Tb::new()
        .file(b".wh.victim", b"")
        .file(b"d/.wh..wh..opq", b"")
        .finish();
    let st = extract(&fx, MODES[0], &tar);
    assert_eq!((st.skipped_invalid, st.whiteouts), (2, 0));
    assert!(exists(&fx.root.join("victim")) && !exists(&fx.root.join(".wh.victim")));
}
