//! Probes that run in a forked child.
//!
//! Entering a user namespace or switching personality changes the process
//! that does it, and on Android a syscall outside the app seccomp allow-list
//! kills it with SIGSYS. So each such syscall is tried in a child that only
//! makes raw syscalls (no allocation, no locks: it may be the fork of a
//! multithreaded test process) and reports through its exit status.

use super::os_reason;
use std::ffi::CStr;
use std::io;

/// How a probe child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exited(u8),
    /// Killed, e.g. SIGSYS from a seccomp filter.
    Signaled(i32),
}

/// Runs `probe` in a child and waits for it. `probe` must only make
/// async-signal-safe calls.
fn run(probe: impl FnOnce() -> u8) -> Result<Outcome, String> {
    // SAFETY: the child only runs `probe` (raw syscalls on data prepared
    // before the fork) and then _exit, which skips atexit handlers and
    // destructors of state it shares with the parent.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", os_reason(&io::Error::last_os_error())));
    }
    if pid == 0 {
        let code = probe();
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(i32::from(code)) }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("waitpid: {}", os_reason(&e)));
        }
    }
    if libc::WIFEXITED(status) {
        Ok(Outcome::Exited(libc::WEXITSTATUS(status) as u8))
    } else {
        Ok(Outcome::Signaled(libc::WTERMSIG(status)))
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn describe_errno(e: i32) -> String {
    os_reason(&io::Error::from_raw_os_error(e))
}

fn blocked(sig: i32) -> String {
    if sig == libc::SIGSYS {
        "blocked by a seccomp filter (SIGSYS)".into()
    } else {
        format!("probe killed by signal {sig}")
    }
}

/// Steps of the user-namespace probe, as the exit code encodes them:
/// `step * STEP + errno` (errno capped below `STEP`).
const STEP: u8 = 50;
const USERNS_STEPS: [&str; 4] = [
    "unshare(CLONE_NEWUSER)",
    "writing uid_map/gid_map",
    "unshare(CLONE_NEWNS)",
    "making / private in the new mount namespace",
];

/// Whether this process could set up a rootless session: enter a new user
/// namespace, map itself to root there, and mount in a new mount namespace
/// (AppArmor's userns restriction lets the first step succeed and fails the
/// last). `Ok(None)` when it works, `Ok(Some(why))` when it does not.
pub fn userns(uid: u32, gid: u32) -> Result<Option<String>, String> {
    let uid_map = format!("0 {uid} 1");
    let gid_map = format!("0 {gid} 1");
    let outcome = run(|| {
        let fail = |step: u8| step * STEP + errno().clamp(0, i32::from(STEP) - 1) as u8;
        // SAFETY (all below): raw syscalls on NUL-terminated constants and
        // buffers allocated before the fork.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return fail(1);
            }
            // Absent before Linux 3.19; gid_map needs it where present.
            let _ = write_file(c"/proc/self/setgroups", b"deny");
            if !write_file(c"/proc/self/uid_map", uid_map.as_bytes())
                || !write_file(c"/proc/self/gid_map", gid_map.as_bytes())
            {
                return fail(2);
            }
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return fail(3);
            }
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            let none = std::ptr::null();
            if libc::mount(none, c"/".as_ptr(), none, flags, std::ptr::null()) != 0 {
                return fail(4);
            }
        }
        0
    })?;
    match outcome {
        Outcome::Exited(0) => Ok(None),
        Outcome::Exited(code) if code >= STEP => {
            let step = USERNS_STEPS
                .get(usize::from(code / STEP) - 1)
                .copied()
                .unwrap_or("unknown step");
            Ok(Some(format!(
                "{step}: {}",
                describe_errno(i32::from(code % STEP))
            )))
        }
        Outcome::Exited(code) => Err(format!("probe exited with {code}")),
        Outcome::Signaled(sig) => Ok(Some(blocked(sig))),
    }
}

/// Writes all of `data` to an existing file; async-signal-safe.
unsafe fn write_file(path: &CStr, data: &[u8]) -> bool {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return false;
    }
    let n = libc::write(fd, data.as_ptr().cast(), data.len());
    libc::close(fd);
    n == data.len() as isize
}

/// `landlock_create_ruleset` is 444 on every architecture (it postdates the
/// unified syscall table).
const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;

/// The Landlock ABI version; `Ok(Err(why))` when the kernel has none.
pub fn landlock_abi() -> Result<Result<u32, String>, String> {
    let outcome = run(|| {
        // SAFETY: the documented version query: NULL attr, size 0.
        let r = unsafe {
            libc::syscall(
                SYS_LANDLOCK_CREATE_RULESET,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        match r {
            1..=199 => r as u8,
            _ if errno() == libc::ENOSYS => 250,
            _ if errno() == libc::EOPNOTSUPP => 251,
            _ => 252,
        }
    })?;
    match outcome {
        Outcome::Exited(abi @ 1..=199) => Ok(Ok(u32::from(abi))),
        Outcome::Exited(250) => Ok(Err("not supported by this kernel".into())),
        Outcome::Exited(251) => Ok(Err("not supported (disabled at boot)".into())),
        Outcome::Exited(code) => Err(format!("unexpected answer ({code})")),
        Outcome::Signaled(sig) => Ok(Err(blocked(sig))),
    }
}

/// Whether `openat2` with `RESOLVE_IN_ROOT` works: `Ok(Err(why))` when not.
pub fn openat2() -> Result<Result<(), String>, String> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
    let outcome = run(|| {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::openat2(CWD, c"/", flags, Mode::empty(), ResolveFlags::IN_ROOT) {
            Ok(_fd) => 0,
            Err(e) => 100u8.saturating_add(e.raw_os_error().clamp(0, 150) as u8),
        }
    })?;
    match outcome {
        Outcome::Exited(0) => Ok(Ok(())),
        Outcome::Exited(code @ 100..) => Ok(Err(match i32::from(code - 100) {
            libc::ENOSYS => "not supported by this kernel (< 5.6)".into(),
            e => describe_errno(e),
        })),
        Outcome::Exited(code) => Err(format!("unexpected answer ({code})")),
        Outcome::Signaled(sig) => Ok(Err(blocked(sig))),
    }
}

/// Whether the kernel runs 32-bit programs: `personality(PER_LINUX32)` is
/// refused with EINVAL by arm64 kernels without AArch32 at EL0.
pub fn accepts_linux32() -> Result<bool, String> {
    const PER_LINUX32: u32 = 0x0008;
    let outcome = run(|| {
        // SAFETY: changes only the child's personality.
        let r = unsafe { libc::personality(PER_LINUX32 as _) };
        match r {
            -1 if errno() == libc::EINVAL => 1,
            -1 => 2,
            _ => 0,
        }
    })?;
    match outcome {
        Outcome::Exited(0) => Ok(true),
        Outcome::Exited(1) => Ok(false),
        Outcome::Exited(_) => Err("personality(PER_LINUX32) failed".into()),
        Outcome::Signaled(sig) => Err(blocked(sig)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_come_back() {
        assert_eq!(run(|| 7), Ok(Outcome::Exited(7)));
        let sig = run(|| {
            // SAFETY: raising a signal in the child only.
            unsafe { libc::raise(libc::SIGUSR1) };
            0
        });
        assert_eq!(sig, Ok(Outcome::Signaled(libc::SIGUSR1)));
    }

    #[test]
    fn kernel_probes_answer_what_the_kernel_does() {
        // Each probe's answer is held to the same question asked another
        // way, outside a probe child; and it must not disturb us.
        let before = std::fs::read_link("/proc/self/ns/user").ok();
        let answer = userns(
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        )
        .unwrap();
        assert_eq!(std::fs::read_link("/proc/self/ns/user").ok(), before);
        let unshare = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "true"])
            .status()
            .unwrap();
        assert_eq!(answer.is_none(), unshare.success(), "{answer:?}");

        // The version query has no side effect: ask it here directly.
        // SAFETY: NULL attr, size 0, the version flag.
        let abi = unsafe {
            libc::syscall(
                SYS_LANDLOCK_CREATE_RULESET,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        match landlock_abi().unwrap() {
            Ok(v) => assert_eq!(i64::from(v), abi as i64),
            Err(why) => assert!(abi < 0, "{why}, yet ABI {abi}"),
        }

        use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let direct = rustix::fs::openat2(CWD, c"/", flags, Mode::empty(), ResolveFlags::IN_ROOT);
        assert_eq!(openat2().unwrap().is_ok(), direct.is_ok(), "{direct:?}");

        #[cfg(target_arch = "x86_64")]
        assert_eq!(accepts_linux32(), Ok(true));
    }
}
