//! What `login` and `run` share: options to a launch, and the launch.

use crate::cli::{container_name, flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::bind::BindSpec;
use chroot_distro::launch::netns::{Publish, SessionNet};
use chroot_distro::launch::prepare::{self, Options};
use chroot_distro::launch::{registry, LaunchSpec};
use chroot_distro::sandbox::idmap::{IdMap, Privilege};
use chroot_distro::store::{ContainerLock, ContainerName, LockMode, StorePaths};
use clap::ArgMatches;
use std::path::{Path, PathBuf};

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

fn failed(e: prepare::Error) -> Failure {
    let hint = e.hint();
    let f = Failure::failed(e.to_string());
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// How this session gets its identity.
enum Identity {
    /// A root caller: real root, set up by our own session child.
    Root,
    /// A user namespace on the caller's subordinate ids.
    Rootless(IdMap),
    /// Real root through cd-mount-helper, which its policy grants us.
    Helper(PathBuf),
}

/// Root callers get real root; others a user namespace on their
/// subordinate ids. Real root for a non-root caller (`--root`, or no user
/// namespace to be had) goes through cd-mount-helper when its policy
/// grants it, else re-runs the command through sudo & co., unless that is
/// turned off.
fn identity(m: &ArgMatches, ctx: &Ctx, run: bool) -> Result<Identity, Failure> {
    let need = match Privilege::detect(&ctx.env) {
        Privilege::Root => return Ok(Identity::Root),
        Privilege::UserNs(map) if !flag(m, "root") => return Ok(Identity::Rootless(map)),
        Privilege::UserNs(_) => "real root in the container (--root)".to_owned(),
        Privilege::Squash { reason } => {
            format!("root (a rootless session needs a user namespace, and {reason})")
        }
    };
    match granted_helper(ctx)? {
        Some(helper) => Ok(Identity::Helper(helper)),
        None => Err(elevate(m, ctx, run, &need)),
    }
}

/// The helper, if installed and its policy lets this caller run sessions.
/// A `CD_MOUNT_HELPER` that names no helper is an error, not a reason to
/// use another one.
fn granted_helper(ctx: &Ctx) -> Result<Option<PathBuf>, Failure> {
    use chroot_distro::helper_client::{self, search};
    let exe = std::fs::read_link("/proc/self/exe").ok();
    let path_dirs = chroot_distro::hostinfo::executables::search_dirs(&ctx.env);
    let pin = ctx.env.get_os(search::PIN_VAR);
    let found = search::Search {
        pin,
        exe: exe.as_deref(),
        path_dirs: &path_dirs,
    }
    .locate();
    let helper = match found {
        Ok(l) => l.path,
        Err(search::Missing::NotFound) => return Ok(None),
        Err(e) => return Err(Failure::failed(e.to_string())),
    };
    let status = helper_client::check_policy_command(&helper)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(status.is_ok_and(|s| s.success()).then_some(helper))
}

/// Re-executes this command elevated; returns only on failure.
fn elevate(m: &ArgMatches, ctx: &Ctx, run: bool, need: &str) -> Failure {
    use chroot_distro::elevate;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Run as `cd-login`, the re-run of the real binary must name the applet.
    let applet_link = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"cd-"));
    let opts = elevate::ElevateOptions {
        use_sudo: flag(m, "use-sudo") || ctx.env.is_truthy("CHROOT_DISTRO_USE_SUDO"),
        no_elevate: flag(m, "no-elevate") || ctx.env.is_truthy("CHROOT_DISTRO_NO_ELEVATE"),
        need: need.to_owned(),
        names: std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect(),
        subcommand: applet_link.then(|| if run { "run" } else { "login" }.into()),
        uid: rustix::process::getuid().as_raw(),
        secrets_dir: None,
    };
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let plan = match elevate::plan(&ctx.env, &argv, &exe, &opts) {
        Ok(p) => p,
        Err(e) => {
            let f = Failure::failed(e.to_string());
            return match e.hint() {
                Some(h) => f.with_hint(h),
                None => f,
            };
        }
    };
    ctx.warn(&plan.notice(need));
    Failure::failed(elevate::exec(&plan).to_string())
}

pub fn launch(m: &ArgMatches, ctx: &Ctx, run: bool) -> RunResult {
    let name = container_name(m)?;
    let paths = ctx.store_paths()?;
    let identity = identity(m, ctx, run)?;
    let idmap = match &identity {
        Identity::Rootless(map) => Some(map.clone()),
        _ => None,
    };
    let opts = Options {
        user: m.get_one::<String>("user").cloned(),
        isolated: flag(m, "isolated") || ctx.env.is_truthy("CD_USE_ISOLATION"),
        use_ns: ctx.env.is_truthy("CD_USE_NS"),
        minimal: flag(m, "minimal"),
        shared_home: flag(m, "shared-home"),
        shared_tmp: flag(m, "shared-tmp"),
        shared_display: flag(m, "shared-display"),
        privileged: flag(m, "privileged"),
        no_new_privs: flag(m, "no-new-privs") || ctx.env.is_truthy("CD_NO_NEW_PRIVS"),
        binds: m
            .get_many::<BindSpec>("bind")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        hostname: m.get_one::<String>("hostname").cloned(),
        work_dir: m.get_one::<String>("work-dir").cloned(),
        env: {
            let raw = ctx.env.get("CD_ENV").unwrap_or_default();
            let mut env = chroot_distro::session::cd_env_entries(&raw);
            env.extend(strings(m, "env"));
            env
        },
        words: strings(m, "command"),
        run,
        rootless: idmap.is_some(),
    };
    let log = ctx.env.get_abs_path(chroot_distro::launch::detach::LOG_VAR);
    if run && flag(m, "detach") && log.is_none() {
        // Mistakes (no such container, no Cmd, a bad --bind) are reported
        // here, not in a log nobody reads yet.
        prepare::prepare(&paths, &name, &ctx.env, &opts).map_err(failed)?;
        return detach(&paths, &name);
    }
    // Sessions share the container; installs, resets and removals wait.
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(&name), name.as_str(), LockMode::Shared)?;
    let (mut spec, warnings) = prepare::prepare(&paths, &name, &ctx.env, &opts).map_err(failed)?;
    for w in warnings {
        ctx.warn(&w);
    }
    if flag(m, "get-chroot-cmd") {
        println!(
            "{}",
            chroot_distro::launch::script::command_line(&spec, idmap.as_ref())
        );
        return Ok(Exit::Ok);
    }
    // One session at a time decides whether to make the container's
    // namespaces or join them, until they exist.
    let lock = registry::setup_lock(&paths, name.as_str())
        .map_err(|e| Failure::failed(format!("cannot lock {}'s namespaces: {e}", name.as_str())))?;
    let mut setup = Some(lock);
    let joined = registry::holder(&paths, name.as_str(), spec.mode()).map_err(|e| {
        Failure::failed(e.to_string()).with_hint(format!(
            "end its sessions first: chroot-distro unmount {name}"
        ))
    })?;
    let publish: Vec<Publish> = m
        .get_many::<Publish>("publish")
        .into_iter()
        .flatten()
        .copied()
        .collect();
    if let Identity::Helper(helper) = &identity {
        // The helper makes the namespaces of each of its sessions itself.
        let _ = joined;
        let net = session_network(ctx, &publish, flag(m, "host-network"))?;
        let session = HelperSession {
            helper,
            paths: &paths,
            name: &name,
            spec: &spec,
            run,
            opts: &opts,
        };
        return through_helper(&session, net.as_ref(), setup.take());
    }
    if !publish.is_empty() {
        ctx.warn("-p is for sessions through cd-mount-helper: this session shares the host's network, so its ports are the host's already");
    }
    spec.join = joined;
    let mut registration = None;
    let code = chroot_distro::launch::run(
        Path::new("/proc/self/exe"),
        &spec,
        idmap.as_ref(),
        &mut |pid| {
            let mut record = record(pid, &name, &spec, run, &opts);
            record.log = log.clone();
            registration = registry::register(&paths, &record).ok();
            setup.take();
        },
    )
    .map_err(|e| Failure::failed(e.to_string()))?;
    drop(registration);
    Ok(Exit::Command(code.clamp(0, 255) as u8))
}

/// What `ps` shows of the session whose holder is `pid`.
fn record(
    pid: u32,
    name: &ContainerName,
    spec: &LaunchSpec,
    run: bool,
    opts: &Options,
) -> registry::SessionRecord {
    let user = opts.user.as_deref().unwrap_or("root");
    registry::SessionRecord::new(
        pid,
        name.as_str(),
        if run { "run" } else { "login" },
        user,
        spec,
    )
}

/// The network of a session through cd-mount-helper: the host's when asked
/// for (the helper checks the policy), else a namespace of the caller's
/// own, with pasta for outbound traffic and forwards when it is installed.
fn session_network(
    ctx: &Ctx,
    publish: &[Publish],
    host: bool,
) -> Result<Option<SessionNet>, Failure> {
    if host {
        if !publish.is_empty() {
            ctx.warn("-p is ignored with --host-network: the session's ports are the host's");
        }
        return Ok(None);
    }
    let path = chroot_distro::hostinfo::executables::search_dirs(&ctx.env);
    let net = SessionNet::start(publish, &path).map_err(|e| Failure::failed(e.to_string()))?;
    if !net.connected {
        ctx.warn("pasta is not installed (Debian and Ubuntu: apt install passt): this session's network is its loopback only");
    }
    Ok(Some(net))
}

/// A session to run through cd-mount-helper.
struct HelperSession<'a> {
    helper: &'a Path,
    paths: &'a StorePaths,
    name: &'a ContainerName,
    spec: &'a LaunchSpec,
    run: bool,
    opts: &'a Options,
}

/// Runs the session through cd-mount-helper and waits for it; the helper
/// recomputes and checks everything it is given.
fn through_helper(
    s: &HelperSession,
    net: Option<&SessionNet>,
    setup: Option<std::fs::File>,
) -> RunResult {
    use chroot_distro::helper_client::{command, request_for, Network};
    use chroot_distro::launch::relay::Relay;
    let HelperSession {
        helper,
        paths,
        name,
        spec,
        run,
        opts,
    } = *s;
    let mut req = request_for(spec, &paths.runtime_dir, name.as_str());
    req.network = net.map_or(Network::Host, |n| Network::Of(n.pid()));
    let _quiet = chroot_distro::launch::IgnoreInterrupts::new();
    // Container root must never hold one of our fds that leads back to the
    // host (a file, a directory, the caller's own terminal): the relay hands
    // the helper pipes and a fresh pty instead, and pumps them here.
    let mut relay = Relay::prepare()
        .map_err(|e| Failure::failed(format!("cannot set up the session's terminal: {e}")))?;
    let mut cmd = command(helper, &req);
    relay.configure(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::failed(format!("cannot run {}: {e}", helper.display())))?;
    if let Err(e) = relay.start() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Failure::failed(format!(
            "cannot relay the session's input and output: {e}"
        )));
    }
    let registration = registry::register(paths, &record(child.id(), name, spec, run, opts)).ok();
    drop(setup);
    let status = child.wait();
    relay.finish();
    let status = status.map_err(|e| Failure::failed(format!("cannot wait for the helper: {e}")))?;
    drop(registration);
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Exit::Command(code.clamp(0, 255) as u8))
}

/// `run -d`: prints the background session's PID once it is registered.
fn detach(paths: &StorePaths, name: &ContainerName) -> RunResult {
    match chroot_distro::launch::detach::start(paths, name) {
        Ok((pid, log)) => {
            // The PID alone on stdout, for scripts; the rest for people.
            println!("{pid}");
            eprintln!(
                "'{name}' runs in the background; its output goes to {}\n  follow it: chroot-distro logs {name} -f",
                log.display()
            );
            Ok(Exit::Ok)
        }
        Err((e, log)) => {
            Err(Failure::failed(e.to_string()).with_hint(format!("its log is {}", log.display())))
        }
    }
}
