//! What the rig's busybox fixture must look like once installed.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The rig's busybox fixture, installed: whiteouts applied, hard link one
/// inode, setuid kept, owner 42 (mapped by `uid42` on the host), the user
/// xattr and the file capability kept, fixups written.
pub fn check_busybox_tree(rootfs: &Path, uid42: u32, root_uid: u32) {
    assert!(!rootfs.join("removed.txt").exists(), "whiteout not applied");
    let opaque: Vec<String> = std::fs::read_dir(rootfs.join("opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(opaque, ["c"], "opaque directory not applied");
    assert!(rootfs.join("keep/x").exists());
    let file = std::fs::metadata(rootfs.join("data/file")).unwrap();
    let link = std::fs::metadata(rootfs.join("data/hardlink")).unwrap();
    assert_eq!(file.ino(), link.ino(), "hard link is not one inode");
    assert_eq!(
        std::fs::read_link(rootfs.join("data/link")).unwrap(),
        Path::new("file")
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("data/abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    let suid = std::fs::metadata(rootfs.join("bin/suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o4755, "setuid bit lost");
    assert_eq!(suid.uid(), root_uid);
    let owned = std::fs::metadata(rootfs.join("data/owned")).unwrap();
    assert_eq!(
        (owned.uid(), owned.gid()),
        (uid42, uid42),
        "owner 42 not kept"
    );
    let x = xattr(&rootfs.join("data/xattr"), "user.cdtest");
    assert_eq!(x.as_deref(), Some(&b"hello"[..]), "user xattr lost");
    let cap =
        xattr(&rootfs.join("bin/capfile"), "security.capability").expect("file capability lost");
    // v2 or v3 (a user namespace stores v3 with its root id); permitted has CAP_NET_RAW.
    let permitted = u32::from_le_bytes([cap[4], cap[5], cap[6], cap[7]]);
    assert_ne!(
        permitted & (1 << 13),
        0,
        "cap_net_raw not in the capability"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/hosts"))
            .unwrap()
            .lines()
            .next(),
        Some("127.0.0.1\tlocalhost")
    );
    assert!(std::fs::read_to_string(rootfs.join("etc/resolv.conf"))
        .unwrap()
        .contains("nameserver "));
    assert!(std::fs::metadata(rootfs.join("bin/busybox")).unwrap().len() > 100_000);
}

pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}
