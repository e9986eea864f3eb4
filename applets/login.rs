//! `login`: a shell or a command inside a container.

use clap::Command;

pub fn command() -> Command {
    crate::session_args::add(
        Command::new("login")
            .about("Start a shell or a command inside a container")
            .after_help("The words after -- are run as one exact argument vector, without a shell: quote for your own shell only. Without them, the user's login shell starts."),
    )
}

pub fn run(m: &clap::ArgMatches, ctx: &crate::cli::Ctx) -> crate::cli::RunResult {
    crate::session::launch(m, ctx, chroot_distro::launch::Kind::Login)
}
