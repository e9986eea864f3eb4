//! The seccomp deny-list for sessions other than --privileged: at least
//! what Docker's default profile denies a container without CAP_SYS_ADMIN
//! (rule 10). The list and its BPF program are the session contract
//! (`session_contract::seccomp`), shared with the main binary; only the
//! installation is here. Every ABI the kernel runs is filtered with its own
//! numbers, so i386 programs keep working under an x86_64 helper.

use crate::refusal::{os, Refusal};

/// Installs the filter (no_new_privs is already set, so no privilege is
/// needed).
pub fn deny_list() -> Result<(), Refusal> {
    let mut p = session_contract::seccomp::host_program();
    // At most BPF_MAXINSNS (4096) instructions, asserted when built.
    let prog = libc::sock_fprog { len: p.len() as u16, filter: p.as_mut_ptr() };
    // SAFETY: the program outlives the call; the kernel copies it.
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) };
    os(r == 0, "install the seccomp filter")
}
