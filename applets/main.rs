//! chroot-distro: one multi-call binary.
//!
//! Invoked as `cd-<applet>` (a symlink or hard link) it runs that applet;
//! under any other name it is `chroot-distro <command>`.

mod backup;
mod build;
mod build_run;
mod clear_cache;
mod cli;
mod completion_names;
mod completions;
mod copy;
mod diff;
mod echoctl;
mod help;
mod info;
mod install;
mod kill;
mod links;
mod list;
mod login;
mod logs;
mod progress;
mod ps;
mod push;
mod remove;
mod rename;
mod report;
mod reset;
mod restore;
mod run;
mod search;
mod session;
mod session_args;
mod sync;
mod table;
mod toplevel;
mod unmount;

use cli::{Ctx, RunResult};
use report::{Exit, Failure};
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`chroot-distro list | head -1`) like
    // every other Unix tool, instead of panicking in println!.
    // SAFETY: setting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    // The confined unpacker: re-executed from this binary, no CLI, no Ctx.
    if args
        .get(1)
        .is_some_and(|a| a == chroot_distro::unpack::spawn::CHILD_APPLET)
    {
        return ExitCode::from(chroot_distro::unpack::child::main() as u8);
    }
    if args
        .get(1)
        .is_some_and(|a| a == chroot_distro::launch::CHILD_APPLET)
    {
        return ExitCode::from(chroot_distro::launch::child::main() as u8);
    }
    // One malloc arena: the applet's threads (the registry client's tokio
    // workers) allocate little but would each keep an arena's high-water
    // mark: 4 MB of peak RSS on a registry install.
    // SAFETY: a plain libc call before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let ctx = Ctx::from_process();
    match dispatch(&args, &ctx) {
        Ok(code) => code.into(),
        Err(failure) => {
            failure.report(ctx.err);
            failure.code.into()
        }
    }
}

fn dispatch(args: &[OsString], ctx: &Ctx) -> RunResult {
    let argv0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match argv0.strip_prefix("cd-") {
        Some(name) => {
            let applet = table::find_canonical(name).ok_or_else(|| {
                Failure::usage(format!("unknown applet '{argv0}'"))
                    .with_hint(table::suggestion(name))
            })?;
            let cmd = toplevel::prepare(applet.command(), ctx).bin_name(&argv0);
            let matches = match cmd.try_get_matches_from(args) {
                Ok(m) => m,
                Err(e) => return toplevel::clap_outcome(e, &argv0),
            };
            run_applet(applet, &matches, ctx)
        }
        None => toplevel::multi_call(args, ctx),
    }
}

pub fn run_applet(applet: &table::Applet, matches: &clap::ArgMatches, ctx: &Ctx) -> RunResult {
    match applet.status {
        table::Status::Ready(run) => run(matches, ctx),
        table::Status::Pending => Err(Failure::new(
            Exit::NotImplemented,
            format!("'{}' is not implemented in this build yet", applet.name),
        )
        .with_hint("'chroot-distro --list-applets' shows what this build can do")),
    }
}
