//! `reset`: reinstall a container from its recorded image.

use crate::cli::{container_arg, container_name, flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::install::{self, InstallSource, Request};
use chroot_distro::sandbox::Privilege;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;

pub fn command() -> Command {
    output_level(
        Command::new("reset")
            .about("Reinstall a container from its image (all data inside is lost)")
            .arg(container_arg("Container to reset"))
            .arg(
                Arg::new("allow-insecure")
                    .long("allow-insecure")
                    .action(ArgAction::SetTrue)
                    .help("Allow a plain-http registry if layers must be downloaded again"),
            )
            .arg(
                Arg::new("strict")
                    .long("strict")
                    .action(ArgAction::SetTrue)
                    .help("Fail instead of skipping archive entries that cannot be created here"),
            ),
        false,
    )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let name = container_name(m)?;
    let paths = ctx.store_paths()?;
    let privilege = Privilege::detect(&ctx.env);
    ctx.prepare_fetch(&paths)?;
    let quiet = flag(m, "quiet");
    let mut progress =
        crate::progress::Progress::new(quiet, ctx.env.is_truthy("CD_DEBUG"), ctx.err);
    chroot_distro::interrupt::catch();
    let source = InstallSource::Image(String::new());
    let req = Request {
        paths: &paths,
        name: name.clone(),
        source: &source,
        platform: chroot_distro::oci::Platform::host(),
        privilege: &privilege,
        exe: Path::new("/proc/self/exe"),
        termux_user: None,
        force_walk: ctx.env.is_truthy("CD_FORCE_OPENAT2_FALLBACK"),
        env: &ctx.env,
        allow_insecure: flag(m, "allow-insecure"),
        strict: flag(m, "strict"),
    };
    let result = install::reset(&req, &mut progress);
    progress.finish();
    match result {
        Ok(done) => {
            if !quiet {
                println!("Reset '{name}': {}.", crate::install::summary(&done.stats));
            }
            Ok(Exit::Ok)
        }
        Err(_) if chroot_distro::interrupt::happened() => Err(Failure::new(
            Exit::Interrupted,
            format!("reset of '{name}' interrupted; the container is unchanged"),
        )),
        Err(e) => Err(Failure::from(e)),
    }
}
