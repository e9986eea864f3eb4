//! `kill`: stop everything running in a container.

use clap::{Arg, Command};

pub fn command() -> Command {
    Command::new("kill")
        .about("Stop all processes of a container (SIGTERM, then SIGKILL) and unmount it")
        .arg(
            Arg::new("target")
                .value_name("CONTAINER|PID")
                .required(true)
                .help("Container name, or the PID of one of its sessions (see ps)"),
        )
}
