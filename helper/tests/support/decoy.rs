//! A decoy `cd-mount-helper` where `packaging/install.sh` puts the real
//! one, so a test proves it uses the helper it pinned and not whatever is
//! installed on the machine (issue 14).

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const DIR: &str = "/usr/local/lib/chroot-distro";
/// What the decoy prints, on stdout and stderr, before failing.
pub const WORD: &str = "DECOY";

/// Holds the decoy in place; dropping it puts back what was there.
pub struct Decoy {
    pub path: PathBuf,
    saved: PathBuf,
    made_dir: bool,
    _lock: File,
}

impl Decoy {
    pub fn install() -> Self {
        // Concurrent test processes (another checkout's suite) take turns.
        std::fs::create_dir_all("/var/lib/cd-test-rig/helper").unwrap();
        let lock = File::create("/var/lib/cd-test-rig/helper/decoy.lock").unwrap();
        lock.lock().unwrap();
        let dir = Path::new(DIR);
        let made_dir = !dir.exists();
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("cd-mount-helper");
        let saved = dir.join(".cd-mount-helper.saved-by-tests");
        // A run that died with the decoy in place left the real file here.
        if saved.exists() {
            std::fs::rename(&saved, &path).unwrap();
        }
        if path.symlink_metadata().is_ok() {
            std::fs::rename(&path, &saved).unwrap();
        }
        let script = format!("#!/bin/sh\necho {WORD}\necho {WORD} >&2\nexit 97\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { path, saved, made_dir, _lock: lock }
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if self.saved.symlink_metadata().is_ok() {
            let _ = std::fs::rename(&self.saved, &self.path);
        } else if self.made_dir {
            let _ = std::fs::remove_dir(DIR);
        }
    }
}
