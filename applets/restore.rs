//! `restore`: bring a container back from a backup.

use crate::cli::output_level;
use clap::{Arg, Command};

pub fn command() -> Command {
    output_level(
        Command::new("restore")
            .about("Restore a container from a backup archive")
            .arg(
                Arg::new("file")
                    .value_name("BACKUP_FILE")
                    .help("Archive to read (default: standard input; compression detected)"),
            ),
        true,
    )
}
