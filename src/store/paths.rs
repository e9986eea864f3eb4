//! Where the store lives, resolved exactly as the reference's "Storage layout".

use super::name::ContainerName;
use super::Error;
use crate::env::EnvSnapshot;
use crate::termux::Termux;
use crate::users;
use std::path::{Path, PathBuf};

const APP_DIR: &str = "chroot-distro";

/// Every path of the store, derived from `RUNTIME_DIR` and `BASE_CACHE_DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePaths {
    pub runtime_dir: PathBuf,
    pub cache_dir: PathBuf,
}

impl StorePaths {
    /// Termux: `$TERMUX__PREFIX/var/lib/chroot-distro` with the cache inside it.
    /// Elsewhere: `$XDG_DATA_HOME/chroot-distro` and `$XDG_CACHE_HOME/chroot-distro`,
    /// defaulting to `~/.local/share` and `~/.cache`.
    pub fn resolve(env: &EnvSnapshot) -> Result<Self, Error> {
        if let Some(termux) = Termux::detect(env) {
            let runtime_dir = termux.prefix.join("var/lib").join(APP_DIR);
            return Ok(Self {
                cache_dir: runtime_dir.join("cache"),
                runtime_dir,
            });
        }
        let home = || home_dir(env);
        let data_home = match env.get_abs_path("XDG_DATA_HOME") {
            Some(p) => p,
            None => home()?.join(".local/share"),
        };
        let cache_home = match env.get_abs_path("XDG_CACHE_HOME") {
            Some(p) => p,
            None => home()?.join(".cache"),
        };
        Ok(Self {
            runtime_dir: data_home.join(APP_DIR),
            cache_dir: cache_home.join(APP_DIR),
        })
    }

    /// A store rooted at explicit directories (tests, tools).
    pub fn at(runtime_dir: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            runtime_dir: runtime_dir.into(),
            cache_dir: cache_dir.into(),
        }
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.runtime_dir.join("containers")
    }
    pub fn container_dir(&self, name: &ContainerName) -> PathBuf {
        self.containers_dir().join(name.as_str())
    }
    pub fn rootfs(&self, name: &ContainerName) -> PathBuf {
        self.container_dir(name).join("rootfs")
    }
    pub fn manifest(&self, name: &ContainerName) -> PathBuf {
        self.container_dir(name).join("manifest.json")
    }
    pub fn sessions_dir(&self) -> PathBuf {
        self.runtime_dir.join("sessions")
    }
    /// Per-container session counter directory of the reference (`data/<name>`).
    pub fn data_dir(&self, name: &ContainerName) -> PathBuf {
        self.runtime_dir.join("data").join(name.as_str())
    }
    pub fn locks_dir(&self) -> PathBuf {
        self.runtime_dir.join("locks")
    }
    pub fn lock_file(&self, name: &ContainerName) -> PathBuf {
        self.locks_dir().join(format!("{}.lock", name.as_str()))
    }
    /// Held shared by installs while they read cached layers, exclusive by `clear-cache`.
    pub fn cache_lock(&self) -> PathBuf {
        self.locks_dir().join("cache.lock")
    }
    pub fn build_locks_dir(&self) -> PathBuf {
        self.locks_dir().join("build")
    }
    pub fn layer_cache(&self) -> PathBuf {
        self.cache_dir.join("oci_layers")
    }
    /// Per-layer content hashes of regular files (see unpack::memo).
    pub fn layer_hashes(&self) -> PathBuf {
        self.cache_dir.join("layer_hashes")
    }
    pub fn manifest_cache(&self) -> PathBuf {
        self.cache_dir.join("oci_manifests")
    }
    pub fn build_cache_index(&self) -> PathBuf {
        self.cache_dir.join("build_cache_index.json")
    }
}

/// `$HOME` when it is absolute, else the passwd entry of the effective uid.
pub fn home_dir(env: &EnvSnapshot) -> Result<PathBuf, Error> {
    if let Some(home) = env.get_abs_path("HOME") {
        return Ok(home);
    }
    let uid = rustix::process::geteuid().as_raw();
    users::lookup_uid(uid)
        .map(|u| u.home)
        .filter(|h| h.is_absolute() && h != Path::new("/nonexistent"))
        .ok_or(Error::NoHome { uid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn linux_defaults_from_home() {
        let p = StorePaths::resolve(&env(&[("HOME", "/home/a")])).unwrap();
        assert_eq!(
            p.runtime_dir,
            Path::new("/home/a/.local/share/chroot-distro")
        );
        assert_eq!(p.cache_dir, Path::new("/home/a/.cache/chroot-distro"));
    }

    #[test]
    fn xdg_overrides() {
        let p = StorePaths::resolve(&env(&[
            ("HOME", "/home/a"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_CACHE_HOME", "/c"),
        ]))
        .unwrap();
        assert_eq!(p.runtime_dir, Path::new("/d/chroot-distro"));
        assert_eq!(p.cache_dir, Path::new("/c/chroot-distro"));
        assert_eq!(p.layer_cache(), Path::new("/c/chroot-distro/oci_layers"));
        assert_eq!(
            p.manifest_cache(),
            Path::new("/c/chroot-distro/oci_manifests")
        );
    }

    #[test]
    fn relative_xdg_is_ignored() {
        let p = StorePaths::resolve(&env(&[("HOME", "/h"), ("XDG_DATA_HOME", "rel")])).unwrap();
        assert_eq!(p.runtime_dir, Path::new("/h/.local/share/chroot-distro"));
    }

    #[test]
    fn termux_layout() {
        let p = StorePaths::resolve(&env(&[
            ("TERMUX_VERSION", "0.118"),
            ("XDG_DATA_HOME", "/ignored"),
        ]))
        .unwrap();
        assert_eq!(
            p.runtime_dir,
            Path::new("/data/data/com.termux/files/usr/var/lib/chroot-distro")
        );
        assert_eq!(p.cache_dir, p.runtime_dir.join("cache"));
        let p = StorePaths::resolve(&env(&[("TERMUX__PREFIX", "/t/usr")])).unwrap();
        assert_eq!(p.runtime_dir, Path::new("/t/usr/var/lib/chroot-distro"));
    }

    #[test]
    fn named_paths() {
        let p = StorePaths::at("/r", "/c");
        let n = ContainerName::new("deb").unwrap();
        assert_eq!(p.rootfs(&n), Path::new("/r/containers/deb/rootfs"));
        assert_eq!(p.manifest(&n), Path::new("/r/containers/deb/manifest.json"));
        assert_eq!(p.lock_file(&n), Path::new("/r/locks/deb.lock"));
        assert_eq!(p.data_dir(&n), Path::new("/r/data/deb"));
        assert_eq!(p.build_locks_dir(), Path::new("/r/locks/build"));
        assert_eq!(
            p.build_cache_index(),
            Path::new("/c/build_cache_index.json")
        );
    }
}
