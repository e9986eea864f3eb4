//! Linux security modules that change what a container may do.

use super::Probe;
use serde::Serialize;
use std::io::ErrorKind;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Security {
    /// "enforcing", "permissive" or "disabled".
    pub selinux: Probe<String>,
    pub apparmor: AppArmor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppArmor {
    pub enabled: Probe<bool>,
    /// Loaded profiles, when the list is readable (usually root only).
    pub profiles: Option<usize>,
}

impl Security {
    pub fn gather() -> Self {
        Self {
            selinux: selinux(Path::new("/sys/fs/selinux/enforce")),
            apparmor: AppArmor {
                enabled: apparmor_enabled(Path::new("/sys/module/apparmor/parameters/enabled")),
                profiles: std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
                    .ok()
                    .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count()),
            },
        }
    }
}

pub fn selinux(enforce: &Path) -> Probe<String> {
    match std::fs::read_to_string(enforce) {
        Ok(t) => match t.trim() {
            "1" => Probe::Known("enforcing".into()),
            "0" => Probe::Known("permissive".into()),
            other => Probe::unknown(format!("unexpected value '{other}'")),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => Probe::Known("disabled".into()),
        Err(e) => Probe::unknown(format!("{}: {}", enforce.display(), super::os_reason(&e))),
    }
}

pub fn apparmor_enabled(param: &Path) -> Probe<bool> {
    match std::fs::read_to_string(param) {
        Ok(t) => Probe::Known(t.trim().eq_ignore_ascii_case("y")),
        Err(e) if e.kind() == ErrorKind::NotFound => Probe::Known(false),
        Err(e) => Probe::unknown(format!("{}: {}", param.display(), super::os_reason(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert_eq!(selinux(&f), Probe::Known("disabled".into()));
        assert_eq!(apparmor_enabled(&f), Probe::Known(false));
        std::fs::write(&f, "1").unwrap();
        assert_eq!(selinux(&f), Probe::Known("enforcing".into()));
        std::fs::write(&f, "0\n").unwrap();
        assert_eq!(selinux(&f), Probe::Known("permissive".into()));
        std::fs::write(&f, "Y\n").unwrap();
        assert_eq!(apparmor_enabled(&f), Probe::Known(true));
        std::fs::write(&f, "N\n").unwrap();
        assert_eq!(apparmor_enabled(&f), Probe::Known(false));
    }
}
