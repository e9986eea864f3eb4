//! The one failure type. A refusal names the design rule it enforces
//! (DESIGN.md, "cd-mount-helper rules") and exits with that rule's code, so
//! a caller can tell "not allowed" from "tried and failed".

use std::fmt;

/// Why the helper stopped. `Rule(n)` codes are 80 + n; the rest mirror the
/// main binary and `docker run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// 1: only typed, well-formed requests (81).
    Request,
    /// 2: the helper could not protect itself (82).
    SelfProtection,
    /// 3: policy, group membership, store and rootfs ownership (83).
    Policy,
    /// 4: the private mount namespace could not be made (84).
    Namespace,
    /// 5: a mount target is a symlink or leaves the rootfs (85).
    Target,
    /// 6: a bind source is unreadable to the caller or not allowed (86).
    BindSource,
    /// 7: real root or --privileged not granted (87).
    RootGrant,
    /// 8: the working directory is outside the rootfs (88).
    Cwd,
    /// Setup failed after validation (125, as `docker run`).
    Setup,
    /// The command exists but cannot be executed (126).
    NotExecutable,
    /// The command was not found (127).
    NotFound,
}

impl Rule {
    pub fn number(self) -> Option<u8> {
        Some(match self {
            Rule::Request => 1,
            Rule::SelfProtection => 2,
            Rule::Policy => 3,
            Rule::Namespace => 4,
            Rule::Target => 5,
            Rule::BindSource => 6,
            Rule::RootGrant => 7,
            Rule::Cwd => 8,
            _ => return None,
        })
    }

    pub fn exit_code(self) -> u8 {
        match (self, self.number()) {
            (_, Some(n)) => 80 + n,
            (Rule::NotExecutable, _) => 126,
            (Rule::NotFound, _) => 127,
            _ => 125,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Rule::Request => "typed request",
            Rule::SelfProtection => "self-protection",
            Rule::Policy => "policy",
            Rule::Namespace => "private namespace",
            Rule::Target => "mount target",
            Rule::BindSource => "bind source",
            Rule::RootGrant => "root grant",
            Rule::Cwd => "working directory",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub msg: String,
}

impl Refusal {
    pub fn new(rule: Rule, msg: impl Into<String>) -> Self {
        Self {
            rule,
            msg: msg.into(),
        }
    }

    /// For syscalls failing after validation: `what` failed with `err`.
    pub fn setup(what: impl fmt::Display, err: impl fmt::Display) -> Self {
        Self::new(Rule::Setup, format!("cannot {what}: {err}"))
    }
}

/// Shorthand: `Err(refuse(Rule::X, ...))`.
pub fn refuse(rule: Rule, msg: impl Into<String>) -> Refusal {
    Refusal::new(rule, msg)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule.number() {
            Some(n) => write!(
                f,
                "cd-mount-helper: refused (rule {n}: {}): {}",
                self.rule.title(),
                self.msg
            ),
            None => write!(f, "cd-mount-helper: error: {}", self.msg),
        }
    }
}

/// Adds context to io-style errors as a setup failure.
pub trait OrSetup<T> {
    fn or_setup(self, what: impl fmt::Display) -> Result<T, Refusal>;
}

impl<T, E: fmt::Display> OrSetup<T> for Result<T, E> {
    fn or_setup(self, what: impl fmt::Display) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::setup(what, e))
    }
}
