//! Finding programs in `PATH` (without spawning `which`) and what
//! privilege their files carry: owner, setuid bit, file capabilities.

use super::filecaps::{self, FileCaps};
use super::Probe;
use crate::env::EnvSnapshot;
use serde::Serialize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::env::DEFAULT_PATH;

/// The directories of the caller's `PATH`; empty and relative entries are
/// skipped (they would make the answer depend on the working directory).
pub fn search_dirs(env: &EnvSnapshot) -> Vec<PathBuf> {
    let path = env.get("PATH").unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in path.split(':').map(PathBuf::from) {
        if d.is_absolute() && !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// The first executable regular file called `name` in `dirs`.
pub fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// A regular file (after following symlinks) with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program found by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub name: String,
    pub path: PathBuf,
}

/// Each of `names` that is present, in order.
pub fn find_all(dirs: &[PathBuf], names: &[&str]) -> Vec<Found> {
    names
        .iter()
        .filter_map(|n| {
            find(dirs, n).map(|path| Found {
                name: (*n).to_owned(),
                path,
            })
        })
        .collect()
}

/// An executable file and the privilege it is installed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Executable {
    pub path: PathBuf,
    pub owner_uid: u32,
    pub owner_gid: u32,
    /// Permission bits including setuid/setgid/sticky, e.g. 0o4755.
    pub mode: u32,
    pub setuid: bool,
    pub file_caps: Probe<Option<FileCaps>>,
}

impl Executable {
    /// Follows symlinks: what matters is the file exec would run.
    pub fn inspect(path: &Path) -> Result<Self, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{}: {}", path.display(), super::os_reason(&e)))?;
        let mode = meta.permissions().mode() & 0o7777;
        Ok(Self {
            path: path.to_path_buf(),
            owner_uid: meta.uid(),
            owner_gid: meta.gid(),
            mode,
            setuid: mode & 0o4000 != 0,
            file_caps: filecaps::read(path).into(),
        })
    }

    pub fn setuid_root(&self) -> bool {
        self.setuid && self.owner_uid == 0
    }

    /// Capabilities granted at exec, if any.
    pub fn caps(&self) -> Option<&FileCaps> {
        self.file_caps.known()?.as_ref()
    }

    /// Setuid-root, or file capabilities that include `cap`.
    pub fn grants(&self, cap: &str) -> bool {
        self.setuid_root() || self.caps().is_some_and(|c| c.permits(cap))
    }

    /// `owner 0, mode 4755, setuid root, caps cap_setuid=ep` in one line.
    pub fn describe(&self) -> String {
        let mut s = format!("owner {}, mode {:04o}", self.owner_uid, self.mode);
        if self.setuid_root() {
            s.push_str(", setuid root");
        } else if self.setuid {
            s.push_str(&format!(", setuid uid {}", self.owner_uid));
        }
        match &self.file_caps {
            Probe::Known(Some(c)) => s.push_str(&format!(", caps {}", c.describe())),
            Probe::Known(None) => {}
            Probe::Unknown { unknown } => s.push_str(&format!(", caps unknown ({unknown})")),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_in_path_order_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), b"").unwrap(); // not executable
        std::fs::write(b.join("tool"), b"").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(a.join("dir")).unwrap();
        std::fs::set_permissions(a.join("dir"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("rel::{}:{}", a.display(), b.display());
        let env = EnvSnapshot::from_pairs([("PATH", path.as_str())]);
        let dirs = search_dirs(&env);
        assert_eq!(dirs, [a.clone(), b.clone()]);
        assert_eq!(find(&dirs, "tool"), Some(b.join("tool")));
        assert_eq!(find(&dirs, "dir"), None);
        let found = find_all(&dirs, &["nope", "tool"]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "tool");
    }

    #[test]
    fn setuid_bits_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let x = Executable::inspect(&f).unwrap();
        assert!(x.setuid);
        assert_eq!(x.mode, 0o4755);
        assert_eq!(x.setuid_root(), x.owner_uid == 0);
        assert!(x.describe().contains("mode 4755"), "{}", x.describe());
        assert!(Executable::inspect(&dir.path().join("missing")).is_err());
    }
}
