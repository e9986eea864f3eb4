//! `info`: host and container diagnostics.

use crate::cli::{json_flag, Ctx, RunResult};
use crate::report::Exit;
use clap::{ArgMatches, Command};

pub fn command() -> Command {
    json_flag(Command::new("info").about("Print host and container diagnostics for bug reports"))
}

pub fn run(_m: &ArgMatches, _ctx: &Ctx) -> RunResult {
    println!("chroot-distro {}", chroot_distro::VERSION);
    Ok(Exit::Ok)
}
