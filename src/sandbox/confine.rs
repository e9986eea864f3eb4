//! Dropping what a worker does not need before it touches untrusted data.

use caps::{CapSet, Capability, CapsHashSet};
use landlock::{
    path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    ABI,
};
use std::path::Path;

/// What a root unpacker keeps: enough to set any owner, mode, device node
/// and file capability, and nothing that mounts, loads modules or traces.
pub const UNPACK_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_FOWNER,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_MKNOD,
    Capability::CAP_SETFCAP,
];

/// Shrinks every capability set to `keep`: the bounding set first, so
/// nothing dropped can ever come back through exec.
pub fn keep_only_caps(keep: &[Capability]) -> Result<(), String> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    // Dropping needs CAP_SETPCAP even for what is already gone, and a
    // parent may have shrunk the set for us (a confined root applet).
    let bounding = caps::read(None, CapSet::Bounding).map_err(|e| format!("bounding set: {e}"))?;
    for cap in bounding {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("bounding set: {e}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("ambient set: {e}"))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| format!("inheritable set: {e}"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(|e| format!("effective set: {e}"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| format!("permitted set: {e}"))?;
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`: no setuid or file capability can raise us again.
pub fn no_new_privs() -> Result<(), String> {
    rustix::thread::set_no_new_privs(true).map_err(|e| format!("no_new_privs: {e}"))
}

/// Dies with the parent: an orphaned unpacker must not keep writing.
pub fn die_with_parent() {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
}

/// Landlock: full access beneath `rw`, read-only beneath `ro`, nothing
/// else. Best effort on kernels without Landlock; returns whether the
/// kernel enforces it.
pub fn landlock(rw: &[&Path], ro: &[&Path]) -> Result<bool, String> {
    let abi = ABI::V5;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(rw, AccessFs::from_all(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules(ro, AccessFs::from_read(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("landlock: {e}"))?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}

/// A root caller's install or reset: from here on the applet (registry
/// client, manifest and archive parsing) holds no capability, and Landlock
/// lets it write only beneath `writable` (the store and the cache) and to
/// /dev/null. Reading stays open: CA roots, credentials, local archives.
///
/// The unpacker it starts regains exactly [`UNPACK_CAPS`] at exec, through
/// the bounding set root keeps; so no `no_new_privs` here (it would stop
/// that), and Landlock is entered while CAP_SYS_ADMIN still allows it.
/// Call before any thread exists: capabilities and Landlock are per thread.
pub fn confine_root_applet(writable: &[&Path]) -> Result<bool, String> {
    let abi = ABI::V5;
    let writes = AccessFs::from_write(abi);
    let status = Ruleset::default()
        .handle_access(writes)
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(writable, writes)))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                [Path::new("/dev/null")],
                AccessFs::WriteFile | AccessFs::Truncate,
            ))
        })
        .map(|r| r.no_new_privs(false))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("landlock: {e}"))?;
    let keep: CapsHashSet = UNPACK_CAPS.iter().copied().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("bounding set: {e}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("ambient set: {e}"))?;
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| format!("capabilities: {e}"))?;
    }
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}

/// The confinement a worker ended up with, for `info`-style reporting and
/// for tests that hold us to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub euid: u32,
    pub user_namespace: bool,
    pub no_new_privs: bool,
    pub landlock: bool,
    /// Effective capabilities, lower-case names (`cap_chown`, ...).
    pub effective: Vec<String>,
    /// Bounding-set size: what an exec could still regain.
    pub bounding: usize,
    /// The trees Landlock lets it write: what the caller asked for, so a
    /// test catches a call site that widens them.
    #[serde(default)]
    pub writable: Vec<std::path::PathBuf>,
}

pub fn report(user_namespace: bool, landlock: bool, writable: &[&Path]) -> Report {
    let names = |set| {
        let mut v: Vec<String> = caps::read(None, set)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.to_string().to_lowercase())
            .collect();
        v.sort();
        v
    };
    Report {
        euid: rustix::process::geteuid().as_raw(),
        user_namespace,
        no_new_privs: rustix::thread::no_new_privs().unwrap_or(false),
        landlock,
        effective: names(CapSet::Effective),
        bounding: caps::read(None, CapSet::Bounding)
            .map(|s| s.len())
            .unwrap_or(0),
        writable: writable.iter().map(|p| p.to_path_buf()).collect(),
    }
}

/// `RLIMIT_AS`: an allocation a hostile input provokes fails instead of
/// taking the machine's memory.
pub fn limit_address_space(bytes: u64) -> Result<(), String> {
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    rustix::process::setrlimit(rustix::process::Resource::As, limit)
        .map_err(|e| format!("address-space limit: {e}"))
}
