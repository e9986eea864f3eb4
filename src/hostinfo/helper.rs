//! `cd-mount-helper`: where it is installed, with what privilege, and
//! whether its policy file is one it would accept.

use super::executables::Executable;
use super::Probe;
use crate::helper_client::search::{Missing, Rule, Search};
use serde::Serialize;
use session_contract::policy::{self, LoadError};
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
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

/// Runs `helper --check-policy` as ourselves. The helper answers with one
/// line; what `policy` (when we could load it) grants and why is explained
/// here, with the session contract's own parser.
fn ask(helper: &Path, policy: Option<&policy::Policy>) -> Option<Grants> {
    let out = crate::helper_client::check_policy_command(helper)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut report: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(policy) = policy {
        let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
        report.extend(policy::explain(policy, &policy::Caller::current(), &groups));
    }
    Some(Grants {
        sessions: out.status.success(),
        report,
    })
}

/// The policy file as the helper would judge it (the contract's own
/// loader: the same checks, in the same order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Policy {
    /// No file: the helper refuses every request.
    Missing,
    /// Root's alone and well-formed.
    Present,
    /// Not trustworthy (the file or a directory above it): the helper
    /// denies everything.
    Unsafe { reason: String },
    /// Safe, but unreadable with our ids, as it is for the helper.
    Unreadable { reason: String },
    /// Read, but not a valid policy: the helper denies everything.
    Malformed { reason: String },
}

impl Policy {
    fn of(loaded: &Result<policy::Policy, LoadError>) -> Self {
        match loaded {
            Ok(_) => Policy::Present,
            Err(LoadError::Missing) => Policy::Missing,
            Err(e @ (LoadError::Unsafe(_) | LoadError::UnsafeDir(_))) => Policy::Unsafe {
                reason: e.to_string(),
            },
            Err(LoadError::Unreadable(e)) => Policy::Unreadable {
                reason: super::os_reason(e),
            },
            Err(LoadError::Malformed(why)) => Policy::Malformed {
                reason: why.clone(),
            },
        }
    }
}

impl Helper {
    /// Looks where `login --root` does.
    pub fn gather(search: &Search) -> Self {
        let (found, missing) = match search.locate() {
            Ok(l) => (Some(l), None),
            Err(e) => (None, Some(e)),
        };
        let loaded = policy::load(Path::new(POLICY));
        Self {
            grants: found
                .as_ref()
                .and_then(|l| ask(&l.path, loaded.as_ref().ok())),
            executable: found.as_ref().map(|l| Executable::inspect(&l.path).into()),
            found_by: found.map(|l| l.rule),
            missing,
            policy_path: POLICY,
            policy: Policy::of(&loaded),
        }
    }
}

/// Judges the policy file at `path` the way the helper does.
pub fn policy_state(path: &Path) -> Policy {
    Policy::of(&policy::load(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way the contract's loader refuses is shown as its own state
    /// (the loader's checks themselves are tested in the contract).
    #[test]
    fn policy_states_come_from_the_contracts_loader() {
        let io = || std::io::Error::from_raw_os_error(libc::EACCES);
        let cases = [
            (Err(LoadError::Missing), Policy::Missing),
            (Ok(policy::Policy::default()), Policy::Present),
            (
                Err(LoadError::Unreadable(io())),
                Policy::Unreadable {
                    reason: "Permission denied".into(),
                },
            ),
            (
                Err(LoadError::Malformed("line 1: colour".into())),
                Policy::Malformed {
                    reason: "line 1: colour".into(),
                },
            ),
        ];
        for (loaded, want) in cases {
            assert_eq!(Policy::of(&loaded), want);
        }
        // A real file below the world-writable /tmp: anyone could swap it.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("helper.conf");
        std::fs::write(&p, "groups=cdusers\n").unwrap();
        match policy_state(&p) {
            Policy::Unsafe { reason } => assert!(reason.contains("directory"), "{reason}"),
            other => panic!("{other:?}"),
        }
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
