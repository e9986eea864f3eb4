//! The admin's policy (rule 3, 7, 10): a root-owned key=value file at a
//! compile-time path. Missing, unreadable, unsafe or malformed → the helper
//! grants nothing.
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

use crate::net::Network;
use crate::refusal::{refuse, Refusal, Rule};
use crate::request::{is_clean_absolute, Request};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Rule 10: never an environment variable. The test rig's copy is built
/// with its own constant.
#[cfg(not(feature = "test-policy-path"))]
pub const POLICY_PATH: &str = "/etc/chroot-distro/helper.conf";
#[cfg(feature = "test-policy-path")]
pub const POLICY_PATH: &str = "/var/lib/cd-test-rig/helper/helper.conf";

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

/// Reads the policy as the caller, after checking that only root could
/// have written it or swapped any directory above it.
pub fn load() -> Result<Policy, Refusal> {
    let path = Path::new(POLICY_PATH);
    let deny =
        |why: String| refuse(Rule::Policy, format!("{POLICY_PATH}: {why}; nothing is granted"));
    for dir in path.ancestors().skip(1) {
        let m =
            std::fs::symlink_metadata(dir).map_err(|e| deny(format!("{}: {e}", dir.display())))?;
        if !m.is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(deny(format!(
                "{} is not a root-owned directory writable only by root",
                dir.display()
            )));
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| deny(e.to_string()))?;
    let m = file.metadata().map_err(|e| deny(e.to_string()))?;
    if !m.is_file() || m.uid() != 0 || m.mode() & 0o022 != 0 {
        return Err(deny("not a regular file owned by root and writable only by root".into()));
    }
    let mut text = String::new();
    use std::io::Read;
    (&mut file).take(64 * 1024).read_to_string(&mut text).map_err(|e| deny(e.to_string()))?;
    parse(&text).map_err(deny)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(groups: Vec<u32>) -> Caller {
        Caller { uid: 1001, gid: 1001, groups, account: None }
    }

    #[test]
    fn parses_the_documented_format() {
        let p = parse("# c\ngroups = cdhelper, 27\nreal_root = yes\nprivileged=no\nstore_roots = /srv/a /srv/b # x\nbind_sources=\n").unwrap();
        assert_eq!(p.groups, ["cdhelper", "27"]);
        assert!(p.real_root && !p.privileged);
        assert_eq!(p.store_roots, [PathBuf::from("/srv/a"), PathBuf::from("/srv/b")]);
        assert!(p.bind_sources.is_empty());
        for bad in [
            "real_root = maybe",
            "groups = a\ngroups = b",
            "colour = red",
            "store_roots = rel",
            "store_roots = /a/../b",
            "just words",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorization_follows_the_keys() {
        let gr = "cdhelper:x:1002:cdtest\n";
        let plain = Request::default();
        let privileged = Request { privileged: true, ..Default::default() };
        let host = Request { network: Network::Host, ..Default::default() };
        let p = parse("groups = cdhelper\nreal_root = yes\n").unwrap();
        assert!(authorize(&p, &caller(vec![1001, 1002]), gr, &plain).is_ok());
        assert_eq!(
            authorize(&p, &caller(vec![1001, 1002]), gr, &privileged).unwrap_err().rule,
            Rule::RootGrant
        );
        assert_eq!(authorize(&p, &caller(vec![1001]), gr, &plain).unwrap_err().rule, Rule::Policy);
        let none = parse("groups = cdhelper\n").unwrap();
        assert_eq!(
            authorize(&none, &caller(vec![1002]), gr, &plain).unwrap_err().rule,
            Rule::RootGrant
        );
        assert_eq!(
            authorize(&p, &caller(vec![1002]), gr, &host).unwrap_err().rule,
            Rule::RootGrant
        );
        let net = parse("groups = cdhelper\nreal_root = yes\nhost_network = yes\n").unwrap();
        assert!(authorize(&net, &caller(vec![1002]), gr, &host).is_ok());
        assert!(under(Path::new("/srv/a/b"), &[Path::new("/srv/a")]));
        assert!(!under(Path::new("/srv/ab"), &[Path::new("/srv/a")]));
    }
}
