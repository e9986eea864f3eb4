//! Laying a tar stream (COPY's, ADD's, a cached layer) onto a stage's
//! rootfs, through the unpacker: the same confinement, path resolution
//! and ownership rules as an install, whoever the caller is.

use crate::env::EnvSnapshot;
use crate::sandbox::idmap::Privilege;
use crate::unpack::job::{Job, Layer, Op, Source};
use crate::unpack::spawn::{self, SpawnError};
use crate::unpack::Stats;
use std::path::Path;

/// Streams what `write` produces into the unpacker, which applies it on
/// top of `rootfs`. `oci`: whiteouts in the stream delete (a cached layer);
/// else they are ordinary invalid names (a COPY's stream has none).
pub fn apply<E: From<SpawnError> + Send + 'static>(
    exe: &Path,
    privilege: &Privilege,
    env: &EnvSnapshot,
    rootfs: &Path,
    label: &str,
    oci: bool,
    write: impl FnOnce(std::io::PipeWriter) -> Result<(), E> + Send + 'static,
) -> Result<Stats, E> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| SpawnError::Failed(format!("cannot create a pipe: {e}")))?;
    let job = Job {
        op: Op::Extract {
            rootfs: rootfs.to_path_buf(),
            layers: vec![Layer {
                source: Source::Fd { fd: 3 },
                digest: None,
                oci,
                strip: 0,
                label: label.to_owned(),
                size: None,
                diff_id: None,
            }],
            fixups: None,
            squash: matches!(privilege, Privilege::Squash { .. }),
            index: None,
            follow: false,
            memos: None,
            limits: crate::unpack::limits::Limits::from_env(env),
        },
        userns: privilege.is_userns(),
        root: matches!(privilege, Privilege::Root),
        rw: vec![rootfs.to_path_buf()],
        ro: vec![],
        force_walk: false,
    };
    let running = spawn::start(exe, &job, privilege, vec![reader.into()])?;
    let producer = std::thread::spawn(move || write(writer));
    let applied = running.finish_extract(&mut |_| {});
    // The unpacker failing first closes the pipe: the producer's error is
    // then only the echo of it.
    let produced = producer
        .join()
        .unwrap_or_else(|_| Err(SpawnError::Failed("the copy stream panicked".into()).into()));
    let stats = applied?;
    produced?;
    Ok(stats)
}
