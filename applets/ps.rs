//! `ps`: active sessions.

use crate::cli::json_flag;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    json_flag(
        Command::new("ps")
            .about("List active login and run sessions")
            .arg(
                Arg::new("quiet")
                    .short('q')
                    .long("quiet")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("json")
                    .help("Print only session PIDs, one per line"),
            ),
    )
}

use crate::cli::{flag, print_json, Ctx, RunResult};
use crate::report::Exit;
use chroot_distro::launch::running;

pub fn run(m: &clap::ArgMatches, ctx: &Ctx) -> RunResult {
    let paths = ctx.store_paths()?;
    let sessions = running::live(&paths);
    if flag(m, "quiet") {
        for s in &sessions {
            println!("{}", s.pid);
        }
        return Ok(Exit::Ok);
    }
    if flag(m, "json") {
        return print_json(&sessions);
    }
    if sessions.is_empty() {
        println!("No active sessions.");
        return Ok(Exit::Ok);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let command: Vec<String> = s
                .command
                .iter()
                .map(|w| chroot_distro::shell::quote(w))
                .collect();
            let mut line = command.join(" ");
            // Cut to what is left of the terminal after the other columns.
            let room = ctx.width.saturating_sub(48).max(20);
            if line.chars().count() > room {
                line = line.chars().take(room - 1).collect::<String>() + "…";
            }
            vec![
                s.pid.to_string(),
                s.container.clone(),
                s.type_label(),
                s.user.clone(),
                uptime(now.saturating_sub(s.started)),
                line,
            ]
        })
        .collect();
    print!(
        "{}",
        chroot_distro::ui::table(
            &["PID", "CONTAINER", "TYPE", "USER", "UPTIME", "COMMAND"],
            &rows
        )
    );
    if sessions.iter().any(|s| s.log.is_some()) {
        println!("* detached (run -d): output goes to the log shown by 'ps --json'");
    }
    Ok(Exit::Ok)
}

/// `42s`, `3m12s`, `1h04m`, `2d03h`.
fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}
