//! `.dockerignore` and `COPY --exclude` patterns, with Docker's rules.
//!
//! A pattern is Go's `filepath.Match` syntax (`*`, `?`, `[a-z]`, `[^a]`,
//! `\` escapes) plus `**`, which spans any number of directories. Patterns
//! are cleaned like paths (a leading `/` or `./` means nothing), a `!`
//! prefix makes an exception, and the last pattern that matches a path
//! decides. A pattern that matches a directory matches everything under it.

use std::path::Path;

/// Why a pattern is unusable: Docker refuses the build for these too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad pattern '{pattern}': {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Cleaned, split on `/`.
    parts: Vec<Vec<u8>>,
    exception: bool,
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns {
    list: Vec<Pattern>,
}

impl Patterns {
    /// Parses a `.dockerignore` file's text: one pattern per line, `#`
    /// comments, blank lines skipped, surrounding spaces trimmed.
    pub fn parse_file(text: &str) -> Result<Self, PatternError> {
        Self::new(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    pub fn new<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, PatternError> {
        let mut list = Vec::new();
        for line in lines {
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts = clean(body);
            if parts.is_empty() {
                // "." or "/" would exclude the whole context; Docker
                // ignores such a line (and so must we, to keep the
                // Dockerfile itself readable).
                continue;
            }
            for p in &parts {
                check_syntax(p).map_err(|reason| PatternError {
                    pattern: line.to_owned(),
                    reason,
                })?;
            }
            list.push(Pattern { parts, exception });
        }
        Ok(Self { list })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `rel` (a path relative to the context, `/`-separated) is
    /// excluded.
    pub fn excludes(&self, rel: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let parts: Vec<&[u8]> = rel
            .as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let mut excluded = false;
        for p in &self.list {
            if p.exception == excluded && matches_or_parent(&p.parts, &parts) {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether an exception could re-include something below `dir`: then
    /// an excluded directory must still be walked.
    pub fn may_reinclude_below(&self, dir: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let prefix: Vec<&[u8]> = dir
            .as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        self.list
            .iter()
            .filter(|p| p.exception)
            .any(|p| prefix_compatible(&p.parts, &prefix))
    }
}

/// Path cleaning as Go's `filepath.Clean` on a relative pattern.
fn clean(body: &str) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for comp in body.as_bytes().split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c.to_vec()),
        }
    }
    parts
}

fn check_syntax(p: &[u8]) -> Result<(), &'static str> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' if i + 1 == p.len() => return Err("ends with a lone '\\'"),
            b'\\' => i += 1,
            b'[' => {
                let end = class_end(p, i).ok_or("unterminated '['")?;
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Index of the `]` closing the class opened at `open`.
fn class_end(p: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if p.get(i) == Some(&b'^') {
        i += 1;
    }
    let first = i;
    while i < p.len() {
        match p[i] {
            b']' if i > first => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// The pattern matches the path or one of its parent directories.
fn matches_or_parent(pat: &[Vec<u8>], path: &[&[u8]]) -> bool {
    (1..=path.len()).any(|n| matches(pat, &path[..n]))
}

/// Whole-path match, `**` spanning zero or more components.
fn matches(pat: &[Vec<u8>], path: &[&[u8]]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first.as_slice() == b"**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((name, tail)) => component(first, name) && matches(rest, tail),
            None => false,
        },
    }
}

/// Could a path below `prefix` match `pat`?
fn prefix_compatible(pat: &[Vec<u8>], prefix: &[&[u8]]) -> bool {
    match (pat.split_first(), prefix.split_first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some((first, _)), Some(_)) if first.as_slice() == b"**" => true,
        (Some((first, rest)), Some((name, tail))) => {
            component(first, name) && prefix_compatible(rest, tail)
        }
    }
}

/// Go's `filepath.Match` for one component (no `/` on either side).
pub fn component(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|k| component(rest, &name[k..])),
        Some((b'?', rest)) => !name.is_empty() && component(rest, &name[1..]),
        Some((b'[', _)) => {
            let Some(end) = class_end(pat, 0) else {
                return false;
            };
            match name.split_first() {
                Some((&c, tail)) => in_class(&pat[1..end], c) && component(&pat[end + 1..], tail),
                None => false,
            }
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && component(&rest[1..], &name[1..])
        }
        Some((&c, rest)) => name.first() == Some(&c) && component(rest, &name[1..]),
    }
}

fn in_class(class: &[u8], c: u8) -> bool {
    let (negated, mut body) = match class.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut hit = false;
    while let Some((&lo, rest)) = body.split_first() {
        let (lo, rest) = if lo == b'\\' && !rest.is_empty() {
            (rest[0], &rest[1..])
        } else {
            (lo, rest)
        };
        if rest.len() >= 2 && rest[0] == b'-' {
            let (hi, after) = if rest[1] == b'\\' && rest.len() >= 3 {
                (rest[2], &rest[3..])
            } else {
                (rest[1], &rest[2..])
            };
            hit |= lo <= c && c <= hi;
            body = after;
        } else {
            hit |= lo == c;
            body = rest;
        }
    }
    hit != negated
}

/// Whether a COPY source word has glob characters (then it is matched
/// against the context instead of named).
pub fn has_glob(word: &str) -> bool {
    word.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(patterns: &str, path: &str) -> bool {
        Patterns::parse_file(patterns)
            .unwrap()
            .excludes(Path::new(path))
    }

    #[test]
    fn components_match_as_go_does() {
        for (p, n, want) in [
            ("*", "abc", true),
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[\\]]", "]", true),
            ("", "", true),
        ] {
            assert_eq!(component(p.as_bytes(), n.as_bytes()), want, "{p} vs {n}");
        }
    }

    #[test]
    fn dockerignore_rules() {
        // A directory pattern covers what is below it.
        assert!(ex("node_modules", "node_modules/x/y.js"));
        assert!(!ex("node_modules", "src/node_modules"));
        // `**` spans directories, also none.
        assert!(ex("**/*.log", "a.log"));
        assert!(ex("**/*.log", "x/y/a.log"));
        assert!(ex("docs/**", "docs/a/b"));
        // Leading slash and dot mean nothing.
        assert!(ex("/build", "build/out"));
        assert!(ex("./build", "build"));
        // Comments and blanks skipped; the last match decides.
        assert!(!ex("# *.md\n\n", "README.md"));
        assert!(!ex("*.md\n!README.md", "README.md"));
        assert!(ex("*.md\n!README.md\nREADME*", "README.md"));
        assert!(ex("*.md\n!README.md", "CHANGES.md"));
        // `*` does not cross `/`.
        assert!(!ex("*.md", "docs/a.md"));
        // Whole-context patterns are ignored, not fatal.
        assert!(!ex(".\n/", "anything"));
    }

    #[test]
    fn exceptions_reach_into_excluded_directories() {
        let p = Patterns::parse_file("docs\n!docs/keep.md").unwrap();
        assert!(p.excludes(Path::new("docs/other.md")));
        assert!(!p.excludes(Path::new("docs/keep.md")));
        assert!(p.may_reinclude_below(Path::new("docs")));
        assert!(!p.may_reinclude_below(Path::new("src")));
    }

    #[test]
    fn broken_patterns_are_errors() {
        let err = Patterns::parse_file("[abc").unwrap_err();
        assert_eq!(err.to_string(), "bad pattern '[abc': unterminated '['");
        assert!(Patterns::parse_file("abc\\").is_err());
    }

    #[test]
    fn glob_words_are_told_apart() {
        assert!(has_glob("*.txt") && has_glob("a?") && has_glob("[ab]"));
        assert!(!has_glob("plain/file.txt"));
    }
}
