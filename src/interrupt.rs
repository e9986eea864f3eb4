//! Ctrl-C during a mutation: the child dies with the signal, we survive it
//! long enough to remove the staging directory, then exit 130. In the
//! library, not the binary, because downloads in flight must see it and
//! stop at once (a stalled read would otherwise hold the install).

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT and SIGHUP for the rest of the process.
pub fn catch() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        for sig in [libc::SIGINT, libc::SIGHUP] {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

pub fn happened() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
