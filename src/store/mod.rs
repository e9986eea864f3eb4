//! The on-disk store: containers, locks, sessions and the download cache.

pub mod blobs;
mod lock;
mod manifest;
mod name;
mod ops;
mod paths;
mod staging;

pub use lock::{holders, ContainerLock, LockMode};
pub use manifest::{
    ContainerManifest, Descriptor, Healthcheck, ImageConfig, ImageManifest, RuntimeConfig,
};
pub use name::ContainerName;
pub use ops::{clear_cache, remove_container, rename_container, Log};
pub use paths::{home_dir, StorePaths};
pub use staging::{clean_stale as clean_stale_staging, Staging, STAGING_PREFIX};

use crate::fsops::du::{disk_usage, Usage};
use crate::ioerr::{IoContext, IoError};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The install index beside a container's rootfs (see `unpack::index`).
pub const INDEX_FILE: &str = "install-index.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot find a home directory: HOME is unset and uid {uid} has no usable passwd entry"
    )]
    NoHome { uid: u32 },
    #[error("invalid container name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("container '{0}' is not installed")]
    NotFound(String),
    #[error("container '{0}' already exists")]
    Exists(String),
    #[error("'{0}' is already the container's name")]
    SameName(String),
    #[error("container '{name}' is in use{}", pid_list(pids))]
    Busy { name: String, pids: Vec<u32> },
    #[error("{}: not a valid manifest: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("container '{name}' has {count} active mount(s), e.g. {}", mount.display())]
    Mounted {
        name: String,
        mount: PathBuf,
        count: usize,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

fn pid_list(pids: &[u32]) -> String {
    match pids {
        [] => String::new(),
        [one] => format!(" by PID {one}"),
        many => {
            let list: Vec<String> = many.iter().map(u32::to_string).collect();
            format!(" by PIDs {}", list.join(", "))
        }
    }
}

impl Error {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoHome { .. } => Some("set HOME or XDG_DATA_HOME to an absolute path".into()),
            Error::InvalidName { .. } => Some(
                "names are ASCII letters, digits, '_', '.' and '-', starting with a letter or digit, e.g. 'ubuntu', 'my-alpine', 'deb12.test'"
                    .into(),
            ),
            Error::NotFound(_) => {
                Some("'chroot-distro list' shows the installed containers".into())
            }
            Error::Exists(_) => {
                Some("pick another name (install -n NAME, rename OLD NEW), or remove the old one first".into())
            }
            Error::SameName(_) => Some("give rename a different new name".into()),
            Error::Busy { name, .. } => Some(format!(
                "wait for it to finish, or end its sessions with 'chroot-distro unmount {name}'"
            )),
            Error::Manifest { .. } => Some(
                "the file is damaged; 'chroot-distro reset' cannot use it, but login still works"
                    .into(),
            ),
            Error::Mounted { name, .. } => Some(format!(
                "end its sessions and mounts first: chroot-distro unmount {name}"
            )),
            Error::Io(e) => e.hint(),
        }
    }
}

/// Creates `dir` (and missing parents) with mode 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ctx("create directory", dir)?;
    Ok(())
}

/// Prepares the store for a mutating command: creates its directories,
/// makes `containers/` private (a rootfs holds setuid binaries and device
/// nodes other users must not reach) and clears crash leftovers.
pub fn prepare_for_mutation(paths: &StorePaths) -> Result<(), Error> {
    prepare_for_mutation_with(paths, &|p: &Path| crate::fsops::remove_tree(p))
}

/// [`prepare_for_mutation`] with the store's own way of deleting trees (a
/// rootless store deletes inside its user namespace).
pub fn prepare_for_mutation_with(paths: &StorePaths, remove: &Remover) -> Result<(), Error> {
    let containers = paths.containers_dir();
    for dir in [&containers, &paths.locks_dir(), &paths.sessions_dir()] {
        ensure_private_dir(dir)?;
    }
    let meta = std::fs::metadata(&containers).ctx("inspect", &containers)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&containers, std::fs::Permissions::from_mode(0o700))
            .ctx("restrict permissions of", &containers)?;
    }
    clean_stale_staging(paths, remove)?;
    clean_stale_downloads(paths);
    Ok(())
}

/// Partial blobs (`oci_layers/.partial-<pid>-*`), URL downloads
/// (`downloads/<pid>-*`) and the temporary files the manifest and layer
/// hash caches are written through (`.tmp-<pid>*`) whose process is gone:
/// a `kill -9` mid-write leaves them, the next mutating command removes
/// them. A reused PID only postpones that to a later command.
fn clean_stale_downloads(paths: &StorePaths) {
    let dirs = [
        (paths.layer_cache(), ".partial-"),
        (paths.cache_dir.join("downloads"), ""),
        (paths.manifest_cache(), ".tmp-"),
        (paths.layer_hashes(), ".tmp-"),
    ];
    for (dir, prefix) in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new("/proc").join(p.to_string()).exists()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Deletes a tree of the store.
pub type Remover = dyn Fn(&Path) -> std::io::Result<()> + Send + Sync;

/// Names of installed containers: subdirectories of `containers/` with a
/// `rootfs/`, valid names only (staging dirs and strays are skipped), sorted.
pub fn installed(paths: &StorePaths) -> Result<Vec<ContainerName>, Error> {
    let dir = paths.containers_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::new("read directory", &dir, e).into()),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.ctx("read directory", &dir)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(name) = ContainerName::new(&name) else {
            continue;
        };
        if std::fs::symlink_metadata(entry.path().join("rootfs")).is_ok_and(|m| m.is_dir()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Where a container's files came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Image {
        image_ref: String,
        arch: String,
    },
    LocalArchive,
    /// manifest.json exists but cannot be read; the message says why.
    Unreadable {
        error: String,
    },
}

impl Source {
    pub fn of(paths: &StorePaths, name: &ContainerName) -> (Source, Option<ContainerManifest>) {
        let path = paths.manifest(name);
        if std::fs::symlink_metadata(&path).is_err() {
            return (Source::LocalArchive, None);
        }
        match ContainerManifest::read(&path) {
            Ok(m) => (
                Source::Image {
                    image_ref: m.image_ref.clone(),
                    arch: m.arch.clone(),
                },
                Some(m),
            ),
            Err(e) => (
                Source::Unreadable {
                    error: e.to_string(),
                },
                None,
            ),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Image { image_ref, arch } if arch.is_empty() => image_ref.clone(),
            Source::Image { image_ref, arch } => format!("{image_ref} ({arch})"),
            Source::LocalArchive => "local archive".into(),
            Source::Unreadable { .. } => "unreadable manifest.json".into(),
        }
    }
}

/// What `list` and `info` show about one container.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub name: String,
    pub rootfs: PathBuf,
    pub usage: Option<Usage>,
    pub source: Source,
    /// PIDs holding the container's lock; empty means idle.
    pub in_use_by: Vec<u32>,
    #[serde(skip)]
    pub manifest: Option<ContainerManifest>,
}

impl Summary {
    pub fn gather(paths: &StorePaths, name: &ContainerName, with_size: bool) -> Self {
        let rootfs = paths.rootfs(name);
        let usage = with_size
            .then(|| disk_usage(&rootfs, walk_threads()).ok())
            .flatten();
        let (source, manifest) = Source::of(paths, name);
        Self {
            name: name.to_string(),
            in_use_by: holders(&paths.lock_file(name)),
            rootfs,
            usage,
            source,
            manifest,
        }
    }
}

fn walk_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_mul(2))
        .unwrap_or(4)
        .min(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_skips_staging_strays_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        assert!(installed(&paths).unwrap().is_empty());
        let c = paths.containers_dir();
        for d in [
            "b/rootfs",
            "a/rootfs",
            ".staging-1-x/rootfs",
            "norootfs",
            "-bad/rootfs",
        ] {
            std::fs::create_dir_all(c.join(d)).unwrap();
        }
        std::fs::write(c.join("file"), b"").unwrap();
        let names: Vec<String> = installed(&paths)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn busy_message_names_pids() {
        let e = Error::Busy {
            name: "deb".into(),
            pids: vec![12, 34],
        };
        assert_eq!(e.to_string(), "container 'deb' is in use by PIDs 12, 34");
        let e = Error::Busy {
            name: "deb".into(),
            pids: vec![7],
        };
        assert_eq!(e.to_string(), "container 'deb' is in use by PID 7");
    }

    #[test]
    fn prepare_makes_containers_private() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        std::fs::create_dir_all(paths.containers_dir()).unwrap();
        std::fs::set_permissions(
            paths.containers_dir(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        prepare_for_mutation(&paths).unwrap();
        let mode = std::fs::metadata(paths.containers_dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
