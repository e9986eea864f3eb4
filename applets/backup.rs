//! `backup`: archive a container.

use crate::cli::{container_arg, output_level};
use clap::{builder::PossibleValuesParser, Arg, Command};

pub fn command() -> Command {
    output_level(
        Command::new("backup")
            .about("Archive a container's rootfs and manifest as a tar file")
            .arg(container_arg("Container to archive"))
            .arg(
                Arg::new("output")
                    .short('o')
                    .long("output")
                    .value_name("FILE")
                    .help("Write to FILE (never overwritten) instead of standard output"),
            )
            .arg(
                Arg::new("compress")
                    .short('c')
                    .long("compress")
                    .value_name("TYPE")
                    .value_parser(PossibleValuesParser::new([
                        "gzip", "bzip2", "xz", "zstd", "none",
                    ]))
                    .help("Compression (default: from the file extension, none on stdout)"),
            ),
        true,
    )
}
