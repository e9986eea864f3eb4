//! Running the session: private namespaces (rule 4), a forked child that
//! mounts, pivots, drops to the target user and executes (rule 8); the
//! helper stays its parent without privilege and passes its exit code on.

use crate::harden::{self, DOCKER_CAPS};
use crate::mounts::{self, clone_onto, Sources};
use crate::policy::{Caller, Policy};
use crate::refusal::{refuse, OrSetup, Refusal, Rule};
use crate::request::Request;
use crate::{ids, store};
use caps::CapSet;
use rustix::mount::MountAttrFlags as A;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Validates what is left to validate as the caller, then runs the session.
/// Returns the exit code to leave with.
pub fn run(req: &Request, caller: &Caller, policy: &Policy) -> Result<u8, Refusal> {
    let missing = harden::missing_caps();
    if !missing.is_empty() {
        return Err(refuse(
            Rule::SelfProtection,
            format!("the helper lacks {missing:?}: is it installed with its file capabilities?"),
        ));
    }
    let read = |p: &str| std::fs::read_to_string(p).or_setup(format_args!("read {p}"));
    let name = caller
        .account
        .as_ref()
        .map(|a| a.name.as_str())
        .unwrap_or("");
    let sub = |file: &str, id: u32| {
        ids::sub_range(&read(file)?, name, id)
            .map_err(|e| refuse(Rule::Policy, format!("{file}: {e}")))
    };
    let uid_map = ids::id_map(caller.uid, sub("/etc/subuid", caller.uid)?);
    let gid_map = ids::id_map(caller.gid, sub("/etc/subgid", caller.gid)?);

    // Rule 4: from here on nothing can be mounted in the caller's namespace.
    // Everything below is opened inside the new one, as open_tree requires.
    let mut ns = libc::CLONE_NEWNS;
    if req.isolated {
        ns |= libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID;
    }
    harden::raise()?;
    // SAFETY: single-threaded; unshare and mount only affect this process.
    let private = unsafe {
        libc::unshare(ns) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ) == 0
    };
    if !private {
        return Err(refuse(
            Rule::Namespace,
            format!(
                "cannot make a private mount namespace: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    harden::lower()?;

    let rootfs = store::open_rootfs(&req.store, &req.name, caller, policy)?;
    let binds = req
        .binds
        .iter()
        .map(|(src, _)| store::open_bind_source(src, caller, policy))
        .collect::<Result<Vec<_>, _>>()?;
    let tmp = match mounts::plan(req).contains(&mounts::Step::SharedTmp) {
        true => Some(
            rustix::fs::open(
                "/tmp",
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .or_setup("open /tmp")?,
        ),
        false => None,
    };
    let prep = Prepared {
        rootfs,
        binds,
        tmp,
        uid_map,
        gid_map,
    };

    // SAFETY: single-threaded, so the child may run ordinary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).or_setup("fork");
    }
    if pid == 0 {
        let parent = rustix::process::getppid();
        let e = match child(req, &prep, parent) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        eprintln!("{e}");
        // SAFETY: leave without running anything of the parent's.
        unsafe { libc::_exit(e.rule.exit_code().into()) }
    }
    drop(prep);
    // The waiting parent needs nothing: drop every capability for good.
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
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(std::io::Error::last_os_error()).or_setup("wait for the session");
        }
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else {
        128u8.wrapping_add(libc::WTERMSIG(status) as u8)
    })
}

/// Everything the child takes over from the caller-credential phase.
struct Prepared {
    rootfs: OwnedFd,
    binds: Vec<(OwnedFd, crate::resolve::Kind)>,
    tmp: Option<OwnedFd>,
    uid_map: String,
    gid_map: String,
}

enum Never {}

fn child(
    req: &Request,
    prep: &Prepared,
    parent: Option<rustix::process::Pid>,
) -> Result<Never, Refusal> {
    harden::raise()?;
    // Container root from now on: the idmapped view shows the caller's files
    // as root's, so creating a missing mount point writes them as the caller.
    // SAFETY: single-threaded credential changes.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(0, 0, 0) != 0
            || libc::setresuid(0, 0, 0) != 0
        {
            return Err(std::io::Error::last_os_error()).or_setup("become container root");
        }
    }
    if let Some(h) = &req.hostname {
        // SAFETY: a valid buffer and its length.
        if unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) } != 0 {
            return Err(std::io::Error::last_os_error()).or_setup("set the host name");
        }
    }
    let userns = crate::idmap::user_namespace(&prep.uid_map, &prep.gid_map)?;
    let root = clone_onto(
        prep.rootfs.as_fd(),
        prep.rootfs.as_fd(),
        A::MOUNT_ATTR_NOSUID | A::MOUNT_ATTR_NODEV,
        Some(userns.as_fd()),
    )?;
    let sources = Sources {
        root: root.as_fd(),
        userns: userns.as_fd(),
        binds: &prep.binds,
        tmp: prep.tmp.as_ref().map(|t| t.as_fd()),
    };
    mounts::apply(&mounts::plan(req), &sources)?;
    // pivot_root, not chroot: the session gets CAP_SYS_CHROOT, and a chroot
    // can be left with it; a detached old root cannot.
    rustix::process::fchdir(&root).or_setup("enter the rootfs")?;
    rustix::process::pivot_root(".", ".").or_setup("pivot_root")?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .or_setup("detach the host's root")?;
    rustix::process::chdir("/").or_setup("enter the new root")?;
    drop_to_user(req)?;
    enter_cwd(&req.cwd)?;
    exec(req, parent)
}

/// Rule 8: the session's capability set, then the target user's ids.
fn drop_to_user(req: &Request) -> Result<(), Refusal> {
    let session: Vec<caps::Capability> = match req.privileged {
        true => caps::read(None, CapSet::Permitted)
            .or_setup("read capabilities")?
            .into_iter()
            .collect(),
        false => DOCKER_CAPS.to_vec(),
    };
    for cap in caps::all().into_iter().filter(|c| !session.contains(c)) {
        caps::drop(None, CapSet::Bounding, cap).or_setup("shrink the bounding set")?;
    }
    let groups: Vec<libc::gid_t> = req.groups.clone();
    // SAFETY: single-threaded credential changes with valid buffers.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setresgid(req.gid, req.gid, req.gid) != 0
            || libc::setresuid(req.uid, req.uid, req.uid) != 0
        {
            return Err(std::io::Error::last_os_error()).or_setup("switch to the target user");
        }
    }
    // Root keeps the session set; any other user gets none (the kernel
    // already cleared them on the uid change; clear them explicitly anyway).
    let keep: &[caps::Capability] = if req.uid == 0 { &session } else { &[] };
    // Empty inheritable and ambient sets, as Docker since CVE-2022-24769.
    for set in [CapSet::Ambient, CapSet::Inheritable] {
        caps::clear(None, set).or_setup("clear inheritable capabilities")?;
    }
    for set in [CapSet::Effective, CapSet::Permitted] {
        harden::set(set, keep).or_setup("set the session's capabilities")?;
    }
    Ok(())
}

/// Rule 8: the working directory, resolved as the target user inside the
/// new root, with no magic link (/proc/N/cwd) on the way. A missing one
/// falls back to / as login(1) does.
fn enter_cwd(cwd: &Path) -> Result<(), Refusal> {
    use rustix::fs::{Mode, OFlags, ResolveFlags as R};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let opened = match cfg!(feature = "force-openat2-fallback") {
        false => rustix::fs::openat2(
            rustix::fs::CWD,
            cwd,
            flags,
            Mode::empty(),
            R::IN_ROOT | R::NO_MAGICLINKS,
        ),
        true => Err(rustix::io::Errno::NOSYS),
    };
    let dir = match opened {
        Err(rustix::io::Errno::NOSYS) => rustix::fs::open(cwd, flags, Mode::empty()),
        r => r,
    };
    match dir {
        Ok(d) => rustix::process::fchdir(&d).or_setup("enter the working directory")?,
        Err(rustix::io::Errno::NOENT) => rustix::process::chdir("/").or_setup("enter /")?,
        Err(e) => return Err(refuse(Rule::Cwd, format!("{}: {e}", cwd.display()))),
    }
    // The kernel's own answer: an unreachable directory is outside the root.
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.to_bytes().starts_with(b"/") => Ok(()),
        _ => Err(refuse(
            Rule::Cwd,
            format!("{} lies outside the rootfs", cwd.display()),
        )),
    }
}

/// argv[0] as given when it has a slash, else searched in the guest PATH.
fn find_program(req: &Request) -> Option<PathBuf> {
    let first = req.argv.first()?;
    if first.contains('/') {
        return Some(first.into());
    }
    let path = req
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(first))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

fn exec(req: &Request, parent: Option<rustix::process::Pid>) -> Result<Never, Refusal> {
    let not_found = || {
        Refusal::new(
            Rule::NotFound,
            format!("command not found in the container: {}", req.argv[0]),
        )
    };
    let program = find_program(req).ok_or_else(not_found)?;
    let cstr =
        |s: &[u8]| CString::new(s).map_err(|_| refuse(Rule::Request, "NUL byte in the command"));
    let prog = cstr(program.as_os_str().as_bytes())?;
    let argv = req
        .argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = req
        .env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|c| c.as_ptr())
            .chain([std::ptr::null()])
            .collect::<Vec<_>>()
    };
    let (argv, envp) = (ptrs(&argv), ptrs(&envp));
    // SAFETY: plain syscalls; the pointer arrays are NUL-terminated and live.
    unsafe {
        // Rust ignores SIGPIPE for itself; the command gets the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // If the waiting helper dies, so does the session. Set last: a
        // credential change would clear it. Then check the parent is alive.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if rustix::process::getppid() != parent {
            libc::_exit(Rule::Setup.exit_code().into());
        }
        // No descriptor of ours may reach the container: all close on exec
        // (marked, not closed, so a failed exec still owns what it holds).
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            (3..1024).for_each(|fd| {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            });
        }
        libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    let rule = if err.raw_os_error() == Some(libc::ENOENT) {
        Rule::NotFound
    } else {
        Rule::NotExecutable
    };
    Err(Refusal::new(
        rule,
        format!("cannot execute {}: {err}", program.display()),
    ))
}
