//! Rule 10: what the caller's descriptors 0-2 may be when they reach real
//! root. Container root holds DAC_OVERRIDE, so any descriptor naming a host
//! object can be reopened or walked through /proc/self/fd/N (runc
//! CVE-2024-21626): `< /` gives the host's root, a read-only fd on a
//! root-owned file becomes a writable one. Only three kinds carry nothing
//! beyond their own data: an anonymous pipe, a socket (neither can be
//! reopened by path), and the caller's own pseudo-terminal, which the helper
//! reopens itself so the container gets a plain read-write open of it.
//! /dev/null is replaced by the helper's own. The main binary relays
//! everything that is not [`passable`]; the helper refuses it ([`vet`]).

use crate::refusal::{refuse, OrSetup, Refusal, Rule};
use rustix::fs::{fstat, fstatfs, FileType, Mode, OFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// fstatfs types (linux/magic.h).
const PIPEFS_MAGIC: i64 = 0x5049_5045;
const SOCKFS_MAGIC: i64 = 0x534f_434b;
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Whether `fd` may reach a real-root session as it is: an anonymous pipe
/// or a socket, not O_PATH. A named FIFO is not: its fstatfs type is that
/// of the file system it lives on, which /proc/self/fd/N leads into.
pub fn passable(fd: BorrowedFd) -> bool {
    let path = rustix::fs::fcntl_getfl(fd).map_or(true, |f| f.contains(OFlags::PATH));
    !path && matches!(fs_type(fd), Ok(PIPEFS_MAGIC | SOCKFS_MAGIC))
}

/// The fstatfs type of the file system `fd` is on.
#[allow(clippy::unnecessary_cast)] // f_type is i64 here, not everywhere
fn fs_type(fd: BorrowedFd) -> rustix::io::Result<i64> {
    Ok(fstatfs(fd)?.f_type as i64)
}

/// The helper's check of one of fds 0-2, run with the caller's file system
/// ids: `None`, pass it as it is; `Some(fd)`, put this in its place.
pub fn vet(fd: BorrowedFd, caller_uid: u32) -> Result<Option<OwnedFd>, Refusal> {
    let name =
        ["stdin", "stdout", "stderr"].get(fd.as_raw_fd() as usize).unwrap_or(&"a descriptor");
    let refused = |what: &str| {
        refuse(
            Rule::Containment,
            format!(
                "{name} is {what}: only a pipe, a socket or your own terminal may reach a \
                 real-root session (chroot-distro relays the others)"
            ),
        )
    };
    if passable(fd) {
        return Ok(None);
    }
    let flags = rustix::fs::fcntl_getfl(fd).or_setup("read descriptor flags")?;
    if flags.contains(OFlags::PATH) {
        return Err(refused("an O_PATH descriptor"));
    }
    let fs_type = fs_type(fd).or_setup("inspect a descriptor")?;
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
    let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .or_setup("name the terminal")?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fresh = rustix::fs::open(&path, flags, Mode::empty())
        .map_err(|e| refuse(Rule::Containment, format!("cannot reopen {}: {e}", path.display())))?;
    let now = fstat(&fresh).or_setup("inspect the terminal")?;
    let same = now.st_dev == st.st_dev && now.st_rdev == st.st_rdev && now.st_ino == st.st_ino;
    let fs = fs_type(fresh.as_fd()).or_setup("inspect the terminal")?;
    if !same || fs != DEVPTS_SUPER_MAGIC {
        return Err(refuse(Rule::Containment, format!("{} changed under us", path.display())));
    }
    Ok(fresh)
}
