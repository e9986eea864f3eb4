//! `build`: images from Dockerfiles, without a daemon.

pub mod apply;
pub mod context;
#[cfg(test)]
mod context_tests;
pub mod ignore;
pub mod run;

/// What can end a build.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Context(#[from] context::Error),
    #[error(transparent)]
    Unpack(#[from] crate::unpack::spawn::SpawnError),
    #[error(transparent)]
    Run(#[from] run::Error),
}
