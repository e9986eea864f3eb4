//! `logs`: what a container's background (`run -d`) session printed.

use crate::cli::{container_arg, container_name, flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::logs;
use clap::{Arg, ArgAction, ArgMatches, Command};

pub fn command() -> Command {
    Command::new("logs")
        .about("Print the output of a container's background (run -d) session")
        .arg(container_arg("Container whose log to print"))
        .arg(
            Arg::new("follow")
                .short('f')
                .long("follow")
                .action(ArgAction::SetTrue)
                .help("Keep printing what the session writes, until it ends"),
        )
        .arg(
            Arg::new("all")
                .long("all")
                .action(ArgAction::SetTrue)
                .conflicts_with("follow")
                .help("Print the logs of every earlier run -d session too, oldest first"),
        )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let name = container_name(m)?;
    let paths = ctx.store_paths()?;
    if !paths.container_dir(&name).is_dir() {
        return Err(Failure::failed(format!(
            "container '{name}' is not installed"
        )));
    }
    let all = logs::all(&paths, &name);
    let Some(newest) = all.last() else {
        return Err(Failure::failed(format!(
            "'{name}' has no logs: only run -d sessions keep one"
        ))
        .with_hint(format!("start one with: chroot-distro run -d {name}")));
    };
    let chosen = if flag(m, "all") {
        &all[..]
    } else {
        std::slice::from_ref(newest)
    };
    chroot_distro::interrupt::catch();
    let stop = chroot_distro::interrupt::happened;
    let mut out = std::io::stdout().lock();
    for log in chosen {
        logs::copy(&paths, log, flag(m, "follow"), &stop, &mut out)
            .map_err(|e| Failure::failed(format!("cannot read {}: {e}", log.display())))?;
    }
    // Ctrl-C ends a follow quietly, with the shell's code for it.
    Ok(if stop() { Exit::Command(130) } else { Exit::Ok })
}
