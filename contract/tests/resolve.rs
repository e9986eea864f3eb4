//! The one in-root resolver, in both modes (openat2 and the O_PATH walk):
//! guest paths follow symlinks but never leave the root; missing parents
//! are created inside it. (Mount targets, which refuse every symlink, are
//! tested with the helper: helper/tests/resolve.rs.)

use session_contract::resolve::{normalize, open_in_root, resolve_parent, ResolveMode, Resolver};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

const MODES: [ResolveMode; 2] = [ResolveMode::Auto, ResolveMode::Walk];

fn n(s: &str) -> String {
    normalize(s.as_bytes()).unwrap().to_str().unwrap().to_owned()
}

#[test]
fn normalisation_is_lexical_and_clamped() {
    assert_eq!(n("../escape"), "escape");
    assert_eq!(n("/abs/file"), "abs/file");
    assert_eq!(n("a/../../b"), "b");
    assert_eq!(n("./a/./b//c/"), "a/b/c");
    assert_eq!(n("/"), "");
    assert_eq!(n("./.."), "");
    assert!(normalize(b"a\0b").is_err());
    assert!(normalize(&vec![b'a'; 5000]).is_err());
}

/// `<tmp>/root` (opened O_PATH) and `<tmp>/outside`, removed on drop.
struct Fx {
    dir: PathBuf,
    root: OwnedFd,
}

impl Fx {
    fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("cd-resolve-{name}-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::create_dir(dir.join("outside")).unwrap();
        let root = std::fs::File::open(dir.join("root")).unwrap().into();
        Self { dir, root }
    }

    fn r(&self) -> PathBuf {
        self.dir.join("root")
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn where_is(fd: &OwnedFd) -> PathBuf {
    std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd))).unwrap()
}

#[test]
fn symlinks_resolve_inside_the_root_in_both_modes() {
    for mode in MODES {
        let fx = Fx::new("links");
        let (r, out) = (fx.r(), fx.dir.join("outside"));
        let inner = r.join(out.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inner).unwrap();
        symlink(&out, r.join("abs")).unwrap();
        symlink("../../..", r.join("up")).unwrap();
        let res = Resolver::new(mode);
        let dir = |rel: &str| res.dir(fx.root.as_fd(), Path::new(rel), false, &mut 0).unwrap();
        assert_eq!(where_is(&dir("abs")), inner);
        assert_eq!(where_is(&dir("up")), r);
        // An absolute target restarts at the root, wherever the link is.
        std::fs::create_dir(r.join("sub")).unwrap();
        symlink(&out, r.join("sub/abs")).unwrap();
        assert_eq!(where_is(&dir("sub/abs")), inner);
        // A dangling absolute link: the walk creates the target inside.
        symlink("/nowhere/deep", r.join("dang")).unwrap();
        let mut created = 0;
        let fd = res.dir(fx.root.as_fd(), Path::new("dang/x"), true, &mut created).unwrap();
        assert_eq!(where_is(&fd), r.join("nowhere/deep/x"));
        assert_eq!(created, 3);
        assert_eq!(res.uses_openat2(), mode == ResolveMode::Auto, "{mode:?}");
    }
}

#[test]
fn symlink_loops_end_in_eloop() {
    for mode in MODES {
        let fx = Fx::new("loop");
        symlink("b", fx.r().join("a")).unwrap();
        symlink("a", fx.r().join("b")).unwrap();
        let e = Resolver::new(mode).dir(fx.root.as_fd(), Path::new("a/x"), true, &mut 0);
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ELOOP), "{mode:?}");
    }
}

#[test]
fn files_in_the_middle_are_not_directories() {
    for mode in MODES {
        let fx = Fx::new("file");
        std::fs::write(fx.r().join("f"), "x").unwrap();
        let e = Resolver::new(mode).dir(fx.root.as_fd(), Path::new("f/x"), true, &mut 0);
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    }
}

#[test]
fn public_helpers_stay_inside() {
    for mode in MODES {
        let fx = Fx::new("public");
        let r = fx.r();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::create_dir(r.join("etc")).unwrap();
        std::fs::write(r.join("usr/lib/os-release"), "ID=x").unwrap();
        symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
        symlink("/etc", r.join("e")).unwrap();
        let fd = open_in_root(fx.root.as_fd(), Path::new("/e/os-release"), mode).unwrap();
        assert_eq!(where_is(&fd), r.join("usr/lib/os-release"));
        let (p, name) = resolve_parent(fx.root.as_fd(), Path::new("../e/hosts"), mode).unwrap();
        assert_eq!((where_is(&p), name.to_str().unwrap()), (r.join("etc"), "hosts"));
        assert!(resolve_parent(fx.root.as_fd(), Path::new("/"), mode).is_err());
        // A file next to the rootfs, where an unconfined `../..` lands.
        std::fs::write(fx.dir.join("secret"), "host").unwrap();
        symlink("../../secret", r.join("s")).unwrap();
        let e = open_in_root(fx.root.as_fd(), Path::new("s"), mode).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{mode:?}: {e}");
    }
}
