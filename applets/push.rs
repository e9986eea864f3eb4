//! `push`: upload a built image to a registry.

use crate::cli::output_level;
use clap::{Arg, Command};

pub fn command() -> Command {
    let cmd = Command::new("push")
        .about("Push a locally built image to a registry")
        .arg(
            Arg::new("image")
                .value_name("IMAGE")
                .required(true)
                .help("Reference the image was built with (chroot-distro build -t)"),
        )
        .arg(
            Arg::new("architecture")
                .long("architecture")
                .value_name("ARCH")
                .help("Push the manifest built for ARCH (default: host)"),
        );
    output_level(cmd, false)
}
