//! The build cache's upkeep: `clear-cache --build-cache [--keep SIZE]` and
//! `CD_BUILD_CACHE_MAX`. Builds here have no RUN step, so they need no root.

mod common;

use common::{rig, TestStore};
use std::path::Path;

/// A two-stage build whose first stage copies `size` bytes and a small
/// file, layers only the build cache refers to; the final image copies
/// the small file from it.
fn two_stages(dir: &Path, tag: &str, size: usize) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY big /big-{tag}\nCOPY small /small\nFROM scratch\nCOPY --from=0 /small /small-final\n",
            rig().get("CD_RIG_FIXTURE_BUSYBOX")
        ),
    )
    .unwrap();
    // Incompressible, so the layer's size is about `size`.
    let mut state = size as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let big: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("big"), big).unwrap();
    std::fs::write(dir.join("small"), tag).unwrap();
}

fn layer_count(store: &TestStore) -> usize {
    std::fs::read_dir(store.cache_dir().join("oci_layers"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sha256-")
        })
        .count()
}

/// Bytes in the layer cache.
fn layer_bytes(store: &TestStore) -> u64 {
    std::fs::read_dir(store.cache_dir().join("oci_layers"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn build(store: &TestStore, dir: &Path, tag: &str, env: &[(&str, &str)]) {
    let mut cmd = store.cmd();
    cmd.args(["build", "-q", "-t", tag])
        .arg(dir)
        .envs(env.iter().copied());
    common::Outcome::of(&mut cmd).ok();
}

#[test]
fn build_cache_drops_intermediates_and_keeps_cached_images() {
    let store = TestStore::new();
    let ctx = tempfile::tempdir().unwrap();
    two_stages(ctx.path(), "one", 300_000);
    build(&store, ctx.path(), "one:1", &[]);
    let before = layer_count(&store);
    let out = store.run(&["clear-cache", "--build-cache"]);
    out.ok();
    assert!(
        out.stdout.starts_with("Dropped 3 build step(s); freed "),
        "{out:?}"
    );
    // The first stage's two layers were held by the index alone.
    assert_eq!(layer_count(&store), before - 2);
    assert!(!store.cache_dir().join("build_cache_index.json").exists());
    // The built image and its base stay: the tag installs offline.
    store.run(&["install", "one:1", "-n", "one", "-q"]).ok();
    assert_eq!(
        std::fs::read_to_string(store.container_dir("one").join("rootfs/small-final")).unwrap(),
        "one"
    );
    // The next build runs every step again.
    let again = store.run(&["build", "-t", "one:1", ctx.path().to_str().unwrap()]);
    assert!(
        again
            .ok()
            .stdout
            .contains("(3 step(s) run, 0 from the cache)"),
        "{again:?}"
    );
}

#[test]
fn keep_evicts_the_least_recently_used_steps_past_the_size() {
    let store = TestStore::new();
    let old = tempfile::tempdir().unwrap();
    two_stages(old.path(), "old", 400_000);
    build(&store, old.path(), "old:1", &[]);
    // `used` has a resolution of seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = tempfile::tempdir().unwrap();
    two_stages(new.path(), "new", 100_000);
    build(&store, new.path(), "new:1", &[]);
    let before = layer_bytes(&store);

    store
        .run(&["clear-cache", "--build-cache", "--keep", "nonsense"])
        .fails_with(2, "expected a size such as 800M or 2G");
    store
        .run(&["clear-cache", "--build-cache", "--keep", "300K"])
        .ok();
    // The old build's big intermediate went; the newer steps stayed.
    let freed = before - layer_bytes(&store);
    assert!((400_000..500_000).contains(&freed), "freed {freed}");
    let out = store.run(&["build", "-t", "new:1", new.path().to_str().unwrap()]);
    assert!(
        out.ok()
            .stdout
            .contains("(0 step(s) run, 3 from the cache)"),
        "{out:?}"
    );
    let out = store.run(&["build", "-t", "old:1", old.path().to_str().unwrap()]);
    assert!(!out.ok().stdout.contains("(0 step(s) run"), "{out:?}");
}

#[test]
fn a_build_prunes_itself_to_cd_build_cache_max() {
    let store = TestStore::new();
    let ctx = tempfile::tempdir().unwrap();
    two_stages(ctx.path(), "a", 300_000);
    build(&store, ctx.path(), "a:1", &[]);
    let after_a = layer_bytes(&store);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let other = tempfile::tempdir().unwrap();
    two_stages(other.path(), "b", 1_000);
    build(
        &store,
        other.path(),
        "b:1",
        &[("CD_BUILD_CACHE_MAX", "100K")],
    );
    // b's few small layers came; a's big intermediate went.
    assert!(
        layer_bytes(&store) + 250_000 < after_a,
        "{} vs {after_a}",
        layer_bytes(&store)
    );
    // Without the variable nothing is pruned.
    let third = tempfile::tempdir().unwrap();
    two_stages(third.path(), "c", 300_000);
    build(&store, third.path(), "c:1", &[]);
    build(&store, other.path(), "b:1", &[]);
    assert!(layer_bytes(&store) > after_a, "c's intermediate stays");
}
