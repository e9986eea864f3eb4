//! A small seccomp deny-list for root-mode sessions.
//!
//! Real root in a container keeps Docker's default capabilities, and a few
//! system calls reachable with those (or through a capability a user gives
//! back with `--privileged`-like policies) act on the whole host: loading
//! kernel modules, kexec, rebooting, swap, setting the clock, the keyring,
//! BPF and perf, raw port I/O and `open_by_handle_at` (the "shocker"
//! escape, which opens any inode of a mounted file system by handle). They
//! fail with `EPERM` here, as a missing capability would, so programs that
//! probe them degrade the way they do under Docker.
//!
//! The filter is classic BPF written by hand: the list is short and fixed,
//! the program is ~100 instructions, and a crate would bring a policy
//! language we do not need. Every system-call ABI the host kernel runs is
//! covered, each with its own numbers: x86_64 with i386 (int 0x80 and
//! compat), aarch64 with 32-bit arm. x32 system calls (numbers carrying
//! `__X32_SYSCALL_BIT`, seen under the x86_64 audit arch) are all refused:
//! mapping the deny-list onto them would double the table for an ABI that
//! essentially no distribution image uses, and leaving them open would let
//! `nr | 0x40000000` bypass every rule. Any other audit arch is allowed
//! untouched: killing unknown programs would be worse than not filtering.
//!
//! `ptrace`, `kcmp` and `process_vm_readv`/`writev` stay allowed: Docker
//! allows them on kernels ≥ 4.8, where ptrace can no longer bypass seccomp,
//! and debuggers and CRIU need them.
//!
//! Use: build the [`Filter`] before forking or dropping privileges (it
//! allocates), then [`Filter::install`] in the session child after chroot
//! and the capability drop, right before exec. The caller must have set
//! `no_new_privs` or hold `CAP_SYS_ADMIN`.

use std::io;

/// `struct seccomp_data` offsets.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// `AUDIT_ARCH_*` from `<linux/audit.h>`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_uint = 1;

/// One denied call and its number per ABI (`None`: the ABI lacks it).
struct Call {
    name: &'static str,
    x86_64: Option<u32>,
    i386: Option<u32>,
    aarch64: Option<u32>,
    arm: Option<u32>,
}

const fn c(
    name: &'static str,
    x86_64: Option<u32>,
    i386: Option<u32>,
    aarch64: Option<u32>,
    arm: Option<u32>,
) -> Call {
    Call {
        name,
        x86_64,
        i386,
        aarch64,
        arm,
    }
}

/// Numbers from the kernel's syscall tables (`arch/*/entry/syscalls`,
/// `include/uapi/asm-generic/unistd.h`, `arch/arm/tools/syscall.tbl`); the
/// native columns are checked against `libc` by the tests.
#[rustfmt::skip]
const CALLS: &[Call] = &[
    c("init_module",       Some(175), Some(128), Some(105), Some(128)),
    c("finit_module",      Some(313), Some(350), Some(273), Some(379)),
    c("delete_module",     Some(176), Some(129), Some(106), Some(129)),
    c("kexec_load",        Some(246), Some(283), Some(104), Some(347)),
    c("kexec_file_load",   Some(320), None,      Some(294), Some(401)),
    c("reboot",            Some(169), Some(88),  Some(142), Some(88)),
    c("swapon",            Some(167), Some(87),  Some(224), Some(87)),
    c("swapoff",           Some(168), Some(115), Some(225), Some(115)),
    c("open_by_handle_at", Some(304), Some(342), Some(265), Some(371)),
    c("name_to_handle_at", Some(303), Some(341), Some(264), Some(370)),
    c("bpf",               Some(321), Some(357), Some(280), Some(386)),
    c("perf_event_open",   Some(298), Some(336), Some(241), Some(364)),
    c("userfaultfd",       Some(323), Some(374), Some(282), Some(388)),
    c("keyctl",            Some(250), Some(288), Some(219), Some(311)),
    c("add_key",           Some(248), Some(286), Some(217), Some(309)),
    c("request_key",       Some(249), Some(287), Some(218), Some(310)),
    c("acct",              Some(163), Some(51),  Some(89),  Some(51)),
    c("settimeofday",      Some(164), Some(79),  Some(170), Some(79)),
    c("stime",             None,      Some(25),  None,      None),
    c("clock_settime",     Some(227), Some(264), Some(112), Some(262)),
    c("clock_settime64",   None,      Some(404), None,      Some(404)),
    c("clock_adjtime",     Some(305), Some(343), Some(266), Some(372)),
    c("clock_adjtime64",   None,      Some(405), None,      Some(405)),
    c("adjtimex",          Some(159), Some(124), Some(171), Some(124)),
    c("iopl",              Some(172), Some(110), None,      None),
    c("ioperm",            Some(173), Some(101), None,      None),
    c("lookup_dcookie",    Some(212), Some(253), Some(18),  Some(249)),
    c("quotactl",          Some(179), Some(131), Some(60),  Some(131)),
    c("quotactl_fd",       Some(443), Some(443), Some(443), Some(443)),
    c("nfsservctl",        Some(180), Some(169), Some(42),  Some(169)),
    c("uselib",            Some(134), Some(86),  None,      Some(86)),
    c("vm86",              None,      Some(166), None,      None),
    c("vm86old",           None,      Some(113), None,      None),
];

/// Names of the denied calls, for `--get-chroot-cmd` notes and `info`.
pub fn deny_list_names() -> &'static [&'static str] {
    const NAMES: [&str; CALLS.len()] = {
        let mut out = [""; CALLS.len()];
        let mut i = 0;
        while i < CALLS.len() {
            out[i] = CALLS[i].name;
            i += 1;
        }
        out
    };
    &NAMES
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot install the seccomp filter: {0}")]
    Install(#[source] io::Error),
    /// TSYNC found a thread already under a different filter.
    #[error("cannot install the seccomp filter: thread {tid} has an incompatible filter")]
    ThreadSync { tid: libc::c_long },
}

/// One ABI's part of the program.
struct Section {
    arch: u32,
    numbers: Vec<u32>,
    /// Refuse every number with `__X32_SYSCALL_BIT` (x86_64 only).
    deny_x32: bool,
}

/// The ABIs of the host this binary was built for.
fn sections() -> Vec<Section> {
    let column = |pick: fn(&Call) -> Option<u32>| CALLS.iter().filter_map(pick).collect();
    if cfg!(target_arch = "x86_64") {
        vec![
            Section {
                arch: AUDIT_ARCH_X86_64,
                numbers: column(|c| c.x86_64),
                deny_x32: true,
            },
            Section {
                arch: AUDIT_ARCH_I386,
                numbers: column(|c| c.i386),
                deny_x32: false,
            },
        ]
    } else if cfg!(target_arch = "x86") {
        vec![Section {
            arch: AUDIT_ARCH_I386,
            numbers: column(|c| c.i386),
            deny_x32: false,
        }]
    } else if cfg!(target_arch = "aarch64") {
        vec![
            Section {
                arch: AUDIT_ARCH_AARCH64,
                numbers: column(|c| c.aarch64),
                deny_x32: false,
            },
            Section {
                arch: AUDIT_ARCH_ARM,
                numbers: column(|c| c.arm),
                deny_x32: false,
            },
        ]
    } else if cfg!(target_arch = "arm") {
        vec![Section {
            arch: AUDIT_ARCH_ARM,
            numbers: column(|c| c.arm),
            deny_x32: false,
        }]
    } else {
        Vec::new()
    }
}

/// A compiled filter, ready to install without allocating (so it can be
/// installed between `fork` and `exec` of a multithreaded parent).
#[derive(Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({} instructions)", self.prog.len())
    }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf: 0, k }
}

impl Filter {
    /// The deny-list for this host's ABIs.
    pub fn build() -> Self {
        Self::from_sections(&sections())
    }

    fn from_sections(sections: &[Section]) -> Self {
        let size = |s: &Section| 1 + usize::from(s.deny_x32) + s.numbers.len() + 1;
        let dispatch_len = 1 + sections.len() + 1;
        let total = dispatch_len + sections.iter().map(size).sum::<usize>() + 1;
        let deny_at = total - 1;
        // Classic BPF jumps are one byte: the list must stay short enough.
        assert!(total <= 256, "seccomp deny-list too long for BPF jumps");
        let offset = |from: usize, to: usize| (to - from - 1) as u8;

        let mut prog = Vec::with_capacity(total);
        prog.push(stmt(BPF_LD_W_ABS, DATA_ARCH));
        let mut start = dispatch_len;
        for s in sections {
            prog.push(jump(BPF_JEQ_K, s.arch, offset(prog.len(), start)));
            start += size(s);
        }
        prog.push(stmt(BPF_RET_K, RET_ALLOW));
        for s in sections {
            prog.push(stmt(BPF_LD_W_ABS, DATA_NR));
            if s.deny_x32 {
                prog.push(jump(
                    BPF_JGE_K,
                    X32_SYSCALL_BIT,
                    offset(prog.len(), deny_at),
                ));
            }
            for &nr in &s.numbers {
                prog.push(jump(BPF_JEQ_K, nr, offset(prog.len(), deny_at)));
            }
            prog.push(stmt(BPF_RET_K, RET_ALLOW));
        }
        prog.push(stmt(BPF_RET_K, RET_EPERM));
        debug_assert_eq!(prog.len(), total);
        Self { prog }
    }

    pub fn len(&self) -> usize {
        self.prog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }

    /// Installs the filter on every thread of the process (TSYNC), with a
    /// `prctl` fallback for kernels before 3.17. Makes no allocation on
    /// success or failure.
    pub fn install(&self) -> Result<(), Error> {
        let fprog = libc::sock_fprog {
            // At most 256 instructions (asserted when built).
            len: self.prog.len() as libc::c_ushort,
            filter: self.prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points at our live program for the whole call; the
        // kernel copies it.
        let rc = unsafe {
            // Variadic: every argument widened to a full register.
            libc::syscall(
                libc::SYS_seccomp,
                libc::c_ulong::from(SECCOMP_SET_MODE_FILTER),
                libc::c_ulong::from(SECCOMP_FILTER_FLAG_TSYNC),
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        if rc > 0 {
            return Err(Error::ThreadSync { tid: rc });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(Error::Install(err));
        }
        // SAFETY: as above.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::c_ulong::from(libc::SECCOMP_MODE_FILTER),
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::Install(io::Error::last_os_error()))
        }
    }
}

/// Builds and installs the deny-list on the calling process.
pub fn install_deny_list() -> Result<(), Error> {
    Filter::build().install()
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
