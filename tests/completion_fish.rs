//! fish completion of container names, driven through fish itself
//! (`complete -C`, which prints what fish would offer for a command line).

#[path = "common/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chroot-distro");

fn offers(home: &Path, line: &str) -> Vec<String> {
    let script = home.join("script.fish");
    let out = Command::new("fish")
        .arg("-c")
        .arg(format!("source {}; complete -C '{line}'", script.display()))
        .env(
            "PATH",
            format!(
                "{}:/usr/bin:/bin",
                Path::new(BIN).parent().unwrap().display()
            ),
        )
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{line}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn container_names_complete_in_fish() {
    if Command::new("fish").arg("--version").output().is_err() {
        skip::skip("fish is not installed (tests/rig/setup installs it)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    for n in ["alpha", "beta"] {
        let rootfs = home
            .path()
            .join("data/chroot-distro/containers")
            .join(n)
            .join("rootfs");
        std::fs::create_dir_all(rootfs).unwrap();
    }
    let out = Command::new(BIN)
        .args(["completions", "fish"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(home.path().join("script.fish"), &out.stdout).unwrap();
    let h = home.path();
    assert_eq!(offers(h, "chroot-distro login "), ["alpha", "beta"]);
    assert_eq!(offers(h, "chroot-distro sh -u root b"), ["beta"]);
    assert_eq!(offers(h, "cd-login a"), ["alpha"]);
    assert_eq!(offers(h, "chroot-distro rm alpha b"), ["beta"]);
    // Not after the container of a one-container command, nor after --,
    // nor for a command that takes none.
    for line in [
        "chroot-distro rename alpha ",
        "chroot-distro login alpha -- ",
        "chroot-distro install ",
    ] {
        let got = offers(h, line);
        assert!(!got.iter().any(|w| w == "beta"), "{line}: {got:?}");
    }
}
