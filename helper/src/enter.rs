//! Rule 8: leaving the helper for the command: the session's capabilities,
//! the target user, a working directory verified inside the new root, and
//! an exec with nothing of ours left open.

use crate::refusal::{os, OrSetup, Refusal, Rule};
use crate::request::Request;
use crate::session::Never;
use caps::CapSet;
use std::ffi::CString;

/// All of a process's ids at once (single-threaded, so no other thread
/// keeps the old ones).
pub fn set_ids(uid: u32, gid: u32, groups: &[u32]) -> Result<(), Refusal> {
    // SAFETY: credential syscalls with a valid buffer.
    let ok = unsafe {
        libc::setgroups(groups.len(), groups.as_ptr()) == 0
            && libc::setresgid(gid, gid, gid) == 0
            && libc::setresuid(uid, uid, uid) == 0
            // A credential change resets dumpability to fs.suid_dumpable,
            // which an admin may have set to 1: never dumpable while ours.
            && libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    };
    os(ok, format_args!("switch to uid {uid} gid {gid}"))
}

/// Rule 8: the session's capability set, then the target user's ids.
pub fn drop_to_user(req: &Request, allowed: &[u8]) -> Result<(), Refusal> {
    let session: Vec<caps::Capability> = match req.privileged {
        true => {
            caps::read(None, CapSet::Permitted).or_setup("read capabilities")?.into_iter().collect()
        }
        false => caps::all().into_iter().filter(|c| allowed.contains(&c.index())).collect(),
    };
    for cap in caps::all().into_iter().filter(|c| !session.contains(c)) {
        caps::drop(None, CapSet::Bounding, cap).or_setup("shrink the bounding set")?;
    }
    set_ids(req.uid, req.gid, &req.groups)?;
    // Root keeps the session set; any other user gets none (the kernel
    // already cleared them on the uid change; clear them explicitly anyway).
    let keep: &[caps::Capability] = if req.uid == 0 { &session } else { &[] };
    // Empty inheritable and ambient sets, as Docker since CVE-2022-24769.
    for set in [CapSet::Ambient, CapSet::Inheritable] {
        caps::clear(None, set).or_setup("clear inheritable capabilities")?;
    }
    for set in [CapSet::Effective, CapSet::Permitted] {
        caps::set(None, set, &keep.iter().copied().collect())
            .or_setup("set the session's capabilities")?;
    }
    Ok(())
}

/// The command, found and converted while our own root is still the
/// container's, then exec'd with nothing of ours left.
pub fn exec(req: &Request) -> Result<Never, Refusal> {
    let cmd = session_contract::command::prepare(&req.argv, &req.env)?;
    let ptrs =
        |v: &[CString]| v.iter().map(|c| c.as_ptr()).chain([std::ptr::null()]).collect::<Vec<_>>();
    let (argv, envp) = (ptrs(&cmd.argv), ptrs(&cmd.envp));
    if !req.privileged {
        deny_list()?;
    }
    // SAFETY: plain syscalls; the pointer arrays are NUL-terminated and live.
    unsafe {
        // Rust ignores SIGPIPE for itself; the command gets the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // If our init dies, so does the command. Set last: a credential
        // change would clear it. Then check the init (PID 1) is still there.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != 1 {
            libc::_exit(Rule::Setup.exit_code().into());
        }
        // On a terminal, the command's own process group in the foreground,
        // so the terminal's Ctrl-C reaches it and not its init.
        if libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() {
            libc::setpgid(0, 0);
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(0, libc::getpid());
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
        }
        // No descriptor of ours may reach the container: all close on exec
        // (marked, not closed, so a failed exec still owns what it holds).
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
            (3..1024).for_each(|fd| {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            });
        }
        libc::execve(cmd.prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    Err(session_contract::command::exec_failed(&cmd.program, std::io::Error::last_os_error()))
}

/// Rule 10: the seccomp deny-list for sessions other than --privileged, at
/// least what Docker's default profile denies a container without
/// CAP_SYS_ADMIN. The list and its BPF program are the session contract's
/// (`session_contract::seccomp`), shared with the main binary; every ABI the
/// kernel runs is filtered with its own numbers, so i386 programs keep
/// working. Needs no privilege: no_new_privs is already set.
fn deny_list() -> Result<(), Refusal> {
    let mut p = session_contract::seccomp::host_program();
    // At most BPF_MAXINSNS (4096) instructions, asserted when built.
    let prog = libc::sock_fprog { len: p.len() as u16, filter: p.as_mut_ptr() };
    // SAFETY: the program outlives the call; the kernel copies it.
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) };
    os(r == 0, "install the seccomp filter")
}
