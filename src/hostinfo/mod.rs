//! Host diagnostics for `info`: what the program, the host, its kernel
//! features and the installed containers look like.
//!
//! Every probe degrades on its own: a file that cannot be read or a syscall a
//! seccomp filter refuses turns into [`Probe::Unknown`] with the reason, never
//! into a failure of the whole report. Nothing here prints or reads the
//! process environment; the applet formats what [`gather`] returns.

pub mod analysis;
pub mod android;
pub mod arch;
pub mod binfmt;
pub mod capabilities;
pub mod child;
pub mod confined;
pub mod elf;
pub mod executables;
pub mod filecaps;
pub mod helper;
pub mod host;
pub mod images;
pub mod mounts;
pub mod os_release;
pub mod program;
pub mod security;
pub mod storage;
pub mod userns;

use crate::env::EnvSnapshot;
use crate::store::StorePaths;
use serde::Serialize;

/// The result of one probe: the value, or why it is not known.
///
/// Serialised as the plain value, or as `{"unknown": "<reason>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Probe<T> {
    Known(T),
    Unknown { unknown: String },
}

impl<T> Probe<T> {
    pub fn unknown(reason: impl Into<String>) -> Self {
        Probe::Unknown {
            unknown: reason.into(),
        }
    }

    pub fn known(&self) -> Option<&T> {
        match self {
            Probe::Known(v) => Some(v),
            Probe::Unknown { .. } => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Probe<U> {
        match self {
            Probe::Known(v) => Probe::Known(f(v)),
            Probe::Unknown { unknown } => Probe::Unknown { unknown },
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Probe<T> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Probe::Known(v),
            Err(e) => Probe::unknown(e.to_string()),
        }
    }
}

/// An OS error as people read it: "Permission denied", without "(os error 13)".
pub fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The whole report; the keys are the stable `info --json` API.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub program: program::Program,
    pub host: host::Host,
    pub capabilities: capabilities::Capabilities,
    pub images: Probe<Vec<images::Image>>,
    pub analysis: Vec<analysis::Finding>,
}

/// Runs every probe. `store` is the resolved store, or why it could not be
/// resolved (the report then has no images but everything else).
///
/// The forking probes run before anything starts a thread (sizes are walked
/// by worker threads), so the children are forks of a single-threaded process.
pub fn gather(env: &EnvSnapshot, store: Result<&StorePaths, String>) -> Report {
    let program = program::Program::gather(store.clone());
    let host = host::Host::gather(env);
    let paths = store.as_ref().ok().copied();
    let capabilities = capabilities::Capabilities::gather(env, &host, &program, paths);
    let use_openat2 = capabilities.openat2.known().is_some_and(|f| f.available);
    let images = match store {
        Ok(paths) => images::gather(paths, use_openat2),
        Err(e) => Probe::unknown(e),
    };
    let analysis = analysis::analyse(&program, &host, &capabilities, &images);
    Report {
        program,
        host,
        capabilities,
        images,
        analysis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_serialises_as_value_or_reason() {
        let k: Probe<u32> = Probe::Known(3);
        let u: Probe<u32> = Probe::unknown("no /proc");
        assert_eq!(serde_json::to_string(&k).unwrap(), "3");
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"unknown":"no /proc"}"#
        );
    }

    #[test]
    fn os_reason_drops_errno_tail() {
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(os_reason(&e), "Permission denied");
    }
}
