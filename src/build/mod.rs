//! `build`: images from Dockerfiles.
//!
//! The image-writing half (these modules) turns what build steps did to a
//! stage's rootfs into an OCI image. The executor calls, per stage:
//!
//! ```text
//! let mut image = ImageBuilder::from_base(&base.manifest, &base.config)?;   // or ::scratch(&platform)
//! for each step:
//!     let before = Snapshot::take(&rootfs)?;            // filesystem steps only
//!     … run the step …
//!     let changes = diff(&before, &Snapshot::take(&rootfs)?);
//!     let layer = write_layer(&rootfs, &changes, &opts, &blobs)?;   // into oci_layers/
//!     image.push_step(Step { created_by, comment, layer: Some(layer) }, &created(opts.epoch));
//!     (config-only steps: edit image.runtime(), push_step with layer: None)
//! let image = image.finish(&created(opts.epoch))?;
//! store_image(&paths, &tags, &image)?;                  // then `install TAG` works offline
//! write_oci_archive(&file, &image, &tags, &blobs)?;     // each -o FILE
//! ```
//!
//! Snapshots and layer writing read the rootfs, so for a rootless store
//! they run inside the store's user namespace (see [`layer`]); the rest
//! touches only the cache and runs in the applet.
//!
//! The step half: [`context`] turns COPY's sources into a tar stream that
//! [`apply`] lays onto the rootfs through the unpacker, and [`run`] runs a
//! RUN step as a session.

pub mod apply;
pub mod cache;
pub mod context;
#[cfg(test)]
mod context_tests;
pub mod diff;
pub mod dockerfile;
pub mod error;
pub mod exec;
pub mod ignore;
pub mod image;
pub mod layer;
pub mod output;
pub mod prune;
pub mod run;
pub mod run_mounts;
pub mod snapshot;
pub mod tarwrite;
pub mod worker;

// COPY and ADD's sources (context, here-documents, archives, downloads).
mod copy_step;
mod remote;

pub use diff::{diff, Change, ChangeKind, Changes};
pub use error::Error;
pub use image::{created, Image, ImageBuilder, Step};
pub use layer::{write_layer, Compression, LayerDescriptor, LayerOptions};
pub use output::{store_image, write_oci_archive};
pub use snapshot::Snapshot;
