//! Where the client looks for `cd-mount-helper`, and which rule found it.
//! `login --root` and `info` both go through [`locate`], so `info` always
//! names the helper a session would use (README: "Which cd-mount-helper").

use super::HELPER_NAME;
use crate::hostinfo::executables;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The variable that pins the helper; tests set it so that a helper
/// installed on the machine never stands in for the one they built.
pub const PIN_VAR: &str = "CD_MOUNT_HELPER";

/// Where packages install the helper.
pub const LIB_DIRS: [&str; 3] = [
    "/usr/lib/chroot-distro",
    "/usr/libexec/chroot-distro",
    "/usr/local/lib/chroot-distro",
];

/// The rules of the search order, first to last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `$CD_MOUNT_HELPER`: when set, the only place looked at.
    Pinned,
    /// The directory of the running binary.
    BesideBinary,
    /// `lib/chroot-distro` under the running binary's prefix (where
    /// packaging/install.sh puts it).
    Prefix,
    /// One of [`LIB_DIRS`].
    PackageDir,
    /// A directory of `$PATH`.
    Path,
}

impl Rule {
    /// What `info` says after the path.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Pinned => "set by CD_MOUNT_HELPER",
            Rule::BesideBinary => "beside the chroot-distro binary",
            Rule::Prefix => "in lib/chroot-distro of the binary's prefix",
            Rule::PackageDir => "in a package directory",
            Rule::Path => "found through PATH",
        }
    }
}

/// A helper and the rule that found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    pub path: PathBuf,
    pub rule: Rule,
}

/// Why there is no helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Missing {
    /// A pin is never silently replaced by a search: a mistyped path must
    /// not end up running some other helper.
    #[error("CD_MOUNT_HELPER={} is not an executable file", path.display())]
    PinnedNotExecutable { path: PathBuf },
    #[error("CD_MOUNT_HELPER must be an absolute path, not {value:?}")]
    PinnedNotAbsolute { value: String },
    #[error("no cd-mount-helper beside the binary, in {}, or in PATH", LIB_DIRS.join(", "))]
    NotFound,
}

/// Where to look: `pin` is the raw `$CD_MOUNT_HELPER` (None when unset or
/// empty), `exe` the running binary's real path, `path_dirs` `$PATH`.
pub struct Search<'a> {
    pub pin: Option<&'a std::ffi::OsStr>,
    pub exe: Option<&'a Path>,
    pub path_dirs: &'a [PathBuf],
}

impl Search<'_> {
    /// The directories searched when nothing is pinned, in order, each
    /// with its rule.
    pub fn dirs(&self) -> Vec<(PathBuf, Rule)> {
        let bin_dir = self.exe.and_then(Path::parent);
        let mut dirs: Vec<(PathBuf, Rule)> = Vec::new();
        dirs.extend(bin_dir.map(|d| (d.to_path_buf(), Rule::BesideBinary)));
        dirs.extend(
            bin_dir
                .and_then(Path::parent)
                .map(|p| (p.join("lib/chroot-distro"), Rule::Prefix)),
        );
        dirs.extend(
            LIB_DIRS
                .iter()
                .map(|d| (PathBuf::from(d), Rule::PackageDir)),
        );
        dirs.extend(self.path_dirs.iter().map(|d| (d.clone(), Rule::Path)));
        dirs
    }

    /// The helper a session would use.
    pub fn locate(&self) -> Result<Located, Missing> {
        if let Some(pin) = self.pin.filter(|p| !p.is_empty()) {
            let path = PathBuf::from(pin);
            if !path.is_absolute() {
                return Err(Missing::PinnedNotAbsolute {
                    value: pin.to_string_lossy().into_owned(),
                });
            }
            if !executables::is_executable(&path) {
                return Err(Missing::PinnedNotExecutable { path });
            }
            return Ok(Located {
                path,
                rule: Rule::Pinned,
            });
        }
        self.dirs()
            .into_iter()
            .map(|(d, rule)| (d.join(HELPER_NAME), rule))
            .find(|(p, _)| executables::is_executable(p))
            .map(|(path, rule)| Located { path, rule })
            .ok_or(Missing::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn helper_in(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(HELPER_NAME);
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_pin_wins_over_every_directory() {
        let dir = tempfile::tempdir().unwrap();
        let beside = helper_in(&dir.path().join("bin"));
        let pinned = helper_in(&dir.path().join("pinned"));
        let exe = dir.path().join("bin/chroot-distro");
        let search = Search {
            pin: Some(pinned.as_os_str()),
            exe: Some(&exe),
            path_dirs: &[],
        };
        let found = search.locate().unwrap();
        assert_eq!((found.path, found.rule), (pinned.clone(), Rule::Pinned));
        let unpinned = Search {
            pin: None,
            ..search
        };
        let found = unpinned.locate().unwrap();
        assert_eq!((found.path, found.rule), (beside, Rule::BesideBinary));
    }

    #[test]
    fn a_bad_pin_is_reported_not_replaced_by_a_search() {
        let dir = tempfile::tempdir().unwrap();
        helper_in(&dir.path().join("path"));
        let path_dirs = [dir.path().join("path")];
        let missing = dir.path().join("nothing-here");
        let search = Search {
            pin: Some(missing.as_os_str()),
            exe: None,
            path_dirs: &path_dirs,
        };
        assert_eq!(
            search.locate(),
            Err(Missing::PinnedNotExecutable {
                path: missing.clone()
            })
        );
        let relative = Search {
            pin: Some("cd-mount-helper".as_ref()),
            ..search
        };
        assert!(matches!(
            relative.locate(),
            Err(Missing::PinnedNotAbsolute { .. })
        ));
    }

    #[test]
    fn the_order_is_binary_prefix_packages_then_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prefix/bin/chroot-distro");
        let path_dirs = [PathBuf::from("/opt/x/bin")];
        let search = Search {
            pin: None,
            exe: Some(&exe),
            path_dirs: &path_dirs,
        };
        let rules: Vec<Rule> = search.dirs().into_iter().map(|(_, r)| r).collect();
        use Rule::*;
        assert_eq!(
            rules,
            [
                BesideBinary,
                Prefix,
                PackageDir,
                PackageDir,
                PackageDir,
                Path
            ]
        );
        assert_eq!(
            search.dirs()[1].0,
            dir.path().join("prefix/lib/chroot-distro")
        );
        // Found through the prefix rule when only that one holds it.
        let p = helper_in(&dir.path().join("prefix/lib/chroot-distro"));
        assert_eq!(
            search.locate().map(|l| (l.path, l.rule)),
            Ok((p, Rule::Prefix))
        );
    }
}
