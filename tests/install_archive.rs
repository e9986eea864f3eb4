//! install from local archives and URLs, end to end through the binary.

mod common;

use common::fixture::check_busybox_tree;
use common::tarbuild::Tb;
use common::{require_root, rig, Outcome, TestStore};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn staging_leftovers(store: &TestStore) -> Vec<PathBuf> {
    let dir = store.runtime_dir().join("containers");
    match std::fs::read_dir(&dir) {
        Ok(e) => e
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".staging")
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn fixture_installs_exactly_from_every_archive_kind() {
    if !require_root("real ownership and file capabilities") {
        return;
    }
    let rig = rig();
    let store = TestStore::new();
    for (key, name, manifest) in [
        ("CD_RIG_FIXTURE_ROOTFS_TAR", "plain", false),
        ("CD_RIG_FIXTURE_OCI_ARCHIVE", "oci", true),
        ("CD_RIG_FIXTURE_DOCKER_ARCHIVE", "docker", true),
    ] {
        let out = store.run(&["install", rig.get(key), "--name", name]);
        out.ok();
        assert!(
            out.stdout.contains(&format!("chroot-distro login {name}")),
            "{out:#?}"
        );
        check_busybox_tree(&store.container_dir(name).join("rootfs"), 42, 0);
        // The summary counts paths of the result, not tar entries of all layers.
        let index =
            std::fs::read_to_string(store.container_dir(name).join("install-index.jsonl")).unwrap();
        let paths = format!("Installed '{name}': {} paths", index.lines().count());
        assert!(out.stdout.contains(&paths), "{out:#?} vs {paths}");
        let has_manifest = store.container_dir(name).join("manifest.json").exists();
        assert_eq!(has_manifest, manifest, "{name}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["list", "--json"]).stdout).unwrap();
    let sources: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["image", "image", "local_archive"]);
    // The docker-save manifest names the image and its layers are cached.
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.container_dir("docker").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["image_ref"], "docker.io/cd/busybox:latest");
    assert_eq!(m["arch"], std::env::consts::ARCH);
    assert_eq!(m["manifest"]["layers"].as_array().unwrap().len(), 3);
    for layer in m["manifest"]["layers"].as_array().unwrap() {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        assert!(store
            .cache_dir()
            .join(format!("oci_layers/sha256-{hex}"))
            .exists());
    }
    assert!(staging_leftovers(&store).is_empty());
}

fn fixture_tar() -> Vec<u8> {
    let mut gz = Vec::new();
    std::fs::File::open(rig().get("CD_RIG_FIXTURE_ROOTFS_TAR"))
        .unwrap()
        .read_to_end(&mut gz)
        .unwrap();
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    tar
}

#[test]
fn every_compression_installs() {
    if !require_root("the test rig") {
        return;
    }
    let tar = fixture_tar();
    let dir = tempfile::tempdir().unwrap();
    let mut variants: Vec<(&str, Vec<u8>)> = vec![("none.tar", tar.clone())];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    variants.push(("gzip.tar.gz", gz.finish().unwrap()));
    variants.push(("zstd.tar.zst", zstd::encode_all(&tar[..], 3).unwrap()));
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&tar).unwrap();
    variants.push(("xz.tar.xz", xz.finish().unwrap()));
    let opts = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
    let mut lz = liblzma::write::XzEncoder::new_stream(
        Vec::new(),
        liblzma::stream::Stream::new_lzma_encoder(&opts).unwrap(),
    );
    lz.write_all(&tar).unwrap();
    variants.push(("lzma.tar.lzma", lz.finish().unwrap()));
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&tar).unwrap();
    variants.push(("bzip2.tar.bz2", bz.finish().unwrap()));
    let store = TestStore::new();
    for (file, bytes) in &variants {
        let path = write(dir.path(), file, bytes);
        let out = store.run(&["install", &path]);
        out.ok();
        let name = file.split('.').next().unwrap();
        check_busybox_tree(&store.container_dir(name).join("rootfs"), 42, 0);
    }
    assert_eq!(
        store.run(&["list", "-q"]).stdout,
        "bzip2\ngzip\nlzma\nnone\nxz\nzstd\n"
    );
}

#[test]
fn a_leading_rootfs_component_is_stripped() {
    let mut tb = Tb::new();
    tb.dir("./rootfs/")
        .dir("./rootfs/bin/")
        .dir("./rootfs/etc/")
        .dir("./rootfs/usr/")
        .file("./rootfs/etc/os-release", b"ID=strip\n")
        .file("./rootfs/bin/tool", b"#!/bin/sh\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "nested.tar", &tb.finish());
    let store = TestStore::new();
    store.run(&["install", &path]).ok();
    let rootfs = store.container_dir("nested").join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
        "ID=strip\n"
    );
    assert!(rootfs.join("bin/tool").exists());
    assert!(!rootfs.join("rootfs").exists());
}

#[test]
fn names_clashes_and_bad_input() {
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "alpine-rootfs.tar.gz.tar", &tb.finish());
    let good = write(dir.path(), "small.tar", &tb.finish());
    let store = TestStore::new();
    store.run(&["install", &good]).ok();
    let before = std::fs::read_dir(store.container_dir("small").join("rootfs"))
        .unwrap()
        .count();
    // An existing name: error, nothing touched.
    store
        .run(&["install", &good])
        .fails_with(1, "container 'small' already exists");
    assert_eq!(
        std::fs::read_dir(store.container_dir("small").join("rootfs"))
            .unwrap()
            .count(),
        before
    );
    store
        .run(&["install", &path, "-n", "../x"])
        .fails_with(2, "invalid container name");
    store
        .run(&["install", &good, "--name", "a", "--override-alias", "b"])
        .fails_with(2, "cannot be used with");
    store
        .run(&["install", &good, "--override-alias", "alias"])
        .ok();
    store
        .run(&["install", "./does/not/exist.tar"])
        .fails_with(1, "cannot read ./does/not/exist.tar");
    // A bare word is an image reference: here, of a registry nobody serves.
    store
        .run(&["install", "127.0.0.1:9/nothing:1"])
        .fails_with(1, "cannot reach 127.0.0.1:9");
    store
        .run(&["install", &good, "-a", "sparc"])
        .fails_with(2, "unknown architecture 'sparc'");
    // A truncated archive: one line, nothing left behind.
    let full = std::fs::read(rig_or_local_tgz(dir.path())).unwrap();
    let cut = write(dir.path(), "cut.tar.gz", &full[..full.len() / 2]);
    store
        .run(&["install", &cut])
        .fails_with(1, "malformed archive");
    assert!(!store.container_dir("cut").exists());
    assert!(staging_leftovers(&store).is_empty());
    assert_eq!(store.run(&["list", "-q"]).stdout, "alias\nsmall\n");
}

/// A gzip'd rootfs big enough that half of it is a broken stream.
fn rig_or_local_tgz(dir: &Path) -> PathBuf {
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    for i in 0..200 {
        let data: Vec<u8> = (0..4096u32)
            .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i) >> 7) as u8)
            .collect();
        tb.file(&format!("usr/f{i}"), &data);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tb.finish()).unwrap();
    let path = dir.join("big.tar.gz");
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

#[test]
fn no_matching_platform_lists_the_available_ones() {
    if !require_root("the test rig") {
        return;
    }
    let store = TestStore::new();
    let other = if cfg!(target_arch = "x86_64") {
        "riscv64"
    } else {
        "x86_64"
    };
    let out = store.run(&[
        "install",
        rig().get("CD_RIG_FIXTURE_OCI_ARCHIVE"),
        "-a",
        other,
    ]);
    out.fails_with(1, "it has: linux/");
    assert!(out.stderr.contains("--architecture"), "{out:#?}");
    assert!(staging_leftovers(&store).is_empty());
}

/// Serves one file once over HTTP on loopback; `lie` announces more bytes
/// than it sends.
fn serve_once(body: Vec<u8>, lie: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let len = if lie {
                body.len() + 100_000
            } else {
                body.len()
            };
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/files/web-rootfs.tar.gz?token=1")
}

#[test]
fn url_installs_and_a_lying_server_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = std::fs::read(rig_or_local_tgz(dir.path())).unwrap();
    let store = TestStore::new();
    let url = serve_once(body.clone(), false);
    store.run(&["install", &url]).ok();
    assert!(store
        .container_dir("web")
        .join("rootfs/etc/os-release")
        .exists());

    let url = serve_once(body, true);
    let out = store.run(&["install", &url, "-n", "liar"]);
    out.fails_with(1, "download failed");
    assert!(!store.container_dir("liar").exists());
    assert!(staging_leftovers(&store).is_empty());
    let dl = store.cache_dir().join("downloads");
    assert_eq!(
        std::fs::read_dir(&dl).map(|d| d.count()).unwrap_or(0),
        0,
        "partial download left"
    );
}

#[test]
fn rootless_install_uses_subordinate_ids_and_removes_cleanly() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let rig = rig();
    let store = TestStore::for_rig_user();
    let out = store.run_as_user(&["install", rig.get("CD_RIG_FIXTURE_OCI_ARCHIVE"), "-n", "rl"]);
    out.ok();
    let uid: u32 = rig.get("CD_RIG_UID").parse().unwrap();
    let sub: u32 = rig.get("CD_RIG_SUBUID_START").parse().unwrap();
    check_busybox_tree(&store.container_dir("rl").join("rootfs"), sub + 41, uid);
    // Nothing in the store belongs to root.
    let mut stack = vec![store.root().to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_ne!(m.uid(), 0, "{} is owned by root", p.display());
        if m.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    // A directory owned by a subordinate id cannot be deleted from outside.
    let sub_dir = store.container_dir("rl").join("rootfs/home/app-owned");
    std::fs::create_dir_all(sub_dir.join("deep")).unwrap();
    std::os::unix::fs::chown(&sub_dir, Some(sub + 41), Some(sub + 41)).unwrap();
    std::os::unix::fs::chown(sub_dir.join("deep"), Some(sub + 41), Some(sub + 41)).unwrap();
    std::fs::write(sub_dir.join("deep/blob"), vec![3u8; 2 << 20]).unwrap();
    std::fs::set_permissions(&sub_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // list measures what only the subordinate ids can read from inside the namespace.
    let json: serde_json::Value =
        serde_json::from_str(&store.run_as_user(&["list", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["size_complete"], true, "{json}");
    assert!(json[0]["size_bytes"].as_u64().unwrap() > 3 << 20, "{json}");
    store.run_as_user(&["remove", "rl"]).ok();
    assert!(!store.container_dir("rl").exists());
    assert!(staging_leftovers(&store).is_empty());
}

/// `unpack::child`'s tests show what a ruleset lets through; this holds
/// the install call site to the ruleset it hands the unpacker: one
/// writable tree, the staging dir of this container in this store.
fn assert_writes_only_its_staging_dir(line: &str, store: &TestStore) {
    let list = line
        .split("writable [")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no writable list: {line}"));
    let trees: Vec<&str> = list.split(',').collect();
    assert_eq!(trees.len(), 1, "{line}");
    let staging = Path::new(trees[0]);
    let containers = store.runtime_dir().join("containers");
    assert_eq!(staging.parent(), Some(containers.as_path()), "{line}");
    let name = staging.file_name().unwrap().to_string_lossy();
    assert!(name.starts_with(".staging-"), "{line}");
}

fn confinement_line(out: &Outcome) -> String {
    out.stderr
        .lines()
        .find(|l| l.contains("unpacker confined:"))
        .unwrap_or_else(|| panic!("no confinement report: {out:#?}"))
        .to_owned()
}

/// A copy of the rig's Debian minbase tarball in `dir`: thousands of
/// entries, so the unpacker runs long enough to be looked at.
fn big_tarball(dir: &Path) -> PathBuf {
    let copy = dir.join("minbase.tar.gz");
    std::fs::copy(rig().get("CD_RIG_FIXTURE_DEBIAN_TAR"), &copy).unwrap();
    copy
}

#[test]
fn the_unpacker_is_confined_as_root() {
    if !require_root("the root unpacker's capability set") {
        return;
    }
    let store = TestStore::new();
    let tarball = big_tarball(store.root());
    let (out, _, unpacker) =
        common::watch::install_watching_unpacker(store.cmd().env("CD_DEBUG", "1").args([
            "install",
            tarball.to_str().unwrap(),
            "-n",
            "deb",
        ]));
    out.ok();
    let six = common::watch::mask(common::watch::UNPACKER_CAPS);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(unpacker.caps(set), six, "{set}: {unpacker:#?}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(unpacker.caps(set), 0, "{set}: {unpacker:#?}");
    }
    assert_eq!(unpacker.field("Uid"), "0\t0\t0\t0", "{unpacker:#?}");
    // Landlock is not in /proc: the report says the kernel enforces it,
    // and `unpack::child`'s tests show what its rules let through.
    let line = confinement_line(&out);
    assert!(line.contains("no_new_privs true landlock true"), "{line}");
    assert_writes_only_its_staging_dir(&line, &store);
}

#[test]
fn the_unpacker_is_confined_rootless() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let store = TestStore::for_rig_user();
    let tarball = big_tarball(store.root());
    let rig = rig();
    let uid: u32 = rig.get("CD_RIG_UID").parse().unwrap();
    std::os::unix::fs::chown(&tarball, Some(uid), None).unwrap();
    let mut cmd = store.user_cmd(&common::user_bin());
    cmd.env("CD_DEBUG", "1")
        .args(["install", tarball.to_str().unwrap(), "-n", "deb"]);
    let (out, applet, unpacker) = common::watch::install_watching_unpacker(&mut cmd);
    out.ok();
    // Root inside its own user namespace only: container root is the
    // caller, every other id a subordinate one, and on the host the
    // process is the caller (no capability in the initial namespace).
    assert_ne!(unpacker.user_ns, applet.user_ns, "{unpacker:#?}");
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_eq!(applet.user_ns, own, "the applet stays in ours");
    let map: Vec<Vec<&str>> = unpacker
        .uid_map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let sub = (
        rig.get("CD_RIG_SUBUID_START"),
        rig.get("CD_RIG_SUBUID_COUNT"),
    );
    assert_eq!(
        map,
        [
            vec!["0", rig.get("CD_RIG_UID"), "1"],
            vec!["1", sub.0, sub.1]
        ],
        "{unpacker:#?}"
    );
    let host_uid = format!("{uid}\t{uid}\t{uid}\t{uid}");
    assert_eq!(unpacker.field("Uid"), host_uid, "{unpacker:#?}");
    assert_eq!(unpacker.field("NoNewPrivs"), "1");
    let line = confinement_line(&out);
    assert!(
        line.contains("userns true no_new_privs true landlock true"),
        "{line}"
    );
    assert_writes_only_its_staging_dir(&line, &store);
}

#[test]
fn termux_gets_android_ids_and_its_own_store() {
    let prefix = tempfile::tempdir().unwrap();
    let store = TestStore::new();
    let mut tb = Tb::new();
    tb.rootfs_skeleton()
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/group", b"root:x:0:\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "droid.tar", &tb.finish());
    let out = Outcome::of(
        store
            .cmd()
            .env("TERMUX__PREFIX", prefix.path())
            .env("TERMUX_VERSION", "0.118.0")
            .args(["install", &path]),
    );
    out.ok();
    let rootfs = prefix
        .path()
        .join("var/lib/chroot-distro/containers/droid/rootfs");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap();
    let me = chroot_distro::users::lookup_uid(rustix::process::getuid().as_raw()).unwrap();
    assert!(
        passwd.contains(&format!("aid_{}:x:{}:", me.name, me.uid)),
        "{passwd}"
    );
    assert!(group.contains("aid_inet:x:3003:"), "{group}");
    assert!(passwd.starts_with("root:x:0:0"), "{passwd}");
    assert!(
        !store.runtime_dir().exists(),
        "Termux must not use the XDG store"
    );
}

#[test]
fn an_entrypoint_image_mentions_run() {
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    let layer = tb.finish();
    let plain = common::oci::archive(&common::oci::layout(
        std::slice::from_ref(&layer),
        serde_json::json!({"Cmd": ["/bin/sh"]}),
    ));
    let ep = common::oci::archive(&common::oci::layout(
        &[layer],
        serde_json::json!({"Entrypoint": ["/bin/app"], "Cmd": ["--help"]}),
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::new();
    let out = store.run(&["install", &write(dir.path(), "plainimg.oci.tar", &plain)]);
    out.ok();
    assert!(!out.stdout.contains("chroot-distro run"), "{out:#?}");
    let out = store.run(&["install", &write(dir.path(), "epimg.oci.tar", &ep)]);
    out.ok();
    assert!(out.stdout.contains("chroot-distro run epimg"), "{out:#?}");
}

#[test]
fn the_install_index_describes_the_installed_tree_exactly() {
    if !require_root("the test rig") {
        return;
    }
    let store = TestStore::new();
    for (key, name) in [
        ("CD_RIG_FIXTURE_OCI_ARCHIVE", "oci"),
        ("CD_RIG_FIXTURE_ROOTFS_TAR", "plain"),
    ] {
        store.run(&["install", rig().get(key), "-n", name]).ok();
        let dir = store.container_dir(name);
        let stored = std::fs::read_to_string(dir.join("install-index.jsonl")).unwrap();
        // Re-index from scratch, reading every file: must match byte for byte.
        let root = std::fs::File::open(dir.join("rootfs")).unwrap();
        let mut fresh = Vec::new();
        use std::os::fd::AsFd;
        let spill = tempfile::tempdir().unwrap();
        chroot_distro::unpack::index::write(
            root.as_fd(),
            &Default::default(),
            spill.path(),
            &mut fresh,
        )
        .unwrap();
        assert_eq!(stored, String::from_utf8(fresh).unwrap(), "{name}");
        let entries = chroot_distro::unpack::index::read(&stored).unwrap();
        let hosts = entries
            .iter()
            .find(|e| e.path == "etc/hosts")
            .expect("fixups are indexed");
        assert_eq!(hosts.kind, 'f');
        let link = entries.iter().find(|e| e.path == "data/hardlink").unwrap();
        let file = entries.iter().find(|e| e.path == "data/file").unwrap();
        assert_eq!(link.sha256, file.sha256);
        assert!(link.sha256.is_some());
    }
}
