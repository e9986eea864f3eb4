//! bash completion, driven through bash itself: the generated script is
//! sourced after bash-completion, the function `complete -p` names is
//! called with COMP_WORDS/COMP_CWORD set, and COMPREPLY is checked.

#[path = "common/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chroot-distro");
const BASH_COMPLETION: &str = "/usr/share/bash-completion/bash_completion";

/// A store holding `names`, and the generated script.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            let rootfs = dir
                .path()
                .join("data/chroot-distro/containers")
                .join(n)
                .join("rootfs");
            std::fs::create_dir_all(rootfs).unwrap();
        }
        let out = Command::new(BIN)
            .args(["completions", "bash"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        std::fs::write(dir.path().join("script.bash"), &out.stdout).unwrap();
        Self { dir }
    }

    /// What bash offers for `words`, the last one being completed.
    fn complete(&self, words: &[&str]) -> Vec<String> {
        let bin_dir = Path::new(BIN).parent().unwrap();
        let script = format!(
            r#". {BASH_COMPLETION}
. "$SETUP/script.bash"
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
f=$(complete -p "$1" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[[ -n $f ]] || {{ echo "no completion function for $1" >&2; exit 3; }}
COMPREPLY=()
"$f" "$1" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("bash")
            .args(words)
            .env("SETUP", self.dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env_remove("TERMUX__PREFIX")
            .env_remove("TERMUX_VERSION")
            .output()
            .unwrap();
        assert!(out.status.success(), "{words:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn have_bash_completion() -> bool {
    Path::new(BASH_COMPLETION).is_file()
        || skip::skip("the bash-completion package is not installed (tests/rig/setup installs it)")
}

#[test]
fn options_complete_after_a_subcommand_of_chroot_distro() {
    if !have_bash_completion() {
        return;
    }
    let s = Setup::new(&[]);
    let got = s.complete(&["chroot-distro", "login", "--"]);
    for want in ["--user", "--isolated", "--bind", "--root"] {
        assert!(got.iter().any(|w| w == want), "{want} missing from {got:?}");
    }
    // Through an alias and a cd-* link as well.
    let got = s.complete(&["chroot-distro", "sh", "--iso"]);
    assert_eq!(got, ["--isolated"]);
    let got = s.complete(&["cd-backup", "--comp"]);
    assert_eq!(got, ["--compress"]);
    let got = s.complete(&["chroot-distro", "backup", "x", "--compress", "z"]);
    assert_eq!(got, ["zstd"]);
}

#[test]
fn container_names_complete_where_a_command_takes_one() {
    if !have_bash_completion() {
        return;
    }
    let s = Setup::new(&["alpha", "beta", "bravo"]);
    let all = ["alpha", "beta", "bravo"];
    assert_eq!(s.complete(&["chroot-distro", "login", ""]), all);
    assert_eq!(
        s.complete(&["chroot-distro", "login", "b"]),
        ["beta", "bravo"]
    );
    // The value of an option is not the container.
    assert_eq!(
        s.complete(&["chroot-distro", "login", "-u", "root", "a"]),
        ["alpha"]
    );
    assert_eq!(s.complete(&["cd-login", "--isolated", "a"]), ["alpha"]);
    // remove takes several; rename, kill, reset and the others one.
    assert_eq!(
        s.complete(&["chroot-distro", "rm", "alpha", "b"]),
        ["beta", "bravo"]
    );
    for cmd in [
        "rename", "kill", "reset", "unmount", "backup", "diff", "logs", "run",
    ] {
        assert_eq!(
            s.complete(&["chroot-distro", cmd, "al"]),
            ["alpha"],
            "{cmd}"
        );
    }
    // After the container, options again (not names).
    let after = s.complete(&["chroot-distro", "rename", "alpha", "b"]);
    assert!(!after.iter().any(|w| w == "beta"), "{after:?}");
    // Commands without a container argument get no names.
    let install = s.complete(&["chroot-distro", "install", "al"]);
    assert!(!install.iter().any(|w| w == "alpha"), "{install:?}");
}
