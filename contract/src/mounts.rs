//! The mount plan of a real-root session as data: which file systems and
//! binds, in what order, with which restrictions, and the fixed paths of
//! the fresh /dev and of the /proc and /sys paths hidden or made read-only
//! for container root (Docker's defaults; only `--privileged` drops them).
//! cd-mount-helper applies [`plan`] step by step (each mount made detached
//! and moved onto a checked fd); the main binary applies the same lists
//! with its own mount calls. Attributes are `MOUNT_ATTR_*` bits, which are
//! also the `MS_*` bits for the four of them (see [`crate::bind`]).

use crate::request::Request;
use std::path::{Path, PathBuf};

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
/// lacks needs no hiding. (Docker's list.)
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
pub const READ_ONLY: [&str; 5] =
    ["proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs"];

/// `MOUNT_ATTR_*` (= `MS_*`) bits.
pub const RDONLY: u32 = crate::bind::READ_ONLY;
pub const NOSUID: u32 = crate::bind::NOSUID;
pub const NODEV: u32 = crate::bind::NODEV;
pub const NOEXEC: u32 = crate::bind::NOEXEC;
const NOSUID_NODEV: u32 = NOSUID | NODEV;
const NOSUID_NODEV_NOEXEC: u32 = NOSUID | NODEV | NOEXEC;

/// Where a bind's source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The request's n-th user bind.
    User(usize),
    /// The host's /tmp (`--shared-tmp`).
    HostTmp,
    /// The request's n-th GPU path.
    Gpu(usize),
    /// The request's emulator.
    Interpreter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new file system of type `fs` with comma-separated `opts`.
    Fresh { fs: &'static str, at: &'static str, attrs: u32, opts: &'static str },
    /// The host's device node bound onto a file in the fresh /dev, so that
    /// /dev itself can be nodev: a node container root makes with MKNOD
    /// opens nothing.
    DevNode(&'static str),
    /// The [`DEV_LINKS`] in /dev.
    DevLinks,
    /// A host path bound (recursively, `attrs` on every submount) onto
    /// `at`, relative to the rootfs; shown through the session's id map
    /// when `idmap` (files the caller owns, which container root may write
    /// as the caller).
    Bind { from: Source, at: PathBuf, attrs: u32, idmap: bool },
    /// Hide a proc/sys path: /dev/null over a file, a read-only tmpfs over a directory.
    Mask(&'static str),
    /// A proc path bound onto itself read-only.
    ReadOnly(&'static str),
}

/// Which mounts a session gets, in order.
pub fn plan(req: &Request) -> Vec<Step> {
    use Step::*;
    let sys_attrs = if req.privileged { NOSUID_NODEV_NOEXEC } else { NOSUID_NODEV_NOEXEC | RDONLY };
    // --isolated: a user sees no other uid's processes (as chroot-distro 3.2).
    let proc_opts = if req.isolated { "hidepid=2" } else { "" };
    let mut s = vec![Fresh {
        fs: "tmpfs",
        at: "dev",
        attrs: NOSUID_NODEV_NOEXEC,
        opts: "mode=755,size=65536k",
    }];
    s.extend(DEV_NODES.map(|(name, ..)| DevNode(name)));
    s.extend([
        DevLinks,
        Fresh {
            fs: "devpts",
            at: "dev/pts",
            attrs: NOSUID | NOEXEC,
            opts: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        },
        Fresh { fs: "tmpfs", at: "dev/shm", attrs: NOSUID_NODEV_NOEXEC, opts: "mode=1777" },
        Fresh { fs: "proc", at: "proc", attrs: NOSUID_NODEV_NOEXEC, opts: proc_opts },
        Fresh { fs: "sysfs", at: "sys", attrs: sys_attrs, opts: "" },
        Fresh { fs: "tmpfs", at: "run", attrs: NOSUID_NODEV, opts: "mode=755" },
    ]);
    // Minimal sessions are masked too: a writable /proc/sysrq-trigger or
    // /proc/sys/kernel/core_pattern is the host.
    if !req.privileged {
        s.extend(MASKED.iter().map(|t| Mask(t)));
        s.extend(READ_ONLY.iter().map(|t| ReadOnly(t)));
    }
    // The emulator of a foreign-architecture image, at its host path (the
    // kernel opens it from inside the root at each exec): without it
    // nothing runs, so minimal sessions get it too. Read-only: it is the
    // host's file.
    if let Some(path) = &req.interpreter {
        s.push(Bind {
            from: Source::Interpreter,
            at: relative(path),
            attrs: RDONLY | NOSUID_NODEV,
            idmap: false,
        });
    }
    if req.minimal {
        return s;
    }
    s.push(if req.shared_tmp && !req.isolated {
        Bind { from: Source::HostTmp, at: "tmp".into(), attrs: NOSUID_NODEV, idmap: true }
    } else {
        Fresh { fs: "tmpfs", at: "tmp", attrs: NOSUID_NODEV, opts: "mode=1777" }
    });
    // GPU device nodes stay usable (no nodev) but read-only: the nodes are
    // the host's, and container root could otherwise chmod them or make
    // new ones in the host's /dev.
    let gpu = req.gpu.iter().enumerate();
    s.extend(gpu.map(|(i, p)| Bind {
        from: Source::Gpu(i),
        at: relative(p),
        attrs: RDONLY | NOSUID,
        idmap: false,
    }));
    // The user's restrictions only add to nosuid,nodev (rule 6).
    let user = req.binds.iter().enumerate();
    s.extend(user.map(|(i, b)| Bind {
        from: Source::User(i),
        at: b.at.clone(),
        attrs: NOSUID_NODEV | b.attrs,
        idmap: true,
    }));
    s
}

/// An absolute guest path relative to the rootfs.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

/// Whether `path` is one of the GPU paths a session may bind from the host
/// at the same place: /dev/dri, /dev/dxg and /usr/lib/wsl (WSL2), and the
/// NVIDIA nodes /dev/nvidia* (nvidia0, nvidiactl, nvidia-uvm, nvidia-caps,
/// ...). Anything else is not a GPU.
pub fn is_gpu_path(path: &Path) -> bool {
    if ["/dev/dri", "/dev/dxg", "/usr/lib/wsl"].iter().any(|p| path == Path::new(p)) {
        return true;
    }
    let name = path.strip_prefix("/dev").ok().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("nvidia") && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
