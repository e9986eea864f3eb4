//! Completions and man pages come from the same clap tree as parsing, so
//! they cover every applet and every option.

mod common;

use common::{bin, Outcome, TestStore};
use std::process::Command;

/// Every long option of every applet, read from their --help.
fn all_long_options() -> Vec<(String, Vec<String>)> {
    let store = TestStore::new();
    let list = store.run(&["--list-applets"]);
    list.ok();
    list.stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(|name| {
            let help = store.run(&[name, "--help"]);
            help.ok();
            let opts = help
                .stdout
                .split_whitespace()
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .map(|w| {
                    w.trim_end_matches([',', '.', ']', ')'])
                        .split(['=', '[', '<'])
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .filter(|w| w != "--")
                .collect();
            (name.to_owned(), opts)
        })
        .collect()
}

/// The part of a completion script that completes applet `name`, and
/// how an option `--opt` must appear there. A bare substring would match
/// `root` in any word of the script.
fn completes(shell: &str, script: &str, name: &str, opt: &str) -> bool {
    match shell {
        // `chroot__distro__subcmd__NAME)` (the state name the script sets
        // after `chroot-distro NAME`) and its `opts="..."` line.
        "bash" => {
            let label = format!(
                "chroot__distro__subcmd__{})",
                name.replace('-', "__subcmd__")
            );
            script
                .lines()
                .skip_while(|l| l.trim() != label)
                .find_map(|l| l.trim().strip_prefix("opts=\""))
                .is_some_and(|opts| opts.trim_end_matches('"').split(' ').any(|w| w == opt))
        }
        // `(NAME)` up to `;;`, with `'--opt[...]'` or `'--opt=[...]'`.
        "zsh" => script
            .lines()
            .skip_while(|l| l.trim() != format!("({name})"))
            .take_while(|l| l.trim() != ";;")
            .any(|l| l.contains(&format!("{opt}[")) || l.contains(&format!("{opt}=["))),
        // `complete ... -n "__fish_..._using_subcommand NAME" ... -l opt ...`.
        "fish" => {
            let bare = opt.trim_start_matches("--");
            script.lines().any(|l| {
                l.contains(&format!("using_subcommand {name}\""))
                    && l.split(' ')
                        .collect::<Vec<_>>()
                        .windows(2)
                        .any(|w| w == ["-l", bare])
            })
        }
        _ => unreachable!(),
    }
}

#[test]
fn completions_cover_every_applet_and_option() {
    let store = TestStore::new();
    let options = all_long_options();
    assert!(options.len() >= 22);
    for shell in ["bash", "zsh", "fish"] {
        let out = store.run(&["completions", shell]);
        out.ok();
        for (name, opts) in &options {
            for opt in opts {
                assert!(
                    completes(shell, &out.stdout, name, opt),
                    "{shell}: {name} lacks {opt}"
                );
            }
        }
    }
    let bash = store.run(&["completions", "bash"]);
    assert!(
        bash.stdout
            .lines()
            .any(|l| l.trim().starts_with("complete -F") && l.ends_with(" cd-login")),
        "cd-* links complete in bash"
    );
    let check = Command::new("bash")
        .args(["-n", "-c", &bash.stdout])
        .status()
        .unwrap();
    assert!(check.success(), "bash completion script does not parse");
    store.run(&["completions", "tcsh"]).fails_with(2, "tcsh");
}

#[test]
fn man_pages_for_every_applet() {
    let dir = tempfile::tempdir().unwrap();
    let out = Outcome::of(Command::new(bin()).arg("--generate-man").arg(dir.path()));
    out.ok();
    let top = std::fs::read_to_string(dir.path().join("chroot-distro.1")).unwrap();
    assert!(top.starts_with(".ie") || top.contains(".TH"), "not roff");
    for (name, opts) in all_long_options() {
        let page = std::fs::read_to_string(dir.path().join(format!("chroot-distro-{name}.1")))
            .unwrap_or_else(|e| panic!("no page for {name}: {e}"));
        assert!(page.contains(".TH"), "{name}: not a man page");
        for opt in opts {
            // roff escapes '-' as '\-'.
            let escaped = opt.replace('-', "\\-");
            assert!(page.contains(&escaped), "{name}: page lacks {opt}");
        }
        let link = std::fs::read_to_string(dir.path().join(format!("cd-{name}.1"))).unwrap();
        assert_eq!(link, format!(".so man1/chroot-distro-{name}.1\n"));
    }
    // Rendered by man itself (the rig installs man-db): the page is not
    // only roff-shaped text but reads as the option's help.
    let o = Command::new("man")
        .args(["-l", "-Tutf8"])
        .arg(dir.path().join("chroot-distro-list.1"))
        .output()
        .expect("man (Debian: apt install man-db)");
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("machine-readable"),
        "{o:?}"
    );
}
