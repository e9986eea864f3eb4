//! Rule 2: what main() does before it looks at a single argument.

use crate::refusal::{os, refuse, OrSetup, Refusal, Rule};
use caps::{CapSet, Capability as C, CapsHashSet};

/// What the helper itself uses: mounts and namespaces, pivot_root, shrinking
/// capability sets, and becoming container root.
pub const HELPER_CAPS: &[C] = &[C::CAP_SYS_ADMIN, C::CAP_SETPCAP, C::CAP_SETUID, C::CAP_SETGID];

/// What the helper keeps: its own, and what `docker run` grants container
/// root by default (the contract's table), which sessions get.
fn kept() -> Vec<C> {
    let docker = session_contract::caps::docker_in(caps::all(), C::index);
    HELPER_CAPS.iter().copied().chain(docker).collect()
}

/// Environment variables kept from the caller. The session's environment
/// is given explicitly (--env), so nothing here reaches the container.
const KEEP_ENV: &[&str] = &["TERM"];

/// Called first thing in main; from here on the helper acts as the
/// caller's real ids until it mounts. Any failure is a rule-2 refusal: the helper
/// does not run unless it could protect itself.
pub fn first() -> Result<(), Refusal> {
    steps().map_err(|e| Refusal { rule: Rule::SelfProtection, ..e })
}

fn steps() -> Result<(), Refusal> {
    // SAFETY: prctl, close_range, fcntl and open on our own process.
    unsafe {
        // No exec from here on can gain privilege (setuid files, file caps).
        os(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "set no_new_privs")?;
        // Nobody of the caller's uid may ptrace us or read our memory.
        os(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "become non-dumpable")?;
        // Inherited descriptors could reach into the container; a closed
        // 0-2 would let our own files land there and get error text.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            (3..65536).for_each(|fd| {
                libc::close(fd);
            });
        }
        for fd in 0..3 {
            let open = libc::fcntl(fd, libc::F_GETFD) >= 0;
            os(open || libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == fd, "open /dev/null")?;
        }
    }
    // The caller's umask would shape the mount points we create.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o022) };
    // Run inside a user namespace of the caller's, file capabilities still
    // apply, but only to that namespace, whose root the caller already is:
    // a faked policy there grants nothing the caller lacked.
    for (k, _) in std::env::vars_os() {
        if !KEEP_ENV.iter().any(|keep| k == *keep) {
            std::env::remove_var(k);
        }
    }
    use rustix::process::{getegid, geteuid, getgid, getuid};
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    if geteuid().as_raw() != uid || getegid().as_raw() != gid {
        return Err(refuse(Rule::SelfProtection, "set-ID install: use file capabilities instead"));
    }
    // Files are opened as the caller: setfsuid returns the previous value,
    // so a second call verifies the first.
    // SAFETY: setfsuid/setfsgid only change this thread's credentials.
    let fs_ids = unsafe {
        libc::setfsuid(uid);
        libc::setfsgid(gid);
        (libc::setfsuid(uid) as u32, libc::setfsgid(gid) as u32)
    };
    os(fs_ids == (uid, gid), "set the file system ids to the caller's")?;
    // A copy without file capabilities (a build tree) has nothing to shrink.
    let permitted = caps::read(None, CapSet::Permitted).or_setup("read capabilities")?;
    let keep: CapsHashSet = kept().into_iter().collect();
    if !permitted.is_empty() {
        for cap in caps::all().difference(&keep) {
            caps::drop(None, CapSet::Bounding, *cap).or_setup("shrink the bounding set")?;
        }
    }
    // Until it mounts, the helper holds no effective capability: every
    // open and check happens with exactly the caller's rights.
    for set in [CapSet::Effective, CapSet::Inheritable, CapSet::Ambient] {
        caps::clear(None, set).or_setup("clear capabilities")?;
    }
    let permitted = permitted.intersection(&keep).copied().collect();
    caps::set(None, CapSet::Permitted, &permitted).or_setup("shrink the permitted set")?;
    Ok(())
}

/// Refuses when the helper lacks a capability a session needs (a copy
/// installed without its file capabilities).
pub fn check_caps() -> Result<(), Refusal> {
    let permitted = caps::read(None, CapSet::Permitted).unwrap_or_default();
    let mut missing = kept();
    missing.retain(|c| !permitted.contains(c));
    match missing.is_empty() {
        true => Ok(()),
        false => Err(refuse(
            Rule::SelfProtection,
            format!("the helper lacks {missing:?}: is it installed with its file capabilities?"),
        )),
    }
}

/// Makes the permitted set effective for a privileged step.
pub fn raise() -> Result<(), Refusal> {
    let permitted = caps::read(None, CapSet::Permitted).or_setup("read capabilities")?;
    caps::set(None, CapSet::Effective, &permitted).or_setup("raise capabilities")
}

/// Back to no effective capability.
pub fn lower() -> Result<(), Refusal> {
    caps::clear(None, CapSet::Effective).or_setup("lower capabilities")
}
