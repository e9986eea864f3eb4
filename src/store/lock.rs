//! Per-container `flock` locks: shared for sessions, exclusive for mutations.
//!
//! Lock files are never deleted (deleting a lock file lets two processes lock
//! two different inodes of the same name). Who holds a lock is read from
//! `/proc/locks`, which names the PID of every flock holder, so "in use by
//! PID N" needs no PID file that could go stale.

use super::{ensure_private_dir, Error};
use crate::ioerr::IoContext;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Sessions: many may run at once.
    Shared,
    /// Install, remove, rename, reset, restore: nobody else may hold the lock.
    Exclusive,
}

/// A held lock; released when dropped (the fd is O_CLOEXEC, so it never
/// leaks into a container).
#[derive(Debug)]
pub struct ContainerLock {
    _file: File,
    path: PathBuf,
    mode: LockMode,
}

impl ContainerLock {
    /// Takes the lock without waiting; a conflict is `Error::Busy` naming the holders.
    pub fn try_acquire(path: &Path, display_name: &str, mode: LockMode) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .ctx("open lock file", path)?;
        let grace = std::time::Instant::now() + INHERITED_GRACE;
        loop {
            let res = match mode {
                LockMode::Shared => file.try_lock_shared(),
                LockMode::Exclusive => file.try_lock(),
            };
            match res {
                Ok(()) => {
                    return Ok(Self {
                        _file: file,
                        path: path.to_path_buf(),
                        mode,
                    })
                }
                Err(TryLockError::WouldBlock) => {
                    let pids = holders(path);
                    // Every process that took it is gone: the lock lives on
                    // only in a child one of them forked (a flock belongs to
                    // the open file, shared until exec), and goes at its exec.
                    let inherited = pids.iter().all(|pid| !pid_alive(*pid));
                    if inherited && std::time::Instant::now() < grace {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                    return Err(Error::Busy {
                        name: display_name.to_owned(),
                        pids,
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Io(crate::ioerr::IoError::new("lock", path, e)))
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> LockMode {
        self.mode
    }
}

/// How long a lock held only through a dead process's forked child is
/// waited for; its exec is a matter of milliseconds.
const INHERITED_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// PIDs holding a flock on `path` (empty when the file is missing or unlocked).
pub fn holders(path: &Path) -> Vec<u32> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Vec::new();
    };
    let Ok(table) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let dev = meta.dev();
    let key = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    parse_holders(&table, &key)
}

/// Parses `/proc/locks`; lines look like
/// `3: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`, and blocked waiters carry
/// a `->` marker after the index, which we skip (they do not hold the lock).
fn parse_holders(table: &str, dev_ino: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) == Some(&"->") || fields.get(1) != Some(&"FLOCK") {
                return None;
            }
            (fields.get(5) == Some(&dev_ino))
                .then(|| fields.get(4)?.parse::<u32>().ok())
                .flatten()
                .filter(|pid| *pid > 0)
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_locks() {
        let table = "\
1: POSIX  ADVISORY  WRITE 99 fd:01:42 0 EOF
2: FLOCK  ADVISORY  WRITE 1234 fd:01:42 0 EOF
2: -> FLOCK  ADVISORY  WRITE 777 fd:01:42 0 EOF
3: FLOCK  ADVISORY  READ  1300 fd:01:42 0 EOF
4: FLOCK  ADVISORY  READ  1300 fd:01:42 0 EOF
5: FLOCK  ADVISORY  READ  1400 fd:01:43 0 EOF
";
        assert_eq!(parse_holders(table, "fd:01:42"), vec![1234, 1300]);
        assert!(parse_holders(table, "fd:02:42").is_empty());
    }

    #[test]
    fn exclusive_conflicts_name_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/c.lock");
        let a = ContainerLock::try_acquire(&path, "c", LockMode::Shared).unwrap();
        let b = ContainerLock::try_acquire(&path, "c", LockMode::Shared).unwrap();
        match ContainerLock::try_acquire(&path, "c", LockMode::Exclusive) {
            Err(Error::Busy { name, pids }) => {
                assert_eq!(name, "c");
                assert_eq!(pids, vec![std::process::id()]);
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop((a, b));
        let _x = ContainerLock::try_acquire(&path, "c", LockMode::Exclusive).unwrap();
        assert!(matches!(
            ContainerLock::try_acquire(&path, "c", LockMode::Shared),
            Err(Error::Busy { .. })
        ));
    }
}
