//! The system calls under a session's mount plan, behind a small trait
//! (as youki's `Syscall`): [`Kernel`] makes them in a session; unit tests
//! record them instead, so the order and flags of the plan's application
//! are tested without root, and the kernel's part by integration tests.

use nix::mount::MsFlags;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// One `mount(2)`, its arguments as the kernel takes them (targets and
/// bind sources inside the rootfs are `/proc/self/fd/N` of resolved fds).
#[derive(Debug, Clone, Copy)]
pub struct MountCall<'a> {
    pub source: Option<&'a Path>,
    pub target: &'a Path,
    pub fstype: Option<&'a str>,
    pub flags: MsFlags,
    pub data: Option<&'a str>,
}

pub trait MountCalls {
    fn mount(&mut self, call: MountCall) -> nix::Result<()>;

    /// The flags the mount holding `fd` already enforces, which a remount
    /// must keep (in a user namespace, dropping a locked one is EPERM).
    fn enforced(&mut self, fd: BorrowedFd) -> MsFlags;
}

/// The running kernel.
pub struct Kernel;

impl MountCalls for Kernel {
    fn mount(&mut self, c: MountCall) -> nix::Result<()> {
        nix::mount::mount(c.source, c.target, c.fstype, c.flags, c.data)
    }

    fn enforced(&mut self, fd: BorrowedFd) -> MsFlags {
        rustix::fs::fstatvfs(fd)
            .map(|st| enforced_flags(st.f_flag))
            .unwrap_or(MsFlags::empty())
    }
}

/// The mount flags behind statvfs's `f_flag` bits.
fn enforced_flags(f: rustix::fs::StatVfsMountFlags) -> MsFlags {
    use rustix::fs::StatVfsMountFlags as S;
    [
        (S::RDONLY, MsFlags::MS_RDONLY),
        (S::NOSUID, MsFlags::MS_NOSUID),
        (S::NODEV, MsFlags::MS_NODEV),
        (S::NOEXEC, MsFlags::MS_NOEXEC),
        (S::NOATIME, MsFlags::MS_NOATIME),
        (S::NODIRATIME, MsFlags::MS_NODIRATIME),
        (S::RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(s, _)| f.contains(*s))
    .fold(MsFlags::empty(), |acc, (_, m)| acc | m)
}
