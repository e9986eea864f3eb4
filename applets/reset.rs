//! `reset`: reinstall a container from its recorded image.

use crate::cli::{container_arg, output_level};
use clap::Command;

pub fn command() -> Command {
    output_level(
        Command::new("reset")
            .about("Reinstall a container from its image (all data inside is lost)")
            .arg(container_arg("Container to reset")),
        false,
    )
}
