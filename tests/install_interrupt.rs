//! Interrupted installs leave the store exactly as it was: kill -9 at
//! several points, Ctrl-C, and a full disk.

mod common;

use common::tarbuild::Tb;
use common::{bin, require_root, Outcome, TestStore};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

/// An uncompressed rootfs of `files` files of 16 KiB.
fn big_archive(dir: &Path, files: usize) -> String {
    let mut tb = Tb::new();
    tb.rootfs_skeleton();
    let data: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    for i in 0..files {
        if i % 100 == 0 {
            tb.dir(&format!("usr/d{}", i / 100));
        }
        tb.file(&format!("usr/d{}/f{i}", i / 100), &data);
    }
    let path = dir.join("big.tar");
    std::fs::write(&path, tb.finish()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn leftovers(store: &TestStore) -> Vec<String> {
    std::fs::read_dir(store.runtime_dir().join("containers"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_at_any_point_leaves_no_container_after_the_next_command() {
    let dir = tempfile::tempdir().unwrap();
    let archive = big_archive(dir.path(), 3000);
    let mut mid_install_kills = 0;
    let mut kills_with_leftovers = 0;
    for (i, delay_ms) in [2u64, 10, 25, 45, 70, 100].into_iter().enumerate() {
        let store = TestStore::new();
        let name = format!("k{i}");
        let mut child = store
            .cmd()
            .args(["install", &archive, "-n", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        // Give the unpacker its parent-death signal.
        std::thread::sleep(Duration::from_millis(150));
        let listed = store.run(&["list", "-q"]);
        listed.ok();
        if status.success() || !listed.stdout.is_empty() {
            // Finished, or killed after the final rename: then it must be
            // whole, since a container only appears by that one rename.
            assert_eq!(listed.stdout.trim(), name);
            let dir = store.container_dir(&name);
            assert!(dir.join("install-index.jsonl").exists(), "half a container");
            assert!(
                dir.join("rootfs/usr/d29/f2999").exists(),
                "half a container"
            );
            continue;
        }
        mid_install_kills += 1;
        // What the kill left: a staging dir once the install got that far
        // (`list` above mutates nothing).
        if leftovers(&store).iter().any(|n| n.starts_with(".staging-")) {
            kills_with_leftovers += 1;
        }
        // The next mutating command clears the leftovers.
        store
            .run(&["remove", "nothing-here"])
            .fails_with(1, "not installed");
        let left = leftovers(&store);
        assert!(left.is_empty(), "after kill at {delay_ms} ms: {left:?}");
    }
    assert!(
        mid_install_kills >= 3,
        "the archive installs too fast to interrupt"
    );
    // Otherwise "no leftovers" would hold without any cleaning.
    assert!(
        kills_with_leftovers >= 2,
        "only {kills_with_leftovers} kill(s) left a staging dir to clean"
    );
}

#[test]
fn ctrl_c_cleans_up_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let archive = big_archive(dir.path(), 6000);
    let store = TestStore::new();
    let mut cmd = store.cmd();
    cmd.args(["install", &archive, "-n", "intr"])
        .process_group(0);
    let child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pgid = child.id() as i32;
    // Interrupt once the install is under way (its staging dir exists).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !leftovers(&store).iter().any(|n| n.starts_with(".staging-")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the install never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    // Ctrl-C reaches the whole foreground process group.
    unsafe {
        libc::kill(-pgid, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
}

#[test]
fn a_full_disk_is_one_error_and_no_leftovers() {
    if !require_root("mounting a small tmpfs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = big_archive(dir.path(), 1000);
    let store = TestStore::new();
    let data = store.data_home();
    std::fs::create_dir_all(&data).unwrap();
    // The tmpfs lives in a private mount namespace that dies with the script.
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs '{d}' && '{bin}' install '{archive}' -n full; echo \"rc=$?\"; ls -A '{d}/chroot-distro/containers'",
        d = data.display(),
        bin = bin().display(),
    );
    let out = Outcome::of(store.cmd_with(Path::new("unshare")).args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ]));
    assert!(out.stdout.contains("rc=1"), "{out:#?}");
    let err: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("chroot-distro: error:"))
        .collect();
    assert_eq!(err.len(), 1, "{out:#?}");
    assert!(err[0].contains("No space left on device"), "{out:#?}");
    let listing = out.stdout.lines().filter(|l| !l.starts_with("rc=")).count();
    assert_eq!(listing, 0, "leftovers on the full disk: {out:#?}");
}

/// Dot-names in `containers/` and anywhere in the cache: staging
/// directories, partial blobs, temporary files of the caches.
fn hidden_leftovers(store: &TestStore) -> Vec<String> {
    let mut found: Vec<String> = leftovers(store)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    let mut dirs = vec![store.cache_dir()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                found.push(entry.path().display().to_string());
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    found
}

/// Kills an install `delay` after its staging directory is ready for the
/// unpacker (its last subdirectory exists): the moment it forks the
/// unpacker, which is the racy one.
fn kill_after_staging(child: &mut std::process::Child, store: &TestStore, delay: Duration) {
    let containers = store.runtime_dir().join("containers");
    let ready = || {
        leftovers(store).iter().any(|n| {
            n.starts_with(".staging-") && containers.join(n).join(".layer-hashes").exists()
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !ready() {
        if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(delay);
    let _ = child.kill();
}

/// A small xorshift, seeded from the clock and printed, so a failure can
/// be replayed by setting CD_TEST_SEED.
fn rng() -> impl FnMut(u64) -> u64 {
    let seed = std::env::var("CD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("CD_TEST_SEED={seed}");
    let mut x = seed;
    move |below| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below.max(1)
    }
}

#[test]
fn twenty_random_kill_9s_then_one_install_leave_one_container_and_no_leftovers() {
    let mut random = rng();
    // Each round is a fresh store; several, because only the kills close
    // to the final install can outlive it.
    for _ in 0..5 {
        kill_twenty_then_install(&mut random);
    }
}

fn kill_twenty_then_install(random: &mut impl FnMut(u64) -> u64) {
    let image = common::rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let store = TestStore::new();
    let install = |name: &str| {
        let mut cmd = store.cmd();
        cmd.args(["install", image, "-n", name, "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    // The typical install time (layers cached, as for most of the kills)
    // bounds the random delays.
    store.run(&["install", image, "-n", "probe", "-q"]).ok();
    store.run(&["remove", "probe"]).ok();
    let started = std::time::Instant::now();
    store.run(&["install", image, "-n", "probe", "-q"]).ok();
    let typical = started.elapsed().as_micros() as u64;
    store.run(&["remove", "probe"]).ok();
    for round in 0..20u64 {
        // Every fourth install downloads again, so kills hit downloads too.
        if round % 4 == 0 {
            let _ = std::fs::remove_dir_all(store.cache_dir().join("oci_layers"));
        }
        let mut child = install("c").spawn().unwrap();
        if round % 2 == 0 {
            std::thread::sleep(Duration::from_micros(random(typical)));
            let _ = child.kill();
        } else {
            // Within a few ms of the unpacker's fork: before its exec it
            // holds all of the installer's fds, after it, until it asks to
            // die with its parent, it is on its own.
            kill_after_staging(&mut child, &store, Duration::from_micros(random(3000)));
        }
        child.wait().unwrap();
        // A kill after the final rename leaves a whole container; the
        // next install would refuse the name.
        if round < 19 && store.container_dir("c").exists() {
            store.run(&["remove", "c"]).ok();
        }
    }
    // A kill after the final rename left a whole container: that last
    // kill missed the racy moment; make room.
    if store.container_dir("c").exists() {
        store.run(&["remove", "c"]).ok();
    }
    // Right away: the killed installs' children may still be about.
    Outcome::of(store.cmd().args(["install", image, "-n", "c", "-q"])).ok();
    let listed = store.run(&["list", "-q"]);
    listed.ok();
    assert_eq!(listed.stdout.trim(), "c");
    let left = hidden_leftovers(&store);
    assert!(left.is_empty(), "left after a successful install: {left:?}");
}
