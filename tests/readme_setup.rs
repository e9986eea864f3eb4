//! The README is followable on a machine without `sudo` (issue 14): the
//! set-up commands are written as a root shell runs them, and every other
//! example that starts with `sudo` is introduced by a line saying that
//! running it as root does the same.

const README: &str = include_str!("../README.md");

/// The README's `sh` code blocks, each with the text just before it.
fn sh_blocks() -> Vec<(String, Vec<&'static str>)> {
    let mut blocks = Vec::new();
    let mut before: Vec<&str> = Vec::new();
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```sh" {
            before.push(line);
            continue;
        }
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let intro = before
            .iter()
            .rev()
            .take(6)
            .rev()
            .copied()
            .collect::<Vec<_>>();
        blocks.push((intro.join("\n"), body));
        before.clear();
    }
    blocks
}

#[test]
fn the_setup_commands_run_as_written_in_a_root_shell() {
    let (intro, body) = sh_blocks()
        .into_iter()
        .find(|(_, body)| body.iter().any(|l| l.contains("packaging/install.sh")))
        .expect("a set-up block running packaging/install.sh");
    assert!(
        body.iter().all(|l| !l.trim_start().starts_with("sudo ")),
        "{body:?}"
    );
    assert!(
        intro.contains("as root") && intro.contains("`sudo`"),
        "{intro}"
    );
    let install = body
        .iter()
        .position(|l| l.starts_with("packaging/install.sh"));
    let run = body.iter().position(|l| l.starts_with("tests/run"));
    assert!(install.is_some() && install < run, "{body:?}");
}

#[test]
fn every_sudo_example_says_root_will_do() {
    for (intro, body) in sh_blocks() {
        if body.iter().any(|l| l.trim_start().starts_with("sudo ")) {
            assert!(intro.contains("as root"), "no 'as root' before {body:?}");
        }
    }
}

#[test]
fn bash_completion_names_the_package_it_needs() {
    assert!(README.contains("`bash-completion` package"));
}
