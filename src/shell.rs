//! Quoting for POSIX sh: what `--get-chroot-cmd` prints, what `ps` shows,
//! and the command `su -c` runs when elevating.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// One word for sh: as is when it is plainly safe, else single-quoted.
/// (`=` counts as safe: no caller puts a word first where sh would take
/// it for an assignment.)
pub fn quote_os(word: &OsStr) -> OsString {
    let b = word.as_bytes();
    let plain = |c: &u8| c.is_ascii_alphanumeric() || b"/._-:,+@%=".contains(c);
    if !b.is_empty() && b.iter().all(plain) {
        return word.to_owned();
    }
    let mut out = Vec::with_capacity(b.len() + 2);
    out.push(b'\'');
    for &c in b {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
    OsString::from_vec(out)
}

/// [`quote_os`] for text.
pub fn quote(word: &str) -> String {
    quote_os(OsStr::new(word)).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain/path"), "plain/path");
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }
}
