//! An I/O failure with the operation and path it happened on.
//!
//! Every layer's error type wraps this one, so a message always reads
//! "cannot <op> <path>: <reason>" with the OS reason stripped of its errno tail.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl IoError {
    pub fn new(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Self {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// Hints for the failures users can fix themselves.
    pub fn hint(&self) -> Option<String> {
        match self.source.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => Some(format!(
                "check the permissions of {} and its parent directories",
                self.path.display()
            )),
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                Some("free some disk space (chroot-distro clear-cache helps)".into())
            }
            Some(libc::EROFS) => Some("the file system is mounted read-only".into()),
            _ => None,
        }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.op,
            self.path.display(),
            os_reason(&self.source)
        )
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The human part of an io::Error ("Permission denied", not "... (os error 13)").
pub fn os_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Attaches operation and path to io results: `fs::read(p).ctx("read", p)?`.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(op, path, e))
    }
}

/// An error and its sources on one line, each cause once ("a: b: c"),
/// as HTTP client errors hide the useful part in their sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_no_errno_tail() {
        let e = IoError::new(
            "read directory",
            "/x",
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert_eq!(e.to_string(), "cannot read directory /x: Permission denied");
        assert!(e.hint().unwrap().contains("/x"));
    }
}
