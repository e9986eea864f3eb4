//! install IMAGE and reset, against the rig's real TLS registries (and
//! private registry instances a test can stop or corrupt).

mod common;

use common::fixture::check_busybox_tree;
use common::{require_root, rig, Outcome, TestStore};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry of our own (Debian's docker-registry, the rig's TLS cert) on
/// a free port, holding the busybox fixture; killed on drop.
struct PrivateRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub addr: String,
}

impl PrivateRegistry {
    fn start() -> Self {
        let rig = rig();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ca_dir = Path::new(rig.get("CD_RIG_DIR")).join("ca");
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n",
            dir.path().join("storage").display(),
            ca_dir.join("server.crt").display(),
            ca_dir.join("server.key").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut reg = Self {
            child: None,
            dir,
            addr: format!("127.0.0.1:{port}"),
        };
        reg.spawn();
        let src = format!(
            "oci:{}:latest",
            rig.get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT")
        );
        let dst = format!("docker://{}/cd/busybox:latest", reg.addr);
        Outcome::of(Command::new("skopeo").args(["copy", "--quiet", &src, &dst])).ok();
        reg
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .args([
                "serve",
                self.dir.path().join("config.yml").to_str().unwrap(),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "private registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

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
    let b64 = base64(&creds);
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

fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (*c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
