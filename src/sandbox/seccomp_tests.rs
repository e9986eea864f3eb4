//! Tests of `seccomp` on the real kernel: the filter installed in a forked
//! child. The table and the program's logic are tested as data in the
//! contract crate (helper/contract/tests/seccomp.rs).

use super::*;

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

fn probe_setns() -> i32 {
    // SAFETY: a bad fd: EBADF, no effect.
    errno_of(unsafe { libc::setns(-1, 0) }.into())
}

fn probe_umount2() -> i32 {
    // SAFETY: a NULL path: EFAULT, nothing is unmounted.
    errno_of(unsafe { libc::syscall(libc::SYS_umount2, std::ptr::null::<u8>(), 0 as libc::c_long) })
}

fn probe_fsopen() -> i32 {
    // SAFETY: a NULL file system name: EFAULT, no effect.
    errno_of(unsafe { libc::syscall(libc::SYS_fsopen, std::ptr::null::<u8>(), 0 as libc::c_long) })
}

fn probe_io_uring() -> i32 {
    // SAFETY: zero entries and NULL params: EINVAL/EFAULT, no ring.
    errno_of(unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            0 as libc::c_long,
            std::ptr::null::<u8>(),
        )
    })
}

fn probe_unshare_newuser() -> i32 {
    // SAFETY: changes only this forked child's namespaces.
    errno_of(unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into())
}

/// `clone(flags)` as a raw system call that cannot create a process:
/// `CLONE_SIGHAND` without `CLONE_VM` is EINVAL, which the kernel checks
/// after seccomp has judged the flags.
fn raw_clone_invalid(flags: libc::c_int) -> i32 {
    let flags = flags | libc::CLONE_SIGHAND | libc::SIGCHLD;
    // SAFETY: fails in the kernel before any process exists.
    errno_of(unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })
}

const NAMESPACE_FLAGS: [libc::c_int; 8] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWTIME,
];

/// The errno every namespace flag gets from clone, or 99 if they differ.
fn probe_clone_each_namespace() -> i32 {
    let first = raw_clone_invalid(NAMESPACE_FLAGS[0]);
    if NAMESPACE_FLAGS
        .iter()
        .all(|&f| raw_clone_invalid(f) == first)
    {
        first
    } else {
        99
    }
}

fn probe_clone_plain() -> i32 {
    raw_clone_invalid(0)
}

/// A clone that creates a user namespace unless refused.
fn probe_clone_newuser() -> i32 {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: fork-like (no CLONE_VM, no new stack): the new process runs
    // on its own copy of this stack and only `_exit`s.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if rc == 0 {
        // SAFETY: ends the clone at once.
        unsafe { libc::_exit(0) };
    }
    if rc > 0 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(rc as libc::pid_t, &mut status, 0) };
        return 0;
    }
    errno_of(rc)
}

fn probe_clone3() -> i32 {
    // SAFETY: NULL arguments of size 0: EINVAL from the kernel, no process.
    errno_of(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) })
}

/// `fork` and a thread: glibc forks with a plain clone, and creates threads
/// with clone3 first, falling back to clone on ENOSYS.
fn probe_fork_and_thread() -> i32 {
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        arg
    }
    // SAFETY: the forked child only `_exit`s; the thread only returns its
    // argument, and is joined.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(7);
        }
        if pid < 0 {
            return errno_of(-1);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 7 {
            return 100;
        }
        let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
        let rc = libc::pthread_create(thread.as_mut_ptr(), std::ptr::null(), start, 42 as _);
        if rc != 0 {
            return rc;
        }
        let mut ret = std::ptr::null_mut();
        if libc::pthread_join(thread.assume_init(), &mut ret) != 0 || ret as usize != 42 {
            return 101;
        }
    }
    0
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

/// For tests that need root: true when we are root, else a counted skip.
fn require_root(what: &str) -> bool {
    is_root() || crate::testskip::skip(&format!("{what} needs root (run the suite as root)"))
}

#[test]
fn listed_calls_fail_with_eperm_once_installed() {
    let f = Filter::build();
    for (name, probe) in [
        ("keyctl", probe_keyctl as fn() -> i32),
        ("perf_event_open", probe_perf),
        ("open_by_handle_at", probe_open_by_handle),
        ("setns", probe_setns),
        ("umount2", probe_umount2),
        ("fsopen", probe_fsopen),
        ("io_uring_setup", probe_io_uring),
    ] {
        let before = in_child(None, probe);
        // Unprivileged callers may already get EPERM from the kernel, as
        // may anyone where the io_uring_disabled sysctl says so: that would
        // prove nothing about the filter.
        if before == libc::EPERM && name == "io_uring_setup" {
            // The io_uring_disabled sysctl: the kernel refuses it to everyone.
            continue;
        }
        if before == libc::EPERM && !require_root(&format!("{name} without the filter")) {
            return;
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

#[test]
fn a_new_user_namespace_is_refused() {
    if !require_root("unshare/clone(CLONE_NEWUSER) under the seccomp filter") {
        return;
    }
    let f = Filter::build();
    for (name, probe) in [
        ("unshare", probe_unshare_newuser as fn() -> i32),
        ("clone", probe_clone_newuser),
    ] {
        assert_eq!(
            in_child(None, probe),
            0,
            "{name}(CLONE_NEWUSER) without the filter"
        );
        assert_eq!(
            in_child(Some(&f), probe),
            libc::EPERM,
            "{name}(CLONE_NEWUSER)"
        );
    }
}

#[test]
fn clone_with_any_namespace_flag_is_refused() {
    let f = Filter::build();
    assert_eq!(in_child(None, probe_clone_each_namespace), libc::EINVAL);
    assert_eq!(in_child(Some(&f), probe_clone_each_namespace), libc::EPERM);
    // Without a namespace flag the call reaches the kernel.
    assert_eq!(in_child(Some(&f), probe_clone_plain), libc::EINVAL);
}

#[test]
fn clone3_is_enosys_so_glibc_falls_back() {
    let f = Filter::build();
    if in_child(None, probe_clone3) == libc::ENOSYS {
        crate::testskip::skip("this kernel has no clone3");
        return;
    }
    assert_eq!(in_child(Some(&f), probe_clone3), libc::ENOSYS);
}

#[test]
fn fork_and_threads_still_work() {
    let f = Filter::build();
    assert_eq!(in_child(None, probe_fork_and_thread), 0);
    assert_eq!(in_child(Some(&f), probe_fork_and_thread), 0);
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
    fn errno32(r: i32) -> i32 {
        if r < 0 {
            -r & 0xff
        } else {
            0
        }
    }
    fn perf32() -> i32 {
        // i386 perf_event_open is 336; NULL attr.
        errno32(int80(336, 0))
    }
    fn unshare32() -> i32 {
        // i386 unshare is 310; no flags: a no-op unless refused.
        errno32(int80(310, 0))
    }
    // i386 clone is 120, flags in ebx; CLONE_SIGHAND without CLONE_VM makes
    // the kernel fail it (EINVAL) after seccomp: no process is created.
    fn clone32(flags: libc::c_int) -> i32 {
        errno32(int80(
            120,
            (flags | libc::CLONE_SIGHAND | libc::SIGCHLD) as u32,
        ))
    }
    fn clone32_newuser() -> i32 {
        clone32(libc::CLONE_NEWUSER)
    }
    fn clone32_plain() -> i32 {
        clone32(0)
    }
    // Without IA32 emulation int 0x80 faults: nothing to test then.
    if !in_child_survives(getpid32) {
        crate::testskip::skip("this kernel has no IA32 emulation");
        return;
    }
    let f = Filter::build();
    assert_eq!(in_child(Some(&f), getpid32), 0);
    assert_ne!(in_child(None, perf32), libc::EPERM);
    assert_eq!(in_child(Some(&f), perf32), libc::EPERM);
    assert_eq!(in_child(None, unshare32), 0);
    assert_eq!(in_child(Some(&f), unshare32), libc::EPERM);
    assert_eq!(in_child(None, clone32_newuser), libc::EINVAL);
    assert_eq!(in_child(Some(&f), clone32_newuser), libc::EPERM);
    assert_eq!(in_child(Some(&f), clone32_plain), libc::EINVAL);
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
