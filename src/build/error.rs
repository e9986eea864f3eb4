//! Errors of the image-writing half of `build`: snapshots, layers, image
//! documents and outputs.

use crate::ioerr::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A name or value the tar format cannot carry.
    #[error("cannot put {path} in a layer: {reason}")]
    Unrepresentable { path: String, reason: &'static str },
    /// The tree changed under the writer (a step still running?).
    #[error("{path} changed while its layer was being written")]
    Changed { path: String },
    /// A base image or stage that cannot be built on; the message says
    /// which and why.
    #[error("{0}")]
    Base(String),
    /// A step that cannot be carried out as written.
    #[error("{location}: {message}")]
    At { location: String, message: String },
    /// A `RUN --mount` that cannot be set up, with what to do about it.
    #[error("{location}: {message}")]
    Mount {
        location: String,
        message: String,
        hint: Option<String>,
    },
    /// A Dockerfile feature this build does not have yet (exit code 3).
    #[error("{location}: {what} is not supported yet")]
    NotYet { location: String, what: String },
    #[error("cannot write the OCI archive {path}: {reason}")]
    Output { path: String, reason: String },
    #[error("bad image reference '{reference}': {reason}")]
    Reference { reference: String, reason: String },
    #[error(transparent)]
    Context(#[from] super::context::Error),
    #[error(transparent)]
    Unpack(#[from] crate::unpack::spawn::SpawnError),
    #[error(transparent)]
    Run(#[from] super::run::Error),
    #[error(transparent)]
    Dockerfile(#[from] super::dockerfile::DockerfileError),
    #[error(transparent)]
    Step(Box<super::exec::StepFailed>),
    #[error("cannot encode the image {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Io(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Mount { hint, .. } => hint.clone(),
            Error::Output { .. } => Some(
                "name the output FILE.oci.tar, FILE.oci.tar.gz, FILE.oci.tar.zst or FILE.oci.tar.xz"
                    .into(),
            ),
            _ => None,
        }
    }
}
