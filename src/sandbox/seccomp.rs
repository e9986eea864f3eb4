//! Installs the session contract's seccomp deny-list in root-mode sessions.
//!
//! The list itself, its per-ABI numbers and the BPF program live in the
//! `cd-session-contract` crate (`session_contract::seccomp`), shared with
//! cd-mount-helper so that both kinds of real-root session are held to the
//! same contract (DESIGN.md, cd-mount-helper rule 10); what is denied and
//! why is written there. Only the installation is here.
//!
//! Use: build the [`Filter`] before forking or dropping privileges (it
//! allocates), then [`Filter::install`] in the session child after chroot
//! and the capability drop, right before exec. The caller must have set
//! `no_new_privs` or hold `CAP_SYS_ADMIN`.

use session_contract::seccomp as contract;
use std::io;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_uint = 1;

/// Names of the denied calls, for `--get-chroot-cmd` notes and `info`.
pub fn deny_list_names() -> &'static [&'static str] {
    contract::denied_names()
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot install the seccomp filter: {0}")]
    Install(#[source] io::Error),
    /// TSYNC found a thread already under a different filter.
    #[error("cannot install the seccomp filter: thread {tid} has an incompatible filter")]
    ThreadSync { tid: libc::c_long },
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

impl Filter {
    /// The deny-list for this host's ABIs.
    pub fn build() -> Self {
        Self {
            prog: contract::host_program(),
        }
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
            // At most BPF_MAXINSNS (4096) instructions, asserted when built.
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
