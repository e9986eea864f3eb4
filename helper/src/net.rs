//! Rule 10, the network: real root never sits in the host's network
//! namespace unless the admin said so (`host_network = yes`), and then
//! without raw sockets or, unless `privileged_ports = yes`, ports below 1024
//! (the session contract's `caps::session`).
//! By default the session joins the namespace the client made for it (its
//! own user namespace's, with a user-mode stack such as pasta attached), or
//! gets an empty new one.

use crate::idmap::NS_GET_NSTYPE;
use crate::refusal::{refuse, Refusal, Rule};
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `_IO(0xb7, 0x1)` and `_IO(0xb7, 0x4)` from <linux/nsfs.h>.
const NS_GET_USERNS: libc::Ioctl = 0xb701;
const NS_GET_OWNER_UID: libc::Ioctl = 0xb704;

/// Opens the network namespace of the caller's process `pid`, as the
/// caller (so /proc's ptrace check is the caller's), and checks it is one
/// the caller owns: a network namespace, not ours, whose user namespace
/// the caller created. Anything else would put real root into someone
/// else's network (the host's, another user's container's).
pub fn open_namespace(pid: u32, caller_uid: u32) -> Result<OwnedFd, Refusal> {
    let deny = |why: String| refuse(Rule::Containment, format!("--netns-pid {pid}: {why}"));
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(format!("/proc/{pid}/ns/net"), flags, Mode::empty())
        .map_err(|e| deny(e.to_string()))?;
    // SAFETY: NS_GET_NSTYPE takes no argument.
    if unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) } != libc::CLONE_NEWNET {
        return Err(deny("not a network namespace".into()));
    }
    let ours = rustix::fs::stat("/proc/self/ns/net").map_err(|e| deny(e.to_string()))?;
    let theirs = rustix::fs::fstat(&fd).map_err(|e| deny(e.to_string()))?;
    if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
        return Err(deny("that is the host's network (host_network is the policy's)".into()));
    }
    // SAFETY: NS_GET_USERNS returns a new fd or -1.
    let userns = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_USERNS) };
    if userns < 0 {
        return Err(deny(format!("its owner: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: a fresh fd of ours.
    let userns = unsafe { OwnedFd::from_raw_fd(userns) };
    let mut owner: libc::uid_t = u32::MAX;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t.
    let r = unsafe { libc::ioctl(userns.as_raw_fd(), NS_GET_OWNER_UID, &mut owner) };
    if r != 0 || owner != caller_uid {
        return Err(deny("not a network namespace of the caller's own".into()));
    }
    Ok(fd)
}

/// Joins `fd` (capabilities raised).
pub fn join(fd: &OwnedFd) -> Result<(), Refusal> {
    // SAFETY: setns on a namespace fd we hold.
    let ok = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == 0;
    crate::refusal::os(ok, "join the session's network namespace")
}
