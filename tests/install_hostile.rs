//! Hostile archives through the whole install path (the confined child
//! included): nothing outside the rootfs changes, and the outcome is one
//! clear message or a clean install.

mod common;

use common::tarbuild::Tb;
use common::{require_root, Outcome, TestStore};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A directory of canaries next to the store; the test checks it afterwards.
struct Canaries {
    dir: tempfile::TempDir,
}

impl Canaries {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("canary"), b"untouched").unwrap();
        std::fs::write(dir.path().join("shadow"), b"secret").unwrap();
        Self { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn check(&self) {
        let names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            ["canary", "shadow"],
            "files appeared outside the rootfs"
        );
        assert_eq!(
            std::fs::read(self.path().join("canary")).unwrap(),
            b"untouched"
        );
        assert_eq!(
            std::fs::read(self.path().join("shadow")).unwrap(),
            b"secret"
        );
        let m = std::fs::metadata(self.path().join("shadow")).unwrap();
        assert_eq!(m.nlink(), 1, "a hard link to an outside file was made");
    }
}

/// Installs `tar` as `name`, and again as `name-walk` with openat2 forced
/// off (the O_PATH walk old kernels use); both outcomes must agree.
fn install(store: &TestStore, tar: Vec<u8>, name: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.tar"));
    std::fs::write(&path, tar).unwrap();
    let walk = Outcome::of(store.cmd().env("CD_FORCE_OPENAT2_FALLBACK", "1").args([
        "install",
        path.to_str().unwrap(),
        "-n",
        &format!("{name}-walk"),
    ]));
    let out = store.run(&["install", path.to_str().unwrap()]);
    assert_eq!(
        walk.code, out.code,
        "openat2 and the walk disagree: {walk:#?} {out:#?}"
    );
    out
}

fn passwd_links() -> u64 {
    std::fs::metadata("/etc/passwd").unwrap().nlink()
}

#[test]
fn traversal_names_stay_inside() {
    let c = Canaries::new();
    let out = c.path().display().to_string();
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .file(&format!("../../../../../../..{out}/canary"), b"pwned")
        .file(&format!("{out}/canary"), b"pwned-abs")
        .file("etc/../../../escape", b"x");
    let store = TestStore::new();
    install(&store, tb.finish(), "trav").ok();
    c.check();
    let rootfs = store.container_dir("trav").join("rootfs");
    assert_eq!(
        std::fs::read(rootfs.join(format!("{}/canary", &out[1..]))).unwrap(),
        b"pwned-abs"
    );
    assert!(rootfs.join("escape").exists());
}

#[test]
fn symlinked_directories_never_lead_out() {
    let c = Canaries::new();
    let out = c.path().display().to_string();
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .symlink("a", &out)
        .file("a/canary", b"pwned")
        .file("a/new", b"pwned")
        .symlink("p", "/proc/self/root")
        .file(&format!("p{out}/new2"), b"pwned");
    let store = TestStore::new();
    install(&store, tb.finish(), "sym").ok();
    c.check();
}

#[test]
fn planted_symlinks_are_replaced_not_written_through() {
    let c = Canaries::new();
    let shadow = c.path().join("shadow").display().to_string();
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .symlink("etc/passwd", &shadow)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        // resolv.conf -> host file: the fixup must replace it, not follow it.
        .symlink("etc/resolv.conf", &shadow)
        .symlink("etc/hosts", &shadow);
    let store = TestStore::new();
    install(&store, tb.finish(), "plant").ok();
    c.check();
    let etc = store.container_dir("plant").join("rootfs/etc");
    for f in ["passwd", "resolv.conf", "hosts"] {
        let m = std::fs::symlink_metadata(etc.join(f)).unwrap();
        assert!(m.file_type().is_file(), "{f} is still a link");
    }
}

#[test]
fn hard_links_cannot_reach_host_files() {
    let c = Canaries::new();
    let shadow = c.path().join("shadow").display().to_string();
    let before = passwd_links();
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .hardlink("l1", "/etc/passwd")
        .hardlink("l2", "../../../../../../etc/passwd")
        .symlink("d", "/etc")
        .hardlink("l3", "d/passwd")
        .hardlink("l4", &shadow);
    let store = TestStore::new();
    let out = install(&store, tb.finish(), "hl");
    // Links to missing targets are skipped; the install itself completes.
    out.ok();
    c.check();
    assert_eq!(
        passwd_links(),
        before,
        "a hard link to the host's /etc/passwd was made"
    );
}

#[test]
fn whiteouts_cannot_delete_outside() {
    let c = Canaries::new();
    let out = c.path().display().to_string();
    // An OCI layer is needed for whiteouts to apply: make a one-layer image archive.
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .symlink("d", &out)
        .file("d/.wh.canary", b"")
        .file(&format!("../../../../..{out}/.wh.shadow"), b"")
        .file("e/.wh...", b"")
        .symlink("o", &out)
        .file("o/.wh..wh..opq", b"");
    let layer = tb.finish();
    let store = TestStore::new();
    let archive = common::oci::archive(&common::oci::layout(
        &[layer],
        serde_json::json!({"Cmd": ["/bin/sh"]}),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wh.oci.tar");
    std::fs::write(&path, archive).unwrap();
    store.run(&["install", path.to_str().unwrap()]).ok();
    c.check();
}

#[test]
fn device_nodes_as_non_root_are_skipped_and_counted() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .chardev("dev/null2")
        .chardev("dev/mem2");
    let store = TestStore::for_rig_user();
    let dir = tempfile::Builder::new()
        .tempdir_in(common::rig().get("CD_RIG_TMP"))
        .unwrap();
    let path = dir.path().join("dev.tar");
    std::fs::write(&path, tb.finish()).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = store.run_as_user(&["install", path.to_str().unwrap()]);
    out.ok();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "one summary line: {out:#?}");
    assert!(warnings[0].contains("2 device node(s) skipped"), "{out:#?}");
    assert!(!store.container_dir("dev").join("rootfs/dev/mem2").exists());
}

#[test]
fn a_blob_that_does_not_match_its_name_is_refused() {
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    let mut archive =
        common::oci::archive(&common::oci::layout(&[tb.finish()], serde_json::json!({})));
    // Flip a byte inside the first blob's data (after the oci-layout and index entries).
    let needle = b"ID=hostile";
    let at = archive
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    archive[at] = b'X';
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.oci.tar");
    std::fs::write(&path, archive).unwrap();
    let store = TestStore::new();
    store
        .run(&["install", path.to_str().unwrap()])
        .fails_with(1, "does not match its digest");
    assert!(!store.container_dir("tampered").exists());
}
