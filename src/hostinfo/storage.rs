//! Disk space where the store lives, and how much the download cache holds.

use super::mounts::nearest_existing;
use super::Probe;
use crate::fsops::du::disk_usage;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Space {
    /// The directory measured: the runtime dir or its nearest existing ancestor.
    pub path: PathBuf,
    /// Available to unprivileged users (`f_bavail`).
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// Free space of the file system `dir` is (or would be created) on.
pub fn free_space(dir: &Path) -> Probe<Space> {
    let Some(path) = nearest_existing(dir) else {
        return Probe::unknown(format!("no existing ancestor of {}", dir.display()));
    };
    match rustix::fs::statvfs(&path) {
        Ok(st) => Probe::Known(Space {
            free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
            total_bytes: st.f_blocks.saturating_mul(st.f_frsize),
            path,
        }),
        Err(e) => Probe::unknown(format!(
            "{}: {}",
            path.display(),
            super::os_reason(&e.into())
        )),
    }
}

/// Bytes held by the download cache; 0 when it does not exist yet.
pub fn cache_size(cache_dir: &Path) -> Probe<u64> {
    match disk_usage(cache_dir, 4) {
        Ok(u) => Probe::Known(u.bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Known(0),
        Err(e) => Probe::unknown(format!("{}: {}", cache_dir.display(), super::os_reason(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dirs_still_answer() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("a/b");
        assert_eq!(cache_size(&missing), Probe::Known(0));
        let space = free_space(&missing);
        let space = space.known().unwrap();
        assert_eq!(space.path, dir.path().canonicalize().unwrap());
        assert!(space.total_bytes >= space.free_bytes);
        std::fs::write(dir.path().join("f"), vec![1u8; 20_000]).unwrap();
        assert!(*cache_size(dir.path()).known().unwrap() >= 20_000);
    }
}
