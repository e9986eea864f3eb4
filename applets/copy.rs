//! `copy`: copy files between the host and containers.

use crate::cli::output_level;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    output_level(
        Command::new("copy")
            .about("Copy files between the host and containers (CONTAINER:PATH)")
            .arg(
                Arg::new("src")
                    .value_name("[CONTAINER:]SRC")
                    .required(true)
                    .help("Source path"),
            )
            .arg(
                Arg::new("dest")
                    .value_name("[CONTAINER:]DEST")
                    .required(true)
                    .help("Destination path"),
            )
            .arg(
                Arg::new("recursive")
                    .short('r')
                    .long("recursive")
                    .action(ArgAction::SetTrue)
                    .help("Copy directories recursively (symlinks kept)"),
            )
            .arg(
                Arg::new("move")
                    .short('m')
                    .long("move")
                    .action(ArgAction::SetTrue)
                    .help("Delete the source after a successful copy"),
            ),
        true,
    )
}
