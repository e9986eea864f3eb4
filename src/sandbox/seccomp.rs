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
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                SECCOMP_FILTER_FLAG_TSYNC,
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
                libc::SECCOMP_MODE_FILTER,
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
mod tests {
    use super::*;

    /// A tiny BPF interpreter for the opcodes we emit, so the program's
    /// logic is tested for every ABI, not only the one the test runs on.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        DATA_NR => nr,
                        DATA_ARCH => arch,
                        k => panic!("load at {k}"),
                    }
                }
                BPF_JEQ_K | BPF_JGE_K => {
                    let hit = if i.code == BPF_JEQ_K {
                        acc == i.k
                    } else {
                        acc >= i.k
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                BPF_RET_K => return i.k,
                op => panic!("opcode {op:#x}"),
            }
            pc += 1;
        }
    }

    fn all_sections() -> Vec<Section> {
        let col = |pick: fn(&Call) -> Option<u32>| CALLS.iter().filter_map(pick).collect();
        vec![
            Section {
                arch: AUDIT_ARCH_X86_64,
                numbers: col(|c| c.x86_64),
                deny_x32: true,
            },
            Section {
                arch: AUDIT_ARCH_I386,
                numbers: col(|c| c.i386),
                deny_x32: false,
            },
            Section {
                arch: AUDIT_ARCH_AARCH64,
                numbers: col(|c| c.aarch64),
                deny_x32: false,
            },
            Section {
                arch: AUDIT_ARCH_ARM,
                numbers: col(|c| c.arm),
                deny_x32: false,
            },
        ]
    }

    type Column = fn(&Call) -> Option<u32>;

    #[test]
    fn every_abi_denies_its_own_numbers_only() {
        let f = Filter::from_sections(&all_sections());
        let cols: [(u32, Column); 4] = [
            (AUDIT_ARCH_X86_64, |c| c.x86_64),
            (AUDIT_ARCH_I386, |c| c.i386),
            (AUDIT_ARCH_AARCH64, |c| c.aarch64),
            (AUDIT_ARCH_ARM, |c| c.arm),
        ];
        for (arch, pick) in cols {
            let denied: Vec<u32> = CALLS.iter().filter_map(pick).collect();
            for nr in 0..600 {
                let want = if denied.contains(&nr) {
                    RET_EPERM
                } else {
                    RET_ALLOW
                };
                assert_eq!(run(&f.prog, arch, nr), want, "arch {arch:#x} nr {nr}");
            }
        }
        // Numbers do not leak across ABIs: x86_64's keyctl (250) is
        // i386's fadvise64, and i386's keyctl (288) is x86_64's accept4.
        assert_eq!(run(&f.prog, AUDIT_ARCH_I386, 250), RET_ALLOW);
        assert_eq!(run(&f.prog, AUDIT_ARCH_X86_64, 288), RET_ALLOW);
    }

    #[test]
    fn x32_is_refused_and_unknown_arches_allowed() {
        let f = Filter::from_sections(&all_sections());
        for nr in [0, 39, 512, 547] {
            assert_eq!(
                run(&f.prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | nr),
                RET_EPERM
            );
        }
        // The x32 rule belongs to x86_64 only.
        assert_eq!(run(&f.prog, AUDIT_ARCH_ARM, X32_SYSCALL_BIT), RET_ALLOW);
        // riscv64 and anything else: untouched, even for listed numbers.
        for nr in [0, 105, 219, 250] {
            assert_eq!(run(&f.prog, 0xc000_00f3, nr), RET_ALLOW);
        }
    }

    #[test]
    fn names_match_the_table() {
        let names = deny_list_names();
        assert_eq!(names.len(), CALLS.len());
        for must in ["open_by_handle_at", "kexec_load", "init_module", "bpf"] {
            assert!(names.contains(&must), "{must}");
        }
        assert!(!names.contains(&"ptrace"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn native_numbers_match_libc() {
        let libc_nr = |name: &str| -> Option<libc::c_long> {
            Some(match name {
                "init_module" => libc::SYS_init_module,
                "finit_module" => libc::SYS_finit_module,
                "delete_module" => libc::SYS_delete_module,
                "kexec_load" => libc::SYS_kexec_load,
                "kexec_file_load" => libc::SYS_kexec_file_load,
                "reboot" => libc::SYS_reboot,
                "swapon" => libc::SYS_swapon,
                "swapoff" => libc::SYS_swapoff,
                "open_by_handle_at" => libc::SYS_open_by_handle_at,
                "name_to_handle_at" => libc::SYS_name_to_handle_at,
                "bpf" => libc::SYS_bpf,
                "perf_event_open" => libc::SYS_perf_event_open,
                "userfaultfd" => libc::SYS_userfaultfd,
                "keyctl" => libc::SYS_keyctl,
                "add_key" => libc::SYS_add_key,
                "request_key" => libc::SYS_request_key,
                "acct" => libc::SYS_acct,
                "settimeofday" => libc::SYS_settimeofday,
                "clock_settime" => libc::SYS_clock_settime,
                "clock_adjtime" => libc::SYS_clock_adjtime,
                "adjtimex" => libc::SYS_adjtimex,
                "iopl" => libc::SYS_iopl,
                "ioperm" => libc::SYS_ioperm,
                "lookup_dcookie" => libc::SYS_lookup_dcookie,
                "quotactl" => libc::SYS_quotactl,
                "quotactl_fd" => libc::SYS_quotactl_fd,
                "nfsservctl" => libc::SYS_nfsservctl,
                "uselib" => libc::SYS_uselib,
                _ => return None,
            })
        };
        for call in CALLS {
            assert_eq!(
                call.x86_64.map(libc::c_long::from),
                libc_nr(call.name),
                "{}",
                call.name
            );
        }
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn native_numbers_match_libc() {
        assert_eq!(Some(libc::SYS_keyctl as u32), CALLS[13].aarch64);
        assert_eq!(Some(libc::SYS_open_by_handle_at as u32), CALLS[8].aarch64);
    }

    /// Runs `probe` in a forked child, with or without the filter, and
    /// returns the errno it reports (0: success). The child only makes raw
    /// system calls and `_exit`s: safe after fork in a threaded process.
    fn in_child(filter: Option<&Filter>, probe: fn() -> i32) -> i32 {
        // SAFETY: the child runs only async-signal-safe code below.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = (|| {
                if let Some(f) = filter {
                    // SAFETY: plain prctl.
                    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                        return 200;
                    }
                    if f.install().is_err() {
                        return 201;
                    }
                }
                probe()
            })();
            // SAFETY: ends the child without running the test harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        assert!(libc::WIFEXITED(status), "child died: {status:#x}");
        libc::WEXITSTATUS(status)
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc >= 0 {
            0
        } else {
            io::Error::last_os_error().raw_os_error().unwrap_or(255) & 0xff
        }
    }

    fn probe_keyctl() -> i32 {
        const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
        const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
        // SAFETY: raw syscall with integer arguments.
        errno_of(unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_GET_KEYRING_ID,
                KEY_SPEC_SESSION_KEYRING,
                0,
            )
        })
    }

    fn probe_perf() -> i32 {
        // SAFETY: a NULL attr makes the kernel fail with EFAULT, nothing else.
        errno_of(unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                std::ptr::null::<u8>(),
                0,
                -1,
                -1,
                0,
            )
        })
    }

    fn probe_open_by_handle() -> i32 {
        // SAFETY: bad fd and NULL handle: EBADF/EFAULT/EPERM, no effect.
        errno_of(unsafe {
            libc::syscall(libc::SYS_open_by_handle_at, -1, std::ptr::null::<u8>(), 0)
        })
    }

    fn probe_getpid_and_write() -> i32 {
        // SAFETY: getpid and a zero-length write to stdout have no effect.
        unsafe {
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 100;
            }
            if libc::write(1, std::ptr::null(), 0) < 0 {
                return 101;
            }
        }
        0
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn listed_calls_fail_with_eperm_once_installed() {
        let f = Filter::build();
        for (name, probe) in [
            ("keyctl", probe_keyctl as fn() -> i32),
            ("perf_event_open", probe_perf),
            ("open_by_handle_at", probe_open_by_handle),
        ] {
            let before = in_child(None, probe);
            // Unprivileged callers may already get EPERM from the kernel,
            // which would prove nothing about the filter.
            if before == libc::EPERM && !is_root() {
                continue;
            }
            assert_ne!(before, libc::EPERM, "{name} without the filter");
            assert_eq!(in_child(Some(&f), probe), libc::EPERM, "{name}");
        }
    }

    #[test]
    fn unlisted_calls_still_work() {
        let f = Filter::build();
        assert_eq!(in_child(Some(&f), probe_getpid_and_write), 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_are_refused_on_the_real_kernel() {
        fn probe() -> i32 {
            // SAFETY: getpid under the x32 bit: ENOSYS or a pid, no effect.
            errno_of(unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) })
        }
        assert_eq!(in_child(Some(&Filter::build()), probe), libc::EPERM);
    }

    /// The compat (int 0x80) entry, when the kernel has IA32 emulation.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_entry_is_filtered_with_its_own_numbers() {
        fn int80(nr: u32, arg1: u32) -> i32 {
            let mut ret = nr as i64;
            // SAFETY: the i386 entry with a NULL/zero argument; rbx is
            // reserved by LLVM, so it is swapped in and out by hand.
            unsafe {
                std::arch::asm!(
                    "xchg {a}, rbx",
                    "int 0x80",
                    "xchg {a}, rbx",
                    a = inout(reg) u64::from(arg1) => _,
                    inout("rax") ret,
                    lateout("rcx") _, lateout("rdx") _,
                    lateout("rsi") _, lateout("rdi") _,
                );
            }
            ret as i32
        }
        fn getpid32() -> i32 {
            // i386 getpid is 20.
            if int80(20, 0) > 0 {
                0
            } else {
                1
            }
        }
        fn perf32() -> i32 {
            // i386 perf_event_open is 336; NULL attr.
            let r = int80(336, 0);
            if r < 0 {
                -r & 0xff
            } else {
                0
            }
        }
        // Without IA32 emulation int 0x80 faults: nothing to test then.
        if !in_child_survives(getpid32) {
            return;
        }
        let f = Filter::build();
        assert_eq!(in_child(Some(&f), getpid32), 0);
        assert_ne!(in_child(None, perf32), libc::EPERM);
        assert_eq!(in_child(Some(&f), perf32), libc::EPERM);
    }

    #[cfg(target_arch = "x86_64")]
    fn in_child_survives(probe: fn() -> i32) -> bool {
        // SAFETY: as in_child.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as in_child.
            unsafe { libc::_exit(probe()) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}
