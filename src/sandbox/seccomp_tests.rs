//! Tests of `seccomp`.

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
                if unsafe {
                    libc::prctl(
                        libc::PR_SET_NO_NEW_PRIVS,
                        1 as libc::c_ulong,
                        0 as libc::c_ulong,
                        0 as libc::c_ulong,
                        0 as libc::c_ulong,
                    )
                } != 0
                {
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
            0 as libc::c_long,
        )
    })
}

fn probe_perf() -> i32 {
    // SAFETY: a NULL attr makes the kernel fail with EFAULT, nothing else.
    errno_of(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            std::ptr::null::<u8>(),
            0 as libc::c_long,
            -1 as libc::c_long,
            -1 as libc::c_long,
            0 as libc::c_ulong,
        )
    })
}

fn probe_open_by_handle() -> i32 {
    // SAFETY: bad fd and NULL handle: EBADF/EFAULT/EPERM, no effect.
    errno_of(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            -1 as libc::c_long,
            std::ptr::null::<u8>(),
            0 as libc::c_long,
        )
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
