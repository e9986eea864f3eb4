//! What an applet and its unpacker child say over the confined-child
//! protocol (`sandbox::child`): the job, the feed that may follow it, and
//! the events that come back.

use super::fixups::Fixups;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub op: Op,
    /// Unshare a user namespace and wait for the parent to map it.
    pub userns: bool,
    /// Root caller: keep only the unpacking capabilities.
    pub root: bool,
    /// Landlock: writable trees.
    pub rw: Vec<PathBuf>,
    /// Landlock: read-only trees (the layer cache).
    pub ro: Vec<PathBuf>,
    /// Use the O_PATH walk instead of openat2 (old kernels; tests).
    #[serde(default)]
    pub force_walk: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// Apply layers in order to `rootfs`, then the fixups, then write the index.
    Extract {
        rootfs: PathBuf,
        layers: Vec<Layer>,
        fixups: Option<Box<Fixups>>,
        squash: bool,
        index: Option<PathBuf>,
        /// More layers follow on stdin as [`Feed`] lines (registry installs
        /// extract layer N while later layers still download).
        #[serde(default)]
        follow: bool,
        /// Where layers' hash memos are read from and new ones written to.
        #[serde(default)]
        memos: Option<MemoDirs>,
        /// How far the layers may inflate.
        #[serde(default)]
        limits: super::limits::Limits,
    },
    /// Delete a tree (a rootless store's files belong to subordinate ids).
    Remove { path: PathBuf },
    /// Measure a tree's disk usage from inside the user namespace.
    Usage { path: PathBuf },
    /// A build stage's rootfs side: snapshots and layers of `rootfs`,
    /// written into the layer cache `blobs`, one per [`Feed::Snapshot`] or
    /// [`Feed::WriteLayer`] request, until the feed ends.
    Rootfs { rootfs: PathBuf, blobs: PathBuf },
}

/// What the parent streams to a following child, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "feed", rename_all = "snake_case")]
pub enum Feed {
    /// The next layer, verified and complete.
    Layer {
        layer: Layer,
    },
    /// The next layer while it still downloads: its first `available`
    /// bytes are in `partial` (once verified, the file is renamed to the
    /// layer's own path). `Grow` says how far it got, `Verified` that it
    /// is complete and matched its digest; an unverified layer never
    /// counts, an `Abort` (or EOF) fails the job instead.
    Stream {
        layer: Layer,
        partial: PathBuf,
        available: u64,
    },
    Grow {
        available: u64,
    },
    Verified {
        size: u64,
    },
    End,
    /// The parent gave up (a download failed); the child stops and fails.
    Abort {
        reason: String,
    },
    /// [`Op::Rootfs`]: remember the tree as it is now.
    Snapshot,
    /// [`Op::Rootfs`]: write what changed since the last snapshot (or
    /// layer) as a layer, and remember the tree as it is now.
    WriteLayer {
        zstd: bool,
        epoch: Option<i64>,
    },
}

/// The cache's memo directory (read-only to the unpacker) and the one in
/// the staging tree that new memos go to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoDirs {
    pub cache: PathBuf,
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    pub source: Source,
    /// The blob's digest, when it is a cached layer: names its hash memo.
    #[serde(default)]
    pub digest: Option<crate::oci::Digest>,
    /// OCI layer: whiteouts apply. Plain tarball: they are invalid names.
    pub oci: bool,
    pub strip: usize,
    /// A plain tarball: unpacked below this directory of the rootfs
    /// (relative; ADD's destination) instead of at its top.
    #[serde(default)]
    pub into: Option<PathBuf>,
    /// A plain tarball: every entry owned by these ids (ADD --chown).
    #[serde(default)]
    pub owner: Option<(u32, u32)>,
    /// Shown in messages.
    pub label: String,
    /// The blob's size, when known before it is complete (a streamed
    /// download); else the unpacker measures its input.
    #[serde(default)]
    pub size: Option<u64>,
    /// The image config's diff_id: the sha256 of the uncompressed stream.
    #[serde(default)]
    pub diff_id: Option<crate::oci::Digest>,
}

impl Layer {
    /// A verified layer blob of the cache (`path`), by its digest.
    pub fn cached(path: PathBuf, digest: &crate::oci::Digest) -> Self {
        Self {
            source: Source::Path { path },
            digest: Some(digest.clone()),
            oci: true,
            strip: 0,
            into: None,
            owner: None,
            label: format!("layer {}", &digest.hex()[..12]),
            size: None,
            diff_id: None,
        }
    }

    /// The same layer, with what the manifest and the image config say
    /// of it.
    pub fn described(self, size: u64, diff_id: Option<crate::oci::Digest>) -> Self {
        Self {
            size: Some(size),
            diff_id,
            ..self
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// An fd the parent opened and handed down (the child's Landlock
    /// domain cannot open the user's archive by path).
    Fd {
        fd: i32,
    },
    Path {
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// What the child holds once confined, before it reads any input.
    Confined {
        report: crate::sandbox::confine::Report,
    },
    Progress {
        layer: usize,
        entries: u64,
        bytes: u64,
    },
    Warning {
        message: String,
    },
    Done {
        stats: super::stats::Stats,
    },
    Usage {
        usage: crate::fsops::du::Usage,
    },
    /// [`Feed::Snapshot`] done.
    Snapshotted {
        entries: u64,
    },
    /// [`Feed::WriteLayer`] done: the blob is in the cache.
    Layer {
        digest: crate::oci::Digest,
        diff_id: crate::oci::Digest,
        size: u64,
        /// Paths the layer holds (whiteouts included): 0 for a step that
        /// changed nothing.
        changes: u64,
    },
}
