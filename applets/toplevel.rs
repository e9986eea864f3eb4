//! `chroot-distro <command>` and its own options.

use crate::cli::{Ctx, RunResult};
use crate::report::{Exit, Failure, PROG};
use crate::table::{self, APPLETS};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ColorChoice, Command};
use std::ffi::OsString;
use std::path::PathBuf;

/// Applies what every command shares: version, width, colours.
pub fn prepare(cmd: Command, ctx: &Ctx) -> Command {
    cmd.version(chroot_distro::VERSION)
        .term_width(ctx.width)
        .color(if ctx.out.color {
            ColorChoice::Always
        } else {
            ColorChoice::Never
        })
}

/// The whole command tree, for parsing, help, completions and man pages.
pub fn command(ctx: &Ctx) -> Command {
    let top = Command::new(PROG)
        .about(
            "Install OCI images and rootfs archives as containers and enter them with real chroot",
        )
        .after_help(
            "Every command is also available as a cd-<command> link \
             (see --install-links).\nExit codes: 0 ok, 1 failure, 2 usage error, \
             3 not implemented yet, 4 container busy, 130 interrupted.",
        )
        .subcommand_value_name("COMMAND")
        .disable_help_subcommand(true)
        .arg(
            Arg::new("list-applets")
                .long("list-applets")
                .action(ArgAction::SetTrue)
                .exclusive(true)
                .help("List every applet with its aliases and exit"),
        )
        .arg(
            Arg::new("install-links")
                .long("install-links")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Create cd-<applet> symlinks to this binary in DIR and exit"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .requires("install-links")
                .help("With --install-links: replace existing files"),
        )
        .arg(
            Arg::new("generate-man")
                .long("generate-man")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .hide(true),
        )
        .subcommands(APPLETS.iter().map(|a| prepare(a.command(), ctx)));
    prepare(top, ctx)
}

pub fn multi_call(args: &[OsString], ctx: &Ctx) -> RunResult {
    if let Some(word) = args.get(1).and_then(|a| a.to_str()) {
        if !word.starts_with('-') && table::find(word).is_none() {
            return Err(Failure::usage(format!("unknown command '{word}'"))
                .with_hint(table::suggestion(word)));
        }
    }
    let mut top = command(ctx);
    let matches = match top.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) => {
            let bin = match args.get(1).and_then(|a| a.to_str()).and_then(table::find) {
                Some(applet) => format!("{PROG} {}", applet.name),
                None => PROG.to_owned(),
            };
            return clap_outcome(e, &bin);
        }
    };
    if let Some((name, sub)) = matches.subcommand() {
        let applet =
            table::find(name).ok_or_else(|| Failure::usage(format!("unknown command '{name}'")))?;
        return crate::run_applet(applet, sub, ctx);
    }
    if matches.get_flag("list-applets") {
        return list_applets();
    }
    if let Some(dir) = matches.get_one::<PathBuf>("install-links") {
        return crate::links::install(dir, matches.get_flag("force"), ctx);
    }
    if let Some(dir) = matches.get_one::<PathBuf>("generate-man") {
        return crate::completions::generate_man(dir, ctx);
    }
    let _ = top.print_help();
    Err(Failure::usage("no command given").with_hint(format!("try '{PROG} help'")))
}

fn list_applets() -> RunResult {
    let rows: Vec<Vec<String>> = APPLETS
        .iter()
        .map(|a| {
            vec![
                a.name.to_owned(),
                if a.aliases.is_empty() {
                    "-".to_owned()
                } else {
                    a.aliases.join(",")
                },
                a.summary(),
            ]
        })
        .collect();
    print!(
        "{}",
        chroot_distro::ui::table(&["APPLET", "ALIASES", "SUMMARY"], &rows)
    );
    Ok(Exit::Ok)
}

/// Turns a clap outcome into ours: help and version print and succeed;
/// usage errors become one `error:` line, clap's tips become hints.
pub fn clap_outcome(e: clap::Error, bin: &str) -> RunResult {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Ok(Exit::Ok)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Err(Failure::usage("a command is required"))
        }
        _ => {
            let (message, tip) = split_clap_error(&e.render().to_string());
            let tip = tip.or_else(|| command_without_separator(&e, bin));
            Err(Failure::usage(message)
                .with_hint(tip.unwrap_or_else(|| format!("see '{bin} --help'"))))
        }
    }
}

/// `login NAME cat /etc/hostname`: the command must come after `--`.
fn command_without_separator(e: &clap::Error, bin: &str) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let session = bin.ends_with("login") || bin.ends_with(" run") || bin.ends_with("cd-run");
    let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    (session && e.kind() == ErrorKind::UnknownArgument && !word.starts_with('-'))
        .then(|| format!("put the command after '--': {bin} [OPTIONS] CONTAINER -- {word} ..."))
}

/// clap renders "error: what[\n  detail...]\n\n[  tip: ...]\n\nUsage: ...";
/// we keep what and its detail on one line, and the tip as the hint.
fn split_clap_error(rendered: &str) -> (String, Option<String>) {
    let mut parts = Vec::new();
    let mut tip = None;
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if let Some(t) = line.strip_prefix("tip:") {
            tip = Some(t.trim().to_owned());
        } else if !line.is_empty() {
            parts.push(line.trim_start_matches("error:").trim());
        }
    }
    let message = parts.join(" ");
    let message = if message.is_empty() {
        "invalid command line".to_owned()
    } else {
        message
    };
    (message, tip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let (m, t) = split_clap_error(
            "error: the following required arguments were not provided:\n  <IMAGE|PATH|URL>\n\nUsage: x\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            m,
            "the following required arguments were not provided: <IMAGE|PATH|URL>"
        );
        assert_eq!(t, None);
        let (m, t) = split_clap_error(
            "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: x\n",
        );
        assert_eq!(m, "unexpected argument '--bogus' found");
        assert_eq!(
            t.as_deref(),
            Some("to pass '--bogus' as a value, use '-- --bogus'")
        );
    }
}
