//! `RUN --network`: `none` runs the step in a fresh network namespace
//! with only loopback, up; `default` and `host` share the host's. As root
//! and rootless, and the flag is part of the step's cache key.

mod common;

use common::{require_root, rig, As, TestStore};

/// The interfaces a step sees, one per line, into /net-none and /net-host,
/// and whether loopback answers.
fn dockerfile() -> String {
    format!(
        "FROM {}\n\
         RUN --network=none sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" > /net-none; \
         ip link show lo | grep -c UP >> /net-none'\n\
         RUN --network=host sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" > /net-host'\n",
        rig().get("CD_RIG_FIXTURE_BUSYBOX")
    )
}

fn host_interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let mut names: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_owned())
        .collect();
    names.sort();
    names
}

fn builds_with_and_without_a_network(who: As) {
    let store = TestStore::for_who(who);
    let ctx = store.root().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile()).unwrap();
    if who == As::User {
        let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
        for p in [ctx.clone(), ctx.join("Dockerfile")] {
            std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
        }
    }
    store
        .run_as(
            who,
            &["build", "-q", "--install-as", "net", ctx.to_str().unwrap()],
        )
        .ok();
    let rootfs = store.container_dir("net").join("rootfs");
    let none = std::fs::read_to_string(rootfs.join("net-none")).unwrap();
    assert_eq!(none, "lo\n1\n", "only loopback, and up");
    let mut host: Vec<String> = std::fs::read_to_string(rootfs.join("net-host"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    host.sort();
    // Rootless steps share the host's network too (no namespace of their own).
    assert_eq!(host, host_interfaces());
}

#[test]
fn network_none_has_only_loopback_as_root() {
    if !require_root("root-mode RUN steps") {
        return;
    }
    builds_with_and_without_a_network(As::Root);
}

#[test]
fn network_none_has_only_loopback_rootless() {
    if !require_root("switching to the rig user") {
        return;
    }
    builds_with_and_without_a_network(As::User);
}
