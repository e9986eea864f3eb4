//! `/etc/os-release` (os-release(5)): the distribution's display name.

use std::path::Path;

/// The files to try, in os-release(5)'s order.
pub const LOCATIONS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// `PRETTY_NAME` of the first readable file, else `NAME VERSION`.
pub fn pretty_name(files: &[&Path]) -> Result<String, String> {
    let mut last = String::from("no os-release file");
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                return name_from(&text)
                    .ok_or_else(|| format!("{}: no PRETTY_NAME or NAME", file.display()))
            }
            Err(e) => last = format!("{}: {}", file.display(), super::os_reason(&e)),
        }
    }
    Err(last)
}

fn name_from(text: &str) -> Option<String> {
    let get = |key: &str| value(text, key).filter(|v| !v.is_empty());
    get("PRETTY_NAME").or_else(|| {
        let name = get("NAME")?;
        Some(match get("VERSION") {
            Some(v) => format!("{name} {v}"),
            None => name,
        })
    })
}

/// The value of `key`: the last assignment wins, shell quoting removed.
pub fn value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            (k.trim() == key).then(|| unquote(v.trim()))
        })
        .next_back()
}

fn unquote(v: &str) -> String {
    let inner = match v.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if last == q && v.len() >= 2 => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_name_with_quotes_and_escapes() {
        let text = r#"NAME="Debian GNU/Linux"
# comment
PRETTY_NAME="Debian \"12\" (bookworm)"
ID=debian
"#;
        assert_eq!(name_from(text).as_deref(), Some("Debian \"12\" (bookworm)"));
        assert_eq!(value(text, "ID").as_deref(), Some("debian"));
        assert_eq!(value("A='x y'\n", "A").as_deref(), Some("x y"));
    }

    #[test]
    fn falls_back_to_name_and_version() {
        assert_eq!(
            name_from("NAME=Alpine\nVERSION=3.20\n").as_deref(),
            Some("Alpine 3.20")
        );
        assert_eq!(
            name_from("PRETTY_NAME=\nNAME=Foo\n").as_deref(),
            Some("Foo")
        );
        assert_eq!(name_from("ID=x\n"), None);
    }

    #[test]
    fn first_readable_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("missing");
        let b = dir.path().join("os-release");
        std::fs::write(&b, "PRETTY_NAME='Test OS 1'\n").unwrap();
        assert_eq!(pretty_name(&[&a, &b]).unwrap(), "Test OS 1");
        let err = pretty_name(&[&a]).unwrap_err();
        assert!(err.contains("No such file"), "{err}");
    }
}
