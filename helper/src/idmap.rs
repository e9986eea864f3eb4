//! Idmapped mounts: the rootfs and every bind are shown through a user
//! namespace that maps the caller's uid on disk to container root and
//! subordinate id start+N-1 (from /etc/subuid and /etc/subgid) to N. Files
//! show their image owners, files created by container root land as the
//! caller on disk, and ids outside the map (host root's files in a bind)
//! get no capability override at all.

use crate::refusal::{os, OrSetup, Refusal};
use rustix::fs::{Mode, OFlags};
use rustix::mount::MountAttrFlags;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A user namespace holding the maps, kept alive by an fd on it. A forked
/// child enters a new namespace and sends us an fd on it (SCM_RIGHTS); we
/// write its maps (needs CAP_SETUID/CAP_SETGID here) and kill it. The child
/// stays non-dumpable throughout: a dumpable root process whose root is the
/// host's would let anyone of its uid, container root included, read the
/// host through /proc/PID/root while it lives.
pub fn user_namespace(uid_map: &str, gid_map: &str) -> Result<OwnedFd, Refusal> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .or_setup("create a socket pair")?;
    // SAFETY: single-threaded; the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    os(pid >= 0, "fork")?;
    if pid == 0 {
        drop(ours);
        // Wait to be killed, or leave at once when nothing was sent.
        if unshare_and_send(theirs.as_fd()) {
            loop {
                // SAFETY: pause only waits for a signal.
                unsafe { libc::pause() };
            }
        }
        // SAFETY: leave without running anything of the parent's.
        unsafe { libc::_exit(1) }
    }
    drop(theirs);
    let result = (|| {
        let ns = receive_fd(ours.as_fd())?;
        // A proc instance of our own pid namespace: the host's /proc would
        // name some other process by this pid.
        let proc = crate::mounts::detached("proc", "", MountAttrFlags::empty())
            .or_setup("mount a proc instance")?;
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let path = format!("{pid}/{file}");
            let flags = OFlags::WRONLY | OFlags::CLOEXEC;
            let f = rustix::fs::openat(&proc, path, flags, Mode::empty())
                .or_setup(format_args!("open {file}"))?;
            (&std::fs::File::from(f))
                .write_all(map.as_bytes())
                .or_setup(format_args!("write the {file} {map:?}"))?;
        }
        Ok(ns)
    })();
    // SAFETY: our own child; reaped right after.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    result
}

/// In the child: a new user namespace, and an fd on it sent to the parent.
fn unshare_and_send(sock: BorrowedFd) -> bool {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    // SAFETY: a plain syscall on our own process.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return false;
    }
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(ns) = rustix::fs::open("/proc/thread-self/ns/user", flags, Mode::empty()) else {
        return false;
    };
    let fds = [ns.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let byte = [std::io::IoSlice::new(b"n")];
    rustix::net::sendmsg(sock, &byte, &mut control, SendFlags::empty()).is_ok()
}

/// In the parent: the one fd the child sent, checked to be a user namespace.
fn receive_fd(sock: BorrowedFd) -> Result<OwnedFd, Refusal> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8];
    let mut bufs = [std::io::IoSliceMut::new(&mut byte)];
    rustix::net::recvmsg(sock, &mut bufs, &mut control, RecvFlags::CMSG_CLOEXEC)
        .or_setup("receive the id-map namespace")?;
    let fd = control.drain().find_map(|m| match m {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    let fd = fd.ok_or_else(|| Refusal::setup("create a user namespace", "no namespace fd"))?;
    // SAFETY: ioctl NS_GET_NSTYPE takes no argument.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    os(kind == libc::CLONE_NEWUSER, "check the id-map namespace")?;
    Ok(fd)
}

/// `_IO(0xb7, 0x3)` from <linux/nsfs.h>.
pub const NS_GET_NSTYPE: libc::Ioctl = 0xb703;

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
