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
/// Names in examples are cut here: a skipped name may be kilobytes long.
const MAX_EXAMPLE_NAME: usize = 80;
/// Examples a summary line shows.
const SHOWN: usize = 3;

impl Stats {
    pub(crate) fn invalid(&mut self, raw_name: &[u8], reason: &str) {
        self.skipped_invalid += 1;
        if self.invalid_examples.len() < MAX_EXAMPLES {
            let name = String::from_utf8_lossy(raw_name);
            let name = match name.char_indices().nth(MAX_EXAMPLE_NAME) {
                Some((cut, _)) => format!("{}...", &name[..cut]),
                None => name.into_owned(),
            };
            self.invalid_examples.push(format!("{name}: {reason}"));
        }
    }

    /// What the extraction left out, one line per kind (entries refused,
    /// device nodes not created): warnings, or with `--strict` the error.
    pub fn skipped(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.skipped_invalid > 0 {
            let shown: Vec<&str> = self
                .invalid_examples
                .iter()
                .take(SHOWN)
                .map(String::as_str)
                .collect();
            let more = self.skipped_invalid - shown.len() as u64;
            lines.push(format!(
                "{} archive entr{} skipped ({}{})",
                self.skipped_invalid,
                if self.skipped_invalid == 1 {
                    "y"
                } else {
                    "ies"
                },
                shown.join("; "),
                if more > 0 {
                    format!("; {more} more")
                } else {
                    String::new()
                }
            ));
        }
        if self.devices_skipped > 0 {
            lines.push(format!(
                "{} device node(s) skipped (not permitted here)",
                self.devices_skipped
            ));
        }
        lines
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
        s.devices_skipped = 2;
        assert_eq!(
            s.skipped(),
            [
                "20 archive entries skipped (../x: escapes; ../x: escapes; ../x: escapes; 17 more)",
                "2 device node(s) skipped (not permitted here)"
            ]
        );
        let mut s = Stats::default();
        s.invalid(&[b'a'; 300], "name too long");
        assert_eq!(
            s.skipped(),
            [format!(
                "1 archive entry skipped ({}...: name too long)",
                "a".repeat(80)
            )]
        );
    }
}
