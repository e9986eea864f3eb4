//! Whole-container operations: remove, rename, clear the cache.
//!
//! Callers hold the container's exclusive lock; these functions check what
//! the file system says (existence, live mounts) and never leave a half
//! container visible.

use super::staging::Claim;
use super::{ContainerLock, ContainerName, Error, LockMode, StorePaths};
use crate::fsops::{du::disk_usage, mounts_under, remove_tree, walk_post_order};
use crate::ioerr::{IoContext, IoError};
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::path::Path;

/// Called with each path as it is deleted (`--verbose`).
pub type Log<'a> = Option<&'a dyn Fn(&Path)>;

fn refuse_if_mounted(name: &ContainerName, dir: &Path) -> Result<(), Error> {
    let mounts = mounts_under(dir);
    if mounts.is_empty() {
        return Ok(());
    }
    Err(Error::Mounted {
        name: name.to_string(),
        mount: mounts[0].clone(),
        count: mounts.len(),
    })
}

/// Deletes a container. It is first renamed to a staging name, so a crash
/// halfway leaves a leftover the next mutating command cleans, never a
/// partial container under its own name.
pub fn remove_container(
    paths: &StorePaths,
    name: &ContainerName,
    log: Log,
    remove: &super::Remover,
) -> Result<(), Error> {
    let dir = paths.container_dir(name);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Err(Error::NotFound(name.to_string()));
    }
    refuse_if_mounted(name, &dir)?;
    // Claimed like a staging directory, so no other sweep deletes it under
    // us, and a crash leaves a leftover the next sweep recognises.
    let claim = Claim::take(paths)?;
    let doomed = paths.containers_dir().join(claim.name());
    std::fs::rename(&dir, &doomed).ctx("move aside", &dir)?;
    if let Some(log) = log {
        let rootfs = doomed.join("rootfs");
        let shown = paths.rootfs(name);
        let _ = walk_post_order(&rootfs, &mut |p| {
            log(&shown.join(p.strip_prefix(&rootfs).unwrap_or(p)))
        });
    }
    remove(&doomed).ctx("remove", &doomed)?;
    drop(claim);
    remove_tree(&paths.data_dir(name)).ctx("remove", paths.data_dir(name))?;
    Ok(())
}

/// Renames `containers/<old>` to `containers/<new>` without ever replacing
/// an existing container.
pub fn rename_container(
    paths: &StorePaths,
    old: &ContainerName,
    new: &ContainerName,
) -> Result<(), Error> {
    let from = paths.container_dir(old);
    if std::fs::symlink_metadata(&from).is_err() {
        return Err(Error::NotFound(old.to_string()));
    }
    if old == new {
        return Err(Error::SameName(old.to_string()));
    }
    refuse_if_mounted(old, &from)?;
    let to = paths.container_dir(new);
    match renameat_with(CWD, &from, CWD, &to, RenameFlags::NOREPLACE) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
            return Err(Error::Exists(new.to_string()))
        }
        Err(e) => return Err(IoError::new("rename", &from, e.into()).into()),
    }
    let data = paths.data_dir(old);
    if data.exists() {
        let _ = remove_tree(&paths.data_dir(new));
        std::fs::rename(&data, paths.data_dir(new)).ctx("rename", &data)?;
    }
    Ok(())
}

/// Empties the download cache; returns the bytes freed. Installs hold the
/// cache lock shared while they read layers, so this waits for none and
/// refuses while one runs.
pub fn clear_cache(paths: &StorePaths, log: Log) -> Result<u64, Error> {
    let cache = &paths.cache_dir;
    let entries = match std::fs::read_dir(cache) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(IoError::new("read directory", cache, e).into()),
    };
    let _lock = ContainerLock::try_acquire(
        &paths.cache_lock(),
        "the download cache",
        LockMode::Exclusive,
    )?;
    let before = disk_usage(cache, 4).map(|u| u.bytes).unwrap_or(0);
    for entry in entries {
        let path = entry.ctx("read directory", cache)?.path();
        if let Some(log) = log {
            let _ = walk_post_order(&path, &mut |p| log(p));
        }
        remove_tree(&path).ctx("remove", &path)?;
    }
    let after = disk_usage(cache, 1).map(|u| u.bytes).unwrap_or(0);
    Ok(before.saturating_sub(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(names: &[&str]) -> (tempfile::TempDir, StorePaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        for n in names {
            let n = ContainerName::new(n).unwrap();
            std::fs::create_dir_all(paths.rootfs(&n).join("etc")).unwrap();
            std::fs::write(paths.rootfs(&n).join("etc/os-release"), n.as_str()).unwrap();
        }
        (dir, paths)
    }

    fn name(n: &str) -> ContainerName {
        ContainerName::new(n).unwrap()
    }

    #[test]
    fn remove_deletes_everything_and_logs() {
        let (_d, paths) = store_with(&["a", "b"]);
        let seen = std::cell::RefCell::new(Vec::new());
        let log = |p: &Path| seen.borrow_mut().push(p.to_path_buf());
        remove_container(&paths, &name("a"), Some(&log), &|p: &Path| remove_tree(p)).unwrap();
        assert!(!paths.container_dir(&name("a")).exists());
        assert!(paths.container_dir(&name("b")).exists());
        assert!(seen
            .borrow()
            .contains(&paths.rootfs(&name("a")).join("etc/os-release")));
        assert_eq!(
            std::fs::read_dir(paths.containers_dir()).unwrap().count(),
            1
        );
        assert!(matches!(
            remove_container(&paths, &name("a"), None, &|p: &Path| remove_tree(p)),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn rename_refuses_existing_and_missing() {
        let (_d, paths) = store_with(&["a", "b"]);
        assert!(matches!(
            rename_container(&paths, &name("a"), &name("b")),
            Err(Error::Exists(_))
        ));
        assert!(matches!(
            rename_container(&paths, &name("zz"), &name("c")),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            rename_container(&paths, &name("a"), &name("a")),
            Err(Error::SameName(_))
        ));
        rename_container(&paths, &name("a"), &name("c")).unwrap();
        let text =
            std::fs::read_to_string(paths.rootfs(&name("c")).join("etc/os-release")).unwrap();
        assert_eq!(text, "a");
    }

    #[test]
    fn clear_cache_reports_freed_bytes() {
        let (_d, paths) = store_with(&[]);
        assert_eq!(clear_cache(&paths, None).unwrap(), 0);
        std::fs::create_dir_all(paths.layer_cache()).unwrap();
        std::fs::write(paths.layer_cache().join("sha256-x"), vec![0u8; 64 * 1024]).unwrap();
        std::fs::write(paths.build_cache_index(), b"{}").unwrap();
        let freed = clear_cache(&paths, None).unwrap();
        assert!(freed >= 64 * 1024, "freed {freed}");
        assert_eq!(std::fs::read_dir(&paths.cache_dir).unwrap().count(), 0);
    }
}
