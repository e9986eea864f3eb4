//! Which identity an unpacker runs with, and the user-namespace id maps.

use crate::env::EnvSnapshot;
use crate::users::{self, SubIdRange};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where newuidmap lives, for callers whose PATH lacks the sbin dirs.
const SBIN_DIRS: [&str; 4] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// Size of the mapped range above container root (uids 1..=65536).
const MAPPED: u32 = 65536;

/// How a process that writes a rootfs gets ownership right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    /// Real root: real ownership on disk, a few capabilities kept.
    Root,
    /// A user namespace: 0 → caller, 1.. → subordinate ids.
    UserNs(IdMap),
    /// Neither: every file ends up owned by the caller.
    Squash { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    pub uid: u32,
    pub gid: u32,
    pub subuid: SubRange,
    pub subgid: SubRange,
    pub newuidmap: PathBuf,
    pub newgidmap: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

impl From<SubIdRange> for SubRange {
    fn from(r: SubIdRange) -> Self {
        Self {
            start: r.start,
            count: r.count.min(MAPPED),
        }
    }
}

impl Privilege {
    /// Root callers keep real ownership; others use their subordinate ids
    /// when newuidmap/newgidmap and the ranges exist.
    pub fn detect(env: &EnvSnapshot) -> Self {
        if rustix::process::geteuid().is_root() {
            return Privilege::Root;
        }
        match IdMap::for_caller(env) {
            Ok(map) => Privilege::UserNs(map),
            Err(reason) => Privilege::Squash { reason },
        }
    }

    pub fn is_userns(&self) -> bool {
        matches!(self, Privilege::UserNs(_))
    }
}

impl IdMap {
    pub fn for_caller(env: &EnvSnapshot) -> Result<Self, String> {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let user = users::lookup_uid(uid).ok_or(format!("uid {uid} has no passwd entry"))?;
        let find = |name: &str| {
            env.find_program(name, &SBIN_DIRS).ok_or(format!(
                "{name} is not installed (Debian: apt install uidmap)"
            ))
        };
        let newuidmap = find("newuidmap")?;
        let newgidmap = find("newgidmap")?;
        let first = |file: &str| {
            users::subid_ranges(Path::new(file), &user)
                .into_iter()
                .next()
                .map(SubRange::from)
                .ok_or(format!(
                    "{0} has no range in {file} (add one: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {0})",
                    user.name
                ))
        };
        let subuid = first("/etc/subuid")?;
        let subgid = first("/etc/subgid")?;
        if !userns_possible() {
            return Err("unprivileged user namespaces are disabled on this kernel".into());
        }
        Ok(Self {
            uid,
            gid,
            subuid,
            subgid,
            newuidmap,
            newgidmap,
        })
    }

    /// Writes the maps of `pid` (a child that has just unshared its user
    /// namespace) through the setuid helpers, as rootless podman does.
    pub fn apply(&self, pid: u32) -> Result<(), String> {
        let start = |tool: &Path, own: u32, sub: SubRange| {
            Command::new(tool)
                .arg(pid.to_string())
                .args(["0", &own.to_string(), "1"])
                .args(["1", &sub.start.to_string(), &sub.count.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", tool.display()))
        };
        let finish = |tool: &Path, child: std::process::Child| {
            let out = child
                .wait_with_output()
                .map_err(|e| format!("cannot wait for {}: {e}", tool.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} failed: {}",
                    tool.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        // Both at once: each is a setuid exec costing milliseconds, and
        // a session waits for them before it can start.
        let uids = start(&self.newuidmap, self.uid, self.subuid)?;
        let gids = start(&self.newgidmap, self.gid, self.subgid);
        let uid_result = finish(&self.newuidmap, uids);
        finish(&self.newgidmap, gids?)?;
        uid_result
    }

    /// Host uid of container uid `id` under this map.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        map_id(id, self.uid, self.subuid)
    }

    pub fn host_gid(&self, id: u32) -> Option<u32> {
        map_id(id, self.gid, self.subgid)
    }
}

fn map_id(id: u32, own: u32, sub: SubRange) -> Option<u32> {
    match id {
        0 => Some(own),
        n if n <= sub.count => sub.start.checked_add(n - 1),
        _ => None,
    }
}

fn userns_possible() -> bool {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return false;
    }
    read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() != Some("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_mapping() {
        let map = IdMap {
            uid: 1000,
            gid: 1000,
            subuid: SubRange {
                start: 100000,
                count: 65536,
            },
            subgid: SubRange {
                start: 200000,
                count: 65536,
            },
            newuidmap: "/usr/bin/newuidmap".into(),
            newgidmap: "/usr/bin/newgidmap".into(),
        };
        assert_eq!(map.host_uid(0), Some(1000));
        assert_eq!(map.host_uid(42), Some(100041));
        assert_eq!(map.host_gid(42), Some(200041));
        assert_eq!(map.host_uid(65536), Some(165535));
        assert_eq!(map.host_uid(65537), None);
    }
}
