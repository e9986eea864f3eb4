//! Rule 10: what the caller's descriptors 0-2 may be when they reach real
//! root (the session contract's `stdio`: a pipe, a socket, the caller's own
//! terminal reopened, our own /dev/null); everything else is refused.

use crate::refusal::{os, Refusal};
use std::os::fd::BorrowedFd;

/// Checks fds 0, 1 and 2, reopening the terminal and /dev/null in place.
/// Runs with the caller's file system ids, before anything privileged.
pub fn check(caller_uid: u32) -> Result<(), Refusal> {
    for fd in 0..3 {
        // SAFETY: 0-2 are open (harden::first put /dev/null on closed ones).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Some(fresh) = session_contract::stdio::vet(borrowed, caller_uid)? {
            // SAFETY: dup2 onto a descriptor we own; the new one is not CLOEXEC.
            os(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&fresh), fd) } == fd, "dup2")?;
        }
    }
    Ok(())
}
