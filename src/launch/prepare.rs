//! From `login`/`run` options to a [`LaunchSpec`]: the guest user, the
//! command, the working directory, the environment and the binds.

use super::bind::{BindSpec, UserBind};
use super::LaunchSpec;
use crate::env::EnvSnapshot;
use crate::session::{
    self, build_env, login_command, parse_env_arg, resolve_user, run_command, shell_exists_in,
    work_dir, EnvInputs,
};
use crate::store::{ContainerManifest, ContainerName, StorePaths};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct Options {
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
    /// `run` (image Entrypoint/Cmd) rather than `login`.
    pub run: bool,
    /// A user namespace instead of real root.
    pub rootless: bool,
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

/// Builds the spec; also returns warnings for options `--isolated` ignores.
pub fn prepare(
    paths: &StorePaths,
    name: &ContainerName,
    host: &EnvSnapshot,
    opts: &Options,
) -> Result<(LaunchSpec, Vec<String>), Error> {
    let rootfs = paths.rootfs(name);
    if !rootfs.is_dir() {
        return Err(Error::NotFound(name.to_string()));
    }
    let manifest_path = paths.manifest(name);
    let manifest = if manifest_path.exists() {
        Some(ContainerManifest::read(&manifest_path)?)
    } else {
        None
    };
    let config = manifest
        .as_ref()
        .and_then(|m| m.image_config.config.as_ref());
    if opts.run && manifest.is_none() {
        return Err(Error::NoManifest(name.to_string()));
    }
    let root = std::fs::File::open(&rootfs)
        .map_err(|e| crate::store::Error::Io(crate::ioerr::IoError::new("open", &rootfs, e)))?;
    // A foreign-architecture image needs a registered emulator; without
    // one every exec would fail with a bare ENOEXEC.
    let guest =
        crate::session::arch::guest_run(root.as_fd(), Path::new(crate::session::arch::BINFMT_DIR))?;
    // Without the F flag the kernel opens the interpreter at exec time,
    // from inside the chroot.
    let interpreter = match guest.execution {
        crate::session::arch::Execution::Emulated {
            interpreter,
            fix_binary: false,
            ..
        } => Some(interpreter),
        _ => None,
    };
    let mut gpu = Vec::new();
    let user = resolve_user(opts.user.as_deref(), root.as_fd())?;
    let argv = if opts.run {
        run_command(config, &opts.words)?
    } else {
        login_command(&user, &opts.words, &shell_exists_in(root.as_fd()))
    };
    let cwd = work_dir(&user, config, opts.work_dir.as_deref(), opts.run)?;
    let user_env = opts
        .env
        .iter()
        .map(|e| parse_env_arg(e))
        .collect::<Result<Vec<_>, _>>()?;
    let hostname = opts.hostname.clone().unwrap_or_else(|| name.to_string());
    let termux = crate::termux::Termux::detect(host);
    let image_env = config.and_then(|c| c.env.clone()).unwrap_or_default();
    let mut warnings = Vec::new();
    let mut binds = Vec::new();
    let shares_host = !opts.isolated && !opts.minimal;
    let mut display = Vec::new();
    let mut gpu_env = Vec::new();
    if shares_host {
        use crate::session::devices;
        let found = devices::gpu(Path::new("/"), termux.is_some());
        // The host root is "/": each is bound at its own path, which is
        // how the session contract binds a GPU.
        gpu.extend(found.binds.into_iter().map(|b| b.guest));
        gpu_env = found.env;
        if let Some(t) = &termux {
            let shared = devices::termux_binds(t, Path::new("/"), true);
            binds.extend(shared.binds.into_iter().map(|b| plain(b.host, b.guest)));
        }
        if opts.shared_display {
            let shared = devices::shared_display(&devices::DisplayInputs {
                env: host,
                host_root: Path::new("/"),
                host_uid: rustix::process::getuid().as_raw(),
                guest_uid: user.uid,
            });
            binds.extend(shared.binds.into_iter().map(|b| plain(b.host, b.guest)));
            display = shared.env;
            warnings.extend(shared.notes);
        }
    }
    let env = build_env(&EnvInputs {
        host,
        termux: termux.as_ref(),
        image_env: &image_env,
        user_env: &user_env,
        user: &user,
        hostname: &hostname,
        isolated: opts.isolated,
        minimal: opts.minimal,
        display,
        gpu: gpu_env,
    });
    if opts.isolated {
        warnings.extend(ignored_by_isolation(opts));
    } else {
        for b in &opts.binds {
            binds.push(b.resolve().map_err(|why| Error::Bind(b.to_string(), why))?);
        }
        if opts.shared_home {
            let home = termux
                .as_ref()
                .map(|t| t.home.clone())
                .or_else(|| host.get_abs_path("HOME"));
            if let Some(h) = home {
                binds.push(plain(h, user.home.clone()));
            }
        }
    }
    let mut namespaces = opts.isolated || opts.use_ns;
    if namespaces {
        let missing = missing_namespaces(Path::new("/proc/self/ns"));
        if !missing.is_empty() {
            // All or nothing: a PID namespace without its own proc, or
            // UTS without PID, would be a confusing half-isolation.
            warnings.push(format!(
                "this kernel has no {} namespaces; running without PID, UTS and IPC isolation",
                missing.join(", ")
            ));
            namespaces = false;
        }
    }
    if opts.hostname.is_some() && !namespaces {
        warnings.push(
            "--hostname sets only $HOSTNAME here: the host name itself needs a UTS namespace \
             (--isolated or CD_USE_NS=1)"
                .into(),
        );
    }
    let spec = LaunchSpec {
        rootfs,
        minimal: opts.minimal,
        isolated: opts.isolated,
        namespaces,
        hostname: Some(hostname),
        shared_tmp: opts.shared_tmp && !opts.isolated,
        privileged: opts.privileged,
        no_new_privs: opts.no_new_privs,
        binds,
        uid: user.uid,
        gid: user.gid,
        // As initgroups(3): the primary group is also a supplementary one.
        groups: std::iter::once(user.gid)
            .chain(user.groups.iter().copied().filter(|g| *g != user.gid))
            .collect(),
        cwd,
        argv,
        env,
        userns: opts.rootless,
        join: None,
        gpu,
        interpreter,
        step_mounts: Vec::new(),
    };
    Ok((spec, warnings))
}

/// A bind with no restriction beyond the usual `nosuid,nodev`.
fn plain(source: PathBuf, target: PathBuf) -> UserBind {
    UserBind {
        source,
        target,
        flags: Default::default(),
    }
}

/// One line naming the sharing options `--isolated` ignores, if any were
/// given: isolation binds nothing from the host, as in chroot-distro 3.2.
fn ignored_by_isolation(opts: &Options) -> Option<String> {
    let given: Vec<&str> = [
        (opts.shared_home, "--shared-home"),
        (opts.shared_tmp, "--shared-tmp"),
        (opts.shared_display, "--shared-display"),
        (!opts.binds.is_empty(), "--bind"),
    ]
    .into_iter()
    .filter_map(|(set, what)| set.then_some(what))
    .collect();
    (!given.is_empty()).then(|| {
        format!(
            "--isolated binds nothing from the host, so {} {} ignored (CD_USE_NS=1 isolates namespaces and keeps them)",
            given.join(", "),
            if given.len() == 1 { "is" } else { "are" }
        )
    })
}

/// Which of the namespaces isolation needs the kernel lacks (`ns_dir` is
/// normally /proc/self/ns).
pub fn missing_namespaces(ns_dir: &Path) -> Vec<&'static str> {
    ["pid", "uts", "ipc"]
        .into_iter()
        .filter(|n| !ns_dir.join(n).exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_needs_every_namespace() {
        assert!(missing_namespaces(Path::new("/proc/self/ns")).is_empty());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("uts"), b"").unwrap();
        assert_eq!(missing_namespaces(dir.path()), ["pid", "ipc"]);
    }

    #[test]
    fn isolation_names_what_it_ignores_in_one_line() {
        let mut o = Options {
            isolated: true,
            ..Options::default()
        };
        assert_eq!(ignored_by_isolation(&o), None);
        o.shared_tmp = true;
        o.binds = vec!["/tmp:/x:ro".parse().unwrap()];
        let w = ignored_by_isolation(&o).unwrap();
        assert!(w.contains("--shared-tmp, --bind are ignored"), "{w}");
        assert!(!w.contains('\n'));
    }
}
