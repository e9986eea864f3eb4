//! `clear-cache`: drop downloaded layers and manifests.

use crate::cli::{flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::ui::human_size;
use clap::{ArgMatches, Command};

pub fn command() -> Command {
    output_level(
        Command::new("clear-cache")
            .about("Delete cached layers, manifests and the build cache index"),
        true,
    )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let paths = ctx.store_paths()?;
    let verbose = flag(m, "verbose");
    let log = |p: &std::path::Path| println!("removed {}", p.display());
    let freed = chroot_distro::store::clear_cache(
        &paths,
        verbose.then_some(&log as &dyn Fn(&std::path::Path)),
    )
    .map_err(Failure::from)?;
    if !flag(m, "quiet") {
        println!(
            "Freed {} from {}.",
            human_size(freed),
            paths.cache_dir.display()
        );
    }
    Ok(Exit::Ok)
}
