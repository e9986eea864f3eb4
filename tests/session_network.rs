//! The library's network choice for a session (`launch::Network`, what a
//! build's `RUN --network=none` will ask for): `None` is a fresh network
//! namespace with only loopback, up, for root and rootless sessions; the
//! default still shares the host's interfaces.

mod common;

use chroot_distro::env::EnvSnapshot;
use chroot_distro::launch::start::{Action, Options};
use chroot_distro::launch::{self, prepare, Kind, Network, Outcome};
use chroot_distro::store::{ContainerName, StorePaths};
use common::{require_root, rig, As, TestStore};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a session sees, written into its root (its stdout is the test's).
const PROBE: &str =
    "sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /net.out; ip -o link show lo >> /net.out";

/// Set for this binary re-run as the rig user: the store's two
/// directories, the chroot-distro binary, and the network to ask for.
const DRIVER_VARS: [&str; 4] = [
    "CD_TEST_NET_RUNTIME",
    "CD_TEST_NET_CACHE",
    "CD_TEST_NET_EXE",
    "CD_TEST_NET_NETWORK",
];

/// Runs PROBE in container `bb` of the store with `network`, through the
/// library's one entry point; returns the interfaces it saw and lo's line.
fn probe(paths: &StorePaths, exe: &Path, network: Network) -> (Vec<String>, String) {
    let opts = Options {
        container: ContainerName::new("bb").unwrap(),
        session: prepare::Options {
            kind: Kind::Login,
            words: ["sh", "-c", PROBE].map(String::from).to_vec(),
            network,
            ..Default::default()
        },
        real_root: false,
        elevation: Default::default(),
        host_network: false,
        publish: Vec::new(),
        action: Action::Attach,
        exe: exe.to_path_buf(),
    };
    let host = EnvSnapshot::from_pairs([("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")]);
    let outcome = launch::start(paths, &host, &opts, &|w| eprintln!("warning: {w}")).unwrap();
    assert_eq!(outcome, Outcome::Exited(0));
    let out = paths.rootfs(&opts.container).join("net.out");
    let text = std::fs::read_to_string(out).unwrap();
    let (names, lo): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| !l.contains(": lo:"));
    (names.into_iter().map(String::from).collect(), lo.concat())
}

fn host_interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let mut names: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_owned()))
        .collect();
    names.sort();
    names
}

fn lo_is_up(line: &str) -> bool {
    let flags = line.split(['<', '>']).nth(1).unwrap_or_default();
    flags.split(',').any(|f| f == "UP")
}

fn paths_of(store: &TestStore) -> StorePaths {
    StorePaths::at(store.runtime_dir(), store.cache_dir())
}

#[test]
fn a_root_session_without_network_sees_only_loopback_up() {
    if !require_root("a root session") {
        return;
    }
    let store = common::store_with_busybox();
    let paths = paths_of(&store);
    let (names, lo) = probe(&paths, &common::bin(), Network::None);
    assert_eq!(names, ["lo"]);
    assert!(lo_is_up(&lo), "{lo}");
    // The default shares the host's interfaces.
    let (names, _) = probe(&paths, &common::bin(), Network::Host);
    assert_eq!(names, host_interfaces());
    assert!(
        host_interfaces().len() > 1,
        "the host has only loopback: nothing is compared"
    );
}

#[test]
fn a_rootless_session_without_network_sees_only_loopback_up() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let store = common::store_with_busybox_as(As::User);
    let rootfs = store.container_dir("bb").join("rootfs");
    for (network, expect_only_lo) in [("none", true), ("host", false)] {
        let out = driver(&store, network);
        assert!(out.status.success(), "{out:#?}");
        let text = std::fs::read_to_string(rootfs.join("net.out")).unwrap();
        let (names, lo): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| !l.contains(": lo:"));
        if expect_only_lo {
            assert_eq!(names, ["lo"]);
            assert!(lo_is_up(lo[0]), "{text}");
        } else {
            assert_eq!(names, host_interfaces());
        }
    }
}

/// This test binary again, as the rig user, running only
/// [`rootless_driver`] (a copy: a checkout under /root is out of its reach).
fn driver(store: &TestStore, network: &str) -> std::process::Output {
    let exe = test_binary_copy();
    let values = [
        store.runtime_dir(),
        store.cache_dir(),
        common::user_bin(),
        PathBuf::from(network),
    ];
    let mut cmd = store.user_cmd(&exe);
    cmd.args([
        "--exact",
        "rootless_driver",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in DRIVER_VARS.iter().zip(values) {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn test_binary_copy() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir =
            Path::new(rig().get("CD_RIG_TMP")).join(format!("net-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dst = dir.join("session_network");
        std::fs::copy(std::env::current_exe().unwrap(), &dst).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        dst
    })
    .clone()
}

/// Not a test of its own: the rig user's side of the rootless test, which
/// sets its variables. Does nothing otherwise.
#[test]
fn rootless_driver() {
    let Ok(values) = DRIVER_VARS
        .iter()
        .map(std::env::var)
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    assert!(!common::is_root(), "the driver runs as the rig user");
    let paths = StorePaths::at(&values[0], &values[1]);
    let network = match values[3].as_str() {
        "none" => Network::None,
        _ => Network::Host,
    };
    probe(&paths, Path::new(&values[2]), network);
}
