//! PID 1 of a session's namespace. The kernel delivers to a namespace's
//! init only the signals it handles, so a command running as PID 1 would
//! shrug off Ctrl-C and `kill`; and when PID 1 leaves, the kernel kills
//! every process left in the namespace, which is how a session ends whole.
//! This init holds nothing: the command's ids, no capability, no fd.

use crate::enter;
use crate::refusal::{OrSetup, Refusal};
use crate::request::Request;
use crate::session::Never;
use caps::CapSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The command's pid, for the signal handler.
static COMMAND: AtomicI32 = AtomicI32::new(0);

/// Passed on to the command: what a shell or a service manager sends.
const FORWARDED: [libc::c_int; 6] =
    [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

extern "C" fn forward(sig: libc::c_int) {
    // SAFETY: kill is async-signal-safe.
    unsafe { libc::kill(COMMAND.load(Ordering::Relaxed), sig) };
}

/// Waits for `command`, then leaves with its status. `alive` is the read
/// end of a pipe whose writer is the waiting helper.
pub fn run(command: libc::pid_t, req: &Request, alive: OwnedFd) -> Result<Never, Refusal> {
    COMMAND.store(command, Ordering::Relaxed);
    enter::set_ids(req.uid, req.gid, &req.groups)?;
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable, CapSet::Ambient] {
        caps::clear(None, set).or_setup("drop capabilities")?;
    }
    // SAFETY: plain syscalls on our own process; the handler only calls kill.
    unsafe {
        // Set after the credential change, which clears it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let mut hup = libc::pollfd { fd: alive.as_raw_fd(), events: 0, revents: 0 };
        if libc::poll(&mut hup, 1, 0) != 0 {
            libc::kill(command, libc::SIGKILL);
            libc::_exit(crate::refusal::Rule::Setup.exit_code().into());
        }
        drop(alive);
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        for sig in FORWARDED {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
        }
        let mut status = 0;
        loop {
            let pid = libc::waitpid(-1, &mut status, 0);
            if pid == command {
                break;
            }
            let interrupted = std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
            if pid < 0 && !interrupted {
                libc::_exit(crate::refusal::Rule::Setup.exit_code().into());
            }
        }
        libc::_exit(session_contract::command::exit_code(status).into())
    }
}
