//! Container names: the only user-chosen path component in the store.

use super::Error;
use std::fmt;

/// Longest accepted name; leaves room for `.lock` and staging suffixes
/// within the 255-byte file-name limit.
pub const MAX_LEN: usize = 128;

/// A validated container name: starts with an ASCII letter or digit and
/// contains only letters, digits, `_`, `.` and `-`. So it is never empty,
/// never `.`/`..`, never hidden (staging dirs start with a dot) and never
/// contains a slash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerName(String);

impl ContainerName {
    pub fn new(name: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let first = name.chars().next().ok_or_else(|| invalid("it is empty"))?;
        if !first.is_ascii_alphanumeric() {
            return Err(invalid("it must start with an ASCII letter or digit"));
        }
        if name.len() > MAX_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(invalid(
                "only ASCII letters, digits, '_', '.' and '-' are allowed",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reference_examples() {
        for ok in ["ubuntu", "my-alpine", "debian_12", "a.b-c_d", "9lives", "X"] {
            assert!(ContainerName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "", ".", "..", ".hidden", "-opt", "_x", "a/b", "a b", "ünï", "a\0b", "../x", &long,
        ] {
            assert!(ContainerName::new(bad).is_err(), "{bad:?}");
        }
    }
}
