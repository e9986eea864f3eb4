//! A hostile or broken image gets one clear error, bounded inflation and
//! a store left exactly as it was: decompression bombs, layers that do
//! not match their diff_id.

mod common;

use common::oci;
use common::tarbuild::Tb;
use common::{Outcome, TestStore};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A rootfs whose one big file is zeros: gzip shrinks it a thousandfold.
fn zeros_rootfs(mib: usize) -> Vec<u8> {
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .file("var/zeros", &vec![0u8; mib << 20]);
    tb.finish()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// Nothing was left behind: no container, no staging directory.
#[track_caller]
fn store_untouched(store: &TestStore) {
    let containers = store.runtime_dir().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the store: {left:?}");
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn install_with(store: &TestStore, path: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = store.cmd();
    cmd.envs(env.iter().copied())
        .args(["install", path.to_str().unwrap(), "-n", "c"]);
    Outcome::of(&mut cmd)
}

#[test]
fn a_gzip_bomb_stops_at_the_ceiling_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = oci::gzip(&zeros_rootfs(16));
    assert!(tgz.len() < 100 << 10, "the bomb is small: {}", tgz.len());
    let path = write(dir.path(), "bomb.tar.gz", &tgz);
    let store = TestStore::new();
    let out = install_with(&store, &path, &[("CD_MAX_EXTRACT_SIZE", "4M")]);
    out.fails_with(1, "CD_MAX_EXTRACT_SIZE");
    assert!(
        out.stderr.contains("bomb.tar.gz"),
        "names the layer: {out:#?}"
    );
    assert!(out.stderr.contains("4.0 MiB"), "names the limit: {out:#?}");
    store_untouched(&store);
    // The same archive is well within the defaults.
    install_with(&store, &path, &[]).ok();
}

#[test]
fn an_image_layer_bomb_is_named_by_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let layer = zeros_rootfs(16);
    let files = oci::layout_with(
        std::slice::from_ref(&layer),
        true,
        vec![sha(&layer)],
        serde_json::json!({}),
    );
    let path = write(dir.path(), "bomb.oci.tar", &oci::archive(&files));
    let store = TestStore::new();
    let out = install_with(&store, &path, &[("CD_MAX_EXTRACT_SIZE", "4M")]);
    out.fails_with(1, "CD_MAX_EXTRACT_SIZE");
    let blob = sha(&oci::gzip(&layer));
    assert!(
        out.stderr.contains(&format!("layer {}", &blob[7..19])),
        "names the layer: {out:#?}"
    );
    store_untouched(&store);
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut tb = Tb::new();
    tb.rootfs_skeleton().file("etc/motd", b"hello\n");
    let layer = tb.finish();
    let good = oci::archive(&oci::layout_with(
        std::slice::from_ref(&layer),
        true,
        vec![sha(&layer)],
        serde_json::json!({}),
    ));
    let lying = oci::archive(&oci::layout_with(
        std::slice::from_ref(&layer),
        true,
        vec![sha(b"something else")],
        serde_json::json!({}),
    ));
    let store = TestStore::new();
    let out = install_with(&store, &write(dir.path(), "lying.oci.tar", &lying), &[]);
    out.fails_with(1, "does not match the image config's diff_id");
    let blob = sha(&oci::gzip(&layer));
    assert!(
        out.stderr.contains(&format!("layer {}", &blob[7..19])),
        "{out:#?}"
    );
    store_untouched(&store);

    // The right one installs, twice (the second time the layer's memo
    // vouches for the hash) ...
    let good = write(dir.path(), "good.oci.tar", &good);
    install_with(&store, &good, &[]).ok();
    store.run(&["remove", "c"]).ok();
    install_with(&store, &good, &[]).ok();
    store.run(&["remove", "c"]).ok();
    // ... and a memo of the true hash never vouches for a wrong one.
    let out = install_with(&store, &write(dir.path(), "lying.oci.tar", &lying), &[]);
    out.fails_with(1, "does not match the image config's diff_id");
    store_untouched(&store);
}

#[test]
fn a_config_listing_the_wrong_number_of_diff_ids_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    let layer = tb.finish();
    let files = oci::layout_with(
        std::slice::from_ref(&layer),
        true,
        vec![sha(&layer), sha(&layer)],
        serde_json::json!({}),
    );
    let store = TestStore::new();
    let path = write(dir.path(), "two.oci.tar", &oci::archive(&files));
    install_with(&store, &path, &[]).fails_with(1, "2 diff_id(s) for 1 layer(s)");
    store_untouched(&store);
}

/// A rootfs with one name over NAME_MAX and one path over PATH_MAX; the
/// tar crate writes GNU long-name records for both.
fn too_long_rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
        }
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    for d in ["bin/", "etc/", "usr/"] {
        add(d, b"");
    }
    add("etc/os-release", b"ID=long\n");
    add(&format!("usr/{}", "n".repeat(300)), b"long name");
    let deep = (0..200).map(|i| format!("dir{i:027}")).collect::<Vec<_>>();
    add(&format!("usr/{}/f", deep.join("/")), b"deep");
    b.into_inner().unwrap()
}

#[test]
fn entries_too_long_for_the_file_system_are_reported_or_with_strict_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "long.tar", &too_long_rootfs());
    let store = TestStore::new();
    let out = store.run(&["install", path.to_str().unwrap(), "-n", "c", "--strict"]);
    out.fails_with(1, "2 archive entries skipped");
    assert!(out.stderr.contains("--strict"), "{out:#?}");
    store_untouched(&store);

    let out = install_with(&store, &path, &[]);
    out.ok();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "one summary line: {out:#?}");
    assert!(
        warnings[0].contains("2 archive entries skipped"),
        "{out:#?}"
    );
    assert!(
        warnings[0].contains("usr/nnnn"),
        "names the first: {out:#?}"
    );
    assert!(warnings[0].contains("usr/dir000"), "{out:#?}");
    let rootfs = store.container_dir("c").join("rootfs");
    assert_eq!(
        std::fs::read(rootfs.join("etc/os-release")).unwrap(),
        b"ID=long\n"
    );
}
