//! A root caller's install and reset run their registry client and parsers
//! with no capability and writes confined to the store and cache; only the
//! unpacker they start holds the few capabilities that extraction needs.

mod common;

use common::{require_root, rig, Outcome, TestStore};
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_root_install_parses_with_no_capability() {
    if !require_root("a root caller's confinement") {
        return;
    }
    let store = TestStore::new();
    let out = Outcome::of(store.cmd().env("CD_DEBUG", "1").args([
        "install",
        rig().get("CD_RIG_FIXTURE_BUSYBOX"),
        "-n",
        "bb",
    ]));
    out.ok();
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("debug: applet confined: "))
        .unwrap_or_else(|| panic!("no confinement report: {out:#?}"));
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(report["effective"], serde_json::json!([]), "{report}");
    assert_eq!(report["landlock"], true, "{report}");
    // Without no_new_privs, so that the unpacker regains exactly its six.
    assert_eq!(report["no_new_privs"], false, "{report}");
    assert_eq!(report["bounding"], 6, "{report}");
    assert!(
        out.stderr.contains("unpacker confined: euid 0")
            && out
                .stderr
                .contains("cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_mknod,cap_setfcap"),
        "{out:#?}"
    );
}

#[test]
fn a_confined_reset_still_removes_trees_it_cannot_read() {
    if !require_root("a root caller's confinement") {
        return;
    }
    let store = TestStore::new();
    store
        .run(&[
            "install",
            rig().get("CD_RIG_FIXTURE_BUSYBOX"),
            "-n",
            "bb",
            "-q",
        ])
        .ok();
    // A directory only its (non-root) owner may enter, as apt's partial/.
    let private = store.container_dir("bb").join("rootfs/var-private");
    std::fs::create_dir_all(private.join("inner")).unwrap();
    std::fs::write(private.join("inner/f"), b"x").unwrap();
    for p in [private.join("inner"), private.clone()] {
        std::os::unix::fs::chown(&p, Some(4242), Some(4242)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    store.run(&["reset", "bb", "-q"]).ok();
    assert!(!private.exists(), "the old tree is still there");
    let left: Vec<_> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["bb"], "leftovers beside the container");
}
