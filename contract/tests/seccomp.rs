//! The deny-list as data: the table's numbers, and the program's verdict
//! for every ABI, number and clone flag, run through a small interpreter.

use session_contract::seccomp::{
    denied_names, host_program, program, Abi, Call, Errno, When, AUDIT_ARCH_ARM, AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64, CALLS, HOST_ABIS, MAX_INSNS, NAMESPACE_FLAGS, RET_ALLOW, RET_ENOSYS,
    RET_EPERM, X32_SYSCALL_BIT,
};

/// What a system call shows the filter.
#[derive(Clone, Copy)]
struct Data {
    arch: u32,
    nr: u32,
    arg0: u64,
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// A classic BPF interpreter for the opcodes the builder emits, reading a
/// little-endian `struct seccomp_data`.
fn run(prog: &[libc::sock_filter], d: Data) -> u32 {
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        match i.code {
            LD_W_ABS => {
                acc = match i.k {
                    0 => d.nr,
                    4 => d.arch,
                    16 => d.arg0 as u32,
                    20 => (d.arg0 >> 32) as u32,
                    k => panic!("load at {k}"),
                }
            }
            AND_K => acc &= i.k,
            JEQ_K | JGE_K => {
                let hit = if i.code == JEQ_K { acc == i.k } else { acc >= i.k };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            RET_K => return i.k,
            op => panic!("opcode {op:#x}"),
        }
        pc += 1;
    }
}

fn call(abi: Abi, nr: u32, arg0: u64) -> u32 {
    run(&program(&Abi::ALL), Data { arch: abi.audit_arch(), nr, arg0 })
}

/// What the contract says about (abi, nr, arg0).
fn expected(abi: Abi, nr: u32, arg0: u64) -> u32 {
    let Some(c) = CALLS.iter().find(|c| abi.number(c) == Some(nr)) else {
        return RET_ALLOW;
    };
    match c.when {
        When::NamespaceFlag if arg0 as u32 & NAMESPACE_FLAGS == 0 => RET_ALLOW,
        _ => c.errno.ret(),
    }
}

/// `clone` flags of ordinary programs, and each namespace flag alone.
const PLAIN_CLONES: [u64; 4] = [
    libc::SIGCHLD as u64,
    // glibc fork: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD.
    0x0120_0011,
    // vfork: CLONE_VM | CLONE_VFORK | SIGCHLD.
    0x4111,
    // pthread_create.
    0x003d_0f00,
];

fn namespace_flags() -> impl Iterator<Item = u64> {
    (0..32).map(|b| 1u64 << b).filter(|f| *f as u32 & NAMESPACE_FLAGS != 0)
}

#[test]
fn every_abi_denies_its_own_numbers_only() {
    let prog = program(&Abi::ALL);
    for abi in Abi::ALL {
        for nr in 0..1024 {
            for arg0 in [0, PLAIN_CLONES[1], libc::CLONE_NEWUSER as u64] {
                let d = Data { arch: abi.audit_arch(), nr, arg0 };
                assert_eq!(
                    run(&prog, d),
                    expected(abi, nr, arg0),
                    "{abi:?} nr {nr} arg0 {arg0:#x}"
                );
            }
        }
    }
    // Numbers do not leak across ABIs: x86_64's keyctl (250) is i386's
    // fadvise64, and i386's keyctl (288) is x86_64's accept4.
    assert_eq!(call(Abi::I386, 250, 0), RET_ALLOW);
    assert_eq!(call(Abi::X86_64, 288, 0), RET_ALLOW);
    // x86_64's clone (56) is aarch64's openat.
    assert_eq!(call(Abi::Aarch64, 56, libc::CLONE_NEWUSER as u64), RET_ALLOW);
}

#[test]
fn the_host_program_covers_the_host_abis() {
    let prog = host_program();
    for &abi in HOST_ABIS {
        for nr in 0..1024 {
            let d = Data { arch: abi.audit_arch(), nr, arg0: libc::CLONE_NEWNS as u64 };
            assert_eq!(run(&prog, d), expected(abi, nr, d.arg0), "{abi:?} nr {nr}");
        }
    }
    if cfg!(target_arch = "x86_64") {
        assert_eq!(HOST_ABIS, &[Abi::X86_64, Abi::I386]);
    }
}

#[test]
fn clone_is_denied_only_with_a_namespace_flag() {
    let clone = CALLS.iter().find(|c| c.name == "clone").unwrap();
    assert_eq!(clone.when, When::NamespaceFlag);
    assert_eq!(namespace_flags().count(), 8);
    for abi in Abi::ALL {
        let nr = abi.number(clone).unwrap();
        for flags in PLAIN_CLONES {
            assert_eq!(call(abi, nr, flags), RET_ALLOW, "{abi:?} {flags:#x}");
        }
        for ns in namespace_flags() {
            for flags in PLAIN_CLONES {
                assert_eq!(call(abi, nr, flags | ns), RET_EPERM, "{abi:?} {:#x}", flags | ns);
            }
        }
        // The kernel reads only the low word of a legacy clone's flags.
        assert_eq!(call(abi, nr, (1 << 32) | PLAIN_CLONES[0]), RET_ALLOW);
    }
}

#[test]
fn clone3_is_enosys_so_glibc_falls_back_to_clone() {
    let clone3 = CALLS.iter().find(|c| c.name == "clone3").unwrap();
    assert_eq!(clone3.errno, Errno::Enosys);
    for abi in Abi::ALL {
        assert_eq!(call(abi, abi.number(clone3).unwrap(), 0), RET_ENOSYS);
    }
    assert_eq!(CALLS.iter().filter(|c| c.errno == Errno::Enosys).count(), 1);
}

#[test]
fn x32_is_refused_and_unknown_arches_allowed() {
    for nr in [0, 39, 56, 512, 547] {
        assert_eq!(call(Abi::X86_64, X32_SYSCALL_BIT | nr, 0), RET_EPERM);
    }
    // The x32 rule belongs to x86_64 only.
    let arm = Data { arch: AUDIT_ARCH_ARM, nr: X32_SYSCALL_BIT, arg0: 0 };
    assert_eq!(run(&program(&Abi::ALL), arm), RET_ALLOW);
    // riscv64 and anything else: untouched, even for listed numbers.
    for nr in [0, 97, 105, 219, 250, 435] {
        let d = Data { arch: 0xc000_00f3, nr, arg0: libc::CLONE_NEWUSER as u64 };
        assert_eq!(run(&program(&Abi::ALL), d), RET_ALLOW);
    }
    // An ABI left out of the program is allowed like any unknown arch.
    let i386_only = program(&[Abi::I386]);
    let d = Data { arch: AUDIT_ARCH_X86_64, nr: 250, arg0: 0 };
    assert_eq!(run(&i386_only, d), RET_ALLOW);
    assert_eq!(run(&i386_only, Data { arch: AUDIT_ARCH_I386, nr: 288, arg0: 0 }), RET_EPERM);
    assert_eq!(run(&program(&[]), d), RET_ALLOW);
}

/// What the kernel's `bpf_check_classic` demands: every jump lands inside
/// the program, the last instruction returns, and the length is allowed.
#[test]
fn programs_pass_the_kernels_checks() {
    for abis in [&Abi::ALL[..], HOST_ABIS, &[Abi::Arm], &[]] {
        let prog = program(abis);
        assert!(prog.len() <= MAX_INSNS);
        assert_eq!(prog.last().unwrap().code, RET_K);
        for (pc, i) in prog.iter().enumerate() {
            if matches!(i.code, JEQ_K | JGE_K) {
                let far = pc + 1 + usize::from(i.jt.max(i.jf));
                assert!(far < prog.len(), "jump out at {pc}");
            }
        }
    }
    // Two ABIs of ~60 calls each: well under the old one-byte limit, which
    // each section now keeps on its own.
    assert!(host_program().len() < 256, "{}", host_program().len());
}

#[test]
fn the_table_is_consistent() {
    let names = denied_names();
    assert_eq!(names.len(), CALLS.len());
    for (i, c) in CALLS.iter().enumerate() {
        assert_eq!(names[i], c.name);
        assert!(!names[..i].contains(&c.name), "{} twice", c.name);
        assert!(Abi::ALL.iter().any(|a| a.number(c).is_some()), "{} has no number", c.name);
    }
    for abi in Abi::ALL {
        let mut nrs: Vec<u32> = CALLS.iter().filter_map(|c| abi.number(c)).collect();
        let n = nrs.len();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), n, "{abi:?} lists a number twice");
    }
    for must in [
        "open_by_handle_at",
        "kexec_load",
        "init_module",
        "bpf",
        "keyctl",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "mount",
        "umount2",
        "pivot_root",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "syslog",
        "vhangup",
        "fanotify_init",
        "io_uring_setup",
    ] {
        assert!(names.contains(&must), "{must}");
    }
    for allowed in ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "chroot"] {
        assert!(!names.contains(&allowed), "{allowed}");
    }
}

fn number_of(name: &str, abi: Abi) -> Option<u32> {
    let c: &Call = CALLS.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name}"));
    abi.number(c)
}

/// The native column against `libc`'s constants. Names `libc` lacks
/// (removed calls, the time64 variants) are checked against the kernel's
/// tables by hand.
#[cfg(target_arch = "x86_64")]
#[test]
fn native_numbers_match_libc() {
    let known: &[(&str, libc::c_long)] = &[
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("reboot", libc::SYS_reboot),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("open_tree", libc::SYS_open_tree),
        ("move_mount", libc::SYS_move_mount),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("fanotify_init", libc::SYS_fanotify_init),
        ("acct", libc::SYS_acct),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("syslog", libc::SYS_syslog),
        ("vhangup", libc::SYS_vhangup),
        ("quotactl", libc::SYS_quotactl),
        ("quotactl_fd", libc::SYS_quotactl_fd),
        ("nfsservctl", libc::SYS_nfsservctl),
        ("_sysctl", libc::SYS__sysctl),
        ("ustat", libc::SYS_ustat),
        ("sysfs", libc::SYS_sysfs),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("uselib", libc::SYS_uselib),
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
    ];
    // From arch/x86/entry/syscalls/syscall_64.tbl; libc has no constant.
    let by_hand = [
        ("create_module", 174),
        ("get_kernel_syms", 177),
        ("query_module", 178),
        ("open_tree_attr", 467),
    ];
    let by_hand = by_hand.iter().map(|&(n, nr)| (n, nr as libc::c_long));
    let all: Vec<(&str, libc::c_long)> = known.iter().copied().chain(by_hand).collect();
    for c in CALLS {
        let want = all.iter().find(|(n, _)| *n == c.name).map(|(_, nr)| *nr as u32);
        assert_eq!(c.x86_64, want, "{}", c.name);
    }
    // Not native here: i386 only, or 32-bit time, or ARM OABI.
    for name in ["stime", "clock_settime64", "clock_adjtime64", "umount", "vm86", "vm86old"] {
        assert_eq!(number_of(name, Abi::X86_64), None, "{name}");
    }
}

#[cfg(target_arch = "aarch64")]
#[test]
fn native_numbers_match_libc() {
    for (name, nr) in [
        ("keyctl", libc::SYS_keyctl),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("clone", libc::SYS_clone),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("init_module", libc::SYS_init_module),
        ("bpf", libc::SYS_bpf),
        ("syslog", libc::SYS_syslog),
        ("vhangup", libc::SYS_vhangup),
        ("fanotify_init", libc::SYS_fanotify_init),
    ] {
        assert_eq!(number_of(name, Abi::Aarch64), Some(nr as u32), "{name}");
    }
}
