//! `unmount`: end a container's sessions and release its mounts.

use crate::cli::container_arg;
use clap::Command;

pub fn command() -> Command {
    Command::new("unmount")
        .about("End a container's sessions and release its mounts")
        .arg(container_arg("Container to unmount"))
}

use crate::cli::{Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::running;

pub fn run(m: &clap::ArgMatches, ctx: &Ctx) -> RunResult {
    let word = m
        .get_one::<String>("container")
        .map(String::as_str)
        .unwrap_or_default();
    let (container, sessions) = crate::kill::sessions_of(word, ctx)?;
    // Sessions' mounts live in their own namespaces and go with them.
    let n = running::stop(&sessions, std::time::Duration::from_secs(2));
    // Mounts a older tool left on the host are detached, deepest first.
    let paths = ctx.store_paths()?;
    let name = chroot_distro::store::ContainerName::new(&container)?;
    let mut mounts = chroot_distro::fsops::mounts_under(&paths.container_dir(&name));
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for mount in &mounts {
        nix::mount::umount2(mount, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e| Failure::failed(format!("cannot unmount {}: {e}", mount.display())))?;
    }
    println!(
        "Unmounted '{container}': {} session(s) ended ({n} process(es)), {} host mount(s) removed.",
        sessions.len(),
        mounts.len()
    );
    Ok(Exit::Ok)
}
