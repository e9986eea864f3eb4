//! Turning untrusted tar streams into a rootfs, confined beneath a
//! directory fd.

mod apply;
pub mod child;
mod create;
pub mod decompress;
pub mod extract;
pub mod fixups;
mod follow;
pub mod index;
pub mod job;
pub mod limits;
mod memo;
mod readahead;
mod remove;
pub mod resolve;
pub mod spawn;
mod special;
mod spill;
pub mod stats;
mod whiteout;

pub use extract::{ExtractOptions, Extractor, Ownership};
pub use resolve::{open_in_root, resolve_parent, ResolveMode};
pub use spawn::remover;
pub use stats::{Error, Progress, Stats};

#[cfg(test)]
mod fidelity_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod testutil;
