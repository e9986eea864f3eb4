//! A root caller's install and reset run their registry client and parsers
//! with no capability and writes confined to the store and cache; only the
//! unpacker they start holds the few capabilities that extraction needs.

mod common;

use common::{require_root, rig, watch, TestStore};
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_root_install_parses_with_no_capability() {
    if !require_root("a root caller's confinement") {
        return;
    }
    let store = TestStore::new();
    // Debian: enough layer data that the unpacker runs long enough to be
    // looked at from outside, while the applet still talks to the registry.
    let (out, applet, unpacker) =
        watch::install_watching_unpacker(store.cmd().env("CD_DEBUG", "1").args([
            "install",
            rig().get("CD_RIG_FIXTURE_DEBIAN"),
            "-n",
            "deb",
        ]));
    out.ok();
    assert_eq!(applet.field("Uid"), "0\t0\t0\t0", "{applet:#?}");
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(applet.caps(set), 0, "applet {set}: {applet:#?}");
    }
    // Without no_new_privs, so that the unpacker regains exactly its six
    // through the bounding set.
    let six = watch::mask(watch::UNPACKER_CAPS);
    assert_eq!(applet.caps("CapBnd"), six, "{applet:#?}");
    assert_eq!(applet.field("NoNewPrivs"), "0", "{applet:#?}");
    assert_eq!(unpacker.caps("CapEff"), six, "{unpacker:#?}");
    // Landlock is not in /proc; the applet's report says it is enforced.
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("debug: applet confined: "))
        .unwrap_or_else(|| panic!("no confinement report: {out:#?}"));
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(report["landlock"], true, "{report}");
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
