//! The fixed paths of a real-root session's mount plan, which both programs
//! apply (each with its own mount calls): the device nodes and links of the
//! fresh /dev, and the /proc and /sys paths that are hidden or made
//! read-only for container root (Docker's defaults; only `--privileged`
//! drops them).

/// Device nodes of a fresh /dev: (name, major, minor), all mode 0666.
pub const DEV_NODES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks of a fresh /dev: (name, target).
pub const DEV_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

/// Hidden from container root, relative to the rootfs: /dev/null over a
/// file, an empty read-only tmpfs over a directory. A path this kernel
/// lacks needs no hiding.
pub const MASKED: [&str; 11] = [
    "proc/asound",
    "proc/acpi",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

/// Bound onto themselves read-only: the kernel's knobs (a writable
/// /proc/sysrq-trigger or /proc/sys/kernel/core_pattern is the host).
pub const READ_ONLY: [&str; 5] = [
    "proc/sys",
    "proc/sysrq-trigger",
    "proc/irq",
    "proc/bus",
    "proc/fs",
];
