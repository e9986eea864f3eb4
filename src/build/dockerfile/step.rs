//! What a planned stage hands the executor: expanded steps in order.

use super::error::Span;
use super::flags::Network;
use super::heredoc::Heredoc;
use super::mount::Mount;

/// A value a stage may leave as its base had it, set, or clear.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Setting<T> {
    #[default]
    Inherit,
    Set(T),
    /// ENTRYPOINT without a later CMD clears the base image's CMD.
    Clear,
}

/// One instruction, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub span: Span,
    /// The keyword as written, for messages.
    pub word: String,
    /// The instruction's source text (history, progress lines).
    pub text: String,
    /// Canonical text for the build cache key: the instruction with its
    /// expanded flags and arguments, here-document bodies, and for RUN the
    /// ARG values in effect. Never a secret's content.
    pub cache_key: String,
    pub action: Action,
}

/// Where COPY --from and a mount's `from=` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFrom {
    Stage(usize),
    Image(String),
}

/// How a RUN starts its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// Run this argv (exec form; or SHELL plus the command line, which then
    /// carries its here-document bodies for the shell to read).
    Argv(Vec<String>),
    /// `RUN <<EOF` alone: write the body to a file and run it, directly when
    /// it starts with `#!`, else with `shell` followed by the file's path.
    Script { shell: Vec<String>, body: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path (or for ADD a URL), relative to the context or `from`.
    Path(String),
    /// A file made from a here-document: its name and final content.
    Inline { name: String, content: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run {
        command: RunCommand,
        mounts: Vec<Mount>,
        network: Network,
        /// ENV, then ARGs in effect that ENV does not override, then the
        /// predefined proxy build-args given.
        env: Vec<(String, String)>,
        user: Option<String>,
        /// Absolute.
        workdir: String,
        heredocs: Vec<Heredoc>,
    },
    Copy {
        sources: Vec<CopySource>,
        /// As written (expanded); relative to `workdir` unless absolute.
        dest: String,
        workdir: String,
        from: Option<CopyFrom>,
        chown: Option<String>,
        chmod: Option<u32>,
        link: bool,
        parents: bool,
        exclude: Vec<String>,
    },
    Add {
        sources: Vec<CopySource>,
        dest: String,
        workdir: String,
        chown: Option<String>,
        chmod: Option<u32>,
        checksum: Option<String>,
        link: bool,
        exclude: Vec<String>,
    },
    /// Creates the directory when missing (a filesystem step); absolute.
    Workdir(String),
    /// Image configuration only; the result is in [`super::StageConfig`].
    Config,
}
