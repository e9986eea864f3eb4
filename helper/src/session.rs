//! Running the session: private namespaces (rule 4), a forked child that
//! mounts, pivots, drops to the target user and executes (rule 8); the
//! helper stays its parent without privilege and passes its exit code on.

use crate::enter;
use crate::harden;
use crate::mounts::{self, clone_onto, Sources};
use crate::net;
use crate::policy::{Caller, Policy};
use crate::refusal::{os, refuse, OrSetup, Refusal, Rule};
use crate::request::{Network, Request};
use crate::resolve::Kind;
use crate::{ids, store};
use caps::CapSet;
use rustix::mount::{MountAttrFlags as A, MountPropagationFlags as Propagation};
use session_contract::mounts::{plan, Step};
use std::os::fd::{AsFd, OwnedFd};

/// Validates what is left to validate as the caller, then runs the session.
/// Returns the exit code to leave with.
pub fn run(req: &Request, caller: &Caller, policy: &Policy) -> Result<u8, Refusal> {
    check_stdio(caller.uid)?;
    let name = caller.account.as_ref().map_or("", |a| a.name.as_str());
    let uid_map = ids::id_map_from("/etc/subuid", name, caller.uid)?;
    let netns = match req.network {
        Network::Of(pid) => Some(net::open_namespace(pid, caller.uid)?),
        _ => None,
    };
    let gid_map = ids::id_map_from("/etc/subgid", name, caller.gid)?;

    // Rule 4: from here on nothing can be mounted in the caller's namespace.
    // Everything below is opened inside the new one, as open_tree requires.
    // Rule 10: always our own PID namespace (a fresh procfs showing no host
    // process, so no /proc/PID/root of the caller's into the host) and IPC
    // namespace; --isolated adds the host name.
    // --isolated and CD_USE_NS add the host name and the cgroup view.
    let mut ns = libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID;
    if req.isolated || req.use_ns {
        ns |= libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP;
    }
    if req.network == Network::New {
        ns |= libc::CLONE_NEWNET;
    }
    harden::raise()?;
    // SAFETY: single-threaded; unshare only affects this process.
    os(unsafe { libc::unshare(ns) } == 0, "unshare")
        .and_then(|()| {
            rustix::mount::mount_change("/", Propagation::DOWNSTREAM | Propagation::REC)
                .or_setup("make / a slave")
        })
        .map_err(|e| refuse(Rule::Namespace, format!("no private mount namespace: {}", e.msg)))?;
    netns.as_ref().map(net::join).transpose()?;
    drop(netns);
    harden::lower()?;

    let rootfs = store::open_rootfs(&req.store, &req.name, caller, policy)?;
    let steps = plan(req);
    let binds = (steps.iter())
        .filter_map(|s| if let Step::Bind { from, .. } = s { Some(*from) } else { None })
        .map(|from| store::open_source(from, req, caller, policy))
        .collect::<Result<Vec<_>, _>>()?;
    let caps = session_contract::caps::session(req.network, policy.privileged_ports);
    let prep = Prepared { rootfs, steps, binds, uid_map, gid_map, caps };
    // The child's way to tell we are gone: getppid() is 0 for both cases in
    // its new PID namespace, but our end of this pipe closes only with us.
    let (alive, held) = std::io::pipe().or_setup("create a pipe")?;

    // SAFETY: single-threaded, so the child may run ordinary code.
    let pid = unsafe { libc::fork() };
    os(pid >= 0, "fork")?;
    if pid == 0 {
        drop(held);
        let e = match child(req, &prep, alive.into()) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        eprintln!("{e}");
        // SAFETY: leave without running anything of the parent's.
        unsafe { libc::_exit(e.rule.exit_code().into()) }
    }
    drop((prep, alive));
    // `held` stays open until we exit. The waiting parent needs nothing: drop every capability for good.
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
        caps::clear(None, set).or_setup("drop capabilities")?;
    }
    // The terminal's Ctrl-C is for the session; we wait for its end.
    // SAFETY: ignoring signals installs no handler.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        os(std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR), "wait")?;
    }
    Ok(session_contract::command::exit_code(status))
}

/// Everything the child takes over from the caller-credential phase.
struct Prepared {
    rootfs: OwnedFd,
    steps: Vec<Step>,
    /// The sources of the plan's binds, in order, opened as the caller.
    binds: Vec<(OwnedFd, Kind)>,
    uid_map: String,
    gid_map: String,
    /// The numbers of the capabilities container root keeps.
    caps: Vec<u8>,
}

pub enum Never {}

fn child(req: &Request, prep: &Prepared, alive: OwnedFd) -> Result<Never, Refusal> {
    harden::raise()?;
    // Container root from now on: the idmapped view shows the caller's files
    // as root's, so creating a missing mount point writes them as the caller.
    enter::set_ids(0, 0, &[])?;
    if let Some(h) = &req.hostname {
        // SAFETY: a valid buffer and its length.
        os(unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) } == 0, "set the host name")?;
    }
    let userns = crate::idmap::user_namespace(&prep.uid_map, &prep.gid_map)?;
    let (nosuid_nodev, userns) = (A::MOUNT_ATTR_NOSUID | A::MOUNT_ATTR_NODEV, Some(userns.as_fd()));
    // Bind sources are copied before anything is mounted here: a bind of
    // the caller's home (which holds the store) must not carry the rootfs
    // view and its mounts along.
    // The host's own files (GPU nodes, the emulator) keep their owners.
    let plan_binds = prep.steps.iter().filter_map(|s| match s {
        Step::Bind { attrs, idmap, .. } => Some((A::from_bits_retain(*attrs), *idmap)),
        _ => None,
    });
    let binds = (prep.binds.iter().zip(plan_binds))
        .map(|((fd, kind), (attrs, idmap))| {
            Ok((mounts::clone_tree(fd.as_fd(), attrs, userns.filter(|_| idmap))?, *kind))
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    let root = clone_onto(prep.rootfs.as_fd(), prep.rootfs.as_fd(), nosuid_nodev, userns)?;
    mounts::apply(&prep.steps, &Sources { root: root.as_fd(), binds: &binds })?;
    // pivot_root, not chroot: the session gets CAP_SYS_CHROOT, and a chroot
    // can be left with it; a detached old root cannot. (It moves the waiting
    // parent's root too, in this shared namespace; the parent touches no
    // path any more.)
    rustix::process::fchdir(&root).or_setup("enter the rootfs")?;
    rustix::process::pivot_root(".", ".").or_setup("pivot_root")?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .or_setup("detach the host's root")?;
    rustix::process::chdir("/").or_setup("enter the new root")?;
    // We are PID 1 of the session's namespace: the command runs in a child,
    // and we stay as its init (reaping, passing signals on, leaving with
    // its status), as `docker run --init` does.
    // SAFETY: single-threaded, so the child may run ordinary code.
    let command = unsafe { libc::fork() };
    os(command >= 0, "fork")?;
    if command == 0 {
        drop(alive);
        enter::drop_to_user(req, &prep.caps)?;
        crate::resolve::enter_cwd(&req.cwd)?;
        return enter::exec(req);
    }
    crate::init::run(command, req, alive)
}

/// Rule 10: fds 0-2 as the session contract's `stdio` allows them to reach
/// real root, the terminal and /dev/null reopened in place. Runs with the
/// caller's file system ids, before anything privileged.
fn check_stdio(caller_uid: u32) -> Result<(), Refusal> {
    for fd in 0..3 {
        // SAFETY: 0-2 are open (harden::first put /dev/null on closed ones).
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if let Some(fresh) = session_contract::stdio::vet(borrowed, caller_uid)? {
            // SAFETY: dup2 onto a descriptor we own; the new one is not CLOEXEC.
            os(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&fresh), fd) } == fd, "dup2")?;
        }
    }
    Ok(())
}
