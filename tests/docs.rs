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

#[test]
fn completions_cover_every_applet_and_option() {
    let store = TestStore::new();
    let options = all_long_options();
    assert!(options.len() >= 22);
    for shell in ["bash", "zsh", "fish"] {
        let out = store.run(&["completions", shell]);
        out.ok();
        for (name, opts) in &options {
            assert!(out.stdout.contains(name.as_str()), "{shell}: no {name}");
            for opt in opts {
                let bare = opt.trim_start_matches("--");
                assert!(out.stdout.contains(bare), "{shell}: {name} lacks {opt}");
            }
        }
    }
    let bash = store.run(&["completions", "bash"]);
    assert!(
        bash.stdout.contains("cd-login"),
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
    if let Ok(o) = Command::new("man")
        .args(["-l", "-Tutf8"])
        .arg(dir.path().join("chroot-distro-list.1"))
        .output()
    {
        if o.status.success() {
            assert!(String::from_utf8_lossy(&o.stdout).contains("machine-readable"));
        }
    }
}
