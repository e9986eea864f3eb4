//! `build`: images from Dockerfiles, without a daemon.

pub mod context;
#[cfg(test)]
mod context_tests;
pub mod ignore;
pub mod run;
