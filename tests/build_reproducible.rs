//! `--reproducible` / `SOURCE_DATE_EPOCH`: the same tree, made at another
//! time, in another place, gives the same layer and image digests.

use chroot_distro::build::{
    created, diff, write_layer, Compression, ImageBuilder, LayerOptions, Snapshot, Step,
};
use chroot_distro::oci::Platform;
use chroot_distro::store::blobs::BlobCache;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("etc/empty")).unwrap();
    std::fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(root.join("usr/bin/tool"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(root.join("etc/config"), "key=value\n".repeat(500)).unwrap();
    std::fs::hard_link(root.join("etc/config"), root.join("etc/config.bak")).unwrap();
    std::os::unix::fs::symlink("../usr/bin/tool", root.join("etc/tool")).unwrap();
}

/// Layer and image digests of `root`'s whole tree, in a cache of its own.
fn digests(root: &Path, opts: &LayerOptions) -> (String, String, String) {
    let cache = tempfile::tempdir().unwrap();
    let blobs = BlobCache::new(cache.path().join("oci_layers"));
    let changes = diff(&Snapshot::default(), &Snapshot::take(root).unwrap());
    let layer = write_layer(root, &changes, opts, &blobs).unwrap();
    let (digest, diff_id) = (layer.digest.to_string(), layer.diff_id.to_string());
    let mut image = ImageBuilder::scratch(&Platform::linux("amd64", None));
    image.push_step(
        Step {
            created_by: "COPY . /".into(),
            comment: None,
            layer: Some(layer),
        },
        &created(opts.epoch),
    );
    let image = image.finish(&created(opts.epoch)).unwrap();
    (digest, diff_id, image.manifest_digest.to_string())
}

#[test]
fn the_same_tree_made_later_elsewhere_gives_the_same_digests() {
    let a = tempfile::tempdir().unwrap();
    make_tree(a.path());
    // Whole seconds apart, so unclamped mtimes would differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = tempfile::tempdir().unwrap();
    make_tree(b.path());
    for compression in [Compression::Gzip, Compression::Zstd] {
        let opts = LayerOptions {
            compression,
            epoch: Some(1_700_000_000),
        };
        assert_eq!(
            digests(a.path(), &opts),
            digests(b.path(), &opts),
            "{compression:?}"
        );
        let unclamped = LayerOptions {
            compression,
            epoch: None,
        };
        assert_ne!(
            digests(a.path(), &unclamped).1,
            digests(b.path(), &unclamped).1,
            "without an epoch the mtimes show"
        );
    }
}

#[test]
fn source_date_epoch_turns_reproducible_mode_on() {
    let env = |pairs: &[(&str, &str)]| {
        chroot_distro::env::EnvSnapshot::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
    };
    assert_eq!(LayerOptions::epoch_from(&env(&[]), false), None);
    assert_eq!(LayerOptions::epoch_from(&env(&[]), true), Some(0));
    let set = env(&[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(LayerOptions::epoch_from(&set, false), Some(1_700_000_000));
    let bad = env(&[("SOURCE_DATE_EPOCH", "yesterday")]);
    assert_eq!(LayerOptions::epoch_from(&bad, true), Some(0));
}
