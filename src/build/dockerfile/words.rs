//! Splitting an instruction's argument text into words and `key=value`
//! pairs the way Docker's parser does before any expansion: quotes and
//! escapes stay in the words (expansion removes them later), whitespace
//! inside quotes does not split.

/// Docker's `parseWords`: whitespace-separated words, quotes kept, an
/// escape keeping the next character (quote or space) in the word.
pub(crate) fn raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A quoted empty string ("") is still a word.
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            } else if ch == escape && q != '\'' {
                word.push(ch);
                match chars.next() {
                    Some(next) => word.push(next),
                    None => break,
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            blank_ok = false;
            continue;
        }
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        } else if ch == escape {
            // An escape at the very end is dropped, as Docker does.
            let Some(next) = chars.next() else { break };
            word.push(ch);
            word.push(next);
            continue;
        }
        word.push(ch);
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// One `key=value` (or legacy `key value`) of ENV and LABEL, both raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    pub value: String,
}

/// ENV and LABEL arguments: `K=V K2="v 2"` or the legacy `K some value`
/// (the first word has no `=`: the rest of the line is the value).
pub(crate) fn pairs(text: &str, escape: char, word: &str) -> Result<Vec<Pair>, String> {
    let words = raw_words(text, escape);
    let Some(first) = words.first() else {
        return Err(format!("{word} needs at least one argument"));
    };
    if !first.contains('=') {
        let text = text.trim_start();
        let Some(split) = text.find(char::is_whitespace) else {
            return Err(format!(
                "{word} needs a value: {word} NAME=VALUE or {word} NAME VALUE"
            ));
        };
        return Ok(vec![Pair {
            key: text[..split].to_owned(),
            value: text[split..].trim_start().to_owned(),
        }]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("'{w}' has no name before '='")),
            Some((k, v)) => Ok(Pair {
                key: k.to_owned(),
                value: v.to_owned(),
            }),
            None => Err(format!("'{w}' is not of the form NAME=VALUE")),
        })
        .collect()
}

/// One declaration of an ARG line (`NAME` or `NAME=default`), raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// ARG arguments: several declarations per line, each with or without a default.
pub(crate) fn arg_decls(text: &str, escape: char) -> Result<Vec<ArgDecl>, String> {
    let words = raw_words(text, escape);
    if words.is_empty() {
        return Err("ARG needs a name".into());
    }
    words
        .into_iter()
        .map(|w| {
            let (name, default) = match w.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (w, None),
            };
            if name.is_empty() {
                return Err("ARG has an empty name".into());
            }
            Ok(ArgDecl { name, default })
        })
        .collect()
}

/// A shell-form command as the shell should see it: line continuations
/// (escape, optional blanks, newline) removed and the lines joined as they
/// are, comment and blank lines inside the continuation dropped.
pub(crate) fn join_continuations(raw: &str, escape: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut continued = false;
    for (i, line) in raw.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 {
            if !continued {
                // Not a continuation: the raw text ended at the previous line.
                break;
            }
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        let trimmed = line.trim_end_matches([' ', '\t']);
        match trimmed.strip_suffix(escape) {
            Some(head) => {
                out.push_str(head);
                continued = true;
            }
            None => {
                out.push_str(line);
                continued = false;
            }
        }
    }
    out
}
