//! One `login`/`run` from its options to its exit code, whichever way the
//! session gets its identity (DESIGN.md, "Session setup"): real root for a
//! root caller and a user namespace for others, both through our own
//! session child, or real root through cd-mount-helper when its policy
//! grants it, else the command again through sudo & co.
//!
//! Lock order, the same on every route: the container's lock (shared:
//! installs, resets and removals wait), then the namespace setup lock
//! (one session at a time decides whether to make the container's
//! namespaces or join them), released once the session is registered in
//! [`running`] — the one place a session is recorded, whichever route
//! started it.

use super::netns::{NetError, Publish, SessionNet};
use super::prepare::{self, prepare};
use super::{detach, running, Kind, LaunchSpec, Network};
use crate::env::EnvSnapshot;
use crate::sandbox::idmap::{IdMap, Privilege};
use crate::store::{ContainerLock, ContainerName, LockMode, StorePaths};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A session to start.
#[derive(Debug)]
pub struct Options {
    pub container: ContainerName,
    /// What the session runs, and how (user, binds, namespaces, network).
    pub session: prepare::Options,
    /// Real root in the container for a caller who is not root (`--root`).
    pub real_root: bool,
    pub elevation: Elevation,
    /// Only for a session through cd-mount-helper, which has a network of
    /// its own: the host's instead (`--host-network`, policy permitting),
    /// and ports forwarded into it (`-p`).
    pub host_network: bool,
    pub publish: Vec<Publish>,
    pub action: Action,
    /// This program, re-executed as the session child (`/proc/self/exe`).
    pub exe: PathBuf,
}

/// How to get root when neither a user namespace nor the helper can.
#[derive(Debug, Default)]
pub struct Elevation {
    /// `--use-sudo` / `CHROOT_DISTRO_USE_SUDO`.
    pub use_sudo: bool,
    /// `--no-elevate` / `CHROOT_DISTRO_NO_ELEVATE`.
    pub no_elevate: bool,
    /// This process's command line, run again elevated.
    pub argv: Vec<OsString>,
    /// Names of the variables set in this process, as
    /// `crate::elevate::ElevateOptions::names` wants them.
    pub env_names: Vec<String>,
}

/// What to do with the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Action {
    /// Run it and wait for it.
    #[default]
    Attach,
    /// `run -d`: run it in the background.
    Detach,
    /// `--get-chroot-cmd`: only say how, as a shell command line.
    PrintCommand,
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The command's exit code (128 + its signal when killed).
    Exited(u8),
    /// [`Action::PrintCommand`]'s command line.
    CommandLine(String),
    /// [`Action::Detach`]: the session's PID and its log.
    Detached { pid: u32, log: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Prepare(#[from] prepare::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("cannot lock {container}'s namespaces: {source}")]
    SetupLock {
        container: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    OtherShape(#[from] running::OtherShape),
    #[error(transparent)]
    HelperSearch(#[from] crate::helper_client::search::Missing),
    #[error(transparent)]
    Elevate(#[from] crate::elevate::Error),
    #[error(transparent)]
    Network(#[from] NetError),
    #[error(transparent)]
    Launch(#[from] super::Error),
    #[error("cannot {what}: {source}")]
    Helper {
        what: String,
        source: std::io::Error,
    },
    #[error("{source}")]
    Detach { source: detach::Error, log: PathBuf },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Prepare(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::OtherShape(e) => Some(format!(
                "end its sessions first: chroot-distro unmount {}",
                e.container
            )),
            Error::Elevate(e) => e.hint(),
            Error::Detach { log, .. } => Some(format!("its log is {}", log.display())),
            _ => None,
        }
    }
}

/// How this session gets its identity.
enum Identity {
    /// A root caller: real root, set up by our own session child.
    Root,
    /// A user namespace on the caller's subordinate ids.
    Rootless(IdMap),
    /// Real root through cd-mount-helper, which its policy grants us.
    Helper(PathBuf),
}

/// Starts the session `opts` describes in the store at `paths`; `host` is
/// the caller's environment, and `warn` hears what the user should know
/// (options a session cannot honour, an elevation about to ask for a
/// password). Returns only once the session has ended (or detached).
pub fn start(
    paths: &StorePaths,
    host: &EnvSnapshot,
    opts: &Options,
    warn: &dyn Fn(&str),
) -> Result<Outcome, Error> {
    let name = &opts.container;
    let identity = identity(host, opts, warn)?;
    let log = host.get_abs_path(detach::LOG_VAR);
    if opts.action == Action::Detach && log.is_none() {
        // Mistakes (no such container, no Cmd, a bad --bind) are reported
        // here, not in a log nobody reads yet.
        prepare(paths, name, host, &opts.session)?;
        let (pid, log) =
            detach::start(paths, name).map_err(|(source, log)| Error::Detach { source, log })?;
        return Ok(Outcome::Detached { pid, log });
    }
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(name), name.as_str(), LockMode::Shared)?;
    let (mut spec, warnings) = prepare(paths, name, host, &opts.session)?;
    warnings.iter().for_each(|w| warn(w));
    let idmap = match &identity {
        Identity::Rootless(map) => Some(map),
        _ => None,
    };
    spec.userns = idmap.is_some();
    if opts.action == Action::PrintCommand {
        return Ok(Outcome::CommandLine(super::script::command_line(
            &spec, idmap,
        )));
    }
    let setup = running::setup_lock(paths, name.as_str()).map_err(|source| Error::SetupLock {
        container: name.to_string(),
        source,
    })?;
    let joined = running::holder(paths, name.as_str(), spec.mode())?;
    let mut registrar = Registrar {
        paths,
        name,
        kind: opts.session.kind,
        user: opts.session.user.as_deref().unwrap_or("root"),
        log,
        setup: Some(setup),
        registration: None,
    };
    let code = match &identity {
        // The helper makes the namespaces of each of its sessions itself.
        Identity::Helper(helper) => {
            let net = helper_network(host, opts, warn)?;
            through_helper(helper, &spec, net.as_ref(), paths, name, &mut registrar)?
        }
        _ => {
            if !opts.publish.is_empty() {
                warn("-p is for sessions through cd-mount-helper: this session shares the host's network, so its ports are the host's already");
            }
            spec.join = joined;
            super::run(&opts.exe, &spec, idmap, &mut |pid| {
                registrar.ready(pid, &spec)
            })?
        }
    };
    drop(registrar);
    Ok(Outcome::Exited(code.clamp(0, 255) as u8))
}

/// The one way a session enters [`running`]: once its holder exists (our
/// session child, or the helper), the record is written and the setup lock
/// released, so that the next session of the container may join it.
struct Registrar<'a> {
    paths: &'a StorePaths,
    name: &'a ContainerName,
    kind: Kind,
    user: &'a str,
    /// `run -d`'s log, when this is the background applet.
    log: Option<PathBuf>,
    setup: Option<File>,
    registration: Option<running::Registration>,
}

impl Registrar<'_> {
    fn ready(&mut self, pid: u32, spec: &LaunchSpec) {
        let mut record =
            running::SessionRecord::new(pid, self.name.as_str(), self.kind.name(), self.user, spec);
        record.log = self.log.clone();
        // A session that cannot be recorded still runs; `ps` misses it.
        self.registration = running::register(self.paths, &record).ok();
        self.setup.take();
    }
}

/// Root callers get real root; others a user namespace on their
/// subordinate ids. Real root for a non-root caller (`--root`, or no user
/// namespace to be had) goes through cd-mount-helper when its policy
/// grants it, else re-runs the command through sudo & co. (which returns
/// only on failure), unless that is turned off.
fn identity(host: &EnvSnapshot, opts: &Options, warn: &dyn Fn(&str)) -> Result<Identity, Error> {
    let need = match Privilege::detect(host) {
        Privilege::Root => return Ok(Identity::Root),
        Privilege::UserNs(map) if !opts.real_root => return Ok(Identity::Rootless(map)),
        Privilege::UserNs(_) => "real root in the container (--root)".to_owned(),
        Privilege::Squash { reason } => {
            format!("root (a rootless session needs a user namespace, and {reason})")
        }
    };
    if let Some(helper) = granted_helper(host)? {
        return Ok(Identity::Helper(helper));
    }
    Err(elevate(host, opts, &need, warn))
}

/// The helper, if installed and its policy lets this caller run sessions.
/// A `CD_MOUNT_HELPER` that names no helper is an error, not a reason to
/// use another one.
fn granted_helper(host: &EnvSnapshot) -> Result<Option<PathBuf>, Error> {
    use crate::helper_client::{self, search};
    let exe = std::fs::read_link("/proc/self/exe").ok();
    let path_dirs = crate::hostinfo::executables::search_dirs(host);
    let found = search::Search {
        pin: host.get_os(search::PIN_VAR),
        exe: exe.as_deref(),
        path_dirs: &path_dirs,
    }
    .locate();
    let helper = match found {
        Ok(l) => l.path,
        Err(search::Missing::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let status = helper_client::check_policy_command(&helper)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(status.is_ok_and(|s| s.success()).then_some(helper))
}

/// Re-executes this command elevated; returns only on failure.
fn elevate(host: &EnvSnapshot, opts: &Options, need: &str, warn: &dyn Fn(&str)) -> Error {
    use crate::elevate;
    let argv = &opts.elevation.argv;
    // Run as `cd-login`, the re-run of the real binary must name the applet.
    let applet_link = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"cd-"));
    let elevate_opts = elevate::ElevateOptions {
        use_sudo: opts.elevation.use_sudo,
        no_elevate: opts.elevation.no_elevate,
        need: need.to_owned(),
        names: opts.elevation.env_names.clone(),
        subcommand: applet_link.then(|| opts.session.kind.name().into()),
        uid: rustix::process::getuid().as_raw(),
        secrets_dir: None,
    };
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    match elevate::plan(host, argv, &exe, &elevate_opts) {
        Ok(plan) => {
            warn(&plan.notice(need));
            elevate::exec(&plan).into()
        }
        Err(e) => e.into(),
    }
}

/// The network of a session through cd-mount-helper: loopback only for
/// [`Network::None`]; the host's when asked for (the helper checks the
/// policy); else a namespace of the caller's own, with pasta for outbound
/// traffic and forwards when it is installed.
fn helper_network(
    host: &EnvSnapshot,
    opts: &Options,
    warn: &dyn Fn(&str),
) -> Result<Option<SessionNet>, Error> {
    if opts.session.network == Network::None {
        if opts.host_network || !opts.publish.is_empty() {
            warn("this session has no network: --host-network and -p are ignored");
        }
        return Ok(Some(SessionNet::loopback_only()?));
    }
    if opts.host_network {
        if !opts.publish.is_empty() {
            warn("-p is ignored with --host-network: the session's ports are the host's");
        }
        return Ok(None);
    }
    let path = crate::hostinfo::executables::search_dirs(host);
    let net = SessionNet::start(&opts.publish, &path)?;
    if !net.connected {
        warn("pasta is not installed (Debian and Ubuntu: apt install passt): this session's network is its loopback only");
    }
    Ok(Some(net))
}

/// Runs the session through cd-mount-helper and waits for it; the helper
/// recomputes and checks everything it is given. Returns its exit code.
fn through_helper(
    helper: &Path,
    spec: &LaunchSpec,
    net: Option<&SessionNet>,
    paths: &StorePaths,
    name: &ContainerName,
    registrar: &mut Registrar,
) -> Result<i32, Error> {
    use super::relay::Relay;
    use crate::helper_client::{command, request_for, Network};
    use std::os::unix::process::ExitStatusExt;
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Helper { what, source }
    };
    let mut req = request_for(spec, &paths.runtime_dir, name.as_str());
    req.network = net.map_or(Network::Host, |n| Network::Of(n.pid()));
    let _quiet = super::IgnoreInterrupts::new();
    // Container root must never hold one of our fds that leads back to the
    // host (a file, a directory, the caller's own terminal): the relay hands
    // the helper pipes and a fresh pty instead, and pumps them here.
    let mut relay = Relay::prepare().map_err(io("set up the session's terminal"))?;
    let mut cmd = command(helper, &req);
    relay.configure(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(io(&format!("run {}", helper.display())))?;
    if let Err(e) = relay.start() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io("relay the session's input and output")(e));
    }
    registrar.ready(child.id(), spec);
    let status = child.wait();
    relay.finish();
    let status = status.map_err(io("wait for the helper"))?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
