//! Rule 5 without root: mount targets are resolved beneath the rootfs,
//! never through a symlink, and missing ones are created there.

use cd_mount_helper::refusal::Rule;
use cd_mount_helper::resolve::{open_target, Kind};
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::Path;

#[test]
fn symlinks_are_refused_missing_targets_created() {
    let dir = std::env::temp_dir().join(format!("cd-helper-resolve-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    symlink("/etc", root.join("proc")).unwrap();
    symlink("/nonexistent", root.join("dangling")).unwrap();
    symlink("../../..", root.join("etc/up")).unwrap();
    let fd = std::fs::File::open(&root).unwrap();
    for (rel, kind) in [
        ("proc", Kind::Dir),
        ("dangling", Kind::File),
        ("etc/up/x", Kind::Dir),
        ("proc/sys", Kind::Dir),
    ] {
        let e = open_target(fd.as_fd(), Path::new(rel), Some(kind)).unwrap_err();
        assert_eq!(e.rule, Rule::Target, "{rel}: {e}");
    }
    // Refused for its `..` before any lookup, not for a failed one.
    let e = open_target(fd.as_fd(), Path::new("../x"), None).unwrap_err();
    assert_eq!(e.rule, Rule::Target, "{e}");
    assert!(e.to_string().contains("not a plain path below the rootfs"), "{e}");
    // The rootfs itself is never a target.
    assert_eq!(open_target(fd.as_fd(), Path::new(""), None).unwrap_err().rule, Rule::Target);
    open_target(fd.as_fd(), Path::new("dev/pts"), Some(Kind::Dir)).unwrap();
    assert!(root.join("dev/pts").is_dir());
    open_target(fd.as_fd(), Path::new("etc/hosts"), Some(Kind::File)).unwrap();
    assert!(root.join("etc/hosts").is_file());
    assert!(std::fs::symlink_metadata("/nonexistent").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
