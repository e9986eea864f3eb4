//! `kill`: stop everything running in a container.

use clap::{Arg, Command};

pub fn command() -> Command {
    Command::new("kill")
        .about("Stop all processes of a container (SIGTERM, then SIGKILL) and unmount it")
        .arg(
            Arg::new("target")
                .value_name("CONTAINER|PID")
                .required(true)
                .help("Container name, or the PID of one of its sessions (as ps or an 'in use' error shows it)"),
        )
}

use crate::cli::{Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::running;
use chroot_distro::store::ContainerName;

/// The container a `kill`/`unmount` argument names, and its live sessions.
pub fn sessions_of(
    word: &str,
    ctx: &Ctx,
) -> Result<(String, Vec<running::SessionRecord>), Failure> {
    let paths = ctx.store_paths()?;
    let live = running::live(&paths);
    let container = match word.parse::<u32>() {
        // The session's PID as ps shows it, or its applet's, which "in use
        // by PID N" names.
        Ok(pid) => live
            .iter()
            .find(|s| s.pid == pid || running::children_of(pid).contains(&s.pid))
            .map(|s| s.container.clone())
            .ok_or_else(|| {
                Failure::failed(format!("PID {pid} is not a chroot-distro session"))
                    .with_hint("'chroot-distro ps' lists the sessions")
            })?,
        Err(_) => {
            let name = ContainerName::new(word)?;
            if !paths.rootfs(&name).is_dir() {
                return Err(chroot_distro::store::Error::NotFound(word.to_owned()).into());
            }
            name.to_string()
        }
    };
    let sessions = live
        .into_iter()
        .filter(|s| s.container == container)
        .collect();
    Ok((container, sessions))
}

pub fn run(m: &clap::ArgMatches, ctx: &Ctx) -> RunResult {
    let word = m
        .get_one::<String>("target")
        .map(String::as_str)
        .unwrap_or_default();
    let (container, sessions) = sessions_of(word, ctx)?;
    let n = running::stop(&sessions, std::time::Duration::from_millis(500));
    println!(
        "Stopped {} session(s) of '{container}' ({n} process(es)).",
        sessions.len()
    );
    Ok(Exit::Ok)
}
