//! `ps`: active sessions.

use crate::cli::json_flag;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    json_flag(
        Command::new("ps")
            .about("List active login and run sessions")
            .arg(
                Arg::new("quiet")
                    .short('q')
                    .long("quiet")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("json")
                    .help("Print only session PIDs, one per line"),
            ),
    )
}
