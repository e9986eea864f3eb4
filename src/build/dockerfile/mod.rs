//! The Dockerfile front end: text → [`Dockerfile`] (syntax, nothing
//! expanded) → [`Plan`] (stages selected and resolved) → [`StagePlan`]
//! (one stage's steps, every variable expanded).
//!
//! The syntax itself (escape directive, continuations, comments, exec and
//! shell forms, flags, COPY/ADD here-documents) comes from the
//! `parse-dockerfile` crate; RUN here-documents anywhere on the line, word
//! splitting, ENV/LABEL/ARG pairs, flag checking and expansion are ours
//! (`heredoc`, `words`, `flags`, `mount`, `expand`).
//!
//! Planning is lazy, per stage, because a stage's variables start from its
//! base image's `Env`, known only once the image is pulled:
//!
//! ```text
//! let df = dockerfile::parse(&text, "Dockerfile")?;
//! let plan = dockerfile::Plan::new(&df, &inputs)?;   // FROM lines, --target
//! for &i in &plan.order {                            // dependencies first
//!     let base = match &plan.bases[i] {               // Scratch / Stage / Image
//!         Base::Image(r) => config_of(pull(r)),       // Env, WorkingDir, User
//!         Base::Stage(j) => done[j].as_base(),
//!         Base::Scratch => BaseConfig::default(),
//!     };
//!     let stage = plan.stage(i, &base)?;              // expanded steps
//!     // run stage.steps; image config from stage.config over the base's
//! }
//! plan.unused_build_args()                            // the warning list
//! ```
//!
//! Stage dependencies (FROM, `COPY --from`, `RUN --mount from=`) are found
//! in [`Plan::new`] with the stage's own ARG and ENV but without the base
//! image's environment; a `--from=$X` whose X only the base image sets is
//! resolved in [`Plan::stage`], which reports it in [`StagePlan::needs`].

mod error;
mod expand;
mod flags;
mod heredoc;
mod mount;
mod plan;
mod stage;
mod step;
mod syntax;
mod words;

#[cfg(test)]
mod tests;

pub use error::{DockerfileError, ErrorKind, Span};
pub use expand::Vars;
pub use flags::{AddFlags, CopyFlags, HealthOptions, Network, RunFlags};
pub use heredoc::Heredoc;
pub use mount::{Mount, MountSpec, MountType, Sharing};
pub use plan::{Base, BuildInputs, Plan, PLATFORM_ARGS, PREDEFINED_ARGS};
pub use stage::{BaseConfig, Healthcheck, StageConfig, StagePlan};
pub use step::{Action, CopyFrom, CopySource, RunCommand, Setting, Step};
pub use syntax::parse;
pub use words::{ArgDecl, Pair};

/// A parsed Dockerfile. Nothing in it is expanded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name errors use (`Dockerfile`, `-` for standard input, a path).
    pub file: String,
    pub directives: Directives,
    /// ARG lines before the first FROM: usable in FROM lines only, unless a
    /// stage declares the name again.
    pub global_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// Parser directives at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (recorded; we never fetch a frontend).
    pub syntax: Option<String>,
    /// `# check=` (recorded).
    pub check: Option<String>,
    /// `# escape=`: `\` unless set to a backtick.
    pub escape: char,
}

/// One FROM and what follows it up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// The `AS` name, lower-cased (stage names are case-insensitive).
    pub name: Option<String>,
    /// The image word as written (`ubuntu:${V}`, `scratch`, a stage name).
    pub from: String,
    /// `--platform=` as written.
    pub platform: Option<String>,
    pub span: Span,
    pub text: String,
    pub instructions: Vec<Instruction>,
}

/// One instruction: where it is, what it said, what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub span: Span,
    /// The keyword as written (`run`, `RUN`), for messages.
    pub word: String,
    /// The source text, continuation lines and here-document bodies included.
    pub text: String,
    pub kind: Kind,
}

/// Exec form (JSON array, run as is) or shell form (run with SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    /// Continuations removed, otherwise as written: the shell expands it.
    Shell(String),
}

/// A COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(String),
    Heredoc(Heredoc),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Arg(Vec<ArgDecl>),
    Run {
        command: CommandLine,
        heredocs: Vec<Heredoc>,
        flags: RunFlags,
    },
    Copy {
        sources: Vec<Source>,
        dest: String,
        flags: CopyFlags,
    },
    Add {
        sources: Vec<Source>,
        dest: String,
        flags: AddFlags,
    },
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Env(Vec<Pair>),
    Label(Vec<Pair>),
    Maintainer(String),
    User(String),
    Workdir(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Stopsignal(String),
    Healthcheck(Option<(CommandLine, HealthOptions)>),
    Shell(Vec<String>),
    /// The trigger as it goes into the image config, and its parsed form.
    Onbuild {
        trigger: String,
        instruction: Box<Instruction>,
    },
}
