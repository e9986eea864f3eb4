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
    /// The base image's documents do not describe a usable image.
    #[error("the base image cannot be built on: {0}")]
    Base(String),
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
            Error::Output { .. } => Some(
                "name the output FILE.oci.tar, FILE.oci.tar.gz, FILE.oci.tar.zst or FILE.oci.tar.xz"
                    .into(),
            ),
            _ => None,
        }
    }
}
