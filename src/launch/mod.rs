//! Running a session inside a container: the side effects. [`start`]
//! takes a `login`/`run` from options to exit code (identity, elevation,
//! locks, the record in [`running`]); [`prepare`] turns options into a
//! [`LaunchSpec`]; a re-executed child (`chroot-distro __session`,
//! [`child`]) enters the namespaces, applies the [`mounts`] plan beneath
//! the rootfs, pivots into it, drops to the target user and executes the
//! command, while the applet stays its parent and reports its exit status.
//!
//! `crate::session` is the other half: pure planning with no side effect
//! (who the guest user is, which command, which environment, which host
//! devices to share), which `prepare` calls. Here is everything that
//! spawns, mounts, locks or records.

pub mod bind;
pub mod child;
pub mod detach;
pub mod logs;
pub mod mount_calls;
pub mod mounts;
pub mod netns;
pub mod prepare;
pub mod relay;
pub mod running;
pub mod script;
pub mod start;
pub mod step_mounts;
pub mod target;

pub use start::{start, Outcome};

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
    /// New PID, UTS, IPC (and cgroup) namespaces: `--isolated` or
    /// `CD_USE_NS`, which keeps the host binds.
    #[serde(default)]
    pub namespaces: bool,
    pub hostname: Option<String>,
    pub shared_tmp: bool,
    /// Full root: every capability, writable /sys, no masked paths.
    #[serde(default)]
    pub privileged: bool,
    /// PR_SET_NO_NEW_PRIVS for the command (`--no-new-privs`).
    #[serde(default)]
    pub no_new_privs: bool,
    /// The user's `--bind`s.
    pub binds: Vec<bind::UserBind>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Rootless: a user namespace the parent maps to the store's ids.
    #[serde(default)]
    pub userns: bool,
    /// Join the namespaces of this live session instead of making new ones.
    #[serde(default)]
    pub join: Option<u32>,
    /// GPU paths of the host's, bound read-only at the same place (device
    /// nodes stay usable): `session_contract::mounts::is_gpu_path`.
    #[serde(default)]
    pub gpu: Vec<PathBuf>,
    /// The binfmt_misc emulator of a foreign-architecture image, bound
    /// read-only at its own path (the kernel opens it inside the root).
    #[serde(default)]
    pub interpreter: Option<PathBuf>,
    /// A build step's own mounts (`RUN --mount`), after the binds; kept
    /// under `isolated`.
    #[serde(default)]
    pub step_mounts: Vec<step_mounts::StepMount>,
    /// The host's network, or a fresh namespace with only loopback.
    #[serde(default)]
    pub network: Network,
}

/// `login` (a shell, or the words after `--`) or `run` (the image's
/// Entrypoint and Cmd).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Login,
    Run,
}

impl Kind {
    /// The applet's name, as `ps` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::Run => "run",
        }
    }
}

/// The network a direct (root or rootless) session sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's own network namespace (the default, as chroot-distro 3.2).
    #[default]
    Host,
    /// A fresh, empty network namespace with only `lo`, up: what
    /// `RUN --network=none` asks of a build step. A session through
    /// cd-mount-helper gets a namespace of the caller's with loopback only
    /// (no pasta).
    None,
}

impl LaunchSpec {
    /// This session as the session contract's request, whose mount plan
    /// both root paths apply (the main binary here, cd-mount-helper from
    /// what `helper_client` sends); the store and container name are the
    /// helper client's to fill in.
    pub fn contract(&self) -> session_contract::request::Request {
        use session_contract::request::{Bind, Network, Request};
        // The helper takes no binds with --isolated, nor a host name
        // without a UTS namespace of its own.
        let binds = self.binds.iter().filter(|_| !self.isolated).map(|b| Bind {
            src: b.source.clone(),
            at: b
                .target
                .strip_prefix("/")
                .unwrap_or(&b.target)
                .to_path_buf(),
            attrs: b.flags.bits(),
        });
        Request {
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            binds: binds.collect(),
            minimal: self.minimal,
            isolated: self.isolated,
            use_ns: self.namespaces && !self.isolated,
            hostname: self.hostname.clone().filter(|_| self.namespaces),
            gpu: if self.isolated {
                Vec::new()
            } else {
                self.gpu.clone()
            },
            interpreter: self.interpreter.clone(),
            shared_tmp: self.shared_tmp,
            privileged: self.privileged,
            network: Network::New,
            argv: self.argv.clone(),
            ..Request::default()
        }
    }

    /// What must match for sessions to share a container's namespaces.
    pub fn mode(&self) -> Mode {
        Mode {
            rootless: self.userns,
            isolated: self.isolated,
            namespaces: self.namespaces,
            minimal: self.minimal,
            privileged: self.privileged,
            network: self.network,
        }
    }
}

/// The shape of a container's live namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mode {
    pub rootless: bool,
    pub isolated: bool,
    #[serde(default)]
    pub namespaces: bool,
    pub minimal: bool,
    pub privileged: bool,
    #[serde(default)]
    pub network: Network,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut words = vec![if self.rootless { "rootless" } else { "root" }];
        for (on, w) in [
            (self.isolated, "isolated"),
            (self.namespaces && !self.isolated, "CD_USE_NS"),
            (self.minimal, "minimal"),
            (self.privileged, "privileged"),
            (self.network == Network::None, "no network"),
        ] {
            if on {
                words.push(w);
            }
        }
        f.write_str(&words.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resolver's reason, naming the target.
    #[error("unsafe mount target {0}")]
    UnsafeTarget(String),
    #[error("cannot {what}: {reason}")]
    Setup { what: String, reason: String },
    #[error("command not found in the container: {0}")]
    NotFound(String),
    /// Starting or hearing from the session child.
    #[error(transparent)]
    Child(#[from] crate::sandbox::child::Error),
    /// The user-namespace handshake's own message, in the child.
    #[error("{0}")]
    UserNamespace(String),
}

impl Error {
    pub fn setup(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Setup {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// What the session child tells the applet (`sandbox::child` events).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SessionEvent {
    /// The container's namespaces exist: a second session may join them.
    Ready,
}

/// Starts the session child with `spec` and waits for it; returns the exit
/// code to pass on (the command's own, or 128 + its signal). `idmap` maps
/// a rootless child's new user namespace; `on_ready` runs once the
/// container's namespaces exist (the moment a second session may join).
pub fn run(
    exe: &std::path::Path,
    spec: &LaunchSpec,
    idmap: Option<&crate::sandbox::idmap::IdMap>,
    on_ready: &mut dyn FnMut(u32),
) -> Result<i32, Error> {
    start_and_wait(exe, spec, idmap, on_ready, None)
}

/// As [`run`], for a command with no input whose output (stdout and
/// stderr both) goes to `output`: build steps, which show it only on
/// failure or with `-v`.
pub fn run_unattended(
    exe: &std::path::Path,
    spec: &LaunchSpec,
    idmap: Option<&crate::sandbox::idmap::IdMap>,
    output: std::os::fd::OwnedFd,
) -> Result<i32, Error> {
    start_and_wait(exe, spec, idmap, &mut |_| {}, Some(output))
}

fn start_and_wait(
    exe: &std::path::Path,
    spec: &LaunchSpec,
    idmap: Option<&crate::sandbox::idmap::IdMap>,
    on_ready: &mut dyn FnMut(u32),
    output: Option<std::os::fd::OwnedFd>,
) -> Result<i32, Error> {
    use crate::sandbox::child::{Child, Spawn};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let stdio = match output {
        Some(out) => {
            let err = out
                .try_clone()
                .map_err(|e| Error::setup("duplicate the output pipe", e))?;
            Some([Stdio::null(), out.into(), err.into()])
        }
        None => None,
    };
    let spawn = Spawn {
        exe,
        applet: CHILD_APPLET,
        what: "the session",
        env: Vec::new(),
        fds: Vec::new(),
        stdio,
        // A session outliving its applet would be invisible to `ps`: the
        // child ends its command's whole tree on this signal.
        parent_death: child::APPLET_DIED,
    };
    // The terminal's Ctrl-C is for the session; we only wait for it.
    let ignore = IgnoreInterrupts::new();
    let mut child = Child::<SessionEvent>::start(spawn, spec)?;
    // On request only: a child that joins a live container makes no user
    // namespace, one that finds its holder gone makes its own.
    if let Some(map) = idmap {
        child.map_on_request(map.clone());
    }
    while let Some(SessionEvent::Ready) = child.event()? {
        on_ready(child.pid());
    }
    let status = child.wait()?;
    drop(ignore);
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// SIGINT and SIGQUIT ignored while alive (restored on drop): the
/// terminal's Ctrl-C is for the session, its parent only waits.
pub struct IgnoreInterrupts {
    old: Vec<(libc::c_int, libc::sighandler_t)>,
}

impl Default for IgnoreInterrupts {
    fn default() -> Self {
        Self::new()
    }
}

impl IgnoreInterrupts {
    pub fn new() -> Self {
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
