//! The session child: read the spec from the applet (`sandbox::child`),
//! enter the namespaces, mount, pivot into the root, drop to the user,
//! exec. Single-threaded from its first instruction (a fresh exec of our
//! binary), as unshare requires.

use super::{mounts, Error, LaunchSpec, Network, SessionEvent};
use crate::sandbox::child::{self as channel, Inbox, Outbox};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{execve, setgid, setgroups, setuid, Gid, Uid};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

// The exit codes of a session that never ran its command, as `docker run`
// has them and cd-mount-helper's refusals use them.
use session_contract::refusal::Rule;
/// Exit code when setup fails before the command runs.
pub const SETUP_FAILED: i32 = Rule::Setup as i32;
/// The command exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = Rule::NotExecutable as i32;
/// The command was not found.
pub const NOT_FOUND: i32 = Rule::NotFound as i32;

/// Our parent-death signal: the applet is gone, so the session ends.
pub const APPLET_DIED: libc::c_int = libc::SIGUSR2;

static APPLET_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_applet_died(_: libc::c_int) {
    APPLET_GONE.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn main() -> i32 {
    // The parent ignores Ctrl-C while it waits, and so do we; SIGTERM is
    // for the command (we exit with it). The command gets the default
    // dispositions back before it runs.
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
        // SAFETY: setting dispositions before any thread exists.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    // SAFETY: the handler only stores to an atomic; no SA_RESTART, so a
    // blocked waitpid returns EINTR and we act on it.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_applet_died as *const () as usize;
        libc::sigaction(APPLET_DIED, &act, std::ptr::null_mut());
    }
    let (spec, inbox, out) = match channel::adopt::<LaunchSpec>() {
        Ok(adopted) => adopted,
        Err(e) => {
            eprintln!("chroot-distro: error: the session child: {e}");
            return SETUP_FAILED;
        }
    };
    // A failure goes to stderr with its exit code, not up the channel: the
    // applet passes the code on, as it does the command's.
    match hold(&spec, inbox, out) {
        Ok(code) => code,
        Err((code, e)) => {
            eprintln!("chroot-distro: error: {e}");
            code
        }
    }
}

type Failed = (i32, Error);

enum Never {}

fn setup(e: Error) -> Failed {
    (SETUP_FAILED, e)
}

/// Enters (or makes) the container's namespaces, then runs the command in
/// a child and stays as its holder: while we live, later sessions can join
/// our namespaces through /proc/<our pid>/ns.
fn hold(spec: &LaunchSpec, mut inbox: Inbox, mut out: Outbox) -> Result<i32, Failed> {
    let joined = match spec.join {
        Some(holder) => join(holder, spec).map_err(setup)?,
        None => None,
    };
    let created = joined.is_none();
    let rootfs = match joined {
        Some(rootfs) => rootfs,
        None => create(spec, &mut inbox, &mut out).map_err(setup)?,
    };
    out.event(SessionEvent::Ready);
    // The channel ends here: neither the holder nor the command keeps it
    // (its fds are CLOEXEC besides), and the applet reads to its end.
    drop((inbox, out));
    // Whatever the command leaves behind is ours to reap and to end.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    // SAFETY: single-threaded; the child only runs `session` and execs.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(setup(Error::setup("fork the session", e))),
        Ok(nix::unistd::ForkResult::Child) => {
            let (code, e) = match session(spec, &rootfs, created) {
                Ok(never) => match never {},
                Err(f) => f,
            };
            eprintln!("chroot-distro: error: {e}");
            // SAFETY: leaving the forked child without running our atexit.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(wait_and_sweep(child)),
    }
}

/// Waits for the command; then ends whatever it left running (orphans are
/// ours as subreaper), so a finished session leaves nothing behind.
fn wait_and_sweep(command: nix::unistd::Pid) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    let mut code = None;
    loop {
        if APPLET_GONE.load(std::sync::atomic::Ordering::SeqCst) && code.is_none() {
            let _ = nix::sys::signal::kill(command, nix::sys::signal::Signal::SIGKILL);
        }
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, c)) if pid == command => code = Some(c),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                code = Some(128 + sig as i32)
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        if code.is_some() {
            kill_children();
        }
    }
    code.unwrap_or(SETUP_FAILED)
}

/// SIGKILL to our direct children (orphans reparented to us).
fn kill_children() {
    let me = std::process::id();
    for pid in super::running::children_of(me) {
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
}

/// Makes the container's namespaces and mounts; returns the rootfs path.
fn create(spec: &LaunchSpec, inbox: &mut Inbox, out: &mut Outbox) -> Result<PathBuf, Error> {
    if spec.userns {
        channel::enter_user_namespace(inbox, out).map_err(Error::UserNamespace)?;
    }
    let mut flags = CloneFlags::CLONE_NEWNS;
    if spec.namespaces {
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID;
    }
    if spec.network == Network::None {
        // Owned by the user namespace made above, if any: a rootless
        // session may configure it.
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| Error::setup("create the container's namespaces", e))?;
    // SAFETY: an ioctl on a socket of our own.
    if spec.network == Network::None && !unsafe { super::netns::loopback_up() } {
        return Err(Error::setup(
            "bring up the loopback interface",
            std::io::Error::last_os_error(),
        ));
    }
    if spec.namespaces {
        // Best effort, as the cgroup namespace only narrows the view.
        let _ = unshare(CloneFlags::CLONE_NEWCGROUP);
    }
    // Nothing we mount may propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| Error::setup("make / a slave mount", e))?;
    if let (true, Some(h)) = (spec.namespaces, &spec.hostname) {
        nix::unistd::sethostname(h).map_err(|e| Error::setup("set the host name", e))?;
    }
    let rootfs = spec
        .rootfs
        .canonicalize()
        .map_err(|e| Error::setup("find the rootfs", e))?;
    let root = std::fs::File::open(&rootfs).map_err(|e| Error::setup("open the rootfs", e))?;
    let plan = mounts::plan(spec);
    mounts::apply(root.as_fd(), &rootfs, &plan.container)?;
    Ok(rootfs)
}

/// Enters the namespaces of a live session of the same container.
/// Returns None when the holder is already gone (its session ended after
/// the applet chose it): nothing has been joined then.
fn join(holder: u32, spec: &LaunchSpec) -> Result<Option<PathBuf>, Error> {
    let open = |ns: &str| std::fs::File::open(format!("/proc/{holder}/ns/{ns}")).ok();
    // All opened first: the holder may exit while we are joining, and the
    // open files keep its namespaces alive for us.
    let user = match spec.userns {
        true => match open("user") {
            Some(f) => Some(f),
            None => return Ok(None),
        },
        false => None,
    };
    let Some(others) = [
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("pid_for_children", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ]
    .into_iter()
    .map(|(ns, flag)| open(ns).map(|f| (ns, f, flag)))
    .collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    if let Some(u) = user {
        nix::sched::setns(u, CloneFlags::CLONE_NEWUSER)
            .map_err(|e| Error::setup("join the session's user namespace", e))?;
        channel::become_root().map_err(Error::UserNamespace)?;
    }
    for (ns, f, flag) in others {
        // Already ours (no PID namespace, say): setns would only fail.
        let same = f
            .metadata()
            .ok()
            .zip(std::fs::metadata(format!("/proc/self/ns/{ns}")).ok())
            .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
        if !same {
            nix::sched::setns(f, flag)
                .map_err(|e| Error::setup("join the session's namespaces", e))?;
        }
    }
    // The holder never chroots: the rootfs has the same path in there.
    spec.rootfs
        .canonicalize()
        .map(Some)
        .map_err(|e| Error::setup("find the rootfs", e))
}

/// The command's process: its own binds, chroot, credentials, exec.
/// `created`: we made the container's namespaces (rather than joined).
fn session(spec: &LaunchSpec, rootfs: &Path, created: bool) -> Result<Never, Failed> {
    for sig in [
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGPIPE,
        APPLET_DIED,
    ] {
        // SAFETY: restoring default dispositions; single-threaded.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // Opened in the namespace it mounts in: a mount through an fd of
    // another mount namespace is EINVAL.
    let apply = |stage: &[mounts::Mount]| {
        let root =
            std::fs::File::open(rootfs).map_err(|e| setup(Error::setup("open the rootfs", e)))?;
        mounts::apply(root.as_fd(), rootfs, stage).map_err(setup)
    };
    let plan = mounts::plan(spec);
    if created && !plan.pid_ns.is_empty() {
        // We are PID 1 of the new PID namespace: its proc is ours to mount.
        apply(&plan.pid_ns)?;
    }
    // The session's own mount namespace: its binds, and its root.
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| setup(Error::setup("create the session's mount namespace", e)))?;
    if !plan.session.is_empty() {
        apply(&plan.session)?;
    }
    if !spec.step_mounts.is_empty() {
        let root =
            std::fs::File::open(rootfs).map_err(|e| setup(Error::setup("open the rootfs", e)))?;
        super::step_mounts::apply(root.as_fd(), rootfs, &spec.step_mounts).map_err(setup)?;
    }
    enter_root(rootfs).map_err(setup)?;
    if !spec.privileged {
        // Installed while we still hold CAP_SYS_ADMIN, so without
        // no_new_privs: setuid programs in the guest (su, passwd) must work.
        crate::sandbox::seccomp::install_deny_list()
            .map_err(|e| setup(Error::setup("install the seccomp filter", e)))?;
        // Docker's default set: container root can own files and bind low
        // ports, but not load modules, mount, trace or reconfigure the host.
        crate::sandbox::confine::keep_only_caps(&session_contract::caps::docker_in(
            caps::all(),
            caps::Capability::index,
        ))
        .map_err(|e| setup(Error::setup("drop capabilities", e)))?;
    }
    let groups: Vec<Gid> = spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| setup(Error::setup("set supplementary groups", e)))?;
    setgid(Gid::from_raw(spec.gid)).map_err(|e| setup(Error::setup("set the group", e)))?;
    setuid(Uid::from_raw(spec.uid)).map_err(|e| setup(Error::setup("set the user", e)))?;
    // Credentials changed, which clears it: the command dies with its holder.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if spec.no_new_privs {
        crate::sandbox::confine::no_new_privs()
            .map_err(|e| setup(Error::setup("set no_new_privs", e)))?;
    }
    // As cd-mount-helper does (the session contract's resolver): inside
    // the new root, no magic link on the way, / when missing.
    session_contract::resolve::enter_cwd(&spec.cwd).map_err(|e| {
        let code = i32::from(e.rule.exit_code());
        (code, Error::setup("enter the working directory", e.msg))
    })?;
    // Found, converted and judged as cd-mount-helper does (the session
    // contract's command).
    let first = || spec.argv.first().cloned().unwrap_or_default();
    let cmd = session_contract::command::prepare(&spec.argv, &spec.env).map_err(|e| {
        let code = i32::from(e.rule.exit_code());
        match e.rule {
            Rule::NotFound => (code, Error::NotFound(first())),
            _ => (code, Error::setup("prepare the command", e.msg)),
        }
    })?;
    let err = execve(&cmd.prog, &cmd.argv, &cmd.envp)
        .err()
        .map_or(0, |e| e as i32);
    let e = session_contract::command::exec_failed(
        &cmd.program,
        std::io::Error::from_raw_os_error(err),
    );
    let shown = cmd.program.display().to_string();
    Err(match e.rule {
        Rule::NotFound => (NOT_FOUND, Error::NotFound(shown)),
        _ => (
            NOT_EXECUTABLE,
            Error::setup(
                format!("execute {shown}"),
                std::io::Error::from_raw_os_error(err),
            ),
        ),
    })
}

/// Makes `rootfs` this process's `/`. pivot_root, not chroot: container
/// root keeps CAP_SYS_CHROOT, and a chroot is left with it (chroot into a
/// subdirectory, then `..` past the old root, to the host's file system);
/// a detached old root cannot be reached. Only in the session's own mount
/// namespace: the container's keeps the host's root for the sessions that
/// join it through the holder.
fn enter_root(rootfs: &Path) -> Result<(), Error> {
    use nix::mount::{umount2, MntFlags, MsFlags};
    // pivot_root needs the new root to be a mount point; the recursive
    // bind carries everything mounted beneath it along.
    nix::mount::mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::setup("bind the rootfs onto itself", e))?;
    std::env::set_current_dir(rootfs).map_err(|e| Error::setup("enter the rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| Error::setup("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::setup("detach the host's root", e))?;
    std::env::set_current_dir("/").map_err(|e| Error::setup("enter the rootfs", e))
}
