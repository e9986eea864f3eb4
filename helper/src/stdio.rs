//! Rule 10: what the caller's descriptors 0-2 may be when they reach real
//! root. Container root holds DAC_OVERRIDE, so any descriptor naming a host
//! object can be reopened or walked through /proc/self/fd/N (runc
//! CVE-2024-21626): `< /` gives the host's root, a read-only fd on a
//! root-owned file becomes a writable one. Only three kinds carry nothing
//! beyond their own data: an anonymous pipe, a socket (neither can be
//! reopened by path), and the caller's own pseudo-terminal, which we
//! reopen ourselves so the container gets a plain read-write open of it.
//! /dev/null is replaced by our own. Everything else is refused; the
//! chroot-distro client relays files, directories and devices through pipes.

use crate::refusal::{os, refuse, OrSetup, Refusal, Rule};
use rustix::fs::{fstat, fstatfs, FileType, Mode, OFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

const PIPEFS_MAGIC: i64 = 0x5049_5045;
const SOCKFS_MAGIC: i64 = 0x534f_434b;
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Checks fds 0, 1 and 2, reopening the terminal and /dev/null in place.
/// Runs with the caller's file system ids, before anything privileged.
pub fn check(caller_uid: u32) -> Result<(), Refusal> {
    for fd in 0..3 {
        // SAFETY: 0-2 are open (harden::first put /dev/null on closed ones).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Some(fresh) = vet(borrowed, caller_uid)? {
            // SAFETY: dup2 onto a descriptor we own; the new one is not CLOEXEC.
            os(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&fresh), fd) } == fd, "dup2")?;
        }
    }
    Ok(())
}

/// `None`: pass as it is; `Some(fd)`: put this in its place.
fn vet(fd: BorrowedFd, caller_uid: u32) -> Result<Option<OwnedFd>, Refusal> {
    let name = ["stdin", "stdout", "stderr"][std::os::fd::AsRawFd::as_raw_fd(&fd) as usize];
    let refused = |what: &str| {
        refuse(
            Rule::Containment,
            format!(
                "{name} is {what}: only a pipe, a socket or your own terminal may reach a \
                 real-root session (chroot-distro relays the others)"
            ),
        )
    };
    let flags = rustix::fs::fcntl_getfl(fd).or_setup("read descriptor flags")?;
    if flags.contains(OFlags::PATH) {
        return Err(refused("an O_PATH descriptor"));
    }
    let fs_type = fstatfs(fd).or_setup("inspect a descriptor")?.f_type as i64;
    if fs_type == PIPEFS_MAGIC || fs_type == SOCKFS_MAGIC {
        return Ok(None);
    }
    let st = fstat(fd).or_setup("inspect a descriptor")?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let rdev = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if kind == FileType::CharacterDevice && rdev == (1, 3) {
        let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .or_setup("open /dev/null")?;
        let ours = fstat(&null).or_setup("inspect /dev/null")?;
        return match ours.st_rdev == st.st_rdev {
            true => Ok(Some(null)),
            false => Err(refused("a device posing as /dev/null")),
        };
    }
    let read_write = flags & OFlags::ACCMODE == OFlags::RDWR;
    if fs_type == DEVPTS_SUPER_MAGIC && kind == FileType::CharacterDevice {
        if st.st_uid != caller_uid || !read_write {
            return Err(refused("a terminal not opened read-write by its owner"));
        }
        return reopen_pty(fd, &st).map(Some);
    }
    Err(refused(match kind {
        FileType::Directory => "a directory",
        FileType::RegularFile => "a file",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Fifo => "a named pipe",
        _ => "not a pipe, socket or terminal",
    }))
}

/// The caller's pty opened afresh, by its name in the caller's devpts, as
/// the caller, and checked to be the very same terminal.
fn reopen_pty(fd: BorrowedFd, st: &rustix::fs::Stat) -> Result<OwnedFd, Refusal> {
    use std::os::fd::AsRawFd;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .or_setup("name the terminal")?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fresh = rustix::fs::open(&path, flags, Mode::empty())
        .map_err(|e| refuse(Rule::Containment, format!("cannot reopen {}: {e}", path.display())))?;
    let now = fstat(&fresh).or_setup("inspect the terminal")?;
    let same = now.st_dev == st.st_dev && now.st_rdev == st.st_rdev && now.st_ino == st.st_ino;
    let fs = fstatfs(fresh.as_fd()).or_setup("inspect the terminal")?.f_type as i64;
    if !same || fs != DEVPTS_SUPER_MAGIC {
        return Err(refuse(Rule::Containment, format!("{} changed under us", path.display())));
    }
    Ok(fresh)
}
