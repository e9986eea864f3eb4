//! `search`: find images on Docker Hub.

use clap::{value_parser, Arg, Command};

pub fn command() -> Command {
    Command::new("search")
        .about("Search Docker Hub for images")
        .arg(
            Arg::new("term")
                .value_name("TERM")
                .required(true)
                .help("Words to search for"),
        )
        .arg(
            Arg::new("limit")
                .short('l')
                .long("limit")
                .value_name("N")
                .default_value("25")
                .value_parser(value_parser!(u16).range(1..=100))
                .help("Show at most N results (1-100)"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .long("quiet")
                .action(clap::ArgAction::SetTrue)
                .help("Reserved, as in chroot-distro 3.2"),
        )
}
