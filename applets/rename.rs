//! `rename`: give a container a new name.

use crate::cli::{flag, output_level, Ctx, RunResult};
use crate::report::Exit;
use chroot_distro::store::{self, ContainerLock, ContainerName, LockMode};
use clap::{Arg, ArgMatches, Command};

pub fn command() -> Command {
    output_level(
        Command::new("rename")
            .about("Rename a container")
            .arg(
                Arg::new("old")
                    .value_name("OLDNAME")
                    .required(true)
                    .help("Current name"),
            )
            .arg(
                Arg::new("new")
                    .value_name("NEWNAME")
                    .required(true)
                    .help("New name"),
            ),
        false,
    )
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let word = |id| {
        m.get_one::<String>(id)
            .map(String::as_str)
            .unwrap_or_default()
    };
    let old = ContainerName::new(word("old"))?;
    let new = ContainerName::new(word("new"))?;
    let paths = ctx.store_paths()?;
    store::prepare_for_mutation_with(&paths, &*ctx.remover())?;
    // Both names are locked, so nobody installs `new` or enters `old`
    // meanwhile; one name is locked once (a second flock of the same file
    // from here would find it busy, by us), and rename_container refuses it.
    let _a = ContainerLock::try_acquire(&paths.lock_file(&old), old.as_str(), LockMode::Exclusive)?;
    let _b = (new != old)
        .then(|| {
            ContainerLock::try_acquire(&paths.lock_file(&new), new.as_str(), LockMode::Exclusive)
        })
        .transpose()?;
    store::rename_container(&paths, &old, &new)?;
    if !flag(m, "quiet") {
        println!("Renamed '{old}' to '{new}'.");
    }
    Ok(Exit::Ok)
}
