//! From the syntax crate's instructions to our [`Dockerfile`] model.
//!
//! The crate reads here-documents only for COPY/ADD and for a RUN that
//! starts with one; a `RUN cat <<EOF >file` would have it read the body as
//! instructions. So the first pass that meets such a RUN finds its bodies
//! ourselves (BuildKit's rules), blanks them in a working copy of the text
//! (as comment lines of the same length, so every offset stays valid) and
//! parses again; each pass blanks one more RUN, so it ends.

use super::error::{DockerfileError, ErrorKind, Lines};
use super::flags::{self, Flags, RawFlag};
use super::heredoc::{self, Heredoc};
use super::words::{self, join_continuations};
use super::{CommandLine, Directives, Dockerfile, Instruction, Kind, Source, Stage};
use parse_dockerfile as pd;
use std::ops::Range;

const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Reads a Dockerfile; `file` is the name errors carry.
pub fn parse(source: &str, file: &str) -> Result<Dockerfile, DockerfileError> {
    // The crate drops a UTF-8 BOM and counts offsets after it: so do we.
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let cx = Cx {
        text,
        lines: Lines::new(text),
        file,
        escape: '\\',
        blanked: &[],
    };
    let mut working = text.as_bytes().to_vec();
    let mut blanked = Vec::new();
    loop {
        // Only whole lines are ever blanked, so this stays UTF-8.
        let masked = String::from_utf8_lossy(&working).into_owned();
        match cx.pass(&masked, &blanked)? {
            Pass::Done(df) => return Ok(df),
            Pass::Blank(range) => {
                blanked.push(range.start);
                blank(&mut working, range);
            }
        }
    }
}

enum Pass {
    Done(Dockerfile),
    Blank(Range<usize>),
}

/// Makes each line of `range` a comment of the same length.
fn blank(text: &mut [u8], range: Range<usize>) {
    let mut line_start = true;
    for b in &mut text[range] {
        if *b == b'\n' {
            line_start = true;
            continue;
        }
        *b = if line_start { b'#' } else { b' ' };
        line_start = false;
    }
}

struct Cx<'a> {
    text: &'a str,
    lines: Lines<'a>,
    file: &'a str,
    escape: char,
    /// Where blanked here-document bodies start (one per RUN already seen).
    blanked: &'a [usize],
}

/// A conversion problem: an error, or a RUN whose bodies must be blanked first.
enum Stop {
    Error(DockerfileError),
    Blank(Range<usize>),
}

impl From<DockerfileError> for Stop {
    fn from(e: DockerfileError) -> Self {
        Stop::Error(e)
    }
}

impl Cx<'_> {
    fn pass(&self, masked: &str, blanked: &[usize]) -> Result<Pass, DockerfileError> {
        let iter = pd::parse_iter(masked).map_err(|e| self.crate_error(&e))?;
        let directives = directives(self.text);
        let cx = Cx {
            escape: directives.escape,
            lines: Lines::new(self.text),
            blanked,
            text: self.text,
            file: self.file,
        };
        let mut df = Dockerfile {
            file: self.file.to_owned(),
            directives,
            global_args: Vec::new(),
            stages: Vec::new(),
        };
        for item in iter {
            let ins = item.map_err(|e| cx.crate_error(&e))?;
            match cx.convert(ins) {
                Ok(Converted::From(stage)) => {
                    let stage = Stage {
                        index: df.stages.len(),
                        ..*stage
                    };
                    if let Some(name) = &stage.name {
                        if df.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                            return Err(cx.error_at_span(
                                stage.span,
                                None,
                                ErrorKind::DuplicateStage(name.clone()),
                            ));
                        }
                    }
                    df.stages.push(stage);
                }
                Ok(Converted::Other(ins)) => match df.stages.last_mut() {
                    Some(stage) => stage.instructions.push(*ins),
                    None => df.global_args.push(*ins),
                },
                Err(Stop::Blank(range)) => return Ok(Pass::Blank(range)),
                Err(Stop::Error(e)) => return Err(e),
            }
        }
        Ok(Pass::Done(df))
    }

    fn crate_error(&self, e: &pd::Error) -> DockerfileError {
        let message = format!("{e:#}");
        if e.line() == 0 {
            return DockerfileError {
                file: self.file.to_owned(),
                span: None,
                instruction: None,
                kind: Box::new(ErrorKind::Syntax(message)),
            };
        }
        let line_start = self
            .text
            .split_inclusive('\n')
            .take(e.line() - 1)
            .map(str::len)
            .sum::<usize>();
        let offset = line_start + e.column().saturating_sub(1);
        let kind = match self.unknown_word(line_start, offset) {
            Some(word) => ErrorKind::UnknownInstruction(word),
            None => ErrorKind::Syntax(message),
        };
        self.error(offset, None, kind)
    }

    /// The word at `offset` when it starts an instruction line and is no
    /// instruction we know.
    fn unknown_word(&self, line_start: usize, offset: usize) -> Option<String> {
        let before = self.text.get(line_start..offset)?;
        if !before.trim().is_empty() {
            return None;
        }
        let previous = self.text.get(..line_start)?.trim_end_matches(['\n', '\r']);
        if previous.trim_end().ends_with(self.escape) {
            return None;
        }
        let word: String = self.text[self.at(offset)..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let known = INSTRUCTIONS.iter().any(|k| k.eq_ignore_ascii_case(&word));
        (!word.is_empty() && !known).then_some(word)
    }

    fn error(&self, offset: usize, word: Option<&str>, kind: ErrorKind) -> DockerfileError {
        self.error_at_span(self.lines.span(offset), word, kind)
    }

    fn error_at_span(
        &self,
        span: super::Span,
        word: Option<&str>,
        kind: ErrorKind,
    ) -> DockerfileError {
        DockerfileError {
            file: self.file.to_owned(),
            span: Some(span),
            instruction: word.map(str::to_owned),
            kind: Box::new(kind),
        }
    }

    /// `offset` moved back to a character boundary: the crate counts
    /// bytes, and some of its positions (errors, trimmed ends) can fall
    /// inside a multi-byte character.
    fn at(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    /// The text between two offsets from the crate, never panicking.
    fn cut(&self, from: usize, to: usize) -> &str {
        let (from, to) = (self.at(from), self.at(to));
        self.text.get(from..to.max(from)).unwrap_or("")
    }

    /// The offset just past the line that holds `offset` (its newline included).
    fn line_end(&self, offset: usize) -> usize {
        let offset = self.at(offset);
        self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i + 1)
    }
}

enum Converted {
    From(Box<Stage>),
    Other(Box<Instruction>),
}

fn raw_flags(flags: &[pd::Flag<'_>]) -> Vec<RawFlag> {
    flags
        .iter()
        .map(|f| RawFlag {
            name: f.name.value.to_string(),
            value: f.value.as_ref().map(|v| v.value.to_string()),
            offset: f.span().start,
        })
        .collect()
}

fn strings(list: &[pd::UnescapedString<'_>]) -> Vec<String> {
    list.iter().map(|s| s.value.to_string()).collect()
}

impl Cx<'_> {
    fn command(&self, c: &pd::Command<'_>) -> (CommandLine, Range<usize>) {
        match c {
            pd::Command::Exec(list) => (CommandLine::Exec(strings(&list.value)), list.span.clone()),
            pd::Command::Shell(raw) => (
                CommandLine::Shell(join_continuations(raw.value, self.escape)),
                raw.span.clone(),
            ),
            #[allow(unreachable_patterns)]
            _ => (CommandLine::Shell(String::new()), 0..0),
        }
    }

    fn convert(&self, ins: pd::Instruction<'_>) -> Result<Converted, Stop> {
        let (start, word) = keyword(&ins, self.text);
        let word = word.to_owned();
        let flag_error =
            |(at, kind): flags::FlagError| Stop::Error(self.error(at, Some(&word), kind));
        let args_error = |at: usize, why: String| {
            Stop::Error(self.error(at, Some(&word), ErrorKind::Arguments(why)))
        };
        let flags_of = |list: &[pd::Flag<'_>]| Flags::new(raw_flags(list), start);
        // `end` is the furthest offset the instruction covers.
        let (kind, end) = match ins {
            pd::Instruction::From(from) => {
                return self
                    .from(&from, start, word)
                    .map(|s| Converted::From(Box::new(s)))
            }
            pd::Instruction::Arg(a) => {
                let decls = words::arg_decls(&a.arguments.value, self.escape)
                    .map_err(|e| args_error(start, e))?;
                (Kind::Arg(decls), a.arguments.span.end)
            }
            pd::Instruction::Run(run) => {
                let flags = flags::run(flags_of(&run.options)).map_err(flag_error)?;
                let (mut command, span) = self.command(&run.arguments);
                let (heredocs, end) = self
                    .run_heredocs(&mut command, &span, &run.here_docs)
                    .map_err(|e| match e {
                        Stop::Error(e) => Stop::Error(DockerfileError {
                            instruction: Some(word.clone()),
                            ..e
                        }),
                        blank => blank,
                    })?;
                (
                    Kind::Run {
                        command,
                        heredocs,
                        flags,
                    },
                    end,
                )
            }
            pd::Instruction::Copy(c) => {
                let flags = flags::copy(flags_of(&c.options)).map_err(flag_error)?;
                let (sources, end) = self.sources(&c.src, start, &c.dest, &word)?;
                (
                    Kind::Copy {
                        sources,
                        dest: c.dest.value.to_string(),
                        flags,
                    },
                    end,
                )
            }
            pd::Instruction::Add(a) => {
                let flags = flags::add(flags_of(&a.options)).map_err(flag_error)?;
                let (sources, end) = self.sources(&a.src, start, &a.dest, &word)?;
                (
                    Kind::Add {
                        sources,
                        dest: a.dest.value.to_string(),
                        flags,
                    },
                    end,
                )
            }
            pd::Instruction::Cmd(c) => {
                let (command, span) = self.command(&c.arguments);
                (Kind::Cmd(command), span.end)
            }
            pd::Instruction::Entrypoint(e) => {
                let (command, span) = self.command(&e.arguments);
                (Kind::Entrypoint(command), span.end)
            }
            pd::Instruction::Env(e) => {
                let pairs = words::pairs(&e.arguments.value, self.escape, "ENV")
                    .map_err(|m| args_error(start, m))?;
                (Kind::Env(pairs), e.arguments.span.end)
            }
            pd::Instruction::Label(l) => {
                let pairs = words::pairs(&l.arguments.value, self.escape, "LABEL")
                    .map_err(|m| args_error(start, m))?;
                (Kind::Label(pairs), l.arguments.span.end)
            }
            pd::Instruction::Maintainer(m) => {
                (Kind::Maintainer(m.name.value.to_string()), m.name.span.end)
            }
            pd::Instruction::User(u) => (
                Kind::User(u.arguments.value.to_string()),
                u.arguments.span.end,
            ),
            pd::Instruction::Workdir(w) => (
                Kind::Workdir(w.arguments.value.to_string()),
                w.arguments.span.end,
            ),
            pd::Instruction::Stopsignal(s) => (
                Kind::Stopsignal(s.arguments.value.to_string()),
                s.arguments.span.end,
            ),
            pd::Instruction::Expose(e) => {
                let end = e.arguments.last().map_or(start, |a| a.span.end);
                (Kind::Expose(strings(&e.arguments)), end)
            }
            pd::Instruction::Volume(v) => match &v.arguments {
                pd::JsonOrStringArray::Json(list) => {
                    (Kind::Volume(strings(&list.value)), list.span.end)
                }
                pd::JsonOrStringArray::String(list) => (
                    Kind::Volume(strings(list)),
                    list.last().map_or(start, |a| a.span.end),
                ),
            },
            pd::Instruction::Shell(s) => {
                let end = s.arguments.last().map_or(start, |a| a.span.end);
                (Kind::Shell(strings(&s.arguments)), end)
            }
            pd::Instruction::Healthcheck(h) => self.healthcheck(&h, start, &word)?,
            pd::Instruction::Onbuild(o) => {
                let inner = match self.convert(*o.instruction)? {
                    Converted::Other(i) => i,
                    Converted::From(s) => {
                        return Err(Stop::Error(self.error_at_span(
                            s.span,
                            Some(&word),
                            ErrorKind::OnbuildForbidden("FROM".into()),
                        )));
                    }
                };
                if matches!(inner.kind, Kind::Maintainer(_) | Kind::Onbuild { .. }) {
                    let what = inner.word.to_ascii_uppercase();
                    return Err(Stop::Error(self.error_at_span(
                        inner.span,
                        Some(&word),
                        ErrorKind::OnbuildForbidden(what),
                    )));
                }
                let end = start
                    + self.cut(start, usize::MAX).find(&inner.text).unwrap_or(0)
                    + inner.text.len();
                let trigger = join_continuations(&inner.text, self.escape);
                (
                    Kind::Onbuild {
                        trigger,
                        instruction: inner,
                    },
                    end,
                )
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(Stop::Error(self.error(
                    start,
                    Some(&word),
                    ErrorKind::UnknownInstruction(word.clone()),
                )))
            }
        };
        Ok(Converted::Other(Box::new(Instruction {
            span: self.lines.span(start),
            text: self.source_text(start, end),
            word,
            kind,
        })))
    }

    /// The instruction's text, from its keyword to the end of its last line.
    fn source_text(&self, start: usize, end: usize) -> String {
        let end = self.line_end(end.max(start));
        self.cut(start, end).trim_end().to_owned()
    }

    fn from(
        &self,
        from: &pd::FromInstruction<'_>,
        start: usize,
        word: String,
    ) -> Result<Stage, Stop> {
        let platform = flags::from(Flags::new(raw_flags(&from.options), start))
            .map_err(|(at, kind)| Stop::Error(self.error(at, Some(&word), kind)))?;
        let mut end = from.image.span.end;
        let name = match &from.as_ {
            Some((_, name)) => {
                end = name.span.end;
                let lower = name.value.to_ascii_lowercase();
                let mut chars = lower.chars();
                let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                    && chars
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !valid {
                    return Err(Stop::Error(self.error(
                        name.span.start,
                        Some(&word),
                        ErrorKind::StageName(name.value.to_string()),
                    )));
                }
                Some(lower)
            }
            None => None,
        };
        Ok(Stage {
            index: 0,
            name,
            from: from.image.value.to_string(),
            platform,
            span: self.lines.span(start),
            text: self.source_text(start, end),
            instructions: Vec::new(),
        })
    }

    fn healthcheck(
        &self,
        h: &pd::HealthcheckInstruction<'_>,
        start: usize,
        word: &str,
    ) -> Result<(Kind, usize), Stop> {
        let flags = Flags::new(raw_flags(&h.options), start);
        match &h.arguments {
            pd::HealthcheckArguments::None { none, .. } => {
                if let Some(f) = h.options.first() {
                    let why = "HEALTHCHECK NONE takes no options".to_string();
                    return Err(Stop::Error(self.error(
                        f.span().start,
                        Some(word),
                        ErrorKind::Arguments(why),
                    )));
                }
                Ok((Kind::Healthcheck(None), none.span.end))
            }
            pd::HealthcheckArguments::Cmd { arguments, .. } => {
                let options = flags::healthcheck(flags)
                    .map_err(|(at, kind)| Stop::Error(self.error(at, Some(word), kind)))?;
                let (command, span) = self.command(arguments);
                Ok((Kind::Healthcheck(Some((command, options))), span.end))
            }
            #[allow(unreachable_patterns)]
            _ => Err(Stop::Error(self.error(
                start,
                Some(word),
                ErrorKind::Syntax("expected CMD or NONE".into()),
            ))),
        }
    }

    /// A RUN's here-documents: read by us from the end of its line; the part
    /// the crate did not consume must be blanked before parsing on.
    fn run_heredocs(
        &self,
        command: &mut CommandLine,
        span: &Range<usize>,
        crate_docs: &[pd::HereDoc<'_>],
    ) -> Result<(Vec<Heredoc>, usize), Stop> {
        let CommandLine::Shell(line) = command else {
            return Ok((Vec::new(), span.end));
        };
        if !crate_docs.is_empty() {
            // The crate's command text starts after the first delimiter: take
            // the line from that `<<` instead.
            let from = self.cut(0, span.start).rfind("<<").unwrap_or(span.start);
            let to = self
                .cut(span.end, usize::MAX)
                .find('\n')
                .map_or(self.text.len(), |i| span.end + i);
            *line = join_continuations(self.cut(from, to).trim_end(), self.escape);
        }
        let mut docs = heredoc::in_line(line);
        if docs.is_empty() && crate_docs.is_empty() {
            return Ok((docs, span.end));
        }
        let line_end = self.line_end(span.end);
        let error =
            |why: String| Stop::Error(self.error(span.start, None, ErrorKind::Heredoc(why)));
        if docs.is_empty() {
            return Err(error("cannot read the delimiter".into()));
        }
        let end = heredoc::read_bodies(self.text, line_end, &mut docs).map_err(error)?;
        let consumed = match crate_docs.last() {
            Some(d) => self.line_end(d.span.end),
            None => line_end,
        };
        if consumed > end {
            return Err(error("cannot read the delimiters".into()));
        }
        if consumed < end && !self.blanked.contains(&consumed) {
            return Err(Stop::Blank(consumed..end));
        }
        // `end` is past the terminator's newline; keep the terminator in the text.
        Ok((docs, end.saturating_sub(1)))
    }

    /// COPY/ADD sources; here-documents get their delimiter (the file name)
    /// from the command line, which the crate does not keep.
    fn sources(
        &self,
        src: &[pd::Source<'_>],
        start: usize,
        dest: &pd::UnescapedString<'_>,
        word: &str,
    ) -> Result<(Vec<Source>, usize), Stop> {
        let mut end = dest.span.end;
        let n_docs = src
            .iter()
            .filter(|s| matches!(s, pd::Source::HereDoc(_)))
            .count();
        let mut names = Vec::new();
        if n_docs > 0 {
            let line = join_continuations(self.cut(start, dest.span.end), self.escape);
            names = line
                .split_whitespace()
                .filter(|w| w.starts_with("<<"))
                .filter_map(heredoc::from_word)
                .collect();
            if names.len() != n_docs {
                let why = "cannot read the delimiters".to_string();
                return Err(Stop::Error(self.error(
                    start,
                    Some(word),
                    ErrorKind::Heredoc(why),
                )));
            }
        }
        let mut names = names.into_iter();
        let mut out = Vec::with_capacity(src.len());
        for s in src {
            match s {
                pd::Source::Path(p) => out.push(Source::Path(p.value.to_string())),
                pd::Source::HereDoc(d) => {
                    end = end.max(d.span.end);
                    let mut doc = names.next().ok_or_else(|| {
                        Stop::Error(self.error(
                            start,
                            Some(word),
                            ErrorKind::Heredoc("cannot read the delimiters".into()),
                        ))
                    })?;
                    doc.body = d.value.to_string();
                    doc.expand = d.expand;
                    out.push(Source::Heredoc(doc));
                }
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        Ok((out, end))
    }
}

/// The instruction keyword's offset and text.
fn keyword<'t>(ins: &pd::Instruction<'_>, text: &'t str) -> (usize, &'t str) {
    let span = match ins {
        pd::Instruction::Add(i) => &i.add.span,
        pd::Instruction::Arg(i) => &i.arg.span,
        pd::Instruction::Cmd(i) => &i.cmd.span,
        pd::Instruction::Copy(i) => &i.copy.span,
        pd::Instruction::Entrypoint(i) => &i.entrypoint.span,
        pd::Instruction::Env(i) => &i.env.span,
        pd::Instruction::Expose(i) => &i.expose.span,
        pd::Instruction::From(i) => &i.from.span,
        pd::Instruction::Healthcheck(i) => &i.healthcheck.span,
        pd::Instruction::Label(i) => &i.label.span,
        pd::Instruction::Maintainer(i) => &i.maintainer.span,
        pd::Instruction::Onbuild(i) => &i.onbuild.span,
        pd::Instruction::Run(i) => &i.run.span,
        pd::Instruction::Shell(i) => &i.shell.span,
        pd::Instruction::Stopsignal(i) => &i.stopsignal.span,
        pd::Instruction::User(i) => &i.user.span,
        pd::Instruction::Volume(i) => &i.volume.span,
        pd::Instruction::Workdir(i) => &i.workdir.span,
        #[allow(unreachable_patterns)]
        _ => return (0, ""),
    };
    (span.start, text.get(span.clone()).unwrap_or(""))
}

/// The parser directives, read as the crate reads them (it does not hand
/// them out from its instruction iterator): `#key=value` lines at the very
/// top; the first other line ends them; a key given twice voids them all.
fn directives(text: &str) -> Directives {
    let mut d = Directives {
        syntax: None,
        check: None,
        escape: '\\',
    };
    let mut seen_escape = false;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim_matches([' ', '\t']).to_ascii_lowercase();
        let value = value
            .trim_start_matches([' ', '\t'])
            .split([' ', '\t', '\r'])
            .next()
            .unwrap_or("")
            .to_owned();
        let slot_taken = match key.as_str() {
            "syntax" => d.syntax.replace(value).is_some(),
            "check" => d.check.replace(value).is_some(),
            "escape" => {
                d.escape = if value == "`" { '`' } else { '\\' };
                std::mem::replace(&mut seen_escape, true)
            }
            _ => break,
        };
        if slot_taken {
            return Directives {
                syntax: None,
                check: None,
                escape: '\\',
            };
        }
    }
    d
}
