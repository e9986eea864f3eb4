//! What `login` and `run` share: their flags as the library's session
//! options, and the report of how the session went.

use crate::cli::{container_name, flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::bind::BindSpec;
use chroot_distro::launch::netns::Publish;
use chroot_distro::launch::start::{self, Action, Elevation, Options};
use chroot_distro::launch::{prepare, Kind, Outcome};
use clap::ArgMatches;

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

pub fn launch(m: &ArgMatches, ctx: &Ctx, kind: Kind) -> RunResult {
    let paths = ctx.store_paths()?;
    let opts = options(m, ctx, kind)?;
    match chroot_distro::launch::start(&paths, &ctx.env, &opts, &|w| ctx.warn(w)) {
        Ok(Outcome::Exited(code)) => Ok(Exit::Command(code)),
        Ok(Outcome::CommandLine(line)) => {
            println!("{line}");
            Ok(Exit::Ok)
        }
        Ok(Outcome::Detached { pid, log }) => {
            // The PID alone on stdout, for scripts; the rest for people.
            println!("{pid}");
            let name = &opts.container;
            eprintln!(
                "'{name}' runs in the background; its output goes to {}\n  follow it: chroot-distro logs {name} -f",
                log.display()
            );
            Ok(Exit::Ok)
        }
        Err(start::Error::Store(e)) => Err(e.into()),
        Err(e) => {
            let failure = Failure::failed(e.to_string());
            Err(match e.hint() {
                Some(h) => failure.with_hint(h),
                None => failure,
            })
        }
    }
}

fn options(m: &ArgMatches, ctx: &Ctx, kind: Kind) -> Result<Options, Failure> {
    let env = &ctx.env;
    let session = prepare::Options {
        kind,
        user: m.get_one::<String>("user").cloned(),
        isolated: flag(m, "isolated") || env.is_truthy("CD_USE_ISOLATION"),
        use_ns: env.is_truthy("CD_USE_NS"),
        minimal: flag(m, "minimal"),
        shared_home: flag(m, "shared-home"),
        shared_tmp: flag(m, "shared-tmp"),
        shared_display: flag(m, "shared-display"),
        privileged: flag(m, "privileged"),
        no_new_privs: flag(m, "no-new-privs") || env.is_truthy("CD_NO_NEW_PRIVS"),
        binds: m
            .get_many::<BindSpec>("bind")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        hostname: m.get_one::<String>("hostname").cloned(),
        work_dir: m.get_one::<String>("work-dir").cloned(),
        env: {
            let raw = env.get("CD_ENV").unwrap_or_default();
            let mut entries = chroot_distro::session::cd_env_entries(&raw);
            entries.extend(strings(m, "env"));
            entries
        },
        words: strings(m, "command"),
        network: Default::default(),
    };
    let action = if kind == Kind::Run && flag(m, "detach") {
        Action::Detach
    } else if flag(m, "get-chroot-cmd") {
        Action::PrintCommand
    } else {
        Action::Attach
    };
    Ok(Options {
        container: container_name(m)?,
        session,
        real_root: flag(m, "root"),
        elevation: Elevation {
            use_sudo: flag(m, "use-sudo") || env.is_truthy("CHROOT_DISTRO_USE_SUDO"),
            no_elevate: flag(m, "no-elevate") || env.is_truthy("CHROOT_DISTRO_NO_ELEVATE"),
            argv: std::env::args_os().collect(),
            env_names: std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
        },
        host_network: flag(m, "host-network"),
        publish: m
            .get_many::<Publish>("publish")
            .into_iter()
            .flatten()
            .copied()
            .collect(),
        action,
        exe: "/proc/self/exe".into(),
    })
}
