//! Termux (Android) detection and its well-known locations.

use crate::env::EnvSnapshot;
use std::path::PathBuf;

const DEFAULT_PREFIX: &str = "/data/data/com.termux/files/usr";
const DEFAULT_HOME: &str = "/data/data/com.termux/files/home";
const DEFAULT_PACKAGE: &str = "com.termux";

/// The Termux environment, present only when the caller runs inside Termux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termux {
    pub prefix: PathBuf,
    pub home: PathBuf,
    pub package: String,
    pub version: Option<String>,
}

impl Termux {
    /// Detects Termux the way the reference does: any of `TERMUX__PREFIX`,
    /// `TERMUX_VERSION` or `TERMUX_APP__APP_VERSION_NAME` being set.
    pub fn detect(env: &EnvSnapshot) -> Option<Self> {
        let markers = [
            "TERMUX__PREFIX",
            "TERMUX_VERSION",
            "TERMUX_APP__APP_VERSION_NAME",
        ];
        if !markers.iter().any(|k| env.get(k).is_some()) {
            return None;
        }
        Some(Self {
            prefix: env
                .get_abs_path("TERMUX__PREFIX")
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PREFIX)),
            home: env
                .get_abs_path("TERMUX__HOME")
                .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME)),
            package: env
                .get("TERMUX_APP__PACKAGE_NAME")
                .unwrap_or_else(|| DEFAULT_PACKAGE.to_owned()),
            version: env
                .get("TERMUX_VERSION")
                .or_else(|| env.get("TERMUX_APP__APP_VERSION_NAME")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_termux_without_markers() {
        let env = EnvSnapshot::from_pairs([("TERMUX__HOME", "/x"), ("PREFIX", "/y")]);
        assert_eq!(Termux::detect(&env), None);
    }

    #[test]
    fn each_marker_detects() {
        for key in [
            "TERMUX__PREFIX",
            "TERMUX_VERSION",
            "TERMUX_APP__APP_VERSION_NAME",
        ] {
            let env = EnvSnapshot::from_pairs([(key, "/p")]);
            assert!(Termux::detect(&env).is_some(), "{key}");
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let env = EnvSnapshot::from_pairs([("TERMUX_VERSION", "0.118")]);
        let t = Termux::detect(&env).unwrap();
        assert_eq!(t.prefix, PathBuf::from(DEFAULT_PREFIX));
        assert_eq!(t.package, "com.termux");
        let env = EnvSnapshot::from_pairs([
            ("TERMUX__PREFIX", "/opt/tx/usr"),
            ("TERMUX__HOME", "/opt/tx/home"),
            ("TERMUX_APP__PACKAGE_NAME", "com.termux.nix"),
        ]);
        let t = Termux::detect(&env).unwrap();
        assert_eq!(t.prefix, PathBuf::from("/opt/tx/usr"));
        assert_eq!(t.home, PathBuf::from("/opt/tx/home"));
        assert_eq!(t.package, "com.termux.nix");
    }
}
