//! Starting a session inside a container: a re-executed child
//! (`chroot-distro __session`) that enters a private mount namespace,
//! mounts what the session needs beneath the rootfs, chroots, drops to the
//! target user and executes the command. This is the root-mode path; the
//! applet stays its parent and reports its exit status.

pub mod child;
pub mod mounts;
pub mod prepare;
pub mod registry;
pub mod script;
pub mod target;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Hidden applet name of the session child.
pub const CHILD_APPLET: &str = "__session";

/// Everything the child needs, computed by the applet (no parsing of
/// guest files happens after privilege-relevant steps start).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub rootfs: PathBuf,
    pub minimal: bool,
    /// New PID/UTS/IPC namespaces and no host binds at all.
    pub isolated: bool,
    pub hostname: Option<String>,
    pub shared_tmp: bool,
    /// Full root: every capability, writable /sys, no masked paths.
    #[serde(default)]
    pub privileged: bool,
    /// Host path → absolute guest path.
    pub binds: Vec<(PathBuf, PathBuf)>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mount target /{0} is a symlink or leaves the rootfs; refusing to mount over it")]
    UnsafeTarget(String),
    #[error("cannot {what}: {reason}")]
    Setup { what: String, reason: String },
    #[error("command not found in the container: {0}")]
    NotFound(String),
}

impl Error {
    pub fn setup(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Setup {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Starts the session child with `spec` and waits for it; returns the exit
/// code to pass on (the command's own, or 128 + its signal).
pub fn run(
    exe: &std::path::Path,
    spec: &LaunchSpec,
    on_start: &mut dyn FnMut(u32),
) -> Result<i32, Error> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let (reader, mut writer) = std::io::pipe().map_err(|e| Error::setup("create a pipe", e))?;
    let reader: OwnedFd = reader.into();
    let raw = reader.as_raw_fd();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(CHILD_APPLET).env_clear();
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let text = serde_json::to_vec(spec).map_err(|e| Error::setup("encode the launch spec", e))?;
    // The terminal's Ctrl-C is for the session; we only wait for it.
    let ignore = IgnoreInterrupts::new();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::setup("start the session", e))?;
    drop(reader);
    let _ = writer.write_all(&text);
    drop(writer);
    on_start(child.id());
    let status = child
        .wait()
        .map_err(|e| Error::setup("wait for the session", e))?;
    drop(ignore);
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// SIGINT and SIGQUIT ignored while alive (restored on drop).
struct IgnoreInterrupts {
    old: Vec<(libc::c_int, libc::sighandler_t)>,
}

impl IgnoreInterrupts {
    fn new() -> Self {
        let old = [libc::SIGINT, libc::SIGQUIT]
            .into_iter()
            // SAFETY: installing SIG_IGN has no handler to be unsafe in.
            .map(|s| (s, unsafe { libc::signal(s, libc::SIG_IGN) }))
            .collect();
        Self { old }
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        for (s, h) in &self.old {
            // SAFETY: restoring the previous disposition.
            unsafe {
                libc::signal(*s, *h);
            }
        }
    }
}
