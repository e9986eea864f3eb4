//! The seccomp deny-list of real-root sessions (DESIGN.md, cd-mount-helper
//! rule 10): one table, one pure builder of its classic BPF program. Both
//! the main binary (root-mode sessions) and cd-mount-helper install what
//! [`program`] returns; neither keeps a list of its own.
//!
//! What is denied, and why. Real root in a container keeps Docker's default
//! capabilities; the calls below act on the whole host or open kernel
//! attack surface that Docker's default profile closes to a container
//! without `CAP_SYS_ADMIN`:
//! - kernel modules, kexec, reboot and swap;
//! - namespaces: `unshare`, `setns`, `clone` with a namespace flag, and
//!   `clone3` (a new user namespace hands every capability back, within it);
//! - mounts, old and new API (`mount` … `open_tree_attr`, `pivot_root`);
//! - `open_by_handle_at` (the "shocker" escape: any inode of a mounted file
//!   system, by handle) and `name_to_handle_at`;
//! - kernel surface reachable without capabilities: `bpf`, `perf_event_open`,
//!   `userfaultfd`, `io_uring_*` (denied by Docker since 25.0: its requests
//!   bypass seccomp and it has been a steady source of exploits), the
//!   keyring (not namespaced: container root would reach host root's keys),
//!   `fanotify_init`;
//! - host-wide state: accounting, the clocks, the kernel log, quotas,
//!   `vhangup`, `_sysctl`, `ustat`, `sysfs`, `lookup_dcookie`, `nfsservctl`,
//!   `uselib`; and raw hardware: `iopl`, `ioperm`, `vm86`.
//!
//! Every denied call fails with `EPERM`, as a missing capability would, so
//! programs that probe them degrade the way they do under Docker; `clone3`
//! fails with `ENOSYS`, as under Docker, so that glibc falls back to `clone`,
//! whose flags a filter can read (`clone3` passes them behind a pointer).
//! `clone` is refused only when its flags (argument 0 on all four ABIs; the
//! low 32 bits, which are all the kernel reads of a legacy clone) carry
//! `CLONE_NEWNS`, `NEWUTS`, `NEWIPC`, `NEWUSER`, `NEWPID`, `NEWNET`,
//! `NEWCGROUP` or `NEWTIME`: `fork`, `vfork` and threads keep working. (In a
//! legacy clone bit 0x80 is part of the exit signal, so `CLONE_NEWTIME`
//! cannot be asked for there; the bit is refused anyway, which only refuses
//! exit signals ≥ 128, none of which exists.)
//!
//! `ptrace`, `process_vm_readv`/`writev` and `kcmp` stay allowed: Docker
//! allows the first three on kernels ≥ 4.8, where ptrace can no longer
//! bypass seccomp; debuggers, `strace` and CRIU need them; and a session
//! gets its own PID namespace, which limits their reach to its own
//! processes. (Docker allows `kcmp`, like `pidfd_getfd` and
//! `process_madvise`, only with `CAP_SYS_PTRACE`.)
//!
//! ABIs. Each ABI the host kernel runs is covered with its own numbers:
//! x86_64 with i386 (int 0x80 and compat), aarch64 with 32-bit arm. x32
//! system calls (numbers carrying `__X32_SYSCALL_BIT`, seen under the x86_64
//! audit arch) are all refused: mapping the table onto them would add a
//! column for an ABI that essentially no distribution image uses, and
//! leaving them open would let `nr | 0x40000000` bypass every rule. Any other
//! audit arch is allowed untouched: killing unknown programs would be worse
//! than not filtering. ARM's OABI-only entries (22 `umount`, 25 `stime`)
//! cannot run under a filter at all (the kernel offers seccomp filters only
//! without `OABI_COMPAT`); they are listed anyway, their numbers being free
//! in EABI. Numbers come from the kernel's tables
//! (`arch/x86/entry/syscalls/syscall_{64,32}.tbl`,
//! `include/uapi/asm-generic/unistd.h`, `arch/arm/tools/syscall.tbl`); the
//! tests check the native column against `libc`.
//!
//! The program: load the audit arch; for each ABI, one section that is
//! entered only on its arch and ends in its own return instructions, so
//! every jump stays inside its section and within classic BPF's one-byte
//! offsets however many ABIs there are.

use libc::sock_filter;

/// `struct seccomp_data` offsets: `nr`, `arch`, and the low word of
/// `args[0]` (every ABI covered here is little endian).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARG0_LOW: u32 = 16;

/// `AUDIT_ARCH_*` from `<linux/audit.h>`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// `__X32_SYSCALL_BIT`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The clone flags that ask for a new namespace (`CLONE_NEWTIME` is 0x80).
pub const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWTIME) as u32;

pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
pub const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The error a denied call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    Eperm,
    Enosys,
}

impl Errno {
    /// The seccomp return value.
    pub fn ret(self) -> u32 {
        match self {
            Errno::Eperm => RET_EPERM,
            Errno::Enosys => RET_ENOSYS,
        }
    }
}

/// When a call is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only when argument 0, a `clone` flags word, holds a
    /// [`NAMESPACE_FLAGS`] bit; always with `EPERM`.
    NamespaceFlag,
}

/// One denied call and its number per ABI (`None`: the ABI lacks it).
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub name: &'static str,
    pub errno: Errno,
    pub when: When,
    pub x86_64: Option<u32>,
    pub i386: Option<u32>,
    pub aarch64: Option<u32>,
    pub arm: Option<u32>,
}

type Numbers = (Option<u32>, Option<u32>, Option<u32>, Option<u32>);

const fn row(name: &'static str, errno: Errno, when: When, n: Numbers) -> Call {
    Call { name, errno, when, x86_64: n.0, i386: n.1, aarch64: n.2, arm: n.3 }
}

const fn eperm(name: &'static str, n: Numbers) -> Call {
    row(name, Errno::Eperm, When::Always, n)
}

/// A number shared by all four ABIs (calls added since 424 have one number
/// everywhere).
const fn all(nr: u32) -> Numbers {
    (Some(nr), Some(nr), Some(nr), Some(nr))
}

/// The contract. Columns: x86_64, i386, aarch64, arm (EABI).
#[rustfmt::skip]
pub const CALLS: &[Call] = &[
    // Kernel modules, kexec, reboot, swap.
    eperm("init_module",       (Some(175), Some(128), Some(105), Some(128))),
    eperm("finit_module",      (Some(313), Some(350), Some(273), Some(379))),
    eperm("delete_module",     (Some(176), Some(129), Some(106), Some(129))),
    eperm("create_module",     (Some(174), Some(127), None,      None)),
    eperm("get_kernel_syms",   (Some(177), Some(130), None,      None)),
    eperm("query_module",      (Some(178), Some(167), None,      None)),
    eperm("kexec_load",        (Some(246), Some(283), Some(104), Some(347))),
    eperm("kexec_file_load",   (Some(320), None,      Some(294), Some(401))),
    eperm("reboot",            (Some(169), Some(88),  Some(142), Some(88))),
    eperm("swapon",            (Some(167), Some(87),  Some(224), Some(87))),
    eperm("swapoff",           (Some(168), Some(115), Some(225), Some(115))),
    // Namespaces.
    eperm("unshare",           (Some(272), Some(310), Some(97),  Some(337))),
    eperm("setns",             (Some(308), Some(346), Some(268), Some(375))),
    row("clone", Errno::Eperm, When::NamespaceFlag,
                               (Some(56),  Some(120), Some(220), Some(120))),
    row("clone3", Errno::Enosys, When::Always, all(435)),
    // Mounts.
    eperm("mount",             (Some(165), Some(21),  Some(40),  Some(21))),
    eperm("umount",            (None,      Some(22),  None,      Some(22))),
    eperm("umount2",           (Some(166), Some(52),  Some(39),  Some(52))),
    eperm("pivot_root",        (Some(155), Some(217), Some(41),  Some(218))),
    eperm("open_tree",         all(428)),
    eperm("move_mount",        all(429)),
    eperm("fsopen",            all(430)),
    eperm("fsconfig",          all(431)),
    eperm("fsmount",           all(432)),
    eperm("fspick",            all(433)),
    eperm("mount_setattr",     all(442)),
    eperm("open_tree_attr",    all(467)),
    // File handles.
    eperm("open_by_handle_at", (Some(304), Some(342), Some(265), Some(371))),
    eperm("name_to_handle_at", (Some(303), Some(341), Some(264), Some(370))),
    // Kernel surface open to the unprivileged.
    eperm("bpf",               (Some(321), Some(357), Some(280), Some(386))),
    eperm("perf_event_open",   (Some(298), Some(336), Some(241), Some(364))),
    eperm("userfaultfd",       (Some(323), Some(374), Some(282), Some(388))),
    eperm("io_uring_setup",    all(425)),
    eperm("io_uring_enter",    all(426)),
    eperm("io_uring_register", all(427)),
    eperm("keyctl",            (Some(250), Some(288), Some(219), Some(311))),
    eperm("add_key",           (Some(248), Some(286), Some(217), Some(309))),
    eperm("request_key",       (Some(249), Some(287), Some(218), Some(310))),
    eperm("fanotify_init",     (Some(300), Some(338), Some(262), Some(367))),
    // Host-wide state.
    eperm("acct",              (Some(163), Some(51),  Some(89),  Some(51))),
    eperm("settimeofday",      (Some(164), Some(79),  Some(170), Some(79))),
    eperm("stime",             (None,      Some(25),  None,      Some(25))),
    eperm("clock_settime",     (Some(227), Some(264), Some(112), Some(262))),
    eperm("clock_settime64",   (None,      Some(404), None,      Some(404))),
    eperm("clock_adjtime",     (Some(305), Some(343), Some(266), Some(372))),
    eperm("clock_adjtime64",   (None,      Some(405), None,      Some(405))),
    eperm("adjtimex",          (Some(159), Some(124), Some(171), Some(124))),
    eperm("syslog",            (Some(103), Some(103), Some(116), Some(103))),
    eperm("vhangup",           (Some(153), Some(111), Some(58),  Some(111))),
    eperm("quotactl",          (Some(179), Some(131), Some(60),  Some(131))),
    eperm("quotactl_fd",       all(443)),
    eperm("nfsservctl",        (Some(180), Some(169), Some(42),  Some(169))),
    eperm("_sysctl",           (Some(156), Some(149), None,      Some(149))),
    eperm("ustat",             (Some(136), Some(62),  None,      Some(62))),
    eperm("sysfs",             (Some(139), Some(135), None,      Some(135))),
    eperm("lookup_dcookie",    (Some(212), Some(253), Some(18),  Some(249))),
    eperm("uselib",            (Some(134), Some(86),  None,      Some(86))),
    // Raw hardware.
    eperm("iopl",              (Some(172), Some(110), None,      None)),
    eperm("ioperm",            (Some(173), Some(101), None,      None)),
    eperm("vm86",              (None,      Some(166), None,      None)),
    eperm("vm86old",           (None,      Some(113), None,      None)),
];

/// Names of the denied calls (`clone` only with namespace flags), for
/// `--get-chroot-cmd` notes and `info`.
pub fn denied_names() -> &'static [&'static str] {
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

/// A system-call ABI, with its audit arch and its column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    X86_64,
    I386,
    Aarch64,
    Arm,
}

impl Abi {
    pub const ALL: [Abi; 4] = [Abi::X86_64, Abi::I386, Abi::Aarch64, Abi::Arm];

    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
            Abi::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// This ABI's number for `call`.
    pub fn number(self, call: &Call) -> Option<u32> {
        match self {
            Abi::X86_64 => call.x86_64,
            Abi::I386 => call.i386,
            Abi::Aarch64 => call.aarch64,
            Abi::Arm => call.arm,
        }
    }
}

/// The ABIs the kernel runs for programs on the host this was built for.
pub const HOST_ABIS: &[Abi] = if cfg!(target_arch = "x86_64") {
    &[Abi::X86_64, Abi::I386]
} else if cfg!(target_arch = "x86") {
    &[Abi::I386]
} else if cfg!(target_arch = "aarch64") {
    &[Abi::Aarch64, Abi::Arm]
} else if cfg!(target_arch = "arm") {
    &[Abi::Arm]
} else {
    &[]
};

/// The deny-list for this host's ABIs.
pub fn host_program() -> Vec<sock_filter> {
    program(HOST_ABIS)
}

/// The deny-list as a classic BPF program covering `abis`; any other arch
/// is allowed.
pub fn program(abis: &[Abi]) -> Vec<sock_filter> {
    let mut prog = vec![stmt(LD_W_ABS, DATA_ARCH)];
    for &abi in abis {
        let body = section(abi);
        // Not this ABI: skip its section, the arch still loaded.
        prog.push(jump(JEQ_K, abi.audit_arch(), 0, body.len()));
        prog.extend(body);
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    assert!(prog.len() <= MAX_INSNS, "seccomp program too long");
    prog
}

/// Where a matched number goes, inside its section.
#[derive(Clone, Copy)]
enum Target {
    CloneCheck,
    Eperm,
    Enosys,
}

/// One ABI: load the number, match it, return. Layout: the number checks,
/// `ALLOW` (no match), then the clone flags check and its `ALLOW`, then
/// `EPERM` and `ENOSYS`.
fn section(abi: Abi) -> Vec<sock_filter> {
    let deny_x32 = abi == Abi::X86_64;
    let rows: Vec<(u32, Target)> = CALLS
        .iter()
        .filter_map(|c| {
            let target = match (c.when, c.errno) {
                (When::NamespaceFlag, _) => Target::CloneCheck,
                (When::Always, Errno::Eperm) => Target::Eperm,
                (When::Always, Errno::Enosys) => Target::Enosys,
            };
            Some((abi.number(c)?, target))
        })
        .collect();
    let allow = 1 + usize::from(deny_x32) + rows.len();
    let clone_check = allow + 1;
    let eperm = clone_check + 4;
    let enosys = eperm + 1;
    let to = |from: usize, t: Target| -> usize {
        let at = match t {
            Target::CloneCheck => clone_check,
            Target::Eperm => eperm,
            Target::Enosys => enosys,
        };
        at - from - 1
    };

    let mut body = vec![stmt(LD_W_ABS, DATA_NR)];
    if deny_x32 {
        body.push(jump(JGE_K, X32_SYSCALL_BIT, to(body.len(), Target::Eperm), 0));
    }
    for (nr, target) in rows {
        body.push(jump(JEQ_K, nr, to(body.len(), target), 0));
    }
    body.push(stmt(RET_K, RET_ALLOW));
    debug_assert_eq!(body.len(), clone_check);
    body.push(stmt(LD_W_ABS, DATA_ARG0_LOW));
    body.push(stmt(AND_K, NAMESPACE_FLAGS));
    // No namespace flag: allow (next); else EPERM (after it).
    body.push(jump(JEQ_K, 0, 0, 1));
    body.push(stmt(RET_K, RET_ALLOW));
    debug_assert_eq!(body.len(), eperm);
    body.push(stmt(RET_K, RET_EPERM));
    body.push(stmt(RET_K, RET_ENOSYS));
    body
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

/// A conditional jump; offsets count instructions after the next one.
fn jump(code: u16, k: u32, jt: usize, jf: usize) -> sock_filter {
    let offset = |n: usize| u8::try_from(n).expect("seccomp section too long for BPF jumps");
    sock_filter { code, jt: offset(jt), jf: offset(jf), k }
}
