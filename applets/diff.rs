//! `diff`: what changed in a container since it was installed.

use crate::cli::container_arg;
use clap::Command;

pub fn command() -> Command {
    Command::new("diff")
        .about("Show files added (A), changed (C) and deleted (D) since install")
        .arg(container_arg("Container to inspect"))
}
