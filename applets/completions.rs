//! Shell completions and man pages, generated from the same clap tree that
//! parses the command line, so they can never disagree with it.

use crate::cli::{Ctx, RunResult};
use crate::completion_names;
use crate::report::{Exit, Failure, PROG};
use crate::table::APPLETS;
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;
use std::io::Write;
use std::path::Path;

pub fn command() -> Command {
    Command::new("completions")
        .about("Print a shell completion script (bash, zsh or fish)")
        .arg(
            Arg::new("shell")
                .value_name("SHELL")
                .required(true)
                .value_parser(PossibleValuesParser::new(["bash", "zsh", "fish"]))
                .help("Shell to generate for"),
        )
        .after_help(
            "bash: chroot-distro completions bash > ~/.local/share/bash-completion/completions/chroot-distro\n\
             zsh:  chroot-distro completions zsh > ~/.zsh/completions/_chroot-distro\n\
             fish: chroot-distro completions fish > ~/.config/fish/completions/chroot-distro.fish",
        )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let shell = match m.get_one::<String>("shell").map(String::as_str) {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        other => return Err(Failure::usage(format!("unsupported shell {other:?}"))),
    };
    let mut script = Vec::new();
    let mut top = crate::toplevel::command(ctx);
    clap_complete::generate(shell, &mut top, PROG, &mut script);
    // bash and fish scripts can hold several commands in one file, so the
    // cd-<applet> links complete too; zsh autoloads one function per file.
    if matches!(shell, Shell::Bash | Shell::Fish) {
        for applet in APPLETS {
            let name = applet.link_name();
            let mut cmd = crate::toplevel::prepare(applet.command(), ctx).name(&name);
            clap_complete::generate(shell, &mut cmd, &name, &mut script);
        }
    }
    match shell {
        Shell::Bash => {
            let text = String::from_utf8_lossy(&script);
            let fixed =
                completion_names::fix_state_names(&text) + &completion_names::bash_names(&top);
            script = fixed.into_bytes();
        }
        Shell::Fish => script.extend(completion_names::fish_names(&top).into_bytes()),
        _ => {}
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .map_err(|e| Failure::failed(format!("cannot write completions: {e}")))?;
    out.flush()
        .map_err(|e| Failure::failed(format!("cannot write completions: {e}")))?;
    Ok(Exit::Ok)
}

/// Writes `chroot-distro.1`, `chroot-distro-<applet>.1` for every applet,
/// and `cd-<applet>.1` pointing at the latter.
/// clap_mangen renders no option aliases, which `--help` shows as
/// `[aliases: …]`: the man page gets them in the option's text instead.
fn with_alias_notes(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let aliases: Vec<String> = arg
            .get_visible_aliases()
            .unwrap_or_default()
            .iter()
            .map(|a| format!("--{a}"))
            .collect();
        if aliases.is_empty() {
            return arg;
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        arg.help(format!("{help} (alias: {})", aliases.join(", ")))
    })
}

pub fn generate_man(dir: &Path, ctx: &Ctx) -> RunResult {
    let fail = |what: &Path, e: std::io::Error| {
        Failure::failed(format!("cannot write {}: {e}", what.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut top = crate::toplevel::command(ctx);
    top.build();
    let top_path = dir.join(format!("{PROG}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(top.clone())
        .render(&mut buf)
        .map_err(|e| fail(&top_path, e))?;
    std::fs::write(&top_path, &buf).map_err(|e| fail(&top_path, e))?;
    for applet in APPLETS {
        let page = format!("{PROG}-{}", applet.name);
        let sub = top
            .find_subcommand(applet.name)
            .cloned()
            .unwrap_or_else(|| applet.command());
        let path = dir.join(format!("{page}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(with_alias_notes(sub).name(page.clone()))
            .title(page.to_uppercase())
            .render(&mut buf)
            .map_err(|e| fail(&path, e))?;
        std::fs::write(&path, &buf).map_err(|e| fail(&path, e))?;
        let alias = dir.join(format!("{}.1", applet.link_name()));
        std::fs::write(&alias, format!(".so man1/{page}.1\n")).map_err(|e| fail(&alias, e))?;
    }
    Ok(Exit::Ok)
}
