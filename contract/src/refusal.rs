//! The one failure type. A refusal names the design rule it enforces
//! (DESIGN.md, "cd-mount-helper rules") and exits with that rule's code, so
//! a caller can tell "not allowed" from "tried and failed".

use std::fmt;

/// Why the helper stopped. Rule n exits with 80 + n; the rest exit with
/// their own value, as the main binary and `docker run` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Only typed, well-formed requests.
    Request = 1,
    /// The helper could not protect itself.
    SelfProtection = 2,
    /// Policy, group membership, store and rootfs ownership.
    Policy = 3,
    /// The private mount namespace could not be made.
    Namespace = 4,
    /// A mount target is a symlink or leaves the rootfs.
    Target = 5,
    /// A bind source is unreadable to the caller or not allowed.
    BindSource = 6,
    /// Real root or --privileged not granted.
    RootGrant = 7,
    /// The working directory is outside the rootfs.
    Cwd = 8,
    /// Something of the host's would reach real root in the container:
    /// one of the caller's descriptors, a namespace that is not the caller's.
    Containment = 10,
    /// Setup failed after validation.
    Setup = 125,
    /// The command exists but cannot be executed.
    NotExecutable = 126,
    /// The command was not found.
    NotFound = 127,
}

/// Rule n's title is entry n-1; rule 9 (every refusal names its rule) refuses nothing itself.
const TITLES: [&str; 10] = [
    "typed request",
    "self-protection",
    "policy",
    "private namespace",
    "mount target",
    "bind source",
    "root grant",
    "working directory",
    "",
    "containment",
];

impl Rule {
    /// The design rule's number, for refusals.
    pub fn number(self) -> Option<u8> {
        Some(self as u8).filter(|n| *n <= 10)
    }

    pub fn exit_code(self) -> u8 {
        self.number().map_or(self as u8, |n| 80 + n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub msg: String,
}

impl Refusal {
    pub fn new(rule: Rule, msg: impl Into<String>) -> Self {
        Self { rule, msg: msg.into() }
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

/// A libc call's success flag, errno attached on failure.
pub fn os(ok: bool, what: impl fmt::Display) -> Result<(), Refusal> {
    if ok {
        return Ok(());
    }
    Err(Refusal::setup(what, std::io::Error::last_os_error()))
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule.number() {
            Some(n) => {
                let title = TITLES[usize::from(n) - 1];
                write!(f, "cd-mount-helper: refused (rule {n}: {title}): {}", self.msg)
            }
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
