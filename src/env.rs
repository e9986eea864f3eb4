//! A snapshot of the environment variables the library cares about.
//!
//! The binary captures the process environment once; tests build snapshots by
//! hand. Nothing in the library calls `std::env::var` directly.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct EnvSnapshot {
    vars: BTreeMap<OsString, OsString>,
}

impl EnvSnapshot {
    /// Captures the current process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os().collect(),
        }
    }

    /// Builds a snapshot from explicit pairs (tests, re-exec planning).
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get_os(&self, key: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(key)).map(OsString::as_os_str)
    }

    /// A variable that is set and not empty, as UTF-8 (lossy).
    pub fn get(&self, key: &str) -> Option<String> {
        self.get_os(key)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned())
    }

    /// A variable that is set, not empty, and an absolute path.
    ///
    /// The XDG base-directory spec says relative values must be ignored, and
    /// a relative store path would silently depend on the working directory.
    pub fn get_abs_path(&self, key: &str) -> Option<PathBuf> {
        self.get_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }

    /// True for `1`, `true`, `yes`, `on` (any case), the reference's truthy set.
    pub fn is_truthy(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
    }

    /// True when the variable is present at all (even empty), as `NO_COLOR` wants.
    pub fn is_set(&self, key: &str) -> bool {
        self.get_os(key).is_some()
    }

    pub fn set(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(key.into(), value.into());
    }

    /// An executable `name` in `$PATH` (a standard one when unset), then in
    /// `extra` dirs (the sbin dirs a non-login shell lacks, Android's su).
    pub fn find_program(&self, name: &str, extra: &[&str]) -> Option<PathBuf> {
        let path = self.get("PATH").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .chain(extra.iter().copied())
            .map(|d| std::path::Path::new(d).join(name))
            .find(|p| {
                p.is_file() && rustix::fs::access(p.as_path(), rustix::fs::Access::EXEC_OK).is_ok()
            })
    }
}

/// `PATH` when the environment has none (what login shells get).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_ignored() {
        let env = EnvSnapshot::from_pairs([("A", "rel/dir"), ("B", "/abs"), ("C", "")]);
        assert_eq!(env.get_abs_path("A"), None);
        assert_eq!(env.get_abs_path("B"), Some(PathBuf::from("/abs")));
        assert_eq!(env.get_abs_path("C"), None);
    }

    #[test]
    fn truthy_values() {
        let env = EnvSnapshot::from_pairs([("A", "Yes"), ("B", "0"), ("C", " on ")]);
        assert!(env.is_truthy("A"));
        assert!(!env.is_truthy("B"));
        assert!(env.is_truthy("C"));
        assert!(!env.is_truthy("D"));
    }
}
