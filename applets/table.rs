//! The applet table: the one list that dispatch, help, `--list-applets`,
//! `--install-links`, completions and man pages all read.

use crate::cli::{Ctx, RunResult};
use clap::{ArgMatches, Command};

pub type RunFn = fn(&ArgMatches, &Ctx) -> RunResult;

/// Whether an applet does something in this build yet.
#[derive(Clone, Copy)]
pub enum Status {
    Ready(RunFn),
    /// Defined (options, help, completions) but not implemented yet.
    Pending,
}

pub struct Applet {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub command: fn() -> Command,
    pub status: Status,
}

impl Applet {
    /// The clap command with the table's aliases attached.
    pub fn command(&self) -> Command {
        (self.command)().visible_aliases(self.aliases.iter().copied())
    }

    pub fn summary(&self) -> String {
        (self.command)()
            .get_about()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    pub fn link_name(&self) -> String {
        format!("cd-{}", self.name)
    }
}

use crate::*;
use Status::{Pending, Ready};

#[rustfmt::skip]
pub static APPLETS: &[Applet] = &[
    Applet { name: "install", aliases: &["add", "i", "in", "ins"], command: install::command, status: Ready(install::run) },
    Applet { name: "build", aliases: &[], command: build::command, status: Pending },
    Applet { name: "push", aliases: &[], command: push::command, status: Pending },
    Applet { name: "login", aliases: &["sh"], command: login::command, status: Ready(login::run) },
    Applet { name: "run", aliases: &[], command: run::command, status: Ready(run::run) },
    Applet { name: "list", aliases: &["li", "ls"], command: list::command, status: Ready(list::run) },
    Applet { name: "ps", aliases: &[], command: ps::command, status: Ready(ps::run) },
    Applet { name: "search", aliases: &["find", "se"], command: search::command, status: Pending },
    Applet { name: "diff", aliases: &[], command: diff::command, status: Pending },
    Applet { name: "remove", aliases: &["rm"], command: remove::command, status: Ready(remove::run) },
    Applet { name: "kill", aliases: &[], command: kill::command, status: Ready(kill::run) },
    Applet { name: "unmount", aliases: &["umount", "um"], command: unmount::command, status: Ready(unmount::run) },
    Applet { name: "rename", aliases: &[], command: rename::command, status: Ready(rename::run) },
    Applet { name: "reset", aliases: &[], command: reset::command, status: Ready(reset::run) },
    Applet { name: "backup", aliases: &["bak", "bkp"], command: backup::command, status: Pending },
    Applet { name: "restore", aliases: &[], command: restore::command, status: Pending },
    Applet { name: "copy", aliases: &["cp"], command: copy::command, status: Pending },
    Applet { name: "sync", aliases: &[], command: sync::command, status: Pending },
    Applet { name: "clear-cache", aliases: &["clear", "cl"], command: clear_cache::command, status: Ready(clear_cache::run) },
    Applet { name: "info", aliases: &["version-info", "nf"], command: info::command, status: Ready(info::run) },
    Applet { name: "help", aliases: &["h", "he", "hel"], command: help::command, status: Ready(help::run) },
    Applet { name: "completions", aliases: &[], command: completions::command, status: Ready(completions::run) },
];

/// Looks up a command word: a canonical name or any alias.
pub fn find(word: &str) -> Option<&'static Applet> {
    APPLETS
        .iter()
        .find(|a| a.name == word || a.aliases.contains(&word))
}

/// Looks up an applet by its canonical name only (`cd-<name>` links).
pub fn find_canonical(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

/// The canonical name nearest to `word` (by edit distance over names and
/// aliases), so an error can always suggest something.
pub fn closest(word: &str) -> &'static str {
    let mut best = ("help", f64::MIN);
    for applet in APPLETS {
        for cand in std::iter::once(&applet.name).chain(applet.aliases) {
            let score =
                strsim::jaro_winkler(word, cand) - 0.01 * strsim::levenshtein(word, cand) as f64;
            if score > best.1 {
                best = (applet.name, score);
            }
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in APPLETS {
            for w in std::iter::once(&a.name).chain(a.aliases) {
                assert!(seen.insert(*w), "duplicate command word {w}");
            }
        }
    }

    #[test]
    fn every_command_is_named_after_its_entry() {
        for a in APPLETS {
            let cmd = a.command();
            assert_eq!(cmd.get_name(), a.name);
            assert!(!a.summary().is_empty(), "{} has no summary", a.name);
            cmd.debug_assert();
        }
    }

    #[test]
    fn closest_matches() {
        assert_eq!(closest("lisst"), "list");
        assert_eq!(closest("instal"), "install");
        assert_eq!(closest("umnount"), "unmount");
        assert_eq!(closest("bkup"), "backup");
        assert!(!closest("zzzz").is_empty());
    }
}
