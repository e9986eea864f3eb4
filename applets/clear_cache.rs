//! `clear-cache`: drop downloaded layers and manifests, or only the build
//! cache (`--build-cache`, pruned to `--keep SIZE`).

use crate::cli::{flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::ui::human_size;
use clap::{Arg, ArgAction, ArgMatches, Command};

pub fn command() -> Command {
    output_level(
        Command::new("clear-cache")
            .about("Delete cached layers, manifests and the build cache index")
            .arg(
                Arg::new("build-cache")
                    .long("build-cache")
                    .action(ArgAction::SetTrue)
                    .help(
                        "Drop only the build cache: the step index and the layers \
                         nothing else refers to (cached images stay)",
                    ),
            )
            .arg(
                Arg::new("keep")
                    .long("keep")
                    .value_name("SIZE")
                    .requires("build-cache")
                    .value_parser(parse_size)
                    .help(
                        "With --build-cache, keep the most recently used steps \
                         whose layers fit in SIZE (e.g. 500M, 2G)",
                    ),
            ),
        true,
    )
}

fn parse_size(text: &str) -> Result<u64, String> {
    chroot_distro::registry::settings::parse_rate(text)
        .filter(|_| !text.contains('/'))
        .ok_or_else(|| format!("'{text}': expected a size such as 800M or 2G"))
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let paths = ctx.store_paths()?;
    let verbose = flag(m, "verbose");
    let log = |p: &std::path::Path| println!("removed {}", p.display());
    if flag(m, "build-cache") {
        let keep = m.get_one::<u64>("keep").copied();
        let pruned = chroot_distro::build::prune::prune(
            &paths,
            keep,
            verbose.then_some(&log as &dyn Fn(&std::path::Path)),
        )
        .map_err(|e| match e {
            chroot_distro::build::Error::Store(s) => Failure::from(s),
            e => Failure::failed(e.to_string()),
        })?;
        if !flag(m, "quiet") {
            println!(
                "Dropped {} build step(s); freed {} ({} layer(s)) from {}.",
                pruned.entries,
                human_size(pruned.bytes),
                pruned.blobs,
                paths.layer_cache().display()
            );
            if pruned.mounts {
                println!("Dropped the RUN --mount=type=cache directories.");
            }
        }
        return Ok(Exit::Ok);
    }
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
