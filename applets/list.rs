//! `list`: installed containers with size, source and status.

use crate::cli::{flag, json_flag, print_json, Ctx, RunResult};
use crate::report::Exit;
use chroot_distro::store::{self, Source, Summary};
use chroot_distro::ui::{human_size, table};
use clap::{Arg, ArgAction, ArgMatches, Command};

pub fn command() -> Command {
    json_flag(
        Command::new("list")
            .about("List installed containers with size, source and status")
            .arg(
                Arg::new("quiet")
                    .short('q')
                    .long("quiet")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("json")
                    .help("Print only container names, one per line"),
            )
            .arg(
                Arg::new("verbose")
                    .short('v')
                    .long("verbose")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("quiet")
                    .help("Accepted as chroot-distro 3.2 accepts it; the listing is the same"),
            ),
    )
}

/// One container as `list --json` prints it; field names are a stable API.
#[derive(serde::Serialize)]
struct Item {
    name: String,
    rootfs: String,
    size_bytes: Option<u64>,
    /// False when some directories could not be read (size is a lower bound).
    size_complete: bool,
    source: Source,
    status: &'static str,
    pids: Vec<u32>,
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let paths = ctx.store_paths()?;
    let names = store::installed(&paths)?;
    if flag(m, "quiet") {
        for n in &names {
            println!("{n}");
        }
        return Ok(Exit::Ok);
    }
    let mut summaries: Vec<Summary> = names
        .iter()
        .map(|n| Summary::gather(&paths, n, true))
        .collect();
    measure_rootless(&mut summaries, ctx);
    name_sessions(&mut summaries, &paths);
    if flag(m, "json") {
        let items: Vec<Item> = summaries.into_iter().map(item).collect();
        return print_json(&items);
    }
    if summaries.is_empty() {
        println!("No containers installed.");
        println!("Install one with: chroot-distro install ubuntu:24.04");
        println!("             or:  chroot-distro install ./rootfs.tar.gz");
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                ctx.out.bold(&s.name),
                size_text(s),
                s.source.describe(),
                status_text(s),
            ]
        })
        .collect();
    // Bold names carry escape codes; pad on the plain text, then paint.
    let plain: Vec<Vec<String>> = summaries
        .iter()
        .zip(&rows)
        .map(|(s, r)| {
            let mut r = r.clone();
            r[0] = s.name.clone();
            r
        })
        .collect();
    let text = table(&["NAME", "SIZE", "SOURCE", "STATUS"], &plain);
    let mut lines = text.lines();
    if let Some(header) = lines.next() {
        println!("{}", ctx.out.dim(header));
    }
    for (line, s) in lines.zip(&summaries) {
        let rest = &line[s.name.len()..];
        println!("{}{rest}", ctx.out.bold(&s.name));
    }
    Ok(Exit::Ok)
}

fn size_text(s: &Summary) -> String {
    match &s.usage {
        Some(u) if u.unreadable_dirs > 0 => format!(">= {}", human_size(u.bytes)),
        Some(u) => human_size(u.bytes),
        None => "?".into(),
    }
}

fn status_text(s: &Summary) -> String {
    match s.in_use_by.as_slice() {
        [] => "idle".into(),
        pids => {
            let list: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("in use ({})", list.join(", "))
        }
    }
}

fn item(s: Summary) -> Item {
    Item {
        size_bytes: s.usage.map(|u| u.bytes),
        size_complete: s.usage.is_some_and(|u| u.unreadable_dirs == 0),
        rootfs: s.rootfs.display().to_string(),
        status: if s.in_use_by.is_empty() {
            "idle"
        } else {
            "in_use"
        },
        pids: s.in_use_by,
        source: s.source,
        name: s.name,
    }
}

/// A rootless rootfs has directories only its subordinate ids may read:
/// measure those from inside the store's user namespace.
/// A session's lock is held by its applet; users know the session's PID
/// (the one `ps` shows and `kill` takes), so show that one instead.
fn name_sessions(summaries: &mut [Summary], paths: &chroot_distro::store::StorePaths) {
    let sessions = chroot_distro::launch::running::live(paths);
    for s in summaries {
        let mine: Vec<_> = sessions.iter().filter(|r| r.container == s.name).collect();
        s.in_use_by
            .retain(|pid| !mine.iter().any(|r| r.applet == *pid));
        s.in_use_by.extend(mine.iter().map(|r| r.pid));
        s.in_use_by.sort_unstable();
        s.in_use_by.dedup();
    }
}

fn measure_rootless(summaries: &mut [Summary], ctx: &Ctx) {
    let privilege = chroot_distro::sandbox::Privilege::detect(&ctx.env);
    if !privilege.is_userns() {
        return;
    }
    let exe = std::path::Path::new("/proc/self/exe");
    for s in summaries.iter_mut() {
        if s.usage.is_some_and(|u| u.unreadable_dirs > 0) {
            if let Ok(u) = chroot_distro::unpack::spawn::usage_in_userns(exe, &privilege, &s.rootfs)
            {
                s.usage = Some(u);
            }
        }
    }
}
