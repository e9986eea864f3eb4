//! The admin's policy of cd-mount-helper (rules 3, 7, 10): a root-owned
//! key=value file at a compile-time path. Missing, unreadable, unsafe or
//! malformed → the helper grants nothing. The helper loads it; `info`
//! explains it with this same parser.
//!
//! ```text
//! # who may use the helper at all: group names or numeric gids
//! groups = cdhelper
//! # the helper only runs real-root sessions: without this, nothing runs
//! real_root = yes
//! # --privileged (every capability the helper holds, writable /sys)
//! privileged = no
//! # --host-network: sessions on the host's network (never with raw sockets)
//! host_network = no
//! # ... and binding ports below 1024 there
//! privileged_ports = no
//! # stores may live here besides the caller's home (absolute paths)
//! store_roots = /srv/chroot-distro
//! # bind sources allowed besides the caller's home
//! bind_sources = /media /srv/shared
//! ```

use crate::refusal::{refuse, Refusal, Rule};
use crate::request::{is_clean_absolute, Network, Request};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the helper reads it. Rule 10: a compile-time constant, never an
/// environment variable (the test rig's copy of the helper is built with
/// its own path).
pub const PATH: &str = "/etc/chroot-distro/helper.conf";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Policy {
    pub groups: Vec<String>,
    pub real_root: bool,
    pub privileged: bool,
    pub host_network: bool,
    pub privileged_ports: bool,
    pub store_roots: Vec<PathBuf>,
    pub bind_sources: Vec<PathBuf>,
}

/// The key=value text; any unknown key, repeated key or bad value fails
/// the whole file, so a typo never grants something by accident.
pub fn parse(text: &str) -> Result<Policy, String> {
    let mut p = Policy::default();
    let mut seen = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("line {}", n + 1);
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("{}: not key = value", at()))?;
        if seen.contains(&key) {
            return Err(format!("{}: {key} given twice", at()));
        }
        seen.push(key);
        let list = || value.split([',', ' ', '\t']).filter(|s| !s.is_empty());
        let yes_no = || match value {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(format!("{}: {key} must be yes or no", at())),
        };
        let paths = || {
            list()
                .map(|s| Some(PathBuf::from(s)).filter(|p| is_clean_absolute(p)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{}: {key} takes absolute paths without . or ..", at()))
        };
        match key {
            "groups" => p.groups = list().map(str::to_owned).collect(),
            "real_root" => p.real_root = yes_no()?,
            "privileged" => p.privileged = yes_no()?,
            "host_network" => p.host_network = yes_no()?,
            "privileged_ports" => p.privileged_ports = yes_no()?,
            "store_roots" => p.store_roots = paths()?,
            "bind_sources" => p.bind_sources = paths()?,
            _ => return Err(format!("{}: unknown key {key:?}", at())),
        }
    }
    Ok(p)
}

/// Why a policy grants nothing: the helper refuses with it (rule 3) and
/// `info` shows it, so the two can never judge the same file differently.
#[derive(Debug)]
pub enum LoadError {
    /// No file: the helper refuses every request.
    Missing,
    /// A directory above it is not root's alone: someone else could swap it.
    UnsafeDir(PathBuf),
    /// The file itself could have been written by someone other than root.
    Unsafe(String),
    /// Safe, but not readable with the caller's ids (the helper reads it so).
    Unreadable(std::io::Error),
    /// Read, but not a valid policy (the line and what is wrong with it).
    Malformed(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Missing => f.write_str("No such file"),
            LoadError::UnsafeDir(d) => {
                write!(f, "{} is not a root-owned directory writable only by root", d.display())
            }
            LoadError::Unsafe(why) => {
                write!(f, "{why}: not a regular file owned by root and writable only by root")
            }
            LoadError::Unreadable(e) => write!(f, "cannot read it: {e}"),
            LoadError::Malformed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for LoadError {}

/// The file's own metadata: a regular file owned by root that only root
/// can write. Judged before opening (so a file the caller may not read is
/// still judged) and again on the opened file (so a swap loses).
fn judge(m: &std::fs::Metadata) -> Result<(), LoadError> {
    let why = if m.file_type().is_symlink() {
        "a symlink".to_owned()
    } else if !m.is_file() {
        "not a file".to_owned()
    } else if m.uid() != 0 {
        format!("owned by uid {}", m.uid())
    } else if m.mode() & 0o022 != 0 {
        format!("writable by group or others (mode {:04o})", m.mode() & 0o7777)
    } else {
        return Ok(());
    };
    Err(LoadError::Unsafe(why))
}

/// Reads the policy at `path` (as whoever calls: the helper does so with
/// the caller's file system ids), after checking that only root could have
/// written it or swapped any directory above it.
pub fn load(path: &Path) -> Result<Policy, LoadError> {
    for dir in path.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
        let m = std::fs::symlink_metadata(dir).map_err(LoadError::Unreadable)?;
        if !m.is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(LoadError::UnsafeDir(dir.to_path_buf()));
        }
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LoadError::Missing),
        Err(e) => return Err(LoadError::Unreadable(e)),
        Ok(m) => judge(&m)?,
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(LoadError::Unreadable)?;
    judge(&file.metadata().map_err(LoadError::Unreadable)?)?;
    let mut text = String::new();
    use std::io::Read;
    (&mut file).take(64 * 1024).read_to_string(&mut text).map_err(LoadError::Unreadable)?;
    parse(&text).map_err(LoadError::Malformed)
}

/// Who is asking, from the kernel's credentials and /etc/passwd.
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The real gid and every supplementary group of the process.
    pub groups: Vec<u32>,
    pub account: Option<crate::ids::Account>,
}

impl Caller {
    /// This process's real ids and groups, and its account in /etc/passwd.
    pub fn current() -> Self {
        let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
        let mut groups: Vec<u32> = rustix::process::getgroups()
            .map(|g| g.iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        groups.push(gid);
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Self { uid, gid, groups, account: crate::ids::account(&passwd, uid) }
    }

    /// Whether `path` lies under the caller's home or under one of `roots`
    /// (the policy's store_roots or bind_sources).
    pub fn allows(&self, roots: &[PathBuf], path: &Path) -> bool {
        under(path, &roots.iter().map(PathBuf::as_path).chain(self.home()).collect::<Vec<_>>())
    }

    /// The home from /etc/passwd, if it is a usable place to allow things
    /// under (not `/`, nothing odd in it).
    pub fn home(&self) -> Option<&Path> {
        let home = self.account.as_ref().map(|a| a.home.as_path());
        home.filter(|h| is_clean_absolute(h) && h.parent().is_some())
    }
}

/// The policy group through which the caller may use the helper.
pub fn membership(p: &Policy, caller: &Caller, group_file: &str) -> Option<String> {
    p.groups
        .iter()
        .find(|g| {
            crate::ids::group_id(group_file, g).is_some_and(|gid| caller.groups.contains(&gid))
        })
        .cloned()
}

/// Rules 3 and 7 for a session request.
pub fn authorize(
    p: &Policy,
    caller: &Caller,
    group_file: &str,
    req: &Request,
) -> Result<(), Refusal> {
    if caller.uid == 0 {
        return Err(refuse(
            Rule::Policy,
            "root runs sessions itself; the helper serves other users",
        ));
    }
    if membership(p, caller, group_file).is_none() {
        return Err(refuse(
            Rule::Policy,
            format!(
                "uid {} is in none of the policy's groups ({})",
                caller.uid,
                p.groups.join(", ")
            ),
        ));
    }
    if !p.real_root {
        return Err(refuse(
            Rule::RootGrant,
            "the policy grants no real-root sessions (real_root = no)",
        ));
    }
    if req.privileged && !p.privileged {
        return Err(refuse(Rule::RootGrant, "--privileged is not granted (privileged = no)"));
    }
    if req.network == Network::Host && !p.host_network {
        return Err(refuse(Rule::RootGrant, "--host-network is not granted (host_network = no)"));
    }
    Ok(())
}

/// Whether `path` lies under one of `roots` (whole components).
pub fn under(path: &Path, roots: &[&Path]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

/// What `p` grants `caller`, one item a line: what `info` shows (the
/// helper itself answers `--check-policy` with one line and an exit code).
pub fn explain(p: &Policy, caller: &Caller, group_file: &str) -> Vec<String> {
    let yes = |b: bool| if b { "granted" } else { "not granted (no policy line)" };
    let mut out = vec![match membership(p, caller, group_file) {
        Some(g) => format!("use: granted (member of {g})"),
        None => format!("use: not granted (in none of: {})", p.groups.join(", ")),
    }];
    out.push(format!("real-root sessions: {}", yes(p.real_root)));
    out.push(format!("--privileged: {}", yes(p.privileged)));
    out.push(format!("--host-network: {}", yes(p.host_network)));
    out.push(format!("ports below 1024 on the host network: {}", yes(p.privileged_ports)));
    let home =
        caller.home().map_or("(no usable home in /etc/passwd)".into(), |h| h.display().to_string());
    let list = |v: &[PathBuf]| v.iter().map(|p| format!(", {}", p.display())).collect::<String>();
    out.push(format!("stores under: {home}{}", list(&p.store_roots)));
    out.push(format!("bind sources under: {home}{}", list(&p.bind_sources)));
    out
}
