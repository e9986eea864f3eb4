//! What `login` and `run` share: options to a launch, and the launch.

use crate::cli::{container_name, flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::launch::prepare::{self, Options};
use chroot_distro::launch::{registry, LaunchSpec};
use chroot_distro::sandbox::idmap::{IdMap, Privilege};
use chroot_distro::store::{ContainerLock, ContainerName, LockMode, StorePaths};
use clap::ArgMatches;
use std::path::{Path, PathBuf};

/// Set in a detached `run`'s background applet: where its output goes.
const DETACHED_LOG: &str = "CD_INTERNAL_DETACHED_LOG";

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
    match granted_helper(ctx) {
        Some(helper) => Ok(Identity::Helper(helper)),
        None => Err(elevate(m, ctx, run, &need)),
    }
}

/// The helper, if installed and its policy lets this caller run sessions.
fn granted_helper(ctx: &Ctx) -> Option<PathBuf> {
    use chroot_distro::helper_client;
    let helper = helper_client::find(ctx.env.get_abs_path("CD_MOUNT_HELPER").as_deref())?;
    let status = helper_client::check_policy_command(&helper)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(helper)
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
        isolated: flag(m, "isolated"),
        use_ns: ctx.env.is_truthy("CD_USE_NS"),
        minimal: flag(m, "minimal"),
        shared_home: flag(m, "shared-home"),
        shared_tmp: flag(m, "shared-tmp"),
        shared_display: flag(m, "shared-display"),
        privileged: flag(m, "privileged"),
        binds: strings(m, "bind"),
        hostname: m.get_one::<String>("hostname").cloned(),
        work_dir: m.get_one::<String>("work-dir").cloned(),
        env: strings(m, "env"),
        words: strings(m, "command"),
        run,
        rootless: idmap.is_some(),
    };
    let log = ctx.env.get_abs_path(DETACHED_LOG);
    if run && flag(m, "detach") && log.is_none() {
        // Mistakes (no such container, no Cmd, a bad --bind) are reported
        // here, not in a log nobody reads yet.
        prepare::prepare(&paths, &name, &ctx.env, &opts).map_err(failed)?;
        return detach_self(&paths, &name);
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
    let mut setup = Some(NsLock::acquire(&paths, &name)?);
    let joined = live_holder(&paths, &name, &spec)?;
    if let Identity::Helper(helper) = &identity {
        // The helper makes the namespaces of each of its sessions itself.
        let _ = joined;
        return through_helper(helper, &paths, &name, &spec, run, &opts, setup.take());
    }
    spec.join = joined;
    let mut registration = None;
    let code = chroot_distro::launch::run(
        Path::new("/proc/self/exe"),
        &spec,
        idmap.as_ref(),
        &mut |pid| {
            let record = session_record(pid, &name, &spec, run, &opts, log.clone());
            registration = registry::register(&paths, &record).ok();
            setup.take();
        },
    )
    .map_err(|e| Failure::failed(e.to_string()))?;
    drop(registration);
    Ok(Exit::Command(code.clamp(0, 255) as u8))
}

/// What `ps` will show of the session whose holder is `pid`.
fn session_record(
    pid: u32,
    name: &ContainerName,
    spec: &LaunchSpec,
    run: bool,
    opts: &Options,
    log: Option<PathBuf>,
) -> registry::SessionRecord {
    registry::SessionRecord {
        pid,
        container: name.to_string(),
        kind: if run { "run" } else { "login" }.into(),
        user: opts.user.clone().unwrap_or_else(|| "root".into()),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        command: spec.argv.clone(),
        mode: spec.mode(),
        applet: std::process::id(),
        log,
    }
}

/// Runs the session through cd-mount-helper and waits for it; the helper
/// recomputes and checks everything it is given.
fn through_helper(
    helper: &Path,
    paths: &StorePaths,
    name: &ContainerName,
    spec: &LaunchSpec,
    run: bool,
    opts: &Options,
    setup: Option<NsLock>,
) -> RunResult {
    use chroot_distro::helper_client::{command, Request};
    let req = Request {
        store: paths.runtime_dir.clone(),
        name: name.to_string(),
        uid: spec.uid,
        gid: spec.gid,
        groups: spec.groups.clone(),
        cwd: spec.cwd.clone(),
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        binds: if spec.isolated {
            Vec::new()
        } else {
            spec.binds.clone()
        },
        minimal: spec.minimal,
        isolated: spec.isolated,
        hostname: spec.isolated.then(|| spec.hostname.clone()).flatten(),
        shared_tmp: spec.shared_tmp,
        privileged: spec.privileged,
    };
    let _quiet = chroot_distro::launch::IgnoreInterrupts::new();
    let mut child = command(helper, &req)
        .spawn()
        .map_err(|e| Failure::failed(format!("cannot run {}: {e}", helper.display())))?;
    let record = session_record(child.id(), name, spec, run, opts, None);
    let registration = registry::register(paths, &record).ok();
    drop(setup);
    let status = child
        .wait()
        .map_err(|e| Failure::failed(format!("cannot wait for the helper: {e}")))?;
    drop(registration);
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Exit::Command(code.clamp(0, 255) as u8))
}

/// The holder of the container's live namespaces, if any; a live session
/// of another shape is an error (its mounts differ from what we need).
fn live_holder(
    paths: &StorePaths,
    name: &ContainerName,
    spec: &LaunchSpec,
) -> Result<Option<u32>, Failure> {
    let live = registry::live(paths);
    let Some(first) = live.iter().find(|s| s.container == name.as_str()) else {
        return Ok(None);
    };
    if first.mode != spec.mode() {
        return Err(Failure::failed(format!(
            "container '{name}' is running as {} (session {}), and this session asks for {}",
            first.mode,
            first.pid,
            spec.mode()
        ))
        .with_hint(format!(
            "end its sessions first: chroot-distro unmount {name}"
        )));
    }
    Ok(Some(first.pid))
}

/// An exclusive flock held while a session sets up its namespaces.
struct NsLock(#[allow(dead_code)] std::fs::File);

impl NsLock {
    fn acquire(paths: &StorePaths, name: &ContainerName) -> Result<Self, Failure> {
        let dir = paths.locks_dir();
        let path = dir.join(format!("{}.ns", name.as_str()));
        let open = || {
            std::fs::create_dir_all(&dir)?;
            let f = std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            f.lock()?;
            Ok::<_, std::io::Error>(f)
        };
        open()
            .map(NsLock)
            .map_err(|e| Failure::failed(format!("cannot lock {}: {e}", path.display())))
    }
}

/// `run -d`: the same command again in the background, in its own session
/// (setsid), output to a log under the store; prints the session's PID
/// once it is registered.
fn detach_self(paths: &StorePaths, name: &ContainerName) -> RunResult {
    use std::os::unix::process::CommandExt;
    if !paths.rootfs(name).is_dir() {
        return Err(failed(prepare::Error::NotFound(name.to_string())));
    }
    let dir = paths.container_dir(name).join("logs");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let log: PathBuf = dir.join(format!("run-{stamp}.log"));
    let open = || {
        std::fs::create_dir_all(&dir)?;
        std::fs::File::options()
            .create_new(true)
            .append(true)
            .open(&log)
    };
    let out =
        open().map_err(|e| Failure::failed(format!("cannot create {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| Failure::failed(e.to_string()))?;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    let mut child = std::process::Command::new("/proc/self/exe");
    child
        .arg0(arg0)
        .args(args)
        .env(DETACHED_LOG, &log)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe; it detaches from our terminal.
    unsafe {
        child.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = child
        .spawn()
        .map_err(|e| Failure::failed(format!("cannot start the background session: {e}")))?;
    let applet = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(s) = registry::live(paths)
            .into_iter()
            .find(|s| s.applet == applet)
        {
            println!("{}", s.pid);
            return Ok(Exit::Ok);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("chroot-distro: error: "))
                .or_else(|| text.lines().last())
                .unwrap_or("no output");
            return Err(Failure::failed(format!(
                "the background session ended at once ({status}): {why}"
            ))
            .with_hint(format!("its log is {}", log.display())));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(
        Failure::failed("the background session did not start within 10 s")
            .with_hint(format!("its log is {}", log.display())),
    )
}
