//! User namespaces: the kernel switches that gate them, a real probe, and
//! what rootless id mapping needs (subordinate ids, newuidmap/newgidmap).

use super::executables::{self, Executable};
use super::{child, Probe};
use crate::users::{self, HostUser, SubIdRange};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct UserNamespaces {
    /// `user.max_user_namespaces`; 0 disables them.
    pub max_user_namespaces: Option<u64>,
    /// Debian/Ubuntu's `kernel.unprivileged_userns_clone`, where it exists.
    pub unprivileged_userns_clone: Option<bool>,
    /// Ubuntu's `kernel.apparmor_restrict_unprivileged_userns`, where it exists.
    pub apparmor_restrict_unprivileged_userns: Option<bool>,
    /// A forked child entered a user namespace, mapped itself and mounted.
    pub usable: Probe<bool>,
    /// The step that failed, when not usable.
    pub failure: Option<String>,
    /// The probe ran as root, which says nothing about unprivileged users.
    pub probed_as_root: bool,
}

impl UserNamespaces {
    pub fn gather(uid: u32, gid: u32, euid: u32) -> Self {
        let (usable, failure) = match child::userns(uid, gid) {
            Ok(None) => (Probe::Known(true), None),
            Ok(Some(why)) => (Probe::Known(false), Some(why)),
            Err(e) => (Probe::unknown(e), None),
        };
        Self {
            max_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces"),
            unprivileged_userns_clone: sysctl("/proc/sys/kernel/unprivileged_userns_clone")
                .map(|v: u64| v != 0),
            apparmor_restrict_unprivileged_userns: sysctl(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            )
            .map(|v: u64| v != 0),
            usable,
            failure,
            probed_as_root: euid == 0,
        }
    }
}

fn sysctl<T: std::str::FromStr>(path: &str) -> Option<T> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// What a rootless store maps: the caller's subordinate ids and the setuid
/// (or file-capability) helpers that write the maps.
#[derive(Debug, Clone, Serialize)]
pub struct IdMapping {
    pub subuid: Vec<SubIdRange>,
    pub subgid: Vec<SubIdRange>,
    pub newuidmap: Option<Executable>,
    pub newgidmap: Option<Executable>,
}

impl IdMapping {
    pub fn gather(account: Option<&HostUser>, search_dirs: &[PathBuf]) -> Self {
        let ranges = |file: &str| {
            account
                .map(|a| users::subid_ranges(Path::new(file), a))
                .unwrap_or_default()
        };
        let tool = |name: &str| {
            executables::find(search_dirs, name).and_then(|p| Executable::inspect(&p).ok())
        };
        Self {
            subuid: ranges("/etc/subuid"),
            subgid: ranges("/etc/subgid"),
            newuidmap: tool("newuidmap"),
            newgidmap: tool("newgidmap"),
        }
    }

    /// Both helpers present and able to write foreign maps.
    pub fn helpers_privileged(&self) -> bool {
        self.newuidmap
            .as_ref()
            .is_some_and(|x| x.grants("cap_setuid"))
            && self
                .newgidmap
                .as_ref()
                .is_some_and(|x| x.grants("cap_setgid"))
    }
}
