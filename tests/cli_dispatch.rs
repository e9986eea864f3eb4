//! The multi-call binary: every command and alias of the reference reaches
//! its applet both as `chroot-distro X` and as a `cd-X` link.

mod common;

use common::{bin, Outcome, TestStore};
use std::path::Path;
use std::process::Command;

/// The reference's commands with their aliases, plus our `completions`.
const REFERENCE: &[(&str, &[&str])] = &[
    ("install", &["add", "i", "in", "ins"]),
    ("build", &[]),
    ("push", &[]),
    ("login", &["sh"]),
    ("run", &[]),
    ("list", &["li", "ls"]),
    ("ps", &[]),
    // Ours: Docker's `logs` for run -d sessions (not in the 3.2 table).
    ("logs", &[]),
    ("search", &["find", "se"]),
    ("diff", &[]),
    ("remove", &["rm"]),
    ("kill", &[]),
    ("unmount", &["umount", "um"]),
    ("rename", &[]),
    ("reset", &[]),
    ("backup", &["bak", "bkp"]),
    ("restore", &[]),
    ("copy", &["cp"]),
    ("sync", &[]),
    ("clear-cache", &["clear", "cl"]),
    ("info", &["version-info", "nf"]),
    ("help", &["h", "he", "hel"]),
    ("completions", &[]),
];

fn run(program: &Path, args: &[&str]) -> Outcome {
    let store = TestStore::new();
    Outcome::of(store.cmd_with(program).args(args))
}

fn link(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(bin(), &path).unwrap();
    path
}

#[test]
fn list_applets_matches_the_reference_table() {
    let out = run(&bin(), &["--list-applets"]);
    out.ok();
    let rows: Vec<(String, String)> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = REFERENCE
        .iter()
        .map(|(n, a)| {
            let aliases = if a.is_empty() {
                "-".to_owned()
            } else {
                a.join(",")
            };
            ((*n).to_owned(), aliases)
        })
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn every_command_and_alias_dispatches_both_ways() {
    let links = tempfile::tempdir().unwrap();
    for (name, aliases) in REFERENCE {
        // chroot-distro NAME / ALIAS: help names the canonical command.
        for word in std::iter::once(name).chain(aliases.iter()) {
            let out = run(&bin(), &[word, "--help"]);
            out.ok();
            assert!(
                out.stdout.contains(&format!("Usage: chroot-distro {name}")),
                "chroot-distro {word} --help: {}",
                out.stdout
            );
        }
        // cd-NAME through a real symlink: help names the link.
        let link = link(links.path(), &format!("cd-{name}"));
        let out = run(&link, &["--help"]);
        out.ok();
        assert!(
            out.stdout.contains(&format!("Usage: cd-{name}")),
            "cd-{name} --help: {}",
            out.stdout
        );
        let out = run(&link, &["-h"]);
        out.ok();
    }
}

#[test]
fn a_hard_link_dispatches_too() {
    // Beside the binary, so that the link is on its file system: a copy
    // would dispatch just the same and prove nothing about links.
    let dir = tempfile::tempdir_in(bin().parent().unwrap()).unwrap();
    let target = dir.path().join("cd-list");
    std::fs::hard_link(bin(), &target).unwrap();
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        std::fs::metadata(bin()).unwrap(),
        std::fs::metadata(&target).unwrap(),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (b.dev(), b.ino()),
        "one file, two names"
    );
    let store = TestStore::new();
    store.add_python_container("deb", true);
    let out = Outcome::of(store.cmd_with(&target).arg("-q"));
    out.ok();
    assert_eq!(out.stdout, "deb\n");
}

#[test]
fn pending_applets_say_so_with_their_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let push = link(dir.path(), "cd-push");
    run(&push, &["img"]).fails_with(3, "'push' is not implemented");
    run(&bin(), &["build", "."]).fails_with(3, "'build' is not implemented");
}

/// The hint line of a failure.
fn hint(out: &Outcome) -> &str {
    out.stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or("")
}

#[test]
fn unknown_command_is_one_line_with_the_closest_match() {
    let out = run(&bin(), &["lisst"]);
    out.fails_with(2, "unknown command 'lisst'");
    assert_eq!(hint(&out), "did you mean 'list'?");
    assert!(out.stdout.is_empty());
    let out = run(&bin(), &["instal", "x"]);
    assert_eq!(hint(&out), "did you mean 'install'?");
}

/// Docker's words get their meaning here; none is led to a destructive
/// command by spelling (exec was 'reset', stop 'restore', pull 'push').
#[test]
fn docker_words_get_their_meaning_never_a_destructive_look_alike() {
    for (word, means) in [
        ("exec", "chroot-distro login NAME -- COMMAND"),
        ("stop", "chroot-distro kill NAME"),
        ("pull", "chroot-distro install IMAGE"),
        ("images", "chroot-distro list"),
        ("inspect", "chroot-distro list --json"),
    ] {
        let out = run(&bin(), &[word, "x"]);
        out.fails_with(2, &format!("unknown command '{word}'"));
        assert!(hint(&out).contains(means), "{word}: {out:#?}");
    }
    for word in ["reboot", "resort", "execute"] {
        let out = run(&bin(), &[word]);
        for destructive in ["reset", "restore", "remove", "unmount", "kill"] {
            assert!(
                !hint(&out).contains(&format!("'{destructive}'")),
                "{word}: {out:#?}"
            );
        }
    }
}

#[test]
fn unknown_cd_applet_is_one_line_with_the_closest_match() {
    let dir = tempfile::tempdir().unwrap();
    let bad = link(dir.path(), "cd-lisst");
    let out = run(&bad, &[]);
    out.fails_with(2, "unknown applet 'cd-lisst'");
    assert_eq!(hint(&out), "did you mean 'list'?");
}

#[test]
fn any_other_argv0_behaves_as_chroot_distro() {
    let dir = tempfile::tempdir().unwrap();
    let other = link(dir.path(), "my-containers");
    let out = run(&other, &["--version"]);
    out.ok();
    assert!(out.stdout.starts_with("chroot-distro "), "{out:#?}");
    run(&other, &["ls", "-q"]).ok();
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    run(&bin(), &["list", "--bogus"]).fails_with(2, "unexpected argument '--bogus'");
    run(&bin(), &["install"]).fails_with(2, "required arguments were not provided");
    run(&bin(), &["list", "-q", "--json"]).fails_with(2, "cannot be used with");
    run(&bin(), &["remove", "-q", "-v", "x"]).fails_with(2, "cannot be used with");
    run(&bin(), &["login", "x", "--isolated", "--minimal"]).fails_with(2, "cannot be used with");
    run(&bin(), &["search", "-l", "500", "x"]).fails_with(2, "500");
    let out = run(&bin(), &[]);
    assert_eq!(out.code, 2, "{out:#?}");
}

#[test]
fn version_and_help() {
    let out = run(&bin(), &["--version"]);
    out.ok();
    assert_eq!(
        out.stdout.trim(),
        format!("chroot-distro {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&bin(), &["help"]);
    out.ok();
    for (name, _) in REFERENCE {
        assert!(out.stdout.contains(name), "top help lacks {name}");
    }
    let out = run(&bin(), &["help", "ls"]);
    out.ok();
    assert!(
        out.stdout.contains("Usage: chroot-distro list"),
        "{}",
        out.stdout
    );
    let out = run(&bin(), &["help", "lisst"]);
    out.fails_with(2, "no such command 'lisst'");
    assert_eq!(hint(&out), "did you mean 'list'?");
}

#[test]
fn help_is_wrapped_to_columns() {
    let store = TestStore::new();
    for width in [40usize, 60] {
        let out = Outcome::of(
            store
                .cmd()
                .env("COLUMNS", width.to_string())
                .args(["login", "--help"]),
        );
        out.ok();
        // clap never breaks the usage synopsis; everything else must fit.
        let longest = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with("Usage:"))
            .map(|l| l.chars().count())
            .max()
            .unwrap();
        assert!(
            longest <= width,
            "line of {longest} > {width}:\n{}",
            out.stdout
        );
    }
    let wide = Outcome::of(store.cmd().env("COLUMNS", "200").args(["login", "--help"]));
    let longest = wide
        .stdout
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(longest > 60, "COLUMNS=200 should allow long lines");
}

#[test]
fn install_links_creates_working_links_and_respects_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run(&bin(), &["--install-links", d]).ok();
    for (name, _) in REFERENCE {
        let link = dir.path().join(format!("cd-{name}"));
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_symlink(), "{name}");
        assert_eq!(link.canonicalize().unwrap(), bin().canonicalize().unwrap());
    }
    // Idempotent.
    run(&bin(), &["--install-links", d]).ok();
    let out = run(&dir.path().join("cd-list"), &["-q"]);
    out.ok();

    // A foreign file is a conflict: nothing changes without --force.
    let other = tempfile::tempdir().unwrap();
    let o = other.path().to_str().unwrap();
    std::fs::write(other.path().join("cd-info"), b"not ours").unwrap();
    run(&bin(), &["--install-links", o]).fails_with(1, "cd-info");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
    run(&bin(), &["--install-links", o, "--force"]).ok();
    assert!(std::fs::symlink_metadata(other.path().join("cd-info"))
        .unwrap()
        .file_type()
        .is_symlink());
    run(&bin(), &["--force"]).fails_with(2, "--install-links");
}

#[test]
fn colours_only_on_a_tty_and_never_with_no_color() {
    // `script` gives the command a real pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux 'script' is required for the TTY tests");
    }
    let store = TestStore::new();
    store.add_python_container("deb", true);
    let tty = |extra: &[(&str, &str)]| {
        let mut cmd = store.cmd_with(Path::new("script"));
        cmd.args(["-qec", &format!("{} list", bin().display()), "/dev/null"]);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Outcome::of(&mut cmd)
    };
    let plain_pipe = store.run(&["list"]);
    assert!(!plain_pipe.stdout.contains('\x1b'), "colour on a pipe");
    let coloured = tty(&[("TERM", "xterm")]);
    coloured.ok();
    assert!(
        coloured.stdout.contains("\x1b["),
        "no colour on a tty: {coloured:#?}"
    );
    for var in ["NO_COLOR", "CD_FORCE_NO_COLORS"] {
        let out = tty(&[("TERM", "xterm"), (var, "1")]);
        out.ok();
        assert!(!out.stdout.contains('\x1b'), "{var} ignored: {out:#?}");
        assert!(out.stdout.contains("deb"));
    }
}

/// Options chroot-distro 3.2 accepts: `list -v` (not with `-q`),
/// `search -q`; and help names an alias once.
#[test]
fn options_3_2_accepts_are_ours_too() {
    run(&bin(), &["list", "-v"]).ok();
    run(&bin(), &["list", "-v", "-q"]).fails_with(2, "cannot be used with");
    let help = run(&bin(), &["login", "--help"]);
    assert_eq!(
        help.ok().stdout.matches("shared-x11").count(),
        1,
        "{}",
        help.stdout
    );
    let help = run(&bin(), &["search", "--help"]);
    assert!(help.ok().stdout.contains("--quiet"), "{}", help.stdout);
}

/// A command not built yet says so wherever commands are listed or
/// described: --help, help CMD, --list-applets, man pages, completions.
#[test]
fn commands_not_built_yet_are_marked_everywhere() {
    let marked = "[not yet built]";
    let top = run(&bin(), &["--help"]);
    let line = |text: &str, cmd: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(cmd))
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        line(&top.ok().stdout, "build ").contains(marked),
        "{}",
        top.stdout
    );
    assert!(
        !line(&top.stdout, "install ").contains(marked),
        "{}",
        top.stdout
    );
    assert!(run(&bin(), &["help", "push"])
        .ok()
        .stdout
        .starts_with(marked));
    let list = run(&bin(), &["--list-applets"]);
    assert!(
        line(&list.ok().stdout, "search ").contains(marked),
        "{}",
        list.stdout
    );
    let fish = run(&bin(), &["completions", "fish"]);
    assert!(
        fish.ok().stdout.contains(marked),
        "fish completions describe commands"
    );
    let zsh = run(&bin(), &["completions", "zsh"]);
    assert!(zsh.ok().stdout.contains(r"\[not yet built\]"), "zsh too");
    let dir = tempfile::tempdir().unwrap();
    run(&bin(), &["--generate-man", dir.path().to_str().unwrap()]).ok();
    let page = std::fs::read_to_string(dir.path().join("chroot-distro-build.1")).unwrap();
    assert!(page.contains("not yet built"), "{page}");
}

#[test]
fn login_help_says_the_words_after_the_separator_run_exactly() {
    let out = run(&bin(), &["login", "--help"]);
    out.ok();
    assert!(
        out.stdout
            .contains("exact argument vector, without a shell"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("login shell with -c"),
        "{}",
        out.stdout
    );
}
