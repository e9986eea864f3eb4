//! `build`: build an image from a Dockerfile without a daemon.

use crate::cli::output_level;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    let cmd = Command::new("build")
        .about("Build an image from a Dockerfile, without a daemon")
        .arg(
            Arg::new("context")
                .value_name("PATH")
                .default_value(".")
                .help("Build context directory"),
        )
        .arg(
            Arg::new("file")
                .short('f')
                .long("file")
                .value_name("PATH")
                .help("Dockerfile to use ('-' reads standard input; default PATH/Dockerfile)"),
        )
        .arg(
            Arg::new("tag")
                .short('t')
                .long("tag")
                .value_name("REF")
                .action(ArgAction::Append)
                .help("Name the image REF (repeatable; default <basename PATH>:latest)"),
        )
        .arg(
            Arg::new("build-arg")
                .long("build-arg")
                .value_name("K=V")
                .action(ArgAction::Append)
                .help("Set a declared build-time ARG (repeatable)"),
        )
        .arg(
            Arg::new("architecture")
                .long("architecture")
                .value_name("ARCH")
                .help("Target CPU architecture (default: host)"),
        )
        .arg(
            Arg::new("target")
                .long("target")
                .value_name("STAGE")
                .help("Stop after the named build stage"),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("FILE")
                .action(ArgAction::Append)
                .help("Also write an OCI image-layout tarball (compression from the extension; repeatable)"),
        )
        .arg(
            Arg::new("install-as")
                .long("install-as")
                .value_name("NAME")
                .help("Install the built image as container NAME"),
        )
        .arg(
            Arg::new("no-cache")
                .long("no-cache")
                .action(ArgAction::SetTrue)
                .help("Do not reuse cached build steps"),
        );
    output_level(cmd, true).mut_arg("verbose", |a| {
        a.help("Echo each instruction and stream RUN output")
    })
}
