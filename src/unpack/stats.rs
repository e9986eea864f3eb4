//! What an extraction did, what it skipped, and how it failed.

use crate::ioerr::{os_reason, IoError};

/// Reported to the caller's progress callback now and then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Archive entries read so far, over all layers.
    pub entries: u64,
    /// Regular-file bytes written so far.
    pub bytes: u64,
}

/// Totals over every stream applied to one root.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub entries: u64,
    /// Paths in the finished tree (the install index), whatever the layers held.
    #[serde(default)]
    pub paths: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub devices: u64,
    /// Device nodes not created (not allowed, or EPERM as non-root).
    pub devices_skipped: u64,
    /// Extended attributes the kernel or file system refused.
    pub xattrs_skipped: u64,
    /// Entries whose owner could not be set (id not mapped, no CAP_CHOWN).
    pub owners_unmapped: u64,
    pub whiteouts: u64,
    /// Parent directories the archive did not list.
    pub implicit_dirs: u64,
    /// Regular-file bytes written.
    pub bytes: u64,
    /// Entries refused as invalid or hostile.
    pub skipped_invalid: u64,
    /// The first few of those, "name: reason".
    pub invalid_examples: Vec<String>,
}

const MAX_EXAMPLES: usize = 8;

impl Stats {
    pub(crate) fn invalid(&mut self, raw_name: &[u8], reason: &str) {
        self.skipped_invalid += 1;
        if self.invalid_examples.len() < MAX_EXAMPLES {
            let name = String::from_utf8_lossy(raw_name);
            self.invalid_examples.push(format!("{name}: {reason}"));
        }
    }

    pub(crate) fn progress(&self) -> Progress {
        Progress {
            entries: self.entries,
            bytes: self.bytes,
        }
    }
}

/// Why an extraction stopped. Problems confined to one entry never stop it;
/// they are counted in [`Stats`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rootfs could not be written (disk full, read-only, ...).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The stream is not a valid tar archive, or ends early.
    #[error("malformed archive: {0}")]
    Tar(String),
    /// A valid entry we deliberately do not handle.
    #[error("unsupported archive entry '{path}': {what}")]
    Unsupported { path: String, what: &'static str },
}

impl Error {
    pub(crate) fn tar(e: std::io::Error) -> Self {
        Self::Tar(os_reason(&e))
    }

    pub(crate) fn truncated(name: &[u8]) -> Self {
        Self::Tar(format!(
            "truncated entry '{}'",
            String::from_utf8_lossy(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let e = Error::truncated(b"usr/bin/x");
        assert_eq!(
            e.to_string(),
            "malformed archive: truncated entry 'usr/bin/x'"
        );
        let mut s = Stats::default();
        for _ in 0..20 {
            s.invalid(b"../x", "escapes");
        }
        assert_eq!(
            (s.skipped_invalid, s.invalid_examples.len()),
            (20, MAX_EXAMPLES)
        );
    }
}
