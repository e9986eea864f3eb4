//! Registry installs of the rig's richer fixtures: zstd layers, a
//! multi-arch index, a token-auth registry, and a real Debian minbase.

mod common;

use common::fixture::check_busybox_tree;
use common::{require_root, rig, Outcome, TestStore};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn manifest_of(store: &TestStore, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(store.container_dir(name).join("manifest.json")).unwrap())
        .unwrap()
}

#[test]
fn zstd_layers_install() {
    if !require_root("real ownership of the pulled tree") {
        return;
    }
    let store = TestStore::new();
    store
        .run(&[
            "install",
            rig().get("CD_RIG_FIXTURE_BUSYBOX_ZSTD"),
            "-n",
            "z",
        ])
        .ok();
    check_busybox_tree(&store.container_dir("z").join("rootfs"), 42, 0);
    let m = manifest_of(&store, "z");
    assert!(m["manifest"]["layers"][0]["mediaType"]
        .as_str()
        .unwrap()
        .ends_with("+zstd"));
}

#[test]
fn multi_arch_picks_the_host_or_the_requested_platform() {
    let rig = rig();
    let store = TestStore::new();
    let image = rig.get("CD_RIG_FIXTURE_MULTI");
    store.run(&["install", image, "-n", "host", "-q"]).ok();
    store
        .run(&["install", image, "-n", "arm", "-a", "aarch64", "-q"])
        .ok();
    store
        .run(&[
            "install",
            image,
            "-n",
            "arm2",
            "--architecture",
            "linux/arm64",
            "-q",
        ])
        .ok();
    let arch =
        |n: &str| std::fs::read_to_string(store.container_dir(n).join("rootfs/etc/arch")).unwrap();
    let host = chroot_distro::oci::Platform::host();
    assert_eq!(arch("host").trim(), host.architecture);
    assert_eq!(arch("arm").trim(), "arm64");
    assert_eq!(arch("arm2").trim(), "arm64");
    let m = manifest_of(&store, "arm");
    assert_eq!(m["arch"], "aarch64");
    assert_eq!(
        m["manifest"]["_digest"],
        rig.get("CD_RIG_FIXTURE_MULTI_ARM64_DIGEST")
    );
    // The arm64 busybox really is an aarch64 ELF (e_machine 183).
    let elf = std::fs::read(store.container_dir("arm").join("rootfs/bin/busybox")).unwrap();
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 183);
    // arm/v7 is not in the index: the error lists what is.
    let out = store.run(&["install", image, "-n", "v7", "-a", "linux/arm/v7"]);
    out.fails_with(1, "no linux/arm/v7 variant");
    assert!(out.stderr.contains("linux/arm64/v8"), "{out:#?}");
}

#[test]
fn token_auth_registries_work_like_public_ones() {
    let rig = rig();
    let store = TestStore::new();
    // Anonymous bearer token from the /v2/ challenge: public pull works.
    store
        .run(&[
            "install",
            rig.get("CD_RIG_FIXTURE_TOKEN_PUBLIC"),
            "-n",
            "pub",
            "-q",
        ])
        .ok();
    // Private: refused without credentials, with a hint; works with them.
    let out = store.run(&[
        "install",
        rig.get("CD_RIG_FIXTURE_TOKEN_PRIVATE"),
        "-n",
        "priv",
    ]);
    out.fails_with(1, "refused access");
    assert!(out.stderr.contains("hint: set CD_DOCKER_AUTH"), "{out:#?}");
    let creds = format!(
        "{}:{}",
        rig.get("CD_RIG_TOKEN_USER"),
        rig.get("CD_RIG_TOKEN_PASSWORD")
    );
    Outcome::of(store.cmd().env("CD_DOCKER_AUTH", &creds).args([
        "install",
        rig.get("CD_RIG_FIXTURE_TOKEN_PRIVATE"),
        "-n",
        "priv",
        "-q",
    ]))
    .ok();
    Outcome::of(store.cmd().env("CD_DOCKER_AUTH", "cdtest:wrong").args([
        "install",
        rig.get("CD_RIG_FIXTURE_TOKEN_PRIVATE"),
        "-n",
        "wrong",
    ]))
    .fails_with(1, "refused access");
    // The same through containers' auth.json.
    let auth = store.root().join("auth.json");
    let encoded = common::oci::base64(&creds);
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
            rig.get("CD_RIG_TOKEN_REGISTRY")
        ),
    )
    .unwrap();
    Outcome::of(store.cmd().env("REGISTRY_AUTH_FILE", &auth).args([
        "install",
        rig.get("CD_RIG_FIXTURE_TOKEN_PRIVATE"),
        "-n",
        "authjson",
        "-q",
    ]))
    .ok();
    // And through Docker's config.json, as `docker login` leaves it.
    let docker = store.root().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
            rig.get("CD_RIG_TOKEN_REGISTRY")
        ),
    )
    .unwrap();
    store
        .run(&[
            "install",
            rig.get("CD_RIG_FIXTURE_TOKEN_PRIVATE"),
            "-n",
            "dockercfg",
            "-q",
        ])
        .ok();
    assert_eq!(
        store.run(&["list", "-q"]).stdout,
        "authjson\ndockercfg\npriv\npub\n"
    );
}

fn check_debian(rootfs: &Path, gid42: u32, root_uid: u32) {
    let shadow = std::fs::metadata(rootfs.join("etc/shadow")).unwrap();
    assert_eq!(shadow.gid(), gid42, "/etc/shadow group");
    assert_eq!(shadow.mode() & 0o777, 0o640);
    let passwd = std::fs::metadata(rootfs.join("usr/bin/passwd")).unwrap();
    assert_eq!(passwd.mode() & 0o7777, 0o4755, "passwd lost setuid");
    assert_eq!(passwd.uid(), root_uid);
    let perl = std::fs::metadata(rootfs.join("usr/bin/perl")).unwrap();
    let perl5 = std::fs::metadata(rootfs.join("usr/bin/perl5.36.0")).unwrap();
    assert_eq!(
        perl.ino(),
        perl5.ino(),
        "perl and perl5.36.0 must stay one inode"
    );
    assert!(rootfs.join("usr/bin/apt").exists());
}

#[test]
fn debian_minbase_keeps_groups_setuid_and_hard_links() {
    if !require_root("real ownership of the pulled tree") {
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
    check_debian(&store.container_dir("deb").join("rootfs"), 42, 0);
}

#[test]
fn debian_minbase_rootless_has_mapped_ownership() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let rig = rig();
    let store = TestStore::for_rig_user();
    store
        .run_as_user(&[
            "install",
            rig.get("CD_RIG_FIXTURE_DEBIAN"),
            "-n",
            "deb",
            "-q",
        ])
        .ok();
    let uid: u32 = rig.get("CD_RIG_UID").parse().unwrap();
    let subgid: u32 = rig.get("CD_RIG_SUBGID_START").parse().unwrap();
    check_debian(&store.container_dir("deb").join("rootfs"), subgid + 41, uid);
    store.run_as_user(&["remove", "deb"]).ok();
    assert!(!store.container_dir("deb").exists());
}
