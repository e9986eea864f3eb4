//! The rootfs worker: snapshots and layers of a stage's rootfs from the
//! unpacker's side of the privilege line.

mod common;

use chroot_distro::build::worker::Worker;
use chroot_distro::sandbox::idmap::Privilege;
use chroot_distro::store::blobs::BlobCache;
use common::{bin, require_root};

#[test]
fn each_layer_holds_what_changed_since_the_last_one() {
    if !require_root("a root build's unpacker") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let blobs = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(blobs.path().to_path_buf());
    let mut worker = Worker::start(&bin(), &Privilege::Root, &rootfs, &cache).unwrap();
    let entries = worker.snapshot().unwrap();
    assert!(entries > 5, "{entries}");
    std::fs::write(rootfs.join("etc/new-file"), "x").unwrap();
    std::fs::remove_file(rootfs.join("bin/ls")).unwrap();
    let first = worker.layer(false, None).unwrap();
    // The file, its directory's new mtime, the whiteout and /bin.
    assert_eq!(first.changes, 4, "{first:?}");
    assert!(cache.contains(&first.digest));
    let names = layer_names(&cache.path(&first.digest));
    assert_eq!(names, ["bin/", "bin/.wh.ls", "etc/", "etc/new-file"]);
    // Nothing since: an empty layer, from one more walk only.
    let second = worker.layer(false, None).unwrap();
    assert_eq!(second.changes, 0);
    worker.finish().unwrap();
}

fn layer_names(blob: &std::path::Path) -> Vec<String> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
    let mut names: Vec<String> = tar::Archive::new(gz)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
