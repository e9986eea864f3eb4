//! A small seccomp deny-list for sessions other than --privileged: what
//! Docker's default profile blocks that the capability set alone does not.
//! Chiefly the kernel keyring, which is not namespaced: container root would
//! otherwise reach host root's keys. The rest needs capabilities sessions
//! lack; blocking it too costs nothing.

use crate::refusal::{os, Refusal};
use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};

const DENY: &[libc::c_long] = &[
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_userfaultfd,
    libc::SYS_perf_event_open,
    libc::SYS_bpf,
    libc::SYS_open_by_handle_at,
    libc::SYS_kexec_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
];

#[cfg(target_arch = "x86_64")]
const ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<u32> = None;

fn op(code: u32, k: u32, jt: usize, jf: u8) -> sock_filter {
    // Jump offsets fit: the program is a few dozen instructions long.
    sock_filter { code: code as u16, jt: jt as u8, jf, k }
}

/// Installs the filter (no_new_privs is already set, so no privilege is
/// needed). A foreign-architecture syscall kills the process; on x86_64
/// the x32 numbers (bit 30) are refused too, as they would bypass the list.
pub fn deny_list() -> Result<(), Refusal> {
    let Some(arch) = ARCH else { return Ok(()) };
    let (load, ret, n) = (BPF_LD | BPF_W | BPF_ABS, BPF_RET | BPF_K, DENY.len());
    let mut p = vec![op(load, 4, 0, 0), op(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0)];
    p.extend([op(ret, libc::SECCOMP_RET_KILL_PROCESS, 0, 0), op(load, 0, 0, 0)]);
    if cfg!(target_arch = "x86_64") {
        p.push(op(BPF_JMP | BPF_JGE | BPF_K, 0x4000_0000, n + 1, 0));
    }
    // Each match jumps over the remaining matches and the allow.
    p.extend(
        DENY.iter().enumerate().map(|(i, nr)| op(BPF_JMP | BPF_JEQ | BPF_K, *nr as u32, n - i, 0)),
    );
    p.push(op(ret, libc::SECCOMP_RET_ALLOW, 0, 0));
    p.push(op(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32, 0, 0));
    let prog = libc::sock_fprog { len: p.len() as u16, filter: p.as_mut_ptr() };
    // SAFETY: the program outlives the call; the kernel copies it.
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) };
    os(r == 0, "install the seccomp filter")
}
