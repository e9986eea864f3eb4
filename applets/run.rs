//! `run`: the image's Entrypoint/Cmd, like `docker run`.

use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    crate::session_args::add(
        Command::new("run")
            .about("Run the image's Entrypoint and Cmd inside a container")
            .after_help("Arguments after -- replace the image's Cmd."),
    )
    .arg(
        Arg::new("detach")
            .short('d')
            .long("detach")
            .action(ArgAction::SetTrue)
            .help("Run in the background; output goes to a log in the store"),
    )
}

pub fn run(m: &clap::ArgMatches, ctx: &crate::cli::Ctx) -> crate::cli::RunResult {
    crate::session::launch(m, ctx, chroot_distro::launch::Kind::Run)
}
