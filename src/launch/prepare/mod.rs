//! From `login`/`run` options to a [`LaunchSpec`], in four pieces named
//! for what they decide: the guest user and its command
//! ([`user_command`]), what is bound from the host ([`binds`]), the
//! command's environment ([`environment`]) and the namespaces
//! ([`namespaces`]). Nothing here starts anything; it reads the guest's
//! account files and the image config through the store.

mod binds;
mod environment;
mod namespaces;
mod user_command;

pub use namespaces::missing_namespaces;

use super::bind::BindSpec;
use super::{Kind, LaunchSpec, Network};
use crate::env::EnvSnapshot;
use crate::session;
use crate::store::{ContainerManifest, ContainerName, StorePaths};
use std::fs::File;
use std::path::PathBuf;

/// What the user asked of the session (from `login`/`run` flags).
#[derive(Debug, Default)]
pub struct Options {
    pub kind: Kind,
    pub user: Option<String>,
    pub isolated: bool,
    /// `CD_USE_NS`: the namespaces of `--isolated`, with the host binds.
    pub use_ns: bool,
    pub minimal: bool,
    pub shared_home: bool,
    pub shared_tmp: bool,
    pub shared_display: bool,
    pub privileged: bool,
    /// `--no-new-privs` / `CD_NO_NEW_PRIVS`: set-user-ID programs in the
    /// guest cannot raise privileges.
    pub no_new_privs: bool,
    pub binds: Vec<BindSpec>,
    pub hostname: Option<String>,
    pub work_dir: Option<String>,
    pub env: Vec<String>,
    pub words: Vec<String>,
    /// The host's network (today's default) or a fresh one with only
    /// loopback ([`Network::None`]).
    pub network: Network,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container '{0}' is not installed")]
    NotFound(String),
    #[error("container '{0}' has no manifest.json, so there is no Entrypoint or Cmd to run")]
    NoManifest(String),
    #[error(transparent)]
    Session(#[from] session::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("invalid --bind '{0}': {1}")]
    Bind(String, String),
    #[error(transparent)]
    Arch(#[from] crate::session::arch::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotFound(_) => {
                Some("'chroot-distro list' shows the installed containers".into())
            }
            Error::NoManifest(n) => Some(format!(
                "give the command yourself: chroot-distro login {n} -- COMMAND"
            )),
            Error::Session(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Bind(..) => {
                Some("use SRC[:DST[:OPTIONS]] with an existing SRC and an absolute DST".into())
            }
            Error::Arch(e) => e.hint(),
        }
    }
}

/// The installed container a session runs in.
struct Container {
    rootfs: PathBuf,
    /// The rootfs, open: the guest's files are read beneath it only.
    root: File,
    manifest: Option<ContainerManifest>,
}

impl Container {
    fn open(paths: &StorePaths, name: &ContainerName, kind: Kind) -> Result<Self, Error> {
        let rootfs = paths.rootfs(name);
        if !rootfs.is_dir() {
            return Err(Error::NotFound(name.to_string()));
        }
        let manifest_path = paths.manifest(name);
        let manifest = match manifest_path.exists() {
            true => Some(ContainerManifest::read(&manifest_path)?),
            false => None,
        };
        if kind == Kind::Run && manifest.is_none() {
            return Err(Error::NoManifest(name.to_string()));
        }
        let root = File::open(&rootfs)
            .map_err(|e| crate::store::Error::Io(crate::ioerr::IoError::new("open", &rootfs, e)))?;
        Ok(Self {
            rootfs,
            root,
            manifest,
        })
    }

    fn config(&self) -> Option<&crate::store::RuntimeConfig> {
        self.manifest
            .as_ref()
            .and_then(|m| m.image_config.config.as_ref())
    }
}

/// Builds the spec; also returns warnings for options the session cannot
/// honour. The spec is a root session's; [`super::start`] marks it
/// rootless when it runs in a user namespace.
pub fn prepare(
    paths: &StorePaths,
    name: &ContainerName,
    host: &EnvSnapshot,
    opts: &Options,
) -> Result<(LaunchSpec, Vec<String>), Error> {
    let container = Container::open(paths, name, opts.kind)?;
    let guest = user_command::resolve(&container, opts)?;
    let mut warnings = Vec::new();
    let termux = crate::termux::Termux::detect(host);
    let shared = binds::from_host(host, termux.as_ref(), &guest.user, opts, &mut warnings)?;
    let hostname = opts.hostname.clone().unwrap_or_else(|| name.to_string());
    let env = environment::build(&environment::Inputs {
        host,
        termux: termux.as_ref(),
        config: container.config(),
        opts,
        user: &guest.user,
        hostname: &hostname,
        display: shared.display_env,
        gpu: shared.gpu_env,
    })?;
    let namespaces = namespaces::choose(opts, &mut warnings);
    let user = guest.user;
    let spec = LaunchSpec {
        rootfs: container.rootfs,
        minimal: opts.minimal,
        isolated: opts.isolated,
        namespaces,
        hostname: Some(hostname),
        shared_tmp: opts.shared_tmp && !opts.isolated,
        privileged: opts.privileged,
        no_new_privs: opts.no_new_privs,
        binds: shared.binds,
        uid: user.uid,
        gid: user.gid,
        groups: user_command::groups(&user),
        cwd: guest.cwd,
        argv: guest.argv,
        env,
        userns: false,
        join: None,
        gpu: shared.gpu,
        interpreter: guest.interpreter,
        step_mounts: Vec::new(),
        network: opts.network,
    };
    Ok((spec, warnings))
}
