//! Here-documents on RUN lines, found the way BuildKit finds them: every
//! shell word of the form `[fd]<<[-]DELIM` opens one, bodies follow the
//! line in order. (The syntax crate sees only a RUN that starts with one.)

use super::expand;
use super::words::raw_words;

/// One here-document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter without quotes: also the file name for COPY/ADD.
    pub name: String,
    /// The lines as written, each with its newline (`<<-` tabs not yet removed).
    pub body: String,
    /// False when the delimiter was quoted: no expansion of the body.
    pub expand: bool,
    /// `<<-`: leading tabs are removed from every line.
    pub chomp: bool,
    /// `2<<EOF`: the descriptor the shell feeds it to.
    pub fd: Option<u32>,
}

impl Heredoc {
    /// The content the file or the command receives.
    pub fn content(&self) -> String {
        if !self.chomp {
            return self.body.clone();
        }
        self.body
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The here-documents a RUN command line opens, in order.
pub(crate) fn in_line(line: &str) -> Vec<Heredoc> {
    raw_words(line, '\\')
        .iter()
        .filter_map(|w| from_word(w))
        .collect()
}

/// `[fd]<<[-]rest` with a non-empty rest that is one shell word and has no `<`.
pub(crate) fn from_word(word: &str) -> Option<Heredoc> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let parsed = expand::words(rest, &expand::NoVars, '\\').ok()?;
    let [name] = parsed.as_slice() else {
        return None;
    };
    Some(Heredoc {
        name: name.clone(),
        body: String::new(),
        expand: !rest.contains(['"', '\'']),
        chomp,
        fd: word[..digits].parse().ok(),
    })
}

/// Reads the bodies of `docs` from `text[start..]`; returns the offset just
/// after the last terminator line.
pub(crate) fn read_bodies(text: &str, start: usize, docs: &mut [Heredoc]) -> Result<usize, String> {
    let mut pos = start;
    for doc in docs.iter_mut() {
        loop {
            if pos >= text.len() {
                return Err(format!("no line '{}' ends the here-document", doc.name));
            }
            let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
            let line = &text[pos..end];
            pos = end;
            let bare = line.trim_end_matches('\n').trim_end_matches('\r');
            let bare = if doc.chomp {
                bare.trim_start_matches('\t')
            } else {
                bare
            };
            if bare == doc.name {
                break;
            }
            doc.body.push_str(line.trim_end_matches('\n'));
            doc.body.push('\n');
        }
    }
    Ok(pos)
}
