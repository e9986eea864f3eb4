//! The rootfs side of a build stage: one unpacker child per stage, in the
//! store's user namespace (rootless) or with the unpacker's capabilities
//! (root), that snapshots the stage's rootfs and writes layers of what
//! steps changed. Keeping it alive for the stage keeps the last snapshot
//! in its memory: each layer costs one walk of the tree, not two.

use crate::sandbox::idmap::Privilege;
use crate::store::blobs::BlobCache;
use crate::unpack::job::{Event, Feed, Job, Op};
use crate::unpack::spawn::{self, Running, SpawnError};
use std::path::Path;
use std::sync::mpsc::Sender;

/// A layer the worker wrote into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub digest: crate::oci::Digest,
    pub diff_id: crate::oci::Digest,
    pub size: u64,
    /// Paths in the layer: 0 when the step changed nothing.
    pub changes: u64,
}

pub struct Worker {
    running: Running,
    requests: Sender<Feed>,
}

impl Worker {
    /// Starts the worker for `rootfs`; it may write only into `blobs`.
    pub fn start(
        exe: &Path,
        privilege: &Privilege,
        rootfs: &Path,
        blobs: &BlobCache,
    ) -> Result<Self, SpawnError> {
        let job = Job {
            op: Op::Rootfs {
                rootfs: rootfs.to_path_buf(),
                blobs: blobs.dir().to_path_buf(),
            },
            userns: privilege.is_userns(),
            root: matches!(privilege, Privilege::Root),
            rw: vec![blobs.dir().to_path_buf()],
            ro: vec![rootfs.to_path_buf()],
            force_walk: false,
        };
        let (requests, rx) = std::sync::mpsc::channel();
        let running = spawn::start_fed(exe, &job, privilege, rx)?;
        Ok(Self { running, requests })
    }

    fn ask(&mut self, request: Feed) -> Result<Event, SpawnError> {
        self.requests
            .send(request)
            .map_err(|_| SpawnError::Failed("the rootfs worker is gone".into()))?;
        self.running.answer()
    }

    /// Remembers the tree as it is; returns how many entries it has.
    pub fn snapshot(&mut self) -> Result<u64, SpawnError> {
        match self.ask(Feed::Snapshot)? {
            Event::Snapshotted { entries } => Ok(entries),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes what changed since the last snapshot or layer.
    pub fn layer(&mut self, zstd: bool, epoch: Option<i64>) -> Result<Written, SpawnError> {
        match self.ask(Feed::WriteLayer { zstd, epoch })? {
            Event::Layer {
                digest,
                diff_id,
                size,
                changes,
            } => Ok(Written {
                digest,
                diff_id,
                size,
                changes,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Ends the worker and reaps it.
    pub fn finish(self) -> Result<(), SpawnError> {
        let _ = self.requests.send(Feed::End);
        self.running.finish(&mut |_| {}).map(|_| ())
    }
}

fn unexpected(event: &Event) -> SpawnError {
    SpawnError::Failed(format!(
        "unexpected answer from the rootfs worker: {event:?}"
    ))
}
