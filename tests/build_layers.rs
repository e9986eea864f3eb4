//! Build layers without the executor: a rig image installed into a
//! scratch store is changed the way build steps change a rootfs, the
//! change is snapshotted, diffed and written as a layer, the image is
//! stored under a tag, and `install TAG` (no registry reachable) must give
//! back exactly the changed tree. Also: `-o` archives for skopeo and umoci,
//! and the rootless path inside the store's user namespace.

mod common;

use chroot_distro::build::{
    created, diff, store_image, write_layer, write_oci_archive, ChangeKind, Compression,
    ImageBuilder, LayerOptions, Snapshot, Step,
};
use chroot_distro::store::blobs::BlobCache;
use chroot_distro::store::{ContainerManifest, StorePaths};
use common::{require_root, rig, As, TestStore};
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A registry nobody answers on: the tag must come from the cache.
const TAG: &str = "127.0.0.1:1/built/layers:v1";
/// How the rootless half learns what to do (see `inner_rootless_step`).
const INNER: &str = "CD_BUILD_LAYERS_INNER";

/// v2 `security.capability`: effective, permitted = CAP_NET_BIND_SERVICE.
const CAP_BIND: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Everything a step can do to a tree, on the busybox fixture's rootfs.
fn mutate(root: &Path, with_devices: bool) {
    let p = |s: &str| root.join(s);
    std::fs::write(p("etc/added"), "new\n").unwrap();
    std::fs::set_permissions(p("etc/added"), PermissionsExt::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(p("etc/added"), Some(42), Some(42)).unwrap();
    rustix::fs::setxattr(
        p("etc/added"),
        "user.build",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    // Content of a hard-linked file (data/hardlink is the same inode).
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p("data/file"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"appended by a step\n").unwrap();
    // Metadata only.
    std::fs::set_permissions(p("bin/suid"), PermissionsExt::from_mode(0o4711)).unwrap();
    std::os::unix::fs::chown(p("data/owned"), Some(43), Some(43)).unwrap();
    std::fs::remove_file(p("etc/motd")).unwrap();
    // A directory replaced by a file, a file by a directory.
    std::fs::remove_dir_all(p("opaque")).unwrap();
    std::fs::write(p("opaque"), "was a directory\n").unwrap();
    std::fs::remove_file(p("etc/hostname")).unwrap();
    std::fs::create_dir(p("etc/hostname")).unwrap();
    std::fs::write(p("etc/hostname/inside"), "x").unwrap();
    // A directory removed and made again: opaque.
    std::fs::rename(p("keep"), p("keep.old")).unwrap();
    std::fs::create_dir(p("keep")).unwrap();
    std::fs::write(p("keep/y"), "y\n").unwrap();
    std::fs::remove_dir_all(p("keep.old")).unwrap();
    std::os::unix::fs::symlink("../etc/added", p("data/newlink")).unwrap();
    std::fs::remove_file(p("data/link")).unwrap();
    std::os::unix::fs::symlink("owned", p("data/link")).unwrap();
    std::fs::hard_link(p("etc/added"), p("data/twin")).unwrap();
    std::fs::copy(p("bin/capfile"), p("bin/newcap")).unwrap();
    rustix::fs::setxattr(
        p("bin/newcap"),
        "security.capability",
        &CAP_BIND,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let fifo = rustix::fs::FileType::Fifo.as_raw_mode() | 0o644;
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p("data/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(fifo),
        0,
    )
    .unwrap();
    if with_devices {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p("data/null"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
    }
    let deep = p(&format!("srv/app/{}", "long-name-".repeat(12)));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("file"), "deep\n").unwrap();
}

/// What two trees must agree on, per path.
#[derive(Debug, PartialEq)]
struct Seen {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    target: Option<Vec<u8>>,
    rdev: u64,
    capability: Option<Vec<u8>>,
    user_xattr: Option<Vec<u8>>,
    content: Option<Vec<u8>>,
    /// The first path (sorted) of the same inode, for multiply-linked files.
    link_group: Option<Vec<u8>>,
}

fn seen(root: &Path, skip: &[&str]) -> HashMap<Vec<u8>, Seen> {
    let snap = Snapshot::take(root).unwrap();
    let mut first_of: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut out = HashMap::new();
    for e in snap.entries() {
        if skip.iter().any(|s| e.path == s.as_bytes()) {
            continue;
        }
        let m = &e.meta;
        let path = root.join(std::str::from_utf8(&e.path).unwrap());
        let is_file = m.kind == chroot_distro::build::snapshot::Kind::File;
        let link_group = (is_file && m.nlink > 1).then(|| {
            first_of
                .entry(m.ino)
                .or_insert_with(|| e.path.clone())
                .clone()
        });
        out.insert(
            e.path.clone(),
            Seen {
                kind: format!("{:?}", m.kind),
                mode: m.mode,
                uid: m.uid,
                gid: m.gid,
                target: m.target.clone(),
                rdev: m.rdev,
                capability: m.capability.clone(),
                user_xattr: common::fixture::xattr(&path, "user.build"),
                content: is_file.then(|| std::fs::read(&path).unwrap()),
                link_group,
            },
        );
    }
    out
}

#[track_caller]
fn assert_same_tree(want: &Path, got: &Path, skip: &[&str]) {
    let (a, b) = (seen(want, skip), seen(got, skip));
    let mut problems = Vec::new();
    for (path, s) in &a {
        match b.get(path) {
            None => problems.push(format!("missing {}", String::from_utf8_lossy(path))),
            Some(t) if t != s => problems.push(format!(
                "{}: want {s:?}, got {t:?}",
                String::from_utf8_lossy(path)
            )),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        problems.push(format!("extra {}", String::from_utf8_lossy(path)));
    }
    assert!(
        problems.is_empty(),
        "{} differs from {}:\n{}",
        got.display(),
        want.display(),
        problems.join("\n")
    );
}

fn paths_of(store: &TestStore) -> StorePaths {
    StorePaths::at(store.runtime_dir(), store.cache_dir())
}

/// Snapshot, change, diff, layer, image, stored under `tag`: what the
/// executor will do for one RUN step. Returns the image.
fn build_one_step(
    rootfs: &Path,
    paths: &StorePaths,
    tag: &str,
    with_devices: bool,
) -> chroot_distro::build::Image {
    let before = Snapshot::take(rootfs).unwrap();
    mutate(rootfs, with_devices);
    let changes = diff(&before, &Snapshot::take(rootfs).unwrap());
    for (path, kind) in [
        ("opaque", ChangeKind::Replaced),
        ("keep", ChangeKind::Opaque),
        ("etc/motd", ChangeKind::Deleted),
        ("bin/suid", ChangeKind::Metadata),
        ("data/file", ChangeKind::Modified),
        ("data/twin", ChangeKind::Added),
    ] {
        assert_eq!(changes.get(path.as_bytes()), Some(kind), "{path}");
    }
    let blobs = BlobCache::new(paths.layer_cache());
    let layer = write_layer(rootfs, &changes, &LayerOptions::default(), &blobs).unwrap();
    assert!(blobs.contains(&layer.digest));
    let base = ContainerManifest::read(&rootfs.parent().unwrap().join("manifest.json")).unwrap();
    let mut image = ImageBuilder::from_base(&base.manifest, &base.image_config).unwrap();
    image.push_step(
        Step {
            created_by: "RUN mutate".into(),
            comment: None,
            layer: Some(layer),
        },
        &created(None),
    );
    let image = image.finish(&created(None)).unwrap();
    store_image(paths, &[tag.to_owned()], &image).unwrap();
    image
}

#[test]
fn a_changed_rootfs_installs_back_from_its_tag_with_no_registry() {
    if !require_root("writing device nodes and owners into a rootfs") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let paths = paths_of(&store);
    let image = build_one_step(&rootfs, &paths, TAG, true);
    // A registry that answers but has never seen the tag: a built tag's
    // home is the cache, so install must not ask it.
    let served = format!("{}/built/never-pushed:v1", rig().get("CD_RIG_REGISTRY"));
    store_image(&paths, std::slice::from_ref(&served), &image).unwrap();
    for (tag, name) in [(TAG, "rebuilt"), (served.as_str(), "served")] {
        let out = store.run(&["install", tag, "-n", name]);
        out.ok();
        assert!(
            !out.stderr.contains("cannot be reached"),
            "the registry was asked: {}",
            out.stderr
        );
        let dir = store.container_dir(name);
        assert_same_tree(&rootfs, &dir.join("rootfs"), &[]);
        let m = ContainerManifest::read(&dir.join("manifest.json")).unwrap();
        assert_eq!(m.image_ref, tag);
        assert_eq!(m.manifest.layers.len(), 4, "three base layers and ours");
    }
}

#[test]
fn an_oci_archive_passes_skopeo_and_umoci_unpacks_what_we_install() {
    if !require_root("umoci unpack with owners") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let paths = paths_of(&store);
    let image = build_one_step(&rootfs, &paths, TAG, true);
    let blobs = BlobCache::new(paths.layer_cache());
    let out = tempfile::tempdir().unwrap();
    let plain = out.path().join("img.oci.tar");
    let compressed: Vec<PathBuf> = ["gz", "xz", "zst", "bz2"]
        .iter()
        .map(|ext| out.path().join(format!("img.oci.tar.{ext}")))
        .collect();
    for file in std::iter::once(&plain).chain(&compressed) {
        write_oci_archive(file, &image, &[TAG.to_owned()], &blobs).unwrap();
    }
    let sniff = |p: &Path| std::fs::read(p).unwrap()[..4].to_vec();
    assert_eq!(sniff(&compressed[0])[..2], [0x1f, 0x8b], "gzip");
    assert_eq!(sniff(&compressed[1]), [0xfd, b'7', b'z', b'X'], "xz");
    assert_eq!(sniff(&compressed[2]), [0x28, 0xb5, 0x2f, 0xfd], "zstd");
    assert_eq!(sniff(&compressed[3])[..3], *b"BZh", "bzip2");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", plain.display()))
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");
    assert_eq!(
        inspect.stdout, image.manifest_bytes,
        "skopeo sees our manifest"
    );
    let inspect = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", plain.display()))
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Digest"], image.manifest_digest.as_str());
    // Several tags: one index entry each, picked by tag.
    let two = out.path().join("two.oci.tar");
    let tags = [TAG.to_owned(), "other/name:v2".to_owned()];
    write_oci_archive(&two, &image, &tags, &blobs).unwrap();
    let by_tag = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:v2", two.display()))
        .output()
        .unwrap();
    assert!(by_tag.status.success(), "{by_tag:?}");
    assert_eq!(by_tag.stdout, image.manifest_bytes);

    // podman loads it into storage of its own, with our config.
    let podman = tempfile::tempdir().unwrap();
    let podman_cmd = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(podman.path().join("root"))
            .arg("--runroot")
            .arg(podman.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "podman {args:?}: {out:?}");
        out.stdout
    };
    podman_cmd(&["load", "-q", "-i", plain.to_str().unwrap()]);
    let inspected = podman_cmd(&["image", "inspect", TAG]);
    let v: serde_json::Value = serde_json::from_slice(&inspected).unwrap();
    assert_eq!(v[0]["Digest"], image.manifest_digest.as_str(), "{v}");
    assert_eq!(
        v[0]["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(image.layers.len()),
        "{v}"
    );

    // umoci reads a layout directory: the archive unpacked by tar.
    let layout = out.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&plain)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(untar.success());
    let bundle = out.path().join("bundle");
    let umoci = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(umoci.status.success(), "{umoci:?}");
    let names = ["plain", "gz", "xz", "zst", "bz2"];
    for (name, file) in names.iter().zip(std::iter::once(&plain).chain(&compressed)) {
        store
            .run(&["install", file.to_str().unwrap(), "-n", name, "-q"])
            .ok();
        let ours = store.container_dir(name).join("rootfs");
        assert_same_tree(&rootfs, &ours, &[]);
        // umoci writes no /etc/hosts or resolv.conf; install does.
        let fixups = ["etc/hosts", "etc/resolv.conf"];
        assert_same_tree(&bundle.join("rootfs"), &ours, &fixups);
    }
}

/// The test binary, where the rig's user can run it.
fn user_test_bin() -> PathBuf {
    let src = std::env::current_exe().unwrap();
    let meta = std::fs::metadata(&src).unwrap();
    let dir = Path::new(rig().get("CD_RIG_BIN_DIR")).join(format!(
        "build-layers-{}-{}",
        meta.len(),
        meta.mtime_nsec()
    ));
    let dst = dir.join("build_layers");
    if !dst.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).unwrap();
        let tmp = dir.join(format!(".tmp-{}", std::process::id()));
        std::fs::copy(&src, &tmp).unwrap();
        std::fs::set_permissions(&tmp, PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &dst).unwrap();
    }
    dst
}

#[test]
fn a_rootless_store_builds_its_layer_inside_its_user_namespace() {
    if !require_root("running as the rig user") {
        return;
    }
    let rig = rig();
    let store = common::store_with_busybox_as(As::User);
    let rootfs = store.container_dir("bb").join("rootfs");
    // The store's user namespace, as the unpacker child makes it:
    // 0 → the user, 1… → their subordinate ids.
    let sub = |k: &str| rig.get(k).to_owned();
    let out = store
        .user_cmd(Path::new("/usr/bin/unshare"))
        .arg(format!(
            "--map-users={},1,{}",
            sub("CD_RIG_SUBUID_START"),
            sub("CD_RIG_SUBUID_COUNT")
        ))
        .arg(format!(
            "--map-groups={},1,{}",
            sub("CD_RIG_SUBGID_START"),
            sub("CD_RIG_SUBGID_COUNT")
        ))
        .arg("--map-root-user")
        .arg("--")
        .arg(user_test_bin())
        .args(["--exact", "inner_rootless_step", "--nocapture"])
        .env(
            INNER,
            format!(
                "{}\n{}\n{}",
                rootfs.display(),
                store.runtime_dir().display(),
                store.cache_dir().display()
            ),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    store
        .run_as_user(&["install", TAG, "-n", "rebuilt", "-q"])
        .ok();
    // Both trees carry the same subordinate ids on the host.
    assert_same_tree(&rootfs, &store.container_dir("rebuilt").join("rootfs"), &[]);
    let owned = std::fs::metadata(rootfs.join("data/owned")).unwrap();
    let base: u32 = rig.get("CD_RIG_SUBUID_START").parse().unwrap();
    assert_eq!(
        owned.uid(),
        base + 42,
        "container id 43 is subordinate id 42"
    );
}

/// The rootless half of the test above, run by it inside the user's
/// namespace; does nothing when run on its own.
#[test]
fn inner_rootless_step() {
    let Ok(spec) = std::env::var(INNER) else {
        return;
    };
    let parts: Vec<&str> = spec.lines().collect();
    let (rootfs, runtime, cache) = (Path::new(parts[0]), parts[1], parts[2]);
    // Container ids as the user namespace shows them.
    let owned = std::fs::metadata(rootfs.join("data/owned")).unwrap();
    assert_eq!(owned.uid(), 42);
    let paths = StorePaths::at(runtime, cache);
    let image = build_one_step(rootfs, &paths, TAG, false);
    let blobs = BlobCache::new(paths.layer_cache());
    let ours = image.layers.last().unwrap();
    // The layer holds container ids, not the host's subordinate ones.
    let blob = blobs.open(&ours.digest).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    let added = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| &*e.path_bytes() == b"etc/added")
        .unwrap();
    assert_eq!(added.header().uid().unwrap(), 42);
}

#[test]
fn zstd_layers_install_too() {
    let store = TestStore::new();
    let tree = store.root().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/zstd"), "compressed with zstd\n").unwrap();
    let paths = paths_of(&store);
    let blobs = BlobCache::new(paths.layer_cache());
    let changes = diff(&Snapshot::default(), &Snapshot::take(&tree).unwrap());
    let opts = LayerOptions {
        compression: Compression::Zstd,
        epoch: None,
    };
    let layer = write_layer(&tree, &changes, &opts, &blobs).unwrap();
    assert_eq!(
        layer.media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let mut image = ImageBuilder::scratch(&chroot_distro::oci::Platform::host());
    image.push_step(
        Step {
            created_by: "COPY etc /etc".into(),
            comment: None,
            layer: Some(layer),
        },
        &created(None),
    );
    let image = image.finish(&created(None)).unwrap();
    store_image(&paths, &["zstd-built".to_owned()], &image).unwrap();
    // docker.io is not reachable from here either: the cache answers.
    store.run(&["install", "zstd-built", "-n", "z", "-q"]).ok();
    let got = store.container_dir("z").join("rootfs/etc/zstd");
    assert_eq!(
        std::fs::read_to_string(got).unwrap(),
        "compressed with zstd\n"
    );
}

/// A whole debootstrap rootfs as one layer (what `COPY --from` of a big
/// stage or a squash would write): it installs back unchanged. Prints
/// how long the walk and the layer took, for the record.
#[test]
fn a_whole_debian_rootfs_round_trips_through_one_layer() {
    if !require_root("installing with real owners") {
        return;
    }
    let store = TestStore::new();
    store
        .run(&[
            "install",
            rig().get("CD_RIG_FIXTURE_DEBIAN"),
            "-n",
            "deb",
            "-q",
        ])
        .ok();
    let rootfs = store.container_dir("deb").join("rootfs");
    let mut walks = Vec::new();
    let mut snap = Snapshot::default();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        snap = Snapshot::take(&rootfs).unwrap();
        walks.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    walks.sort_by(f64::total_cmp);
    let changes = diff(&Snapshot::default(), &snap);
    let paths = paths_of(&store);
    let blobs = BlobCache::new(paths.layer_cache());
    let t = std::time::Instant::now();
    let layer = write_layer(&rootfs, &changes, &LayerOptions::default(), &blobs).unwrap();
    let write_ms = t.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "debian minbase: {} entries; snapshot walk median {:.1} ms (min {:.1}); \
         whole-tree gzip layer {:.0} ms, {} bytes",
        snap.len(),
        walks[2],
        walks[0],
        write_ms,
        layer.size
    );
    assert!(
        snap.len() > 5000,
        "a debootstrap tree has thousands of entries"
    );
    let mut image = ImageBuilder::scratch(&chroot_distro::oci::Platform::host());
    image.push_step(
        Step {
            created_by: "COPY / /".into(),
            comment: None,
            layer: Some(layer),
        },
        &created(None),
    );
    let image = image.finish(&created(None)).unwrap();
    store_image(
        &paths,
        &["127.0.0.1:1/built/debian:flat".to_owned()],
        &image,
    )
    .unwrap();
    store
        .run(&[
            "install",
            "127.0.0.1:1/built/debian:flat",
            "-n",
            "flat",
            "-q",
        ])
        .ok();
    assert_same_tree(&rootfs, &store.container_dir("flat").join("rootfs"), &[]);
}

#[test]
fn a_bad_tag_is_refused_before_anything_is_stored() {
    let store = TestStore::new();
    let image = ImageBuilder::scratch(&chroot_distro::oci::Platform::host())
        .finish(&created(None))
        .unwrap();
    let paths = paths_of(&store);
    let err = store_image(&paths, &["ok:1".to_owned(), "Bad/Name".to_owned()], &image)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'Bad/Name'"), "{err}");
    assert!(!paths.manifest_cache().exists(), "nothing stored");
}
