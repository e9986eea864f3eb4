//! Laying a tar stream (COPY's, ADD's, a cached layer) onto a stage's
//! rootfs, through the unpacker: the same confinement, path resolution
//! and ownership rules as an install, whoever the caller is.

use crate::env::EnvSnapshot;
use crate::sandbox::idmap::Privilege;
use crate::unpack::job::{Job, Layer, Op, Source};
use crate::unpack::spawn::{self, SpawnError};
use crate::unpack::Stats;
use std::path::{Path, PathBuf};

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
    let layer = layer(label, oci);
    apply_layer(exe, privilege, env, rootfs, layer, write)
}

/// ADD's local archive: where it unpacks and who owns what it holds.
pub struct Unpack {
    pub label: String,
    /// Relative to the rootfs: the archive's top is this directory.
    pub into: PathBuf,
    /// `--chown`: every entry's owner; else the archive's own.
    pub owner: Option<(u32, u32)>,
}

/// Unpacks the archive `write` streams (compressed or not) into a
/// directory of `rootfs`: the unpacker decompresses and reads it, with
/// the same confinement and path rules as an install.
pub fn unpack_into<E: From<SpawnError> + Send + 'static>(
    exe: &Path,
    privilege: &Privilege,
    env: &EnvSnapshot,
    rootfs: &Path,
    how: Unpack,
    write: impl FnOnce(std::io::PipeWriter) -> Result<(), E> + Send + 'static,
) -> Result<Stats, E> {
    let layer = Layer {
        into: Some(how.into),
        owner: how.owner,
        ..layer(&how.label, false)
    };
    apply_layer(exe, privilege, env, rootfs, layer, write)
}

fn layer(label: &str, oci: bool) -> Layer {
    Layer {
        source: Source::Fd { fd: 3 },
        digest: None,
        oci,
        strip: 0,
        into: None,
        owner: None,
        label: label.to_owned(),
        size: None,
        diff_id: None,
    }
}

fn apply_layer<E: From<SpawnError> + Send + 'static>(
    exe: &Path,
    privilege: &Privilege,
    env: &EnvSnapshot,
    rootfs: &Path,
    layer: Layer,
    write: impl FnOnce(std::io::PipeWriter) -> Result<(), E> + Send + 'static,
) -> Result<Stats, E> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| SpawnError::Failed(format!("cannot create a pipe: {e}")))?;
    let job = Job {
        op: Op::Extract {
            rootfs: rootfs.to_path_buf(),
            layers: vec![layer],
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
