//! `cd-mount-helper`: where it is installed, with what privilege, and
//! whether its policy file is one it would accept.

use super::executables::Executable;
use super::Probe;
use crate::helper_client::search::{Missing, Rule, Search};
use serde::Serialize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub const NAME: &str = crate::helper_client::HELPER_NAME;
/// The compile-time policy path (DESIGN: never taken from the environment).
pub const POLICY: &str = session_contract::policy::PATH;

#[derive(Debug, Clone, Serialize)]
pub struct Helper {
    /// The helper a session would use, or null.
    pub executable: Option<Probe<Executable>>,
    /// The rule of the search order that found it.
    pub found_by: Option<Rule>,
    /// Why there is none.
    pub missing: Option<Missing>,
    pub policy_path: &'static str,
    pub policy: Policy,
    /// What the helper itself says its policy grants this caller
    /// (`--check-policy`), when it could be asked.
    pub grants: Option<Grants>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grants {
    /// Real-root sessions would be allowed.
    pub sessions: bool,
    /// Its report, one line per item.
    pub report: Vec<String>,
}

/// Runs `helper --check-policy` as ourselves.
fn ask(helper: &Path) -> Option<Grants> {
    let out = crate::helper_client::check_policy_command(helper)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut report: Vec<String> = text.lines().map(str::to_owned).collect();
    // The helper answers with one line; what its policy grants and why is
    // explained here, with the session contract's own loader and parser.
    if let Some(explained) = explain(Path::new(POLICY)) {
        report.extend(explained);
    }
    Some(Grants {
        sessions: out.status.success(),
        report,
    })
}

/// What the policy at `path` grants us, if we can read it.
fn explain(path: &Path) -> Option<Vec<String>> {
    use session_contract::policy;
    let policy = policy::load(path).ok()?;
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    Some(policy::explain(
        &policy,
        &policy::Caller::current(),
        &groups,
    ))
}

/// The policy file's state as far as ownership and permissions go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Policy {
    /// No file: the helper refuses every request.
    Missing,
    /// A regular file owned by root and writable only by root.
    Present,
    /// Present but not trustworthy: the helper denies everything.
    Unsafe { reason: String },
    /// Could not be inspected.
    Unknown { reason: String },
}

impl Helper {
    /// Looks where `login --root` does.
    pub fn gather(search: &Search) -> Self {
        let (found, missing) = match search.locate() {
            Ok(l) => (Some(l), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            grants: found.as_ref().and_then(|l| ask(&l.path)),
            executable: found.as_ref().map(|l| Executable::inspect(&l.path).into()),
            found_by: found.map(|l| l.rule),
            missing,
            policy_path: POLICY,
            policy: policy_state(Path::new(POLICY)),
        }
    }
}

/// Judges a policy file the way the helper must: missing, or a regular
/// root-owned file nobody else can write, or unsafe.
pub fn policy_state(path: &Path) -> Policy {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Policy::Missing,
        Err(e) => {
            return Policy::Unknown {
                reason: super::os_reason(&e),
            }
        }
    };
    let unsafe_because = |reason: String| Policy::Unsafe { reason };
    if meta.file_type().is_symlink() {
        return unsafe_because("is a symlink, not a regular file".into());
    }
    if !meta.is_file() {
        return unsafe_because("is not a regular file".into());
    }
    if meta.uid() != 0 {
        return unsafe_because(format!("owned by uid {}, not root", meta.uid()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return unsafe_because(format!(
            "writable by group or others (mode {:04o})",
            mode & 0o7777
        ));
    }
    Policy::Present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_states() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("helper.conf");
        assert_eq!(policy_state(&p), Policy::Missing);
        std::fs::write(&p, "groups=cdusers\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let root_owned = rustix::process::geteuid().is_root();
        match policy_state(&p) {
            Policy::Present => assert!(root_owned),
            Policy::Unsafe { reason } => {
                assert!(!root_owned);
                assert!(reason.contains("not root"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(policy_state(&p), Policy::Unsafe { .. }));
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(policy_state(&link), Policy::Unsafe { .. }));
    }

    #[test]
    fn found_next_to_the_binary_first() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join(NAME);
        std::fs::write(&helper, b"").unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = bin.join("chroot-distro");
        let h = Helper::gather(&Search {
            pin: None,
            exe: Some(&exe),
            path_dirs: &[],
        });
        assert_eq!(h.executable.unwrap().known().unwrap().path, helper);
        assert_eq!(h.found_by, Some(Rule::BesideBinary));
    }
}
