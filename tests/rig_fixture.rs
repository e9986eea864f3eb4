//! The test rig is real: its registries serve the fixture over TLS, to
//! standard tools, with and without authentication.

mod common;

use common::{require_root, rig, Outcome};
use std::process::Command;

fn skopeo(args: &[&str]) -> Outcome {
    Outcome::of(Command::new("skopeo").args(args))
}

#[test]
fn skopeo_pulls_the_fixture_over_tls_with_system_trust() {
    if !require_root("the test rig (it installs packages and starts registries)") {
        return;
    }
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:latest", dir.path().join("img").display());
    let src = format!("docker://{}", rig.get("CD_RIG_FIXTURE_BUSYBOX"));
    skopeo(&["copy", "--quiet", &src, &dest]).ok();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("img/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        rig.get("CD_RIG_FIXTURE_BUSYBOX_DIGEST"),
        "the registry served different bytes than the rig built"
    );
    let inspect = skopeo(&["inspect", &src]);
    inspect.ok();
    let meta: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert!(meta["Layers"].as_array().unwrap().len() >= 3, "{meta}");
}

#[test]
fn the_auth_registry_wants_credentials() {
    if !require_root("the test rig (it installs packages and starts registries)") {
        return;
    }
    let rig = rig();
    let src = format!("docker://{}", rig.get("CD_RIG_FIXTURE_BUSYBOX_AUTH"));
    let denied = skopeo(&["inspect", "--no-creds", &src]);
    // Refused for want of credentials, not for any other reason.
    assert_ne!(denied.code, 0, "anonymous access must fail: {denied:#?}");
    assert!(
        denied
            .stderr
            .contains("unauthorized: authentication required"),
        "{denied:#?}"
    );
    let creds = format!(
        "{}:{}",
        rig.get("CD_RIG_AUTH_USER"),
        rig.get("CD_RIG_AUTH_PASSWORD")
    );
    skopeo(&["inspect", "--creds", &creds, &src]).ok();
}

#[test]
fn fixture_archives_exist() {
    if !require_root("the test rig (it installs packages and starts registries)") {
        return;
    }
    let rig = rig();
    for key in [
        "CD_RIG_FIXTURE_ROOTFS_TAR",
        "CD_RIG_FIXTURE_OCI_ARCHIVE",
        "CD_RIG_FIXTURE_DOCKER_ARCHIVE",
    ] {
        let meta = std::fs::metadata(rig.get(key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(meta.len() > 100_000, "{key} is suspiciously small");
    }
    // The flattened rootfs has the whiteouts applied and keeps the hard link.
    let out =
        Outcome::of(Command::new("tar").args(["-tvzf", rig.get("CD_RIG_FIXTURE_ROOTFS_TAR")]));
    out.ok();
    assert!(
        !out.stdout.contains(".wh."),
        "whiteouts leaked into the rootfs tarball"
    );
    assert!(!out.stdout.contains("removed.txt"));
    assert!(
        out.stdout.contains("data/hardlink link to"),
        "{}",
        out.stdout
    );
}
