//! Idmapped mounts: the rootfs and every bind are shown through a user
//! namespace that maps the caller's uid on disk to container root and
//! subordinate id start+N-1 (from /etc/subuid and /etc/subgid) to N. Files
//! show their image owners, files created by container root land as the
//! caller on disk, and ids outside the map (host root's files in a bind)
//! get no capability override at all.

use crate::refusal::{os, OrSetup, Refusal};
use rustix::fs::{Mode, OFlags};
use rustix::mount::MountAttrFlags;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A user namespace holding the maps, kept alive by an fd on it. A forked
/// child enters a new namespace and waits; we write its maps (needs
/// CAP_SETUID/CAP_SETGID here), take the fd, and kill it.
pub fn user_namespace(uid_map: &str, gid_map: &str) -> Result<OwnedFd, Refusal> {
    let (mut r, w) = std::io::pipe().or_setup("create a pipe")?;
    // SAFETY: single-threaded; the child only makes raw syscalls.
    let pid = unsafe { libc::fork() };
    os(pid >= 0, "fork")?;
    if pid == 0 {
        // SAFETY: raw syscalls only, then wait to be killed.
        unsafe {
            // Opening /proc/PID/ns/user needs the process dumpable (or
            // CAP_SYS_PTRACE, which the helper does not hold). It runs as
            // root now, so the caller still cannot trace it.
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
            let ok: u8 = (libc::unshare(libc::CLONE_NEWUSER) == 0).into();
            libc::write(w.as_raw_fd(), (&ok as *const u8).cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    drop(w);
    let result = (|| {
        let mut ok = [0u8];
        r.read_exact(&mut ok).or_setup("wait for the id-map namespace")?;
        os(ok[0] == 1, "create a user namespace for the id map")?;
        // A proc instance of our own pid namespace: with --isolated the
        // host's /proc would name some other process by this pid.
        let proc = crate::mounts::detached("proc", "", MountAttrFlags::empty())
            .or_setup("mount a proc instance")?;
        let open = |file: &str, flags| {
            rustix::fs::openat(
                &proc,
                format!("{pid}/{file}"),
                flags | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let f = std::fs::File::from(
                open(file, OFlags::WRONLY).or_setup(format_args!("open {file}"))?,
            );
            (&f).write_all(map.as_bytes()).or_setup(format_args!("write the {file} {map:?}"))?;
        }
        let ns = open("ns/user", OFlags::RDONLY).or_setup("open the id-map namespace")?;
        Ok(ns)
    })();
    // SAFETY: our own child; reaped right after.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    result
}

/// mount_setattr on a whole detached tree: `attrs` on every submount, and
/// the id map when `userns` is given. (rustix has no wrapper for it.)
pub fn set_attrs(
    tree: BorrowedFd,
    attrs: MountAttrFlags,
    userns: Option<BorrowedFd>,
) -> Result<(), Refusal> {
    let attr = libc::mount_attr {
        attr_set: attrs.bits() as u64 | userns.map_or(0, |_| libc::MOUNT_ATTR_IDMAP),
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |ns| ns.as_raw_fd() as u64),
    };
    // SAFETY: a valid fd, a NUL-terminated empty path and a sized struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    os(r == 0, "set mount attributes (idmap, nosuid, nodev)")
}
