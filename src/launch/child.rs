//! The session child: read the spec from fd 3, enter the namespaces, mount,
//! chroot, drop to the user, exec. Single-threaded from its first
//! instruction (a fresh exec of our binary), as unshare requires.

use super::{mounts, Error, LaunchSpec};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{chroot, execve, setgid, setgroups, setuid, Gid, Uid};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The capabilities `docker run` grants by default.
pub const DOCKER_CAPS: &[caps::Capability] = &[
    caps::Capability::CAP_CHOWN,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_FSETID,
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_MKNOD,
    caps::Capability::CAP_NET_RAW,
    caps::Capability::CAP_SETGID,
    caps::Capability::CAP_SETUID,
    caps::Capability::CAP_SETFCAP,
    caps::Capability::CAP_SETPCAP,
    caps::Capability::CAP_NET_BIND_SERVICE,
    caps::Capability::CAP_SYS_CHROOT,
    caps::Capability::CAP_KILL,
    caps::Capability::CAP_AUDIT_WRITE,
];

/// Exit code when setup fails before the command runs (as `docker run`).
pub const SETUP_FAILED: i32 = 125;
/// The command exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;

pub fn main() -> i32 {
    // The parent ignores Ctrl-C while it waits; the command must not.
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGPIPE] {
        // SAFETY: restoring default dispositions before any thread exists.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // SAFETY: fd 3 was placed here by the parent for us alone.
    let mut spec_fd = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(3) });
    let mut text = String::new();
    if spec_fd.read_to_string(&mut text).is_err() {
        eprintln!("chroot-distro: error: the session child got no launch spec");
        return SETUP_FAILED;
    }
    drop(spec_fd);
    let spec: LaunchSpec = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chroot-distro: error: bad launch spec: {e}");
            return SETUP_FAILED;
        }
    };
    match run(&spec) {
        Ok(never) => match never {},
        Err((code, e)) => {
            eprintln!("chroot-distro: error: {e}");
            code
        }
    }
}

enum Never {}

fn run(spec: &LaunchSpec) -> Result<Never, (i32, Error)> {
    let setup = |e: Error| (SETUP_FAILED, e);
    let mut flags = CloneFlags::CLONE_NEWNS;
    if spec.isolated {
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    }
    unshare(flags).map_err(|e| setup(Error::setup("create a mount namespace", e)))?;
    // Nothing we mount may propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| setup(Error::setup("make / a slave mount", e)))?;
    if let (true, Some(h)) = (spec.isolated, &spec.hostname) {
        nix::unistd::sethostname(h).map_err(|e| setup(Error::setup("set the host name", e)))?;
    }
    let rootfs = spec
        .rootfs
        .canonicalize()
        .map_err(|e| setup(Error::setup("find the rootfs", e)))?;
    let root =
        std::fs::File::open(&rootfs).map_err(|e| setup(Error::setup("open the rootfs", e)))?;
    let plan = mounts::plan(spec);
    mounts::apply(root.as_fd(), &rootfs, &plan).map_err(setup)?;
    chroot(&rootfs).map_err(|e| setup(Error::setup("chroot", e)))?;
    std::env::set_current_dir("/").map_err(|e| setup(Error::setup("enter the rootfs", e)))?;
    if !spec.privileged {
        // Docker's default set: container root can own files and bind low
        // ports, but not load modules, mount, trace or reconfigure the host.
        crate::sandbox::confine::keep_only_caps(DOCKER_CAPS)
            .map_err(|e| setup(Error::setup("drop capabilities", e)))?;
    }
    let groups: Vec<Gid> = spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| setup(Error::setup("set supplementary groups", e)))?;
    setgid(Gid::from_raw(spec.gid)).map_err(|e| setup(Error::setup("set the group", e)))?;
    setuid(Uid::from_raw(spec.uid)).map_err(|e| setup(Error::setup("set the user", e)))?;
    // After chroot every path is inside the rootfs; a missing work dir
    // falls back to / as login(1) does.
    if std::env::set_current_dir(&spec.cwd).is_err() {
        let _ = std::env::set_current_dir("/");
    }
    let program = find_program(&spec.argv, &spec.env).ok_or_else(|| {
        (
            NOT_FOUND,
            Error::NotFound(spec.argv.first().cloned().unwrap_or_default()),
        )
    })?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let envp: Vec<CString> = spec
        .env
        .iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let prog = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| (NOT_FOUND, Error::NotFound(program.display().to_string())))?;
    let err = execve(&prog, &argv, &envp).err();
    Err((
        NOT_EXECUTABLE,
        Error::setup(
            format!("execute {}", program.display()),
            err.map(|e| e.to_string()).unwrap_or_default(),
        ),
    ))
}

/// argv[0] as given when it has a slash, else searched in the guest PATH.
fn find_program(argv: &[String], env: &[(String, String)]) -> Option<std::path::PathBuf> {
    let first = argv.first()?;
    if first.contains('/') {
        return Some(first.into());
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(first))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}
