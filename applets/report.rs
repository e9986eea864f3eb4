//! Exit codes and the single place that reports failures to the user.

use chroot_distro::store;
use std::io::Write;

pub const PROG: &str = "chroot-distro";

/// Exit codes, documented in README.md ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// The operation failed.
    Failure,
    /// Bad command line: unknown command or option, invalid name or value.
    Usage,
    /// The command exists in the table but is not implemented in this build.
    NotImplemented,
    /// The container is locked by another process.
    Busy,
    /// Interrupted by Ctrl-C (128 + SIGINT); nothing was changed.
    Interrupted,
    /// A session's own exit status, passed through (login, run).
    Command(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotImplemented => 3,
            Exit::Busy => 4,
            Exit::Interrupted => 130,
            Exit::Command(c) => c,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A failure on its way to the user: one line of what, one of what to do.
#[derive(Debug)]
pub struct Failure {
    pub code: Exit,
    pub message: String,
    pub hint: Option<String>,
    /// Lines quoted under the message as they are (a failed build step's
    /// last output), between the error line and the hint.
    pub details: Vec<String>,
}

impl Failure {
    pub fn new(code: Exit, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
            details: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints `chroot-distro: error: …` and an optional `hint: …`.
    pub fn report(&self, style: chroot_distro::ui::Style) {
        let mut err = std::io::stderr().lock();
        // One line, whatever a server or the OS put into the message.
        let message = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(err, "{PROG}: {} {message}", style.red("error:"));
        for line in &self.details {
            let _ = writeln!(err, "  | {line}");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(err, "{} {hint}", style.bold("hint:"));
        }
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        let code = match e {
            store::Error::Busy { .. } => Exit::Busy,
            store::Error::InvalidName { .. } => Exit::Usage,
            _ => Exit::Failure,
        };
        Failure {
            code,
            hint: e.hint(),
            message: e.to_string(),
            details: Vec::new(),
        }
    }
}

impl From<chroot_distro::install::Error> for Failure {
    fn from(e: chroot_distro::install::Error) -> Self {
        use chroot_distro::install::Error as E;
        let code = match &e {
            E::Store(store::Error::Busy { .. }) => Exit::Busy,
            E::Store(store::Error::InvalidName { .. }) => Exit::Usage,
            _ => Exit::Failure,
        };
        Failure {
            code,
            hint: e.hint(),
            message: e.to_string(),
            details: Vec::new(),
        }
    }
}

/// Prints `chroot-distro: warning: …`.
pub fn warn(style: chroot_distro::ui::Style, message: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{PROG}: {} {message}",
        style.yellow("warning:")
    );
}
