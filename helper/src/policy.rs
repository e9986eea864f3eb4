//! Loading the admin's policy (rules 3, 7, 10). Its format, parser and
//! checks are the session contract's (`session_contract::policy`), which
//! `info` uses too; only reading it safely is the helper's.

pub use session_contract::policy::*;
use session_contract::refusal::{refuse, Refusal, Rule};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

#[cfg(not(feature = "test-policy-path"))]
pub const POLICY_PATH: &str = PATH;
/// Rule 11: the test rig's copy is built with its own constant.
#[cfg(feature = "test-policy-path")]
pub const POLICY_PATH: &str = "/var/lib/cd-test-rig/helper/helper.conf";
/// Reads the policy as the caller, after checking that only root could
/// have written it or swapped any directory above it.
pub fn load() -> Result<Policy, Refusal> {
    let path = Path::new(POLICY_PATH);
    let deny =
        |why: String| refuse(Rule::Policy, format!("{POLICY_PATH}: {why}; nothing is granted"));
    for dir in path.ancestors().skip(1) {
        let m =
            std::fs::symlink_metadata(dir).map_err(|e| deny(format!("{}: {e}", dir.display())))?;
        if !m.is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(deny(format!(
                "{} is not a root-owned directory writable only by root",
                dir.display()
            )));
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| deny(e.to_string()))?;
    let m = file.metadata().map_err(|e| deny(e.to_string()))?;
    if !m.is_file() || m.uid() != 0 || m.mode() & 0o022 != 0 {
        return Err(deny("not a regular file owned by root and writable only by root".into()));
    }
    let mut text = String::new();
    use std::io::Read;
    (&mut file).take(64 * 1024).read_to_string(&mut text).map_err(|e| deny(e.to_string()))?;
    parse(&text).map_err(deny)
}
