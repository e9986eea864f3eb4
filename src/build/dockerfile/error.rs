//! Errors of the Dockerfile front end: where (file, line, column, the
//! instruction) and what, as a type, so callers never read the message.

use std::fmt;

/// A position in the Dockerfile, both 1-based; column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// `file:line:column: INSTRUCTION: what` (the parts that are known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DockerfileError {
    pub file: String,
    /// None for errors about the whole file or the command line (`--target`).
    pub span: Option<Span>,
    /// The instruction word as written (`RUN`, `COPY`, ...), when one is at fault.
    pub instruction: Option<String>,
    #[source]
    pub kind: Box<ErrorKind>,
}

impl fmt::Display for DockerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(span) = self.span {
            write!(f, ":{span}")?;
        }
        f.write_str(": ")?;
        if let Some(word) = &self.instruction {
            write!(f, "{word}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl DockerfileError {
    /// What to try next, for the applet's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self.kind.as_ref() {
            ErrorKind::UnknownInstruction(_) => Some(
                "instructions are FROM RUN COPY ADD CMD ENTRYPOINT ENV ARG LABEL MAINTAINER USER \
                 WORKDIR EXPOSE VOLUME STOPSIGNAL HEALTHCHECK SHELL ONBUILD"
                    .into(),
            ),
            ErrorKind::UnknownTarget(_) => {
                Some("--target takes a name given with FROM … AS NAME".into())
            }
            _ => None,
        }
    }
}

/// What went wrong. Messages are lower-case phrases without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The syntax layer's own complaint (unterminated quote or here-document,
    /// missing argument, invalid JSON, ...).
    #[error("{0}")]
    Syntax(String),
    #[error("unknown instruction '{0}'")]
    UnknownInstruction(String),
    #[error("unknown flag '--{0}'")]
    UnknownFlag(String),
    #[error("flag '--{0}' needs a value")]
    FlagNeedsValue(String),
    #[error("flag '--{0}' given twice")]
    FlagRepeated(String),
    #[error("invalid value '{value}' for '--{flag}': {why}")]
    FlagValue {
        flag: String,
        value: String,
        why: String,
    },
    #[error("invalid --mount: {0}")]
    Mount(String),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("{0}")]
    Arguments(String),
    #[error("here-document: {0}")]
    Heredoc(String),
    #[error("{0} is not allowed after ONBUILD")]
    OnbuildForbidden(String),
    #[error("invalid stage name '{0}': use a letter first, then letters, digits, '-', '_' or '.'")]
    StageName(String),
    #[error("stage name '{0}' is used twice")]
    DuplicateStage(String),
    #[error("variable expansion: {0}")]
    Expansion(String),
    #[error("base image name is empty after expansion of '{0}'")]
    EmptyBase(String),
    #[error("'{0}' refers to the stage itself or a later one")]
    StageCycle(String),
    #[error("target stage '{0}' is not in the Dockerfile")]
    UnknownTarget(String),
    #[error("no stage with index {0}")]
    NoSuchStage(usize),
}

/// Byte offsets to line/column, for one source text.
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    pub(crate) fn span(&self, offset: usize) -> Span {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Span { line, column }
    }
}
