//! `remove`: delete a container.

use crate::cli::{container_arg, container_name, flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::store::{self, ContainerLock, LockMode};
use clap::{ArgMatches, Command};

pub fn command() -> Command {
    output_level(
        Command::new("remove")
            .about("Delete a container and all its data (not confirmed, cannot be undone)")
            .arg(container_arg("Container to delete")),
        true,
    )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let name = container_name(m)?;
    let paths = ctx.store_paths()?;
    let remover = ctx.remover();
    store::prepare_for_mutation_with(&paths, &*remover)?;
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(&name), name.as_str(), LockMode::Exclusive)?;
    let verbose = flag(m, "verbose");
    let log = |p: &std::path::Path| println!("removed {}", p.display());
    store::remove_container(
        &paths,
        &name,
        verbose.then_some(&log as &dyn Fn(&std::path::Path)),
        &*remover,
    )
    .map_err(Failure::from)?;
    if !flag(m, "quiet") {
        println!("Removed container '{name}'.");
    }
    Ok(Exit::Ok)
}
