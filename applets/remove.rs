//! `remove`: delete containers.

use crate::cli::{flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::store::{self, ContainerLock, ContainerName, LockMode, StorePaths};
use clap::{Arg, ArgMatches, Command};

pub fn command() -> Command {
    output_level(
        Command::new("remove")
            .about("Delete containers and all their data (not confirmed, cannot be undone)")
            .arg(
                Arg::new("container")
                    .value_name("CONTAINER")
                    .required(true)
                    .num_args(1..)
                    .help("Containers to delete"),
            ),
        true,
    )
}

/// Removes each container named, as `docker rm` does: a failure is
/// reported and the others are still removed; the exit code is the last
/// failure's. Names are all checked before anything is removed.
pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let names = m
        .get_many::<String>("container")
        .into_iter()
        .flatten()
        .map(|raw| ContainerName::new(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let paths = ctx.store_paths()?;
    let remover = ctx.remover();
    store::prepare_for_mutation_with(&paths, &*remover)?;
    let mut failed = None;
    for name in &names {
        if let Err(f) = remove_one(m, &paths, name, &*remover) {
            if names.len() == 1 {
                return Err(f);
            }
            f.report(ctx.err);
            failed = Some(f.code);
        }
    }
    match failed {
        Some(code) => Err(Failure::new(code, "not every container was removed")),
        None => Ok(Exit::Ok),
    }
}

fn remove_one(
    m: &ArgMatches,
    paths: &StorePaths,
    name: &ContainerName,
    remover: &store::Remover,
) -> Result<(), Failure> {
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(name), name.as_str(), LockMode::Exclusive)?;
    let log = |p: &std::path::Path| println!("removed {}", p.display());
    let verbose = flag(m, "verbose").then_some(&log as &dyn Fn(&std::path::Path));
    store::remove_container(paths, name, verbose, remover).map_err(Failure::from)?;
    if !flag(m, "quiet") {
        println!("Removed container '{name}'.");
    }
    Ok(())
}
