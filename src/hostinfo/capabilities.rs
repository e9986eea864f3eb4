//! Capabilities section: what the host offers for launching containers.

use super::binfmt::Binfmt;
use super::executables::{self, Found};
use super::helper::Helper;
use super::host::Host;
use super::mounts::{self, Mount};
use super::program::Program;
use super::security::Security;
use super::storage::{self, Space};
use super::userns::{IdMapping, UserNamespaces};
use super::{child, Probe};
use crate::env::EnvSnapshot;
use crate::store::StorePaths;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Tried in this order when chroot-distro must elevate.
pub const ESCALATION_TOOLS: [&str; 4] = ["sudo", "doas", "pkexec", "su"];
use crate::elevate::ANDROID_SU_DIRS;

#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    pub escalation_tools: Vec<Found>,
    /// The mount holding the runtime dir (nosuid/noexec break containers).
    pub store_mount: Probe<Mount>,
    /// Termux only: the `/data` mount.
    pub termux_data_mount: Option<Probe<Mount>>,
    pub binfmt: Binfmt,
    pub unshare: Option<PathBuf>,
    pub nsenter: Option<PathBuf>,
    pub user_namespaces: UserNamespaces,
    pub id_mapping: IdMapping,
    pub helper: Helper,
    pub landlock: Probe<Feature>,
    pub openat2: Probe<Feature>,
    pub disk_space: Probe<Space>,
    pub cache_bytes: Probe<u64>,
    pub security: Security,
}

/// A kernel interface and whether this process can use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feature {
    pub available: bool,
    /// Landlock's ABI version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abi: Option<u32>,
    /// Why not, when not available.
    pub reason: Option<String>,
}

impl Feature {
    /// `yes (ABI 4)`, `yes`, or `no (why)`.
    pub fn describe(&self) -> String {
        match (self.available, self.abi) {
            (true, Some(abi)) => format!("yes (ABI {abi})"),
            (true, None) => "yes".into(),
            (false, _) => format!("no ({})", self.reason.as_deref().unwrap_or("unknown")),
        }
    }

    fn from(r: Result<Option<u32>, String>) -> Self {
        match r {
            Ok(abi) => Self {
                available: true,
                abi,
                reason: None,
            },
            Err(why) => Self {
                available: false,
                abi: None,
                reason: Some(why),
            },
        }
    }
}

impl Capabilities {
    /// Forking probes first, then files, then the cache walk (threads).
    pub fn gather(
        env: &EnvSnapshot,
        host: &Host,
        program: &Program,
        store: Option<&StorePaths>,
    ) -> Self {
        let user_namespaces = UserNamespaces::gather(program.uid, program.gid, program.euid);
        let landlock = Probe::from(child::landlock_abi()).map(|r| Feature::from(r.map(Some)));
        let openat2 = Probe::from(child::openat2()).map(|r| Feature::from(r.map(|()| None)));
        let dirs = executables::search_dirs(env);
        let mut su_dirs = dirs.clone();
        if host.termux.is_some() {
            su_dirs.extend(ANDROID_SU_DIRS.iter().map(PathBuf::from));
        }
        let table = mounts::read_table();
        let store_mount = match (&table, store) {
            (Err(e), _) => Probe::unknown(e.clone()),
            (Ok(_), None) => Probe::unknown("store location unknown"),
            (Ok(t), Some(s)) => mounts::nearest_existing(&s.runtime_dir)
                .and_then(|p| mounts::containing(t, &p).cloned())
                .map_or_else(|| Probe::unknown("no mount found"), Probe::Known),
        };
        let termux_data_mount = host.termux.as_ref().map(|_| match &table {
            Err(e) => Probe::unknown(e.clone()),
            Ok(t) => mounts::at(t, Path::new("/data")).cloned().map_or_else(
                || Probe::unknown("/data is not a mount point"),
                Probe::Known,
            ),
        });
        let exe = program.executable.known().map(PathBuf::as_path);
        Self {
            escalation_tools: executables::find_all(&su_dirs, &ESCALATION_TOOLS),
            store_mount,
            termux_data_mount,
            binfmt: Binfmt::gather(&host.arch, &dirs),
            unshare: executables::find(&dirs, "unshare"),
            nsenter: executables::find(&dirs, "nsenter"),
            user_namespaces,
            id_mapping: IdMapping::gather(program.account.as_ref(), &dirs),
            helper: Helper::gather(&crate::helper_client::search::Search {
                pin: env.get_os(crate::helper_client::search::PIN_VAR),
                exe,
                path_dirs: &dirs,
            }),
            landlock,
            openat2,
            disk_space: store.map_or_else(
                || Probe::unknown("store location unknown"),
                |s| storage::free_space(&s.runtime_dir),
            ),
            cache_bytes: store.map_or_else(
                || Probe::unknown("store location unknown"),
                |s| storage::cache_size(&s.cache_dir),
            ),
            security: Security::gather(),
        }
    }
}
