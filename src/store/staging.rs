//! Atomic creation of containers: build in `containers/.staging-*`, then
//! rename into place.
//!
//! The creating process holds an exclusive flock on the staging directory
//! itself for its whole life. A staging directory nobody holds a lock on was
//! left by a crash (or `kill -9`) and is removed by the next mutating command.

use super::name::ContainerName;
use super::{ensure_private_dir, Error, StorePaths};
use crate::fsops::remove_tree;
use crate::ioerr::{IoContext, IoError};
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const STAGING_PREFIX: &str = ".staging-";

/// A container under construction; removed on drop unless committed.
pub struct Staging {
    dir: PathBuf,
    _lock: File,
    committed: bool,
    remover: Option<Box<super::Remover>>,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging").field("dir", &self.dir).finish()
    }
}

impl Staging {
    pub fn create(paths: &StorePaths) -> Result<Self, Error> {
        let containers = paths.containers_dir();
        ensure_private_dir(&containers)?;
        for attempt in 0..64u32 {
            let dir = containers.join(format!(
                "{STAGING_PREFIX}{}-{}",
                std::process::id(),
                unique_suffix(attempt)
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let lock = File::open(&dir).ctx("open", &dir)?;
                    lock.try_lock().map_err(|e| {
                        IoError::new("lock", &dir, std::io::Error::other(e.to_string()))
                    })?;
                    return Ok(Self {
                        dir,
                        _lock: lock,
                        committed: false,
                        remover: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(IoError::new("create", &dir, e).into()),
            }
        }
        Err(Error::Io(IoError::new(
            "create staging directory in",
            &containers,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        )))
    }

    /// Deletes the staging tree with `remover` if it is abandoned (a
    /// rootless tree holds files only its user namespace may delete).
    pub fn with_remover(mut self, remover: Box<super::Remover>) -> Self {
        self.remover = Some(remover);
        self
    }

    /// The future `containers/<name>/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// Moves the staging directory to `containers/<name>`; an existing
    /// container of that name is never replaced (`RENAME_NOREPLACE`).
    pub fn commit(mut self, paths: &StorePaths, name: &ContainerName) -> Result<PathBuf, Error> {
        let target = paths.container_dir(name);
        match renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::NOREPLACE) {
            Ok(()) => {
                self.committed = true;
                Ok(target)
            }
            Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                Err(Error::Exists(name.to_string()))
            }
            Err(e) => Err(IoError::new("rename", &self.dir, e.into()).into()),
        }
    }
}

impl Staging {
    /// Atomically swaps this staging directory with the existing
    /// `containers/<name>` (`RENAME_EXCHANGE`): the container is never
    /// missing, and the staging handle then holds the old tree, which is
    /// deleted when it drops.
    pub fn exchange(self, paths: &StorePaths, name: &ContainerName) -> Result<(), Error> {
        let target = paths.container_dir(name);
        renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::EXCHANGE)
            .map_err(|e| IoError::new("swap in", &target, e.into()))?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = match &self.remover {
                Some(remove) => remove(&self.dir),
                None => remove_tree(&self.dir),
            };
        }
    }
}

/// Removes staging directories whose creator is gone; returns how many.
pub fn clean_stale(paths: &StorePaths, remove: &super::Remover) -> Result<usize, Error> {
    let containers = paths.containers_dir();
    let entries = match std::fs::read_dir(&containers) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(IoError::new("read directory", &containers, e).into()),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.ctx("read directory", &containers)?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(STAGING_PREFIX) {
            continue;
        }
        let path = entry.path();
        // Between `create_dir` and its flock a live install holds no lock yet,
        // so also spare directories whose creating PID still runs.
        if creator_pid(&name.to_string_lossy()).is_some_and(pid_alive) {
            continue;
        }
        let Ok(fd) = File::open(&path) else { continue };
        // Held by a live install: leave it alone.
        if fd.try_lock().is_err() {
            continue;
        }
        drop(fd);
        remove(&path).ctx("remove stale staging directory", &path)?;
        removed += 1;
    }
    Ok(removed)
}

fn creator_pid(name: &str) -> Option<u32> {
    name.strip_prefix(STAGING_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

fn unique_suffix(attempt: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:08x}{attempt:02x}", nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, StorePaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("data"), dir.path().join("cache"));
        (dir, paths)
    }

    #[test]
    fn commit_moves_into_place() {
        let (_d, paths) = store();
        let st = Staging::create(&paths).unwrap();
        std::fs::create_dir(st.rootfs()).unwrap();
        let name = ContainerName::new("c1").unwrap();
        let dir = st.commit(&paths, &name).unwrap();
        assert!(dir.join("rootfs").is_dir());
        assert_eq!(
            std::fs::read_dir(paths.containers_dir()).unwrap().count(),
            1
        );
    }

    #[test]
    fn commit_never_replaces() {
        let (_d, paths) = store();
        let name = ContainerName::new("c1").unwrap();
        std::fs::create_dir_all(paths.container_dir(&name)).unwrap();
        let st = Staging::create(&paths).unwrap();
        assert!(matches!(st.commit(&paths, &name), Err(Error::Exists(_))));
        // The failed staging dir is cleaned on drop; the existing one is intact.
        let left: Vec<_> = std::fs::read_dir(paths.containers_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("c1")]);
    }

    #[test]
    fn dropped_staging_is_removed() {
        let (_d, paths) = store();
        let st = Staging::create(&paths).unwrap();
        let dir = st.dir().to_path_buf();
        std::fs::create_dir_all(dir.join("rootfs/a/b")).unwrap();
        drop(st);
        assert!(!dir.exists());
    }

    #[test]
    fn stale_ones_are_cleaned_live_ones_kept() {
        let (_d, paths) = store();
        let live = Staging::create(&paths).unwrap();
        // PID 0 never names a live process, so this one counts as a crash leftover.
        let stale = paths.containers_dir().join(".staging-0-dead");
        std::fs::create_dir_all(stale.join("rootfs/x")).unwrap();
        assert_eq!(clean_stale(&paths, &|p: &Path| remove_tree(p)).unwrap(), 1);
        assert!(!stale.exists());
        assert!(live.dir().exists());
    }
}
