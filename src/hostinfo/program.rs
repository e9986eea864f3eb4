//! Program section: version, binary, store locations and who is asking.

use super::Probe;
use crate::store::StorePaths;
use crate::users::{self, HostUser};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub version: &'static str,
    /// The running binary (`/proc/self/exe`).
    pub executable: Probe<PathBuf>,
    pub runtime_dir: Probe<PathBuf>,
    pub cache_dir: Probe<PathBuf>,
    /// Effective uid 0.
    pub is_root: bool,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    /// Account name of the real uid, when the account database knows it.
    pub user: Option<String>,
    #[serde(skip)]
    pub account: Option<HostUser>,
}

impl Program {
    pub fn gather(store: Result<&StorePaths, String>) -> Self {
        let uid = rustix::process::getuid().as_raw();
        let euid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let account = users::lookup_uid(uid);
        let (runtime_dir, cache_dir) = match store {
            Ok(p) => (
                Probe::Known(p.runtime_dir.clone()),
                Probe::Known(p.cache_dir.clone()),
            ),
            Err(e) => (Probe::unknown(e.clone()), Probe::unknown(e)),
        };
        Self {
            version: crate::VERSION,
            executable: std::fs::read_link("/proc/self/exe")
                .map_err(|e| format!("/proc/self/exe: {}", super::os_reason(&e)))
                .into(),
            runtime_dir,
            cache_dir,
            is_root: euid == 0,
            uid,
            euid,
            gid,
            user: account.as_ref().map(|a| a.name.clone()),
            account,
        }
    }
}
