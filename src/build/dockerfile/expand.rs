//! Variable expansion with Docker's rules (BuildKit's shell lexer, not a
//! shell): `$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`,
//! `${V:?msg}`, `${V?msg}`, `${V#pat}`, `${V##pat}`, `${V%pat}`, `${V%%pat}`;
//! single quotes are literal, double quotes allow `$`; the escape character
//! (`\` or the `# escape=` one) makes the next character literal. Quotes
//! are removed unless the caller asks to keep them (here-document bodies).

/// Where names are looked up; `None` means unset (not the same as empty).
pub trait Vars {
    fn get(&self, name: &str) -> Option<&str>;
}

/// No variable is set (delimiters of here-documents).
pub struct NoVars;

impl Vars for NoVars {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// A list of `(name, value)`, the last of a name winning; a None value is a
/// declared ARG without one (unset).
pub struct Scope<'a>(pub &'a [(String, Option<String>)]);

impl<'a> Scope<'a> {
    pub fn lookup(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

impl Vars for Scope<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.lookup(name)
    }
}

/// One word: quotes removed, variables replaced, no splitting.
pub fn word(text: &str, vars: &dyn Vars, escape: char) -> Result<String, String> {
    Lexer::new(text, vars, escape, Quotes::Process)
        .run(None)
        .map(|(s, _)| s)
}

/// Several words: like [`word`], then split on whitespace that was neither
/// quoted nor escaped (whitespace coming from a variable splits too).
pub fn words(text: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, String> {
    Lexer::new(text, vars, escape, Quotes::Process)
        .run(None)
        .map(|(_, w)| w.finish())
}

/// A here-document body of COPY/ADD with an unquoted delimiter: variables
/// replaced, quotes kept as written, `\` as the escape whatever the
/// directive says (as BuildKit does).
pub fn heredoc(text: &str, vars: &dyn Vars) -> Result<String, String> {
    Lexer::new(text, vars, '\\', Quotes::Keep)
        .run(None)
        .map(|(s, _)| s)
}

#[derive(Clone, Copy, PartialEq)]
enum Quotes {
    Process,
    Keep,
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a dyn Vars,
    escape: char,
    quotes: Quotes,
}

/// Word accumulation: characters that came from quotes or escapes never split.
#[derive(Default)]
struct Split {
    words: Vec<String>,
    current: String,
    // A word that exists even if empty (`""`).
    started: bool,
}

impl Split {
    fn plain(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.started || !self.current.is_empty() {
                self.words.push(std::mem::take(&mut self.current));
            }
            self.started = false;
        } else {
            self.current.push(ch);
        }
    }
    fn raw(&mut self, s: &str) {
        self.started = true;
        self.current.push_str(s);
    }
    fn finish(mut self) -> Vec<String> {
        if self.started || !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

impl<'a> Lexer<'a> {
    fn new(text: &str, vars: &'a dyn Vars, escape: char, quotes: Quotes) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
            vars,
            escape,
            quotes,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Up to `stop` (consumed) or the end; `keep_escapes` for `#`/`%` patterns.
    fn run(&mut self, stop: Option<char>) -> Result<(String, Split), String> {
        self.run_with(stop, false)
    }

    fn run_with(
        &mut self,
        stop: Option<char>,
        keep_escapes: bool,
    ) -> Result<(String, Split), String> {
        let mut out = String::new();
        let mut split = Split::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((out, split));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    value.chars().for_each(|c| split.plain(c));
                    out.push_str(&value);
                }
                '\'' if self.quotes == Quotes::Process => {
                    let value = self.single_quoted()?;
                    split.raw(&value);
                    out.push_str(&value);
                }
                '"' if self.quotes == Quotes::Process => {
                    let value = self.double_quoted()?;
                    split.raw(&value);
                    out.push_str(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        if keep_escapes {
                            out.push(ch);
                        }
                        let Some(next) = self.next() else { break };
                        split.raw(&next.to_string());
                        out.push(next);
                    } else {
                        split.plain(ch);
                        out.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(c) => Err(format!("missing '{c}'")),
            None => Ok((out, split)),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err("missing closing single quote".into()),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("missing closing double quote".into()),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    // Inside double quotes the escape only protects `"`, `$`
                    // and itself; elsewhere it stays as written.
                    if c == self.escape {
                        if let Some(n @ ('"' | '$')) = self.peek() {
                            self.pos += 1;
                            out.push(n);
                            continue;
                        }
                        if self.peek() == Some(self.escape) {
                            self.pos += 1;
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(str::to_owned)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("missing '}'".into()),
            Some('{' | '}' | ':') => return Err("bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let mut modifier = match self.next() {
            None => return Err("missing '}'".into()),
            Some('}') => return Ok(self.lookup(&name).unwrap_or_default()),
            Some(c) => c.to_string(),
        };
        let colon = modifier == ":";
        if colon {
            match self.next() {
                Some(c) => modifier.push(c),
                None => return Err("missing '}'".into()),
            }
        }
        let op = modifier.chars().last().unwrap_or(':');
        if !matches!(op, '-' | '+' | '?' | '#' | '%') || (colon && matches!(op, '#' | '%')) {
            return Err(format!(
                "unsupported modifier '{modifier}' in ${{{name}{modifier}…}}"
            ));
        }
        let (word, _) = self.run_with(Some('}'), matches!(op, '#' | '%'))?;
        let value = self.lookup(&name);
        let unset = value.is_none() || (colon && value.as_deref() == Some(""));
        Ok(match op {
            '-' if unset => word,
            '-' => value.unwrap_or_default(),
            '+' if unset => String::new(),
            '+' => word,
            '?' if unset => {
                let why = match (word.is_empty(), value.is_none()) {
                    (false, _) => word,
                    (true, true) => "is not allowed to be unset".into(),
                    (true, false) => "is not allowed to be empty".into(),
                };
                return Err(format!("{name}: {why}"));
            }
            '?' => value.unwrap_or_default(),
            _ => {
                let value = value.unwrap_or_default();
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_owned()),
                    None => (false, word),
                };
                trim_pattern(&value, &pattern, op == '#', greedy, self.escape)
            }
        })
    }
}

/// `${V#p}` (prefix) and `${V%p}` (suffix), shortest or longest match of a
/// glob with `*` and `?`.
fn trim_pattern(value: &str, pattern: &str, prefix: bool, greedy: bool, escape: char) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut cuts: Vec<usize> = (0..=chars.len()).collect();
    // `cut` is the length of the part removed: shortest first unless greedy.
    if greedy {
        cuts.reverse();
    }
    for cut in cuts {
        let (part, rest): (String, String) = if prefix {
            (chars[..cut].iter().collect(), chars[cut..].iter().collect())
        } else {
            (
                chars[chars.len() - cut..].iter().collect(),
                chars[..chars.len() - cut].iter().collect(),
            )
        };
        if glob(pattern, &part, escape) {
            return rest;
        }
    }
    value.to_owned()
}

/// Wildcard match with one backtracking point: linear enough that a
/// pattern full of `*` cannot stall the build.
fn glob(pattern: &str, text: &str, escape: char) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Any,
        Lit(char),
    }
    let mut p = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        p.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            c if c == escape => Tok::Lit(it.next().unwrap_or(c)),
            c => Tok::Lit(c),
        });
    }
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        match p.get(pi) {
            Some(Tok::Any) => (pi, ti) = (pi + 1, ti + 1),
            Some(Tok::Lit(c)) if *c == t[ti] => (pi, ti) = (pi + 1, ti + 1),
            Some(Tok::Star) => {
                star = Some(pi);
                mark = ti;
                pi += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ti = mark;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
}
