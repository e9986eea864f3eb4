//! install IMAGE and reset, against the rig's real TLS registries (and
//! private registry instances a test can stop or corrupt).

mod common;

use common::fixture::check_busybox_tree;
use common::registry::{push_big_image, PrivateRegistry};
use common::{require_root, rig, Outcome, TestStore};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn cached_blobs(store: &TestStore) -> Vec<String> {
    std::fs::read_dir(store.cache_dir().join("oci_layers"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn busybox_from_the_registry_is_the_same_tree_as_from_the_archive() {
    if !require_root("real ownership of the pulled tree") {
        return;
    }
    let store = TestStore::new();
    let out = store.run(&["install", rig().get("CD_RIG_FIXTURE_BUSYBOX"), "-n", "bb"]);
    out.ok();
    check_busybox_tree(&store.container_dir("bb").join("rootfs"), 42, 0);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.container_dir("bb").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["image_ref"], rig().get("CD_RIG_FIXTURE_BUSYBOX"));
    assert_eq!(
        m["manifest"]["_digest"],
        rig().get("CD_RIG_FIXTURE_BUSYBOX_DIGEST")
    );
    assert_eq!(
        m["manifest"]["_ct"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // By digest too.
    let by_digest = format!(
        "{}/cd/busybox@{}",
        rig().get("CD_RIG_REGISTRY"),
        rig().get("CD_RIG_FIXTURE_BUSYBOX_DIGEST")
    );
    store.run(&["install", &by_digest, "-n", "bydigest"]).ok();
    check_busybox_tree(&store.container_dir("bydigest").join("rootfs"), 42, 0);
}

#[test]
fn private_registries_need_credentials() {
    let rig = rig();
    let image = rig.get("CD_RIG_FIXTURE_BUSYBOX_AUTH");
    let store = TestStore::new();
    let out = store.run(&["install", image, "-n", "denied"]);
    out.fails_with(1, "refused access");
    assert!(out.stderr.contains("hint: set CD_DOCKER_AUTH"), "{out:#?}");
    let creds = format!(
        "{}:{}",
        rig.get("CD_RIG_AUTH_USER"),
        rig.get("CD_RIG_AUTH_PASSWORD")
    );
    Outcome::of(
        store
            .cmd()
            .env("CD_DOCKER_AUTH", &creds)
            .args(["install", image, "-n", "env", "-q"]),
    )
    .ok();
    Outcome::of(
        store
            .cmd()
            .env("CD_DOCKER_AUTH", "nocolon")
            .args(["install", image, "-n", "bad"]),
    )
    .fails_with(1, "the colon is required");
    Outcome::of(
        store
            .cmd()
            .env("CD_DOCKER_AUTH", "cdtest:wrong")
            .args(["install", image, "-n", "wrong"]),
    )
    .fails_with(1, "refused access");
    // Docker's own config file, as `docker login` writes it.
    let docker = store.root().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    let b64 = common::oci::base64(&creds);
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{b64}"}}}}}}"#,
            rig.get("CD_RIG_AUTH_REGISTRY")
        ),
    )
    .unwrap();
    store.run(&["install", image, "-n", "dockercfg", "-q"]).ok();
    assert_eq!(store.run(&["list", "-q"]).stdout, "dockercfg\nenv\n");
}

#[test]
fn unknown_images_and_platforms_are_clear_errors() {
    let store = TestStore::new();
    let reg = rig().get("CD_RIG_REGISTRY");
    store
        .run(&["install", &format!("{reg}/cd/does-not-exist:1"), "-n", "x"])
        .fails_with(1, "was not found (or it is private)");
    let other = if cfg!(target_arch = "x86_64") {
        "riscv64"
    } else {
        "x86_64"
    };
    store
        .run(&["install", rig().get("CD_RIG_FIXTURE_BUSYBOX"), "-a", other])
        .fails_with(1, "it has: linux/");
    assert!(store.run(&["list", "-q"]).stdout.is_empty());
}

#[test]
fn installs_work_offline_from_the_cache_and_reset_restores_the_image() {
    if !require_root("the rig's fixture layout and a private registry") {
        return;
    }
    let mut reg = PrivateRegistry::start();
    let image = format!("{}/cd/busybox:latest", reg.addr);
    let store = TestStore::new();
    store.run(&["install", &image, "-n", "online"]).ok();
    reg.stop();
    // Registry gone: manifest, config and layers come from the cache.
    let out = store.run(&["install", &image, "-n", "offline"]);
    out.ok();
    assert!(out.stderr.contains("cannot be reached"), "{out:#?}");
    check_busybox_tree(&store.container_dir("offline").join("rootfs"), 42, 0);

    // reset: local damage undone, offline, and the swap is atomic.
    let rootfs = store.container_dir("offline").join("rootfs");
    std::fs::write(rootfs.join("etc/junk"), b"x").unwrap();
    std::fs::remove_file(rootfs.join("bin/busybox")).unwrap();
    store.run(&["reset", "offline"]).ok();
    assert!(!rootfs.join("etc/junk").exists());
    check_busybox_tree(&rootfs, 42, 0);
    let left: Vec<String> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    // With the cache gone, reset pulls the recorded digest again.
    reg.spawn();
    std::fs::remove_dir_all(store.cache_dir().join("oci_layers")).unwrap();
    store.run(&["reset", "-q", "online"]).ok();
    check_busybox_tree(&store.container_dir("online").join("rootfs"), 42, 0);
}

#[test]
fn reset_of_a_plain_tarball_container_is_refused() {
    if !require_root("the test rig") {
        return;
    }
    let store = TestStore::new();
    store
        .run(&[
            "install",
            rig().get("CD_RIG_FIXTURE_ROOTFS_TAR"),
            "-n",
            "plain",
        ])
        .ok();
    std::fs::write(
        store.container_dir("plain").join("rootfs/etc/keep"),
        b"mine",
    )
    .unwrap();
    store
        .run(&["reset", "plain"])
        .fails_with(1, "plain rootfs archive");
    assert!(store
        .container_dir("plain")
        .join("rootfs/etc/keep")
        .exists());
    store
        .run(&["reset", "ghost"])
        .fails_with(1, "not installed");
}

#[test]
fn a_corrupted_blob_is_refused_and_leaves_store_and_cache_unchanged() {
    if !require_root("the rig's fixture layout and a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let image = format!("{}/cd/busybox:latest", reg.addr);
    // Flip bytes in the biggest layer as stored by the registry.
    let layout = Path::new(rig().get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(mdigest)).unwrap())
            .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let data = reg.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let store = TestStore::new();
    let out = store.run(&["install", &image, "-n", "bad"]);
    out.fails_with(1, "failed verification");
    assert!(!store.container_dir("bad").exists());
    let blobs = cached_blobs(&store);
    let hex = layer.trim_start_matches("sha256:");
    assert!(
        !blobs.iter().any(|b| b.contains(hex)),
        "corrupt blob cached: {blobs:?}"
    );
    assert!(
        !blobs.iter().any(|b| b.starts_with(".partial")),
        "partial left: {blobs:?}"
    );
    let staging: Vec<_> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "{staging:?}");
}

/// The fixture's largest layer: (digest, size).
fn big_layer() -> (String, u64) {
    let layout = Path::new(rig().get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(m)).unwrap())
            .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_owned(),
                l["size"].as_u64().unwrap(),
            )
        })
        .max_by_key(|(_, s)| *s)
        .unwrap()
}

fn no_partials(store: &TestStore) {
    let left: Vec<String> = cached_blobs(store)
        .into_iter()
        .filter(|b| b.starts_with(".partial"))
        .collect();
    assert!(left.is_empty(), "partial downloads left: {left:?}");
}

#[test]
fn a_registry_answering_500_is_retried_then_one_clear_error() {
    if !require_root("running a registry as the rig's user") {
        return;
    }
    let reg = PrivateRegistry::start_with(true);
    let (digest, _) = big_layer();
    // The registry cannot stat the blob: every GET of it is a 500.
    let dir = reg.blob_data(&digest).parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let store = TestStore::new();
    let out = Outcome::of(store.cmd().env("CD_DOWNLOAD_MAX_RETRIES", "2").args([
        "install",
        &format!("{}/cd/busybox:latest", reg.addr),
        "-n",
        "e500",
    ]));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    out.fails_with(1, "500");
    let hex = digest.trim_start_matches("sha256:");
    let log = reg.log();
    let gets = log
        .lines()
        .filter(|l| {
            l.contains(&format!("GET /v2/cd/busybox/blobs/sha256:{hex}")) && l.contains("\" 500 ")
        })
        .count();
    assert_eq!(gets, 3, "one try and two retries expected:\n{log}");
    assert!(!store.container_dir("e500").exists());
    no_partials(&store);
}

#[test]
fn a_registry_killed_mid_download_is_resumed_with_range() {
    if !require_root("a private registry") {
        return;
    }
    let mut reg = PrivateRegistry::start();
    let (image, size) = push_big_image(&reg.addr, 48);
    let store = TestStore::new();
    let child = store
        .cmd()
        .env("CD_DOWNLOAD_RATE_LIMIT", "6M")
        .env("CD_DOWNLOAD_MAX_RETRIES", "10")
        .args(["install", &image, "-n", "resumed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    reg.stop();
    std::thread::sleep(Duration::from_millis(800));
    reg.spawn();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let big = store.container_dir("resumed").join("rootfs/usr/big");
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 48 << 20);
    // The restarted registry served the rest of the blob as a 206 range
    // (skopeo may have compressed the layer on push, so match by repo).
    let log = reg.log();
    let resumed: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("/v2/cd/big/blobs/sha256:") && l.contains("\" 206 "))
        .filter_map(|l| {
            l.split("\" 206 ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        resumed.iter().any(|w| *w > 0 && *w < size),
        "no partial (Range) response after the restart: {resumed:?}\n{log}"
    );
    no_partials(&store);
}

#[test]
fn kill_9_mid_download_leaves_nothing_after_the_next_command() {
    if !require_root("the rig's fixture layout and a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let store = TestStore::new();
    let mut child = store
        .cmd()
        .env("CD_DOWNLOAD_RATE_LIMIT", "100K")
        .args([
            "install",
            &format!("{}/cd/busybox:latest", reg.addr),
            "-n",
            "killed",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let partials = cached_blobs(&store)
        .into_iter()
        .filter(|b| b.starts_with(".partial"))
        .count();
    assert!(partials > 0, "the install was not mid-download");
    store
        .run(&["remove", "nothing"])
        .fails_with(1, "not installed");
    no_partials(&store);
    assert_eq!(store.run(&["list", "-q"]).stdout, "");
    let left: Vec<_> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn plain_http_registries_need_allow_insecure() {
    if !require_root("the rig's fixture layout and a private registry") {
        return;
    }
    let reg = PrivateRegistry::start_full(false, false);
    let image = format!("{}/cd/busybox:latest", reg.addr);
    let store = TestStore::new();
    let out = store.run(&["install", &image, "-n", "plain"]);
    out.fails_with(1, &format!("cannot reach {}", reg.addr));
    assert!(out.stderr.contains("--allow-insecure"), "{out:#?}");
    store
        .run(&["install", &image, "-n", "plain", "--allow-insecure"])
        .ok();
    check_busybox_tree(&store.container_dir("plain").join("rootfs"), 42, 0);
}

#[test]
fn docker_schema2_manifests_install() {
    if !require_root("the rig's fixture layout and a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let src = format!(
        "oci:{}:latest",
        rig().get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT")
    );
    let dst = format!("docker://{}/cd/busybox:v2s2", reg.addr);
    Outcome::of(Command::new("skopeo").args(["copy", "--quiet", "--format", "v2s2", &src, &dst]))
        .ok();
    let store = TestStore::new();
    store
        .run(&[
            "install",
            &format!("{}/cd/busybox:v2s2", reg.addr),
            "-n",
            "d",
        ])
        .ok();
    check_busybox_tree(&store.container_dir("d").join("rootfs"), 42, 0);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.container_dir("d").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["manifest"]["_ct"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[test]
fn docker_credential_helpers_are_used() {
    let rig = rig();
    let store = TestStore::new();
    // A real credential helper program, as `docker login` with credHelpers uses.
    let bin = store.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-cdrig");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{}\",\"Secret\":\"{}\"}}' \"$server\"\n",
            rig.get("CD_RIG_AUTH_USER"),
            rig.get("CD_RIG_AUTH_PASSWORD")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = store.root().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"credHelpers":{{"{}":"cdrig"}}}}"#,
            rig.get("CD_RIG_AUTH_REGISTRY")
        ),
    )
    .unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    Outcome::of(store.cmd().env("PATH", &path).args([
        "install",
        rig.get("CD_RIG_FIXTURE_BUSYBOX_AUTH"),
        "-n",
        "helper",
        "-q",
    ]))
    .ok();
    assert_eq!(store.run(&["list", "-q"]).stdout, "helper\n");
}

/// Pushes a one-layer image whose /etc/which says `which` to `image`.
fn push_marked(image: &str, which: &str) {
    let dir = tempfile::tempdir().unwrap();
    let layer = common::tarbuild::Tb::new()
        .rootfs_skeleton()
        .file("etc/which", which.as_bytes())
        .finish();
    common::oci::write(
        dir.path(),
        &common::oci::layout(&[layer], serde_json::json!({"Cmd": ["/bin/sh"]})),
    );
    common::registry::push_layout(dir.path(), image);
}

#[test]
fn a_moved_tag_installs_what_the_registry_names_now() {
    if !require_root("a private registry") {
        return;
    }
    let reg = PrivateRegistry::start();
    let image = format!("{}/cd/moving:latest", reg.addr);
    let store = TestStore::new();
    push_marked(&image, "first");
    store.run(&["install", &image, "-n", "one"]).ok();
    // The cached resolution and all its layers are there: the next install
    // extracts them while it asks the registry, which now names another.
    push_marked(&image, "second");
    let out = Outcome::of(
        store
            .cmd()
            .env("CD_DEBUG", "1")
            .args(["install", &image, "-n", "two"]),
    );
    out.ok();
    assert!(out.stderr.contains("stale"), "{out:#?}");
    let read = |name: &str| {
        std::fs::read_to_string(store.container_dir(name).join("rootfs/etc/which")).unwrap()
    };
    assert_eq!(read("one"), "first");
    assert_eq!(read("two"), "second");
    // The abandoned attempt left no staging tree behind.
    let mut left: Vec<String> = std::fs::read_dir(store.runtime_dir().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["one", "two"]);
    // Unmoved, the cached layers are confirmed and kept.
    let out = Outcome::of(
        store
            .cmd()
            .env("CD_DEBUG", "1")
            .args(["install", &image, "-n", "three"]),
    );
    out.ok();
    assert!(!out.stderr.contains("stale"), "{out:#?}");
    assert!(out.stderr.contains("all cached"), "{out:#?}");
    assert_eq!(read("three"), "second");
}

#[test]
fn a_cached_digest_reference_needs_no_registry() {
    if !require_root("a private registry") {
        return;
    }
    let mut reg = PrivateRegistry::start();
    let by_digest = format!(
        "{}/cd/busybox@{}",
        reg.addr,
        rig().get("CD_RIG_FIXTURE_BUSYBOX_DIGEST")
    );
    let store = TestStore::new();
    store.run(&["install", &by_digest, "-n", "a"]).ok();
    reg.stop();
    // Not "offline": what a digest names cannot change, so nothing is asked.
    let out = store.run(&["install", &by_digest, "-n", "b"]);
    out.ok();
    assert!(!out.stderr.contains("cannot be reached"), "{out:#?}");
    check_busybox_tree(&store.container_dir("b").join("rootfs"), 42, 0);
}

/// Path → content hash of every regular file in a container's install index.
fn indexed_hashes(store: &TestStore, name: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(store.container_dir(name).join("install-index.jsonl")).unwrap();
    let mut out: Vec<(String, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "f")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn warm_installs_take_content_hashes_from_the_layer_memo() {
    let store = TestStore::new();
    let image = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    store.run(&["install", image, "-n", "cold"]).ok();
    let truth = indexed_hashes(&store, "cold");
    assert!(truth.iter().any(|(p, _)| p == "bin/busybox"), "{truth:?}");
    let memos = store.cache_dir().join("layer_hashes");
    let mut names: Vec<_> = std::fs::read_dir(&memos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    // The biggest memo is the layer with busybox in it.
    names.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let memo = names.last().unwrap().clone();
    let good = std::fs::read(&memo).unwrap();
    assert!(
        !store.container_dir("cold").join(".layer-hashes").exists(),
        "new memos move to the cache, not into the container"
    );

    store.run(&["install", image, "-n", "warm"]).ok();
    assert_eq!(indexed_hashes(&store, "warm"), truth);

    // The memo is really read: one hash changed in an otherwise fitting
    // memo (checksum made to match) shows up in the index, where hashing
    // the data again would have put the true one.
    let mut forged = good.clone();
    // Format 2 (src/unpack/memo.rs): a version line, 40-byte slots (size,
    // sha256), then the stream's hash and the count, then the checksum.
    let slots = forged.iter().position(|&b| b == b'\n').unwrap() + 1;
    let hash_at = (slots..forged.len() - 32 - 40)
        .step_by(40)
        .map(|slot| slot + 8)
        .find(|&h| forged[h..h + 32] != [0; 32])
        .expect("a slot with a hash");
    forged[hash_at] ^= 0xff;
    let body = forged.len() - 32;
    let sum = {
        use sha2::Digest;
        sha2::Sha256::digest(&forged[..body])
    };
    forged[body..].copy_from_slice(&sum);
    std::fs::write(&memo, &forged).unwrap();
    store.run(&["install", image, "-n", "forged"]).ok();
    let lent = indexed_hashes(&store, "forged");
    let differ: Vec<_> = lent.iter().filter(|e| !truth.contains(e)).collect();
    let forged_hex: String = forged[hash_at..hash_at + 32]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        differ.len() == 1 && differ[0].1 == forged_hex,
        "the forged hash is not in the index: {differ:?}"
    );
    std::fs::write(&memo, &good).unwrap();

    // A damaged memo is ignored and made anew.
    let mut bad = good.clone();
    let at = bad.len() - 1;
    bad[at] ^= 1;
    std::fs::write(&memo, &bad).unwrap();
    store.run(&["install", image, "-n", "damaged"]).ok();
    assert_eq!(indexed_hashes(&store, "damaged"), truth);
    assert_eq!(std::fs::read(&memo).unwrap(), good);

    // An intact memo that does not fit the layer (another first size, the
    // checksum made to match) lends nothing that stays, and is dropped.
    let mut stale = good.clone();
    let magic = stale.iter().position(|&b| b == b'\n').unwrap() + 1;
    // The first slot's size.
    stale[magic] ^= 1;
    let body = stale.len() - 32;
    let sum = {
        use sha2::Digest;
        sha2::Sha256::digest(&stale[..body])
    };
    stale[body..].copy_from_slice(&sum);
    std::fs::write(&memo, &stale).unwrap();
    store.run(&["install", image, "-n", "stale"]).ok();
    assert_eq!(indexed_hashes(&store, "stale"), truth);
    assert!(!memo.exists(), "a stale memo is removed");
    store.run(&["install", image, "-n", "again"]).ok();
    assert_eq!(std::fs::read(&memo).unwrap(), good);
}

/// install and reset say what a rootfs holds the same way.
#[test]
fn install_and_reset_count_the_same_paths() {
    let store = TestStore::new();
    let image = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let installed = store.run(&["install", image, "-n", "same"]);
    let first = installed
        .ok()
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let counted = first.trim_start_matches("Installed 'same': ").to_owned();
    assert!(counted.contains(" paths, "), "{installed:#?}");
    let reset = store.run(&["reset", "same"]);
    assert_eq!(
        reset.ok().stdout.trim(),
        format!("Reset 'same': {counted}"),
        "{reset:#?}"
    );
}
