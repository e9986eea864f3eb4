//! `unmount`: end a container's sessions and release its mounts.

use crate::cli::container_arg;
use clap::Command;

pub fn command() -> Command {
    Command::new("unmount")
        .about("End a container's sessions and release its mounts")
        .arg(container_arg("Container to unmount"))
}
