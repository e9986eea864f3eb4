//! Docker's masked and read-only `/proc` and `/sys` paths, checked as the
//! mounts they are from inside a session. Writing to `/proc/sys` or reading
//! `/proc/kcore` fails for other reasons too (no CAP_SYS_RAWIO, a non-root
//! uid, or no kcore on this kernel), so only the mount table proves them.

use std::path::Path;

/// Docker's masked paths, as the mount plan lists them.
const MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/acpi",
    "/sys/firmware",
];

/// The masked paths this host has (a kernel without, say, kcore has
/// nothing there to mask).
fn present() -> Vec<&'static str> {
    MASKED
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// Shell commands for inside the session; [`check`] reads their output.
pub fn probe() -> String {
    let paths = present().join(" ");
    format!(
        "cat /proc/self/mounts; echo ---; \
         for p in {paths}; do echo \"$p $(stat -c '%F %t:%T' $p) $(ls -A $p | wc -l)\"; done"
    )
}

/// `/proc/sys` is mounted read-only; each masked file is `/dev/null` bound
/// over it (a character device 1:3) and each masked directory an empty
/// read-only tmpfs.
pub fn check(output: &str) {
    let (mounts, masks) = output.split_once("---\n").expect("probe output");
    let mount = |at: &str| -> Vec<&str> {
        mounts
            .lines()
            .rev()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[1] == at)
            .unwrap_or_else(|| panic!("{at} is not a mount point:\n{mounts}"))
    };
    let read_only = |f: &[&str]| f[3].split(',').any(|o| o == "ro");
    let sys = mount("/proc/sys");
    assert!(read_only(&sys), "/proc/sys writable: {sys:?}");
    let paths = present();
    let (files, dirs): (Vec<&str>, Vec<&str>) = paths.iter().partition(|p| !Path::new(p).is_dir());
    assert!(
        !files.is_empty() && !dirs.is_empty(),
        "this host has {paths:?}"
    );
    for p in files {
        mount(p);
        let line = masks
            .lines()
            .find(|l| l.starts_with(&format!("{p} ")))
            .unwrap();
        assert_eq!(line, format!("{p} character special file 1:3 1"), "{masks}");
    }
    for p in dirs {
        let m = mount(p);
        assert!(m[2] == "tmpfs" && read_only(&m), "{p}: {m:?}");
        let line = masks
            .lines()
            .find(|l| l.starts_with(&format!("{p} ")))
            .unwrap();
        assert_eq!(line, format!("{p} directory 0:0 0"), "{masks}");
    }
}
