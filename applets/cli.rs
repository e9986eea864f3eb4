//! What every applet gets: the environment, output style, and shared options.

use crate::report::{Exit, Failure};
use chroot_distro::env::EnvSnapshot;
use chroot_distro::store::{ContainerName, StorePaths};
use chroot_distro::ui::{self, Style};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::IsTerminal;

/// Per-invocation context, built once in `main`.
pub struct Ctx {
    pub env: EnvSnapshot,
    /// Styling for stdout and stderr, decided separately (one may be a pipe).
    pub out: Style,
    pub err: Style,
    pub width: usize,
}

impl Ctx {
    pub fn from_process() -> Self {
        let mut env = EnvSnapshot::from_process();
        // An elevated re-run gets its secrets (CD_DOCKER_AUTH, ...) through
        // a 0600 file, never its command line.
        match chroot_distro::elevate::take_secrets(&env) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    env.set(k, v);
                }
            }
            Err(e) => eprintln!("chroot-distro: warning: {e}"),
        }
        let tty_width = terminal_size::terminal_size_of(std::io::stdout())
            .or_else(|| terminal_size::terminal_size_of(std::io::stderr()))
            .map(|(w, _)| w.0 as usize);
        Self {
            out: Style {
                color: ui::colors_enabled(&env, std::io::stdout().is_terminal()),
            },
            err: Style {
                color: ui::colors_enabled(&env, std::io::stderr().is_terminal()),
            },
            width: ui::term_width(&env, tty_width),
            env,
        }
    }

    pub fn store_paths(&self) -> Result<StorePaths, Failure> {
        Ok(StorePaths::resolve(&self.env)?)
    }

    /// Before install or reset fetch anything, while no thread exists: the
    /// CA bundle for rustls, which reads `SSL_CERT_FILE` from the process
    /// (see `tls::bundle_override` for why), then [`Ctx::confine_root`].
    /// Only here, so sessions and the other applets start without it.
    pub fn prepare_fetch(&self, paths: &StorePaths) -> Result<(), Failure> {
        if let Some(bundle) = chroot_distro::tls::bundle_override(&self.env) {
            std::env::set_var("SSL_CERT_FILE", bundle);
        }
        self.confine_root(paths)
    }

    /// For a root caller about to fetch and parse untrusted input (install,
    /// reset): drop every capability and confine writes to the store and
    /// the cache (DESIGN: even as root, network and parsing code holds no
    /// privilege; the unpacker regains only what it needs). Must run before
    /// any thread exists. No-op for other callers, who hold nothing.
    fn confine_root(&self, paths: &StorePaths) -> Result<(), Failure> {
        if !rustix::process::geteuid().is_root() {
            return Ok(());
        }
        for dir in [&paths.runtime_dir, &paths.cache_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writable = [paths.runtime_dir.as_path(), paths.cache_dir.as_path()];
        let landlocked = chroot_distro::sandbox::confine::confine_root_applet(&writable)
            .map_err(|e| Failure::failed(format!("cannot confine the installer: {e}")))?;
        if self.env.is_truthy("CD_DEBUG") {
            let report = chroot_distro::sandbox::confine::report(false, landlocked, &writable);
            eprintln!(
                "debug: applet confined: {}",
                serde_json::to_string(&report).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// How this caller deletes store trees (inside the user namespace for
    /// a rootless store).
    pub fn remover(&self) -> Box<chroot_distro::store::Remover> {
        let privilege = chroot_distro::sandbox::Privilege::detect(&self.env);
        chroot_distro::unpack::spawn::remover(&privilege, std::path::Path::new("/proc/self/exe"))
    }

    pub fn warn(&self, message: &str) {
        crate::report::warn(self.err, message);
    }
}

pub type RunResult = Result<Exit, Failure>;

/// `-q/--quiet`, and `-v/--verbose` exclusive with it when `verbose` is set.
pub fn output_level(cmd: Command, verbose: bool) -> Command {
    let cmd = cmd.arg(
        Arg::new("quiet")
            .short('q')
            .long("quiet")
            .action(ArgAction::SetTrue)
            .help("Print nothing but errors"),
    );
    if !verbose {
        return cmd;
    }
    cmd.arg(
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .action(ArgAction::SetTrue)
            .conflicts_with("quiet")
            .help("Print every file as it is processed"),
    )
}

pub fn json_flag(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Print machine-readable JSON instead of a table"),
    )
}

pub fn container_arg(help: &'static str) -> Arg {
    Arg::new("container")
        .value_name("CONTAINER")
        .required(true)
        .help(help)
}

pub fn flag(m: &ArgMatches, id: &str) -> bool {
    m.try_get_one::<bool>(id)
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false)
}

/// The validated container name of a `CONTAINER` argument.
pub fn container_name(m: &ArgMatches) -> Result<ContainerName, Failure> {
    let raw = m
        .get_one::<String>("container")
        .map(String::as_str)
        .unwrap_or_default();
    Ok(ContainerName::new(raw)?)
}

/// Serialises `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> RunResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::failed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(Exit::Ok)
}
