//! install IMAGE extracts a layer while it still downloads: what it
//! extracted counts only once the blob matched its digest.

mod common;

use common::registry::{push_big_image, PrivateRegistry};
use common::{require_root, Outcome, TestStore};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The digest of the (only) layer the registry serves for `image`.
fn served_layer(image: &str) -> String {
    let out = Outcome::of(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("docker://{image}"),
    ]));
    let manifest: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    manifest["layers"][0]["digest"].as_str().unwrap().to_owned()
}

fn cached(store: &TestStore) -> Vec<String> {
    std::fs::read_dir(store.cache_dir().join("oci_layers"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The size of `usr/big` in any staging rootfs (0 when there is none).
fn staged_big(store: &TestStore) -> u64 {
    let Ok(dir) = std::fs::read_dir(store.runtime_dir().join("containers")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::symlink_metadata(e.path().join("rootfs/usr/big")).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Runs `install image -n name` slowly enough to watch; returns its
/// outcome and the most of `usr/big` seen staged while a download was
/// still partial.
fn install_watching(store: &TestStore, image: &str, name: &str) -> (Outcome, u64) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = store
        .cmd()
        .env("CD_DOWNLOAD_RATE_LIMIT", "16M")
        .args(["install", image, "-n", name])
        .stdout(Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut seen = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let staged = staged_big(store);
        if cached(store).iter().any(|b| b.starts_with(".partial")) {
            seen = seen.max(staged);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: std::fs::read_to_string(stderr.path()).unwrap(),
    };
    (out, seen)
}

#[test]
fn a_layer_is_extracted_while_it_downloads() {
    if !require_root("a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let (image, _) = push_big_image(&reg.addr, 48);
    let store = TestStore::new();
    let (out, seen) = install_watching(&store, &image, "streamed");
    out.ok();
    assert!(seen > 0, "usr/big was not extracted during the download");
    let big = store.container_dir("streamed").join("rootfs/usr/big");
    assert_eq!(std::fs::metadata(big).unwrap().len(), 48 << 20);
    let hex = served_layer(&image);
    let hex = hex.trim_start_matches("sha256:");
    assert!(cached(&store).iter().any(|b| b.ends_with(hex)));
}

#[test]
fn a_digest_mismatch_after_streaming_began_leaves_no_container_and_no_cache_entry() {
    if !require_root("a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let (image, _) = push_big_image(&reg.addr, 48);
    let layer = served_layer(&image);
    // Flip a byte three quarters in: inside usr/big's data, so the tar
    // stream stays well-formed and only the digest can tell.
    let data = reg.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let store = TestStore::new();
    let (out, seen) = install_watching(&store, &image, "bad");
    out.fails_with(1, "failed verification");
    assert!(seen > 0, "extraction did not start during the download");
    assert!(!store.container_dir("bad").exists());
    let left: Vec<_> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging left: {left:?}");
    let blobs = cached(&store);
    let hex = layer.trim_start_matches("sha256:");
    assert!(
        !blobs.iter().any(|b| b.contains(hex)),
        "corrupt blob cached: {blobs:?}"
    );
    assert!(
        !blobs.iter().any(|b| b.starts_with(".partial")),
        "partial left: {blobs:?}"
    );
}
