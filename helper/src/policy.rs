//! The admin's policy (rules 3, 7, 10). Its format, parser, safe loading
//! and checks are the session contract's (`session_contract::policy`),
//! which `info` uses too; only its path is the helper's.

pub use session_contract::policy::*;
use session_contract::refusal::{refuse, Refusal, Rule};

#[cfg(not(feature = "test-policy-path"))]
pub const POLICY_PATH: &str = PATH;
/// Rule 11: the test rig's copy is built with its own constant.
#[cfg(feature = "test-policy-path")]
pub const POLICY_PATH: &str = "/var/lib/cd-test-rig/helper/helper.conf";

/// Missing, unsafe or malformed: nothing is granted.
pub fn load_policy() -> Result<Policy, Refusal> {
    let deny = |why| refuse(Rule::Policy, format!("{POLICY_PATH}: {why}; nothing is granted"));
    load(std::path::Path::new(POLICY_PATH)).map_err(deny)
}
