//! The unpacker's memory stays nearly flat in the number of entries: a
//! layer of many empty files must not cost a record per file.

mod common;

use common::oci;
use common::TestStore;
use sha2::{Digest, Sha256};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

/// A layer of `n` empty files, a thousand per directory.
fn many_files(n: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(n * 1024));
    let mut add = |name: &str, ty: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(ty);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, &[][..]).unwrap();
    };
    for d in ["bin", "etc", "usr"] {
        add(d, tar::EntryType::Directory);
    }
    for i in 0..n {
        if i % 1000 == 0 {
            add(&format!("usr/d{:04}", i / 1000), tar::EntryType::Directory);
        }
        let name = format!("usr/d{:04}/file-number-{i:07}", i / 1000);
        add(&name, tar::EntryType::Regular);
    }
    b.into_inner().unwrap()
}

/// Runs the install and returns the peak RSS (KiB) of it and everything
/// it waited for: the unpacker is its child.
fn install_peak_kib(store: &TestStore, path: &Path, name: &str) -> i64 {
    let mut cmd = store.cmd();
    cmd.args(["install", path.to_str().unwrap(), "-n", name])
        .stdout(std::process::Stdio::null());
    // A real fork, not posix_spawn's vfork: a vfork child execs from our
    // address space and inherits its peak, which would count as its own.
    // SAFETY: the hook does nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || Ok(()));
    }
    let mut child = cmd.spawn().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "install {name}: {status:?}");
    let _ = child.try_wait();
    usage.ru_maxrss
}

#[test]
fn a_layer_of_many_empty_files_installs_in_nearly_flat_memory() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.oci.tar");
    {
        let layer = many_files(N);
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
        let files = oci::layout_with(&[layer], true, vec![diff_id], serde_json::json!({}));
        std::fs::write(&path, oci::archive(&files)).unwrap();
    }
    // What this process holds when it forks counts in the child's peak:
    // the buffers above are gone (big allocations go back to the system).
    let store = TestStore::new();
    let cold = install_peak_kib(&store, &path, "cold");
    let warm = install_peak_kib(&store, &path, "warm");
    eprintln!("peak RSS for {N} empty files: cold {cold} KiB, warm {warm} KiB");
    // 0.5 KiB per entry was held before (~60 MiB here).
    for peak in [cold, warm] {
        assert!(peak < 36 << 10, "peak RSS {peak} KiB for {N} entries");
    }
}
