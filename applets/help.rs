//! `help [COMMAND]`.

use crate::cli::{Ctx, RunResult};
use crate::report::{Exit, Failure};
use crate::table;
use clap::{Arg, ArgMatches, Command};

pub fn command() -> Command {
    Command::new("help")
        .about("Show help for chroot-distro or one of its commands")
        .arg(
            Arg::new("topic")
                .value_name("COMMAND")
                .help("Command to explain (any name or alias)"),
        )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let mut top = crate::toplevel::command(ctx);
    let Some(word) = m.get_one::<String>("topic") else {
        let _ = top.print_long_help();
        return Ok(Exit::Ok);
    };
    let applet = table::find(word).ok_or_else(|| {
        Failure::usage(format!("no such command '{word}'")).with_hint(table::suggestion(word))
    })?;
    top.build();
    if let Some(sub) = top.find_subcommand_mut(applet.name) {
        let _ = sub.print_long_help();
    }
    Ok(Exit::Ok)
}
