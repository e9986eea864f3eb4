//! Atomic creation of containers: build in `containers/.staging-*`, then
//! rename into place.
//!
//! Every `.staging-<id>` directory is claimed first: its creator makes
//! `locks/.staging-<id>.lock` and takes a POSIX record lock on it *before*
//! the directory exists, and gives up the claim only once the directory is
//! gone (removed or renamed into place). A directory whose claim nobody
//! holds was left by a crash (or `kill -9`) and is removed by the next
//! mutating command.
//!
//! Why a POSIX lock on a separate file, not a flock on the directory: a
//! flock belongs to the open file, which every child forked by the creator
//! shares until it execs; killed right after forking its unpacker, a
//! creator kept its directory "locked" through that child for a few
//! milliseconds after its death, long enough for the next install's sweep
//! to spare the directory for good. A POSIX lock belongs to the process,
//! is never inherited and dies with it. Taken before `mkdir`, it also
//! leaves no moment where a live directory is unclaimed, so liveness never
//! rests on a PID that may be a zombie or reused.

use super::name::ContainerName;
use super::{ensure_private_dir, Error, StorePaths};
use crate::fsops::remove_tree;
use crate::ioerr::{IoContext, IoError};
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STAGING_PREFIX: &str = ".staging-";

/// A staging name this process owns; given up (lock file unlinked, then
/// the lock released) on drop, which callers let happen only once the
/// directory of that name is gone.
pub(super) struct Claim {
    name: String,
    lock_path: PathBuf,
    _lock: File,
}

enum Adopt {
    /// Its owner is gone: the claim is ours now.
    Stale(Claim),
    /// A live process holds it.
    Held,
    /// No claim exists under that name.
    Missing,
}

impl Claim {
    /// A new, unique staging name, claimed.
    pub(super) fn take(paths: &StorePaths) -> Result<Self, Error> {
        let locks = paths.locks_dir();
        ensure_private_dir(&locks)?;
        for attempt in 0..64u32 {
            let name = format!(
                "{STAGING_PREFIX}{}-{}",
                std::process::id(),
                unique_suffix(attempt)
            );
            let lock_path = lock_path(paths, &name);
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(IoError::new("create", &lock_path, e).into()),
            };
            // A sweeper may take a fresh lock file for an orphan before we
            // lock it, and unlink it: then the name is not ours to use.
            if try_record_lock(&file, &lock_path)? && still_linked(&file, &lock_path) {
                return Ok(Self {
                    name,
                    lock_path,
                    _lock: file,
                });
            }
        }
        Err(Error::Io(IoError::new(
            "create staging lock in",
            &locks,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        )))
    }

    /// Takes over the claim on `name` if its owner is gone.
    fn adopt(paths: &StorePaths, name: &str) -> Result<Adopt, Error> {
        let lock_path = lock_path(paths, name);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Adopt::Missing),
            Err(e) => return Err(IoError::new("open", &lock_path, e).into()),
        };
        if !try_record_lock(&file, &lock_path)? {
            return Ok(Adopt::Held);
        }
        // Unlinked between our open and our lock: its owner gave the name
        // up, and whatever carries the name now is someone else's.
        if !still_linked(&file, &lock_path) {
            return Ok(Adopt::Held);
        }
        Ok(Adopt::Stale(Self {
            name: name.to_owned(),
            lock_path,
            _lock: file,
        }))
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Unlinked while still locked, so no one can adopt the name in
        // between (see `still_linked`).
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

fn lock_path(paths: &StorePaths, name: &str) -> PathBuf {
    paths.locks_dir().join(format!("{name}.lock"))
}

/// A non-blocking POSIX write lock on the whole file; `false` when another
/// process holds one. Never opened twice by its owner: closing any fd of a
/// file drops the process's POSIX locks on it.
fn try_record_lock(file: &File, path: &Path) -> Result<bool, Error> {
    let whole = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    match nix::fcntl::fcntl(file, nix::fcntl::FcntlArg::F_SETLK(&whole)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(IoError::new("lock", path, e.into()).into()),
    }
}

fn still_linked(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

/// A container under construction; removed on drop unless committed.
pub struct Staging {
    dir: PathBuf,
    committed: bool,
    remover: Option<Box<super::Remover>>,
    // Dropped after `Drop::drop` removed the directory.
    _claim: Claim,
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
        let claim = Claim::take(paths)?;
        let dir = containers.join(claim.name());
        std::fs::create_dir(&dir).ctx("create", &dir)?;
        Ok(Self {
            dir,
            committed: false,
            remover: None,
            _claim: claim,
        })
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

/// Removes staging directories whose creator is gone, and claims left
/// without a directory; returns how many directories.
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
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(STAGING_PREFIX) || is_ours(&name) {
            continue;
        }
        let path = entry.path();
        let claim = match Claim::adopt(paths, &name)? {
            Adopt::Held => continue,
            Adopt::Stale(claim) => Some(claim),
            Adopt::Missing if unclaimed_but_alive(&name, &path) => continue,
            Adopt::Missing => None,
        };
        remove(&path).ctx("remove stale staging directory", &path)?;
        drop(claim);
        removed += 1;
    }
    clean_stale_claims(paths, remove)?;
    Ok(removed)
}

/// Our own claims: a POSIX lock never conflicts with its owner, and
/// opening and closing our own lock file would drop it.
fn is_ours(name: &str) -> bool {
    creator_pid(name) == Some(std::process::id())
}

/// A directory with no claim was made by an older version, which held a
/// flock on the directory itself and spared the creating PID's directories
/// until it took that flock.
fn unclaimed_but_alive(name: &str, path: &Path) -> bool {
    if creator_pid(name).is_some_and(pid_alive) {
        return true;
    }
    match File::open(path) {
        Ok(fd) => fd.try_lock().is_err(),
        Err(_) => true,
    }
}

/// Claims whose directory never came to be (killed between the two) or
/// is already gone (killed before unlinking the lock file).
fn clean_stale_claims(paths: &StorePaths, remove: &super::Remover) -> Result<(), Error> {
    let locks = paths.locks_dir();
    let Ok(entries) = std::fs::read_dir(&locks) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".lock") else {
            continue;
        };
        if !name.starts_with(STAGING_PREFIX) || is_ours(name) {
            continue;
        }
        if let Adopt::Stale(claim) = Claim::adopt(paths, name)? {
            // Listed after the directory pass, its directory may exist.
            let dir = paths.containers_dir().join(name);
            remove(&dir).ctx("remove stale staging directory", &dir)?;
            drop(claim);
        }
    }
    Ok(())
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
    fn a_claim_exists_before_its_directory_and_goes_after_it() {
        let (_d, paths) = store();
        let st = Staging::create(&paths).unwrap();
        let name = st.dir().file_name().unwrap().to_string_lossy().into_owned();
        let lock = paths.locks_dir().join(format!("{name}.lock"));
        assert!(lock.exists());
        let name_c = ContainerName::new("c1").unwrap();
        st.commit(&paths, &name_c).unwrap();
        assert!(!lock.exists());
        let locks: Vec<_> = std::fs::read_dir(paths.locks_dir()).unwrap().collect();
        assert!(locks.is_empty(), "{locks:?}");
    }

    #[test]
    fn a_claim_whose_owner_is_gone_is_swept_with_its_directory() {
        let (_d, paths) = store();
        // PID 1 is alive: only the unheld claim can make these stale.
        let stale = paths.containers_dir().join(".staging-1-gone");
        std::fs::create_dir_all(stale.join("rootfs/x")).unwrap();
        std::fs::create_dir_all(paths.locks_dir()).unwrap();
        let lock = paths.locks_dir().join(".staging-1-gone.lock");
        std::fs::write(&lock, b"").unwrap();
        let orphan = paths.locks_dir().join(".staging-1-nodir.lock");
        std::fs::write(&orphan, b"").unwrap();
        assert_eq!(clean_stale(&paths, &|p: &Path| remove_tree(p)).unwrap(), 1);
        assert!(!stale.exists());
        assert!(!lock.exists());
        assert!(!orphan.exists());
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
