//! `login`: a shell or a command inside a container.

use clap::Command;

pub fn command() -> Command {
    crate::session_args::add(
        Command::new("login")
            .about("Start a shell or a command inside a container")
            .after_help("Words after -- run through the user's login shell with -c."),
    )
}

pub fn run(m: &clap::ArgMatches, ctx: &crate::cli::Ctx) -> crate::cli::RunResult {
    crate::session::launch(m, ctx, false)
}
