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

/// How a command not built yet is marked.
pub const PENDING: &str = "[not yet built]";

pub struct Applet {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub command: fn() -> Command,
    pub status: Status,
}

impl Applet {
    /// The clap command with the table's aliases attached; a command not
    /// built yet says so in its summary, which `--help`, `help CMD`, man
    /// pages and completions all show.
    pub fn command(&self) -> Command {
        let cmd = (self.command)().visible_aliases(self.aliases.iter().copied());
        match self.status {
            Status::Ready(_) => cmd,
            Status::Pending => {
                let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
                cmd.about(format!("{PENDING} {about}"))
            }
        }
    }

    /// The one-line summary, marked when the command is not built yet.
    pub fn summary(&self) -> String {
        self.command()
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
    Applet { name: "build", aliases: &[], command: build::command, status: Ready(build::run) },
    Applet { name: "push", aliases: &[], command: push::command, status: Pending },
    Applet { name: "login", aliases: &["sh"], command: login::command, status: Ready(login::run) },
    Applet { name: "run", aliases: &[], command: run::command, status: Ready(run::run) },
    Applet { name: "list", aliases: &["li", "ls"], command: list::command, status: Ready(list::run) },
    Applet { name: "ps", aliases: &[], command: ps::command, status: Ready(ps::run) },
    Applet { name: "logs", aliases: &[], command: logs::command, status: Ready(logs::run) },
    Applet { name: "search", aliases: &["find", "se"], command: search::command, status: Pending },
    Applet { name: "diff", aliases: &[], command: diff::command, status: Pending },
    Applet { name: "remove", aliases: &["rm"], command: remove::command, status: Ready(remove::run) },
    Applet { name: "kill", aliases: &["k", "stop"], command: kill::command, status: Ready(kill::run) },
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

/// Commands that destroy or discard something: never suggested for a word
/// merely spelled like them (`exec` is not a typo of `reset`), only for a
/// one-letter slip of their own name or alias.
const DESTRUCTIVE: &[&str] = &[
    "remove",
    "reset",
    "restore",
    "kill",
    "unmount",
    "clear-cache",
];

/// What people used to Docker or podman type, and what they mean here.
const HABITS: &[(&str, &str)] = &[
    (
        "exec",
        "to run a command in a container: chroot-distro login NAME -- COMMAND",
    ),
    ("attach", "to enter a container: chroot-distro login NAME"),
    (
        "start",
        "to start a container's command: chroot-distro run NAME (run -d in the background)",
    ),
    (
        "pull",
        "to download an image as a container: chroot-distro install IMAGE",
    ),
    (
        "create",
        "to make a container from an image: chroot-distro install IMAGE",
    ),
    ("images", "installed containers: chroot-distro list"),
    (
        "inspect",
        "one container's details: chroot-distro list --json (and info for the host)",
    ),
    ("top", "running sessions: chroot-distro ps"),
    ("rmi", "to delete a container: chroot-distro remove NAME"),
];

/// What to tell someone who typed the unknown command `word`: the meaning
/// of a Docker habit, else the nearest command by spelling when it is near
/// enough (and, for a destructive one, a mere slip), else the way to the
/// list.
pub fn suggestion(word: &str) -> String {
    if let Some((_, meaning)) = HABITS.iter().find(|(w, _)| *w == word) {
        return meaning.to_string();
    }
    let mut best: Option<(&str, f64)> = None;
    for applet in APPLETS {
        for cand in std::iter::once(&applet.name).chain(applet.aliases) {
            let distance = strsim::levenshtein(word, cand);
            if DESTRUCTIVE.contains(&applet.name) && distance > 1 {
                continue;
            }
            let score = strsim::jaro_winkler(word, cand) - 0.01 * distance as f64;
            if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
                best = Some((applet.name, score));
            }
        }
    }
    match best {
        Some((name, _)) => format!("did you mean '{name}'?"),
        None => "see 'chroot-distro help' for the commands".into(),
    }
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
    fn suggestions_never_lead_into_destruction() {
        let did = |w: &str, name: &str| {
            assert_eq!(suggestion(w), format!("did you mean '{name}'?"), "{w}");
        };
        did("lisst", "list");
        did("instal", "install");
        did("umnount", "unmount");
        did("bkup", "backup");
        did("rest", "reset");
        did("remve", "remove");
        // Docker words get their meaning, never a look-alike.
        for (word, means) in [
            ("exec", "login NAME -- COMMAND"),
            ("pull", "install IMAGE"),
            ("images", "list"),
            ("inspect", "list --json"),
        ] {
            assert!(
                suggestion(word).contains(means),
                "{word}: {}",
                suggestion(word)
            );
        }
        // Spelled like a destructive command, but not a slip of it.
        for word in ["reboot", "resort", "execute", "stopall"] {
            let s = suggestion(word);
            for d in DESTRUCTIVE {
                assert!(!s.contains(&format!("'{d}'")), "{word} -> {s}");
            }
        }
        assert_eq!(
            suggestion("zzzz"),
            "see 'chroot-distro help' for the commands"
        );
    }
}
