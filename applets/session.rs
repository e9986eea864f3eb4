//! What `login` and `run` share: options to a launch, and the launch.

use crate::cli::{container_name, flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::prepare::{self, Options};
use chroot_distro::launch::registry;
use chroot_distro::store::{ContainerLock, LockMode};
use clap::ArgMatches;
use std::path::Path;

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

pub fn launch(m: &ArgMatches, ctx: &Ctx, run: bool) -> RunResult {
    let name = container_name(m)?;
    let paths = ctx.store_paths()?;
    if !rustix::process::geteuid().is_root() {
        return Err(Failure::new(
            Exit::NotImplemented,
            "sessions for non-root callers (rootless and through cd-mount-helper) are not implemented in this build yet",
        )
        .with_hint("run it as root, e.g. with sudo"));
    }
    let opts = Options {
        user: m.get_one::<String>("user").cloned(),
        isolated: flag(m, "isolated") || ctx.env.is_truthy("CD_USE_NS"),
        minimal: flag(m, "minimal"),
        shared_home: flag(m, "shared-home"),
        shared_tmp: flag(m, "shared-tmp"),
        privileged: flag(m, "privileged"),
        binds: strings(m, "bind"),
        hostname: m.get_one::<String>("hostname").cloned(),
        work_dir: m.get_one::<String>("work-dir").cloned(),
        env: strings(m, "env"),
        words: strings(m, "command"),
        run,
    };
    // Sessions share the container; installs, resets and removals wait.
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(&name), name.as_str(), LockMode::Shared)?;
    let (spec, warnings) = prepare::prepare(&paths, &name, &ctx.env, &opts).map_err(|e| {
        let hint = e.hint();
        let f = Failure::failed(e.to_string());
        match hint {
            Some(h) => f.with_hint(h),
            None => f,
        }
    })?;
    for w in warnings {
        ctx.warn(&w);
    }
    if flag(m, "get-chroot-cmd") {
        println!("{}", chroot_distro::launch::script::command_line(&spec));
        return Ok(Exit::Ok);
    }
    let record = |pid: u32| registry::SessionRecord {
        pid,
        container: name.to_string(),
        kind: if run { "run" } else { "login" }.into(),
        user: opts.user.clone().unwrap_or_else(|| "root".into()),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        command: spec.argv.clone(),
    };
    let mut registration = None;
    let code = chroot_distro::launch::run(Path::new("/proc/self/exe"), &spec, &mut |pid| {
        registration = registry::register(&paths, &record(pid)).ok();
    })
    .map_err(|e| Failure::failed(e.to_string()))?;
    drop(registration);
    Ok(Exit::Command(code.clamp(0, 255) as u8))
}
