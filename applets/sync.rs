//! `sync`: copy only what differs.

use crate::cli::output_level;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    output_level(
        Command::new("sync")
            .about("Synchronise a tree to or from a container, copying only what differs")
            .arg(
                Arg::new("src")
                    .value_name("[CONTAINER:]SRC")
                    .required(true)
                    .help("Source tree"),
            )
            .arg(
                Arg::new("dest")
                    .value_name("[CONTAINER:]DEST")
                    .required(true)
                    .help("Destination tree"),
            )
            .arg(
                Arg::new("checksum")
                    .short('c')
                    .long("checksum")
                    .action(ArgAction::SetTrue)
                    .help("Compare size and CRC32 instead of size and mtime"),
            )
            .arg(
                Arg::new("delete")
                    .short('d')
                    .long("delete")
                    .action(ArgAction::SetTrue)
                    .help("Delete destination entries that the source does not have"),
            ),
        true,
    )
}
