//! `install`: create a container from an image, a local archive or a URL.

use crate::cli::output_level;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    let cmd = Command::new("install")
        .about("Install a container from an OCI image, a rootfs archive or a URL")
        .long_about(
            "Install a container from an OCI image reference (e.g. ubuntu:24.04), \
             a local archive (a path starting with /, ./, ../ or ~: plain rootfs tarball, \
             OCI image layout or docker-save archive) or an http(s) URL of an archive.",
        )
        .arg(
            Arg::new("source")
                .value_name("IMAGE|PATH|URL")
                .required(true)
                .help("Image reference, archive path or archive URL"),
        )
        .arg(
            Arg::new("name")
                .short('n')
                .long("name")
                .value_name("NAME")
                .help("Container name (default: image name or archive file name)"),
        )
        .arg(
            Arg::new("override-alias")
                .long("override-alias")
                .value_name("NAME")
                .conflicts_with("name")
                .help("Same as --name"),
        )
        .arg(
            Arg::new("architecture")
                .short('a')
                .long("architecture")
                .value_name("ARCH")
                .help("Target CPU: aarch64, arm, i686, riscv64, x86_64 or linux/arm64, linux/arm/v7, ..."),
        )
        .arg(
            Arg::new("allow-insecure")
                .long("allow-insecure")
                .action(ArgAction::SetTrue)
                .help("Allow plain-http registries"),
        );
    output_level(cmd, false)
}
