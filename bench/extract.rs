//! Extraction throughput on a real archive, without the install around it
//! (no unpacker child, no index, no fix-ups). Not a check: it prints.
//!
//! `CD_UNPACK_BENCH=x.tar CD_UNPACK_BENCH_DEST=dir cargo bench --bench extract`
//! (dest must be empty; `CD_UNPACK_BENCH_MODE=walk` for the O_PATH walk).

use chroot_distro::unpack::extract::{ExtractOptions, Extractor};
use chroot_distro::unpack::resolve::ResolveMode;
use rustix::fs::{Mode, OFlags};
use std::path::Path;

fn main() {
    let (Some(tar), Some(dest)) = (
        std::env::var_os("CD_UNPACK_BENCH"),
        std::env::var_os("CD_UNPACK_BENCH_DEST"),
    ) else {
        eprintln!("set CD_UNPACK_BENCH (a tar file) and CD_UNPACK_BENCH_DEST (an empty dir)");
        std::process::exit(2);
    };
    let mode = match std::env::var("CD_UNPACK_BENCH_MODE").as_deref() {
        Ok("walk") => ResolveMode::Walk,
        _ => ResolveMode::Auto,
    };
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(Path::new(&dest), flags, Mode::empty()).unwrap();
    let opts = ExtractOptions {
        resolver: mode,
        ..Default::default()
    };
    let mut ex = Extractor::new(root, opts);
    let t = std::time::Instant::now();
    ex.apply(std::fs::File::open(tar).unwrap(), false, &mut |_| {})
        .unwrap();
    let st = ex.finish().unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "{mode:?}: {} entries, {} MB in {s:.3} s = {:.0} MB/s",
        st.entries,
        st.bytes / 1_000_000,
        st.bytes as f64 / 1e6 / s
    );
}
