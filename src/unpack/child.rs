//! The unpacker child: `chroot-distro __unpack`, re-executed from our own
//! binary so it starts single-threaded (unshare(CLONE_NEWUSER) refuses
//! threaded callers), and confined before it reads a byte of the archive.

use super::extract::Hashes;
use super::extract::{ExtractOptions, Extractor, Ownership};
use super::follow::{Feeder, FollowReader, Next};
use super::job::{Event, Job, Layer, MemoDirs, Op, Source};
use super::limits::{Limits, Meter};
use super::memo::{Memo, MemoWriter};
use super::resolve::ResolveMode;
use crate::sandbox::child::{self, Inbox, Outbox};
use crate::sandbox::confine;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Address-space cap of the unpacker: decoders need tens of MiB (zstd
/// windows up to 128 MiB), nothing legitimate needs more than this.
const UNPACKER_ADDRESS_SPACE: u64 = 2 << 30;

/// Runs the job the parent sends (`sandbox::child`); returns the process
/// exit code.
pub fn main() -> i32 {
    if !tied_to_parent() {
        return 2;
    }
    let Ok((job, inbox, mut out)) = child::adopt::<Job>() else {
        return 2;
    };
    match run(&job, inbox, &mut out) {
        Ok(()) => 0,
        Err(message) => {
            out.failed(message);
            1
        }
    }
}

/// Asks to die with the applet, and checks it is still there: killed
/// before the request, it sent no signal, and an orphan would go on
/// extracting the layers already fed into a staging directory whose claim
/// died with the applet, while the next install deletes it.
fn tied_to_parent() -> bool {
    confine::die_with_parent();
    let expected = std::env::var(super::spawn::PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    let actual = rustix::process::getppid().map(|p| p.as_raw_pid());
    expected.is_none_or(|pid| actual == Some(pid))
}

/// Everything after the user namespace: a root job's capabilities,
/// `no_new_privs`, the address-space cap and Landlock. Returns whether the
/// kernel enforces Landlock.
fn confine_self(job: &Job) -> Result<bool, String> {
    if job.root && !job.userns {
        confine::keep_only_caps(confine::UNPACK_CAPS)?;
    }
    confine::no_new_privs()?;
    // The tar crate buffers PAX and GNU long-name records whole, at the
    // size the header claims: cap what a hostile header can make us map.
    confine::limit_address_space(UNPACKER_ADDRESS_SPACE)?;
    let rw: Vec<&std::path::Path> = job.rw.iter().map(|p| p.as_path()).collect();
    let ro: Vec<&std::path::Path> = job
        .ro
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.as_path())
        .collect();
    confine::landlock(&rw, &ro)
}

fn run(job: &Job, mut inbox: Inbox, out: &mut Outbox) -> Result<(), String> {
    if job.userns {
        child::enter_user_namespace(&mut inbox, out)?;
        // A change of credentials may clear the parent-death signal.
        if !tied_to_parent() {
            return Err("the installer is gone".into());
        }
    }
    let landlocked = confine_self(job)?;
    out.event(Event::Confined {
        report: confine::report(
            job.userns,
            landlocked,
            &job.rw.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        ),
    });
    let mode = if job.force_walk {
        ResolveMode::Walk
    } else {
        ResolveMode::Auto
    };
    match &job.op {
        Op::Usage { path } => {
            let usage = crate::fsops::du::disk_usage(path, 4)
                .map_err(|e| format!("cannot measure {}: {e}", path.display()))?;
            out.event(Event::Usage { usage });
            Ok(())
        }
        Op::Rootfs { rootfs, blobs } => serve_rootfs(rootfs, blobs, inbox, out),
        Op::Remove { path } => {
            crate::fsops::remove_tree(path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            out.event(Event::Done {
                stats: Default::default(),
            });
            Ok(())
        }
        Op::Extract {
            rootfs,
            layers,
            fixups,
            squash,
            index,
            follow,
            memos,
            limits,
        } => {
            let mut shared = Shared {
                memos: memos.as_ref(),
                limits: *limits,
                inflated: 0,
            };
            let root: OwnedFd = std::fs::File::open(rootfs)
                .map_err(|e| format!("cannot open {}: {e}", rootfs.display()))?
                .into();
            // Only a plain tarball (always a single layer) is stripped,
            // placed below a directory or given an owner.
            let plain = layers.iter().find(|l| !l.oci);
            let strip = plain.map_or(0, |l| l.strip);
            let opts = ExtractOptions {
                ownership: if *squash {
                    Ownership::Squash
                } else {
                    Ownership::Preserve
                },
                strip_components: strip,
                resolver: mode,
                allow_devices: true,
                into: plain.and_then(|l| l.into.clone()).unwrap_or_default(),
                owner: plain.and_then(|l| l.owner),
            };
            let mut extractor = Extractor::new(root, opts);
            for (i, layer) in layers.iter().enumerate() {
                apply_layer(&mut extractor, i, layer, &mut shared, out)?;
            }
            if *follow {
                let feeder = Feeder::start(inbox);
                let mut n = layers.len();
                loop {
                    match feeder.next()? {
                        Next::Layer(layer) => {
                            apply_layer(&mut extractor, n, &layer, &mut shared, out)?
                        }
                        Next::Stream {
                            layer,
                            partial,
                            growing,
                        } => {
                            let file = open_growing(&partial, &layer)?;
                            let reader = FollowReader::new(file, growing.clone());
                            let size = layer.size;
                            apply_reader(
                                &mut extractor,
                                n,
                                &layer,
                                (reader, size),
                                &mut shared,
                                out,
                            )?;
                            growing.verified()?;
                        }
                        Next::End => break,
                    }
                    n += 1;
                }
            }
            let root = std::fs::File::open(rootfs).map_err(|e| e.to_string())?;
            // Before finish(): deferred directory modes and mtimes then
            // apply over the fixups too (etc keeps its image mtime).
            if let Some(f) = fixups {
                super::fixups::apply(root.as_fd(), f, mode)
                    .map_err(|e| format!("cannot write /etc fixups: {e}"))?;
            }
            let hashes = extractor.take_hashes();
            let mut stats = extractor.finish().map_err(|e| e.to_string())?;
            if let Some(path) = index {
                let file = std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let mut w = std::io::BufWriter::new(file);
                let spill = path.parent().unwrap_or(std::path::Path::new("."));
                let paths = super::index::write(root.as_fd(), &hashes, spill, &mut w)
                    .and_then(|n| w.flush().map(|_| n))
                    .map_err(|e| format!("cannot write the install index: {e}"))?;
                stats.paths = paths as u64;
            }
            out.event(Event::Done { stats });
            Ok(())
        }
    }
}

/// What the layers of one job share.
struct Shared<'a> {
    /// Where layers' hash memos are read and written.
    memos: Option<&'a MemoDirs>,
    limits: Limits,
    /// Uncompressed bytes the layers so far took.
    inflated: u64,
}

fn apply_layer(
    extractor: &mut Extractor,
    index: usize,
    layer: &Layer,
    shared: &mut Shared,
    out: &mut Outbox,
) -> Result<(), String> {
    let file = match &layer.source {
        // SAFETY: the parent placed this fd for us and nothing else owns it.
        Source::Fd { fd } => std::fs::File::from(unsafe { OwnedFd::from_raw_fd(*fd) }),
        Source::Path { path } => {
            std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?
        }
    };
    let size = layer.size.or_else(|| file.metadata().ok().map(|m| m.len()));
    apply_reader(extractor, index, layer, (file, size), shared, out)
}

/// The partial file of a download, or (verified and renamed meanwhile)
/// the layer's own file.
fn open_growing(partial: &std::path::Path, layer: &Layer) -> Result<std::fs::File, String> {
    let cannot = |e: std::io::Error| format!("cannot open {}: {e}", partial.display());
    match std::fs::File::open(partial) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &layer.source {
            Source::Path { path } => std::fs::File::open(path).map_err(cannot),
            Source::Fd { .. } => Err(cannot(e)),
        },
        r => r.map_err(cannot),
    }
}

/// Applies one layer from `input` (and its compressed size, when known):
/// decoded, metered against the job's limits, its stream hashed for the
/// diff_id unless a memo or the blob digest already vouches for it.
fn apply_reader(
    extractor: &mut Extractor,
    index: usize,
    layer: &Layer,
    (input, compressed): (impl std::io::Read + Send + 'static, Option<u64>),
    shared: &mut Shared,
    out: &mut Outbox,
) -> Result<(), String> {
    let (kind, reader) =
        super::decompress::open(input).map_err(|e| format!("{}: {e}", layer.label))?;
    let ceiling = shared.limits.for_layer(compressed, shared.inflated);
    let (mut hashes, new_memo) = memo_for(layer, shared.memos);
    let vouched = vouched_for(layer, &hashes);
    let want = layer.diff_id.as_ref().filter(|_| vouched == Vouch::No);
    let (meter, tally) = Meter::new(reader, ceiling, want.is_some());
    // Compressed layers inflate on a second thread while this one writes.
    let mut reader: Box<dyn std::io::Read> = match kind {
        super::decompress::Compression::None => Box::new(meter),
        _ => Box::new(super::readahead::ReadAhead::new(Box::new(meter))),
    };
    let mut last = Instant::now();
    let mut progress = |p: &super::stats::Progress| {
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            out.event(Event::Progress {
                layer: index,
                entries: p.entries,
                bytes: p.bytes,
            });
        }
    };
    let applied = extractor
        .apply_hashed(&mut reader, layer.oci, &mut progress, &mut hashes)
        // The diff_id covers the stream to its end, past the tar trailer.
        .and_then(|()| match want {
            Some(_) => std::io::copy(&mut reader, &mut std::io::sink())
                .map(drop)
                .map_err(super::stats::Error::tar),
            None => Ok(()),
        });
    drop(reader);
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    shared.inflated += tally.bytes;
    if let Some(bound) = tally.tripped {
        return Err(format!("{}: {bound}", layer.label));
    }
    applied.map_err(|e| format!("{}: {e}", layer.label))?;
    if let Some(want) = want {
        check_diff_id(layer, want, tally.sha256)?;
    }
    // Best effort, as the memo only saves time.
    match (new_memo, hashes) {
        (Some(path), Hashes::Gather(memo)) => {
            let diff = match vouched {
                Vouch::Digest => layer.diff_id.as_ref().and_then(digest_bytes),
                _ => tally.sha256,
            };
            // A memo that could not be created (the same layer twice in
            // one image) is not ours to remove; a half-written one never
            // loads (its checksum is missing).
            if memo.is_some_and(|m| m.finish(diff).is_err()) {
                let _ = std::fs::remove_file(&path);
            }
        }
        (Some(path), Hashes::Lend(m, _)) if !m.fitted() => {
            let _ = std::fs::write(path.with_extension("stale"), b"");
            // The memo vouched for a stream it turned out not to describe.
            if vouched == Vouch::Memo {
                rehash(layer, ceiling)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a cached layer's diff_id with a second read, for when the memo
/// that vouched for it turned out stale (rare: a memo is keyed by the
/// blob's digest).
fn rehash(layer: &Layer, ceiling: Option<super::limits::Ceiling>) -> Result<(), String> {
    let (Source::Path { path }, Some(want)) = (&layer.source, &layer.diff_id) else {
        return Err(format!(
            "{}: its diff_id could not be checked: install again",
            layer.label
        ));
    };
    let fail = |e: std::io::Error| format!("{}: {e}", layer.label);
    let file = std::fs::File::open(path).map_err(fail)?;
    let (_, reader) = super::decompress::open(file).map_err(fail)?;
    let (mut meter, tally) = Meter::new(reader, ceiling, true);
    std::io::copy(&mut meter, &mut std::io::sink()).map_err(fail)?;
    let got = tally.lock().unwrap_or_else(|p| p.into_inner()).sha256;
    check_diff_id(layer, want, got)
}

fn check_diff_id(
    layer: &Layer,
    want: &crate::oci::Digest,
    got: Option<[u8; 32]>,
) -> Result<(), String> {
    let got = got.map(hex::encode).unwrap_or_default();
    if got == want.hex() {
        return Ok(());
    }
    Err(format!(
        "{}: its uncompressed content does not match the image config's diff_id \
         (expected {want}, got sha256:{got}): the image is corrupt or was tampered with",
        layer.label
    ))
}

/// Who, if anyone, already checked a layer's diff_id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vouch {
    No,
    /// An uncompressed blob: its digest, verified by the cache, is it.
    Digest,
    /// Its memo recorded the stream's sha256 when it was first hashed.
    Memo,
}

fn vouched_for(layer: &Layer, hashes: &Hashes) -> Vouch {
    let Some(diff_id) = &layer.diff_id else {
        return Vouch::No;
    };
    if layer.digest.as_ref() == Some(diff_id) {
        return Vouch::Digest;
    }
    match hashes {
        Hashes::Lend(m, _) if m.diff.map(hex::encode).as_deref() == Some(diff_id.hex()) => {
            Vouch::Memo
        }
        _ => Vouch::No,
    }
}

fn digest_bytes(d: &crate::oci::Digest) -> Option<[u8; 32]> {
    hex::decode(d.hex()).ok()?.try_into().ok()
}

/// A cached layer's memo lends its hashes; without one, they are gathered
/// for a new memo (at the returned path).
fn memo_for(layer: &Layer, memos: Option<&MemoDirs>) -> (Hashes, Option<std::path::PathBuf>) {
    match memos.zip(layer.digest.as_ref()) {
        None => (Hashes::Plain, None),
        Some((dirs, digest)) => {
            let name = digest.file_name();
            let hashes = match Memo::load(&dirs.cache.join(&name)) {
                Some(m) => Hashes::Lend(m, Vec::new()),
                None => Hashes::Gather(MemoWriter::create(&dirs.out.join(&name)).ok()),
            };
            (hashes, Some(dirs.out.join(&name)))
        }
    }
}

/// [`Op::Rootfs`]: snapshots and layers of a build stage's rootfs, as the
/// parent asks, from inside the store's user namespace (a rootless store's
/// files belong to subordinate ids the applet cannot read).
fn serve_rootfs(
    rootfs: &Path,
    blobs: &Path,
    mut inbox: Inbox,
    out: &mut Outbox,
) -> Result<(), String> {
    use crate::build::{diff, write_layer, Compression, LayerOptions, Snapshot};
    use crate::unpack::job::Feed;
    let cache = crate::store::blobs::BlobCache::new(blobs.to_path_buf());
    let take = || Snapshot::take(rootfs).map_err(|e| e.to_string());
    let mut last: Option<Snapshot> = None;
    loop {
        let Some(request) = inbox.recv::<Feed>()? else {
            out.event(Event::Done {
                stats: Default::default(),
            });
            return Ok(());
        };
        match request {
            Feed::Snapshot => {
                let now = take()?;
                out.event(Event::Snapshotted {
                    entries: now.entries().len() as u64,
                });
                last = Some(now);
            }
            Feed::WriteLayer { zstd, epoch } => {
                let before = last.take().unwrap_or_default();
                let now = take()?;
                let changes = diff(&before, &now);
                let opts = LayerOptions {
                    compression: if zstd {
                        Compression::Zstd
                    } else {
                        Compression::Gzip
                    },
                    epoch,
                };
                let layer =
                    write_layer(rootfs, &changes, &opts, &cache).map_err(|e| e.to_string())?;
                out.event(Event::Layer {
                    digest: layer.digest,
                    diff_id: layer.diff_id,
                    size: layer.size,
                    changes: changes.len() as u64,
                });
                last = Some(now);
            }
            Feed::End => {
                out.event(Event::Done {
                    stats: Default::default(),
                });
                return Ok(());
            }
            other => return Err(format!("unexpected request: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// What a write at `path` gives: 0, or the errno.
    fn write_errno(path: &Path) -> i32 {
        match std::fs::write(path, b"x") {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(-1),
        }
    }

    /// The unpacker's own confinement, applied in a forked child to a job
    /// shaped like an install's (staging writable, cache read-only): the
    /// kernel lets it write only beneath the staging dir. The report's
    /// `landlock true` says only that a ruleset was applied; this shows what
    /// the ruleset lets through.
    #[test]
    fn the_confined_unpacker_writes_only_beneath_its_staging_dir() {
        let dir = tempfile::tempdir().unwrap();
        let (staging, cache, outside) = (
            dir.path().join("staging"),
            dir.path().join("cache"),
            dir.path().join("elsewhere"),
        );
        for d in [&staging, &cache, &outside] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(cache.join("layer"), b"blob").unwrap();
        let job = Job {
            op: Op::Remove {
                path: staging.clone(),
            },
            userns: false,
            root: rustix::process::geteuid().is_root(),
            rw: vec![staging.clone()],
            ro: vec![cache.clone()],
            force_walk: false,
        };
        // SAFETY: the child makes system calls and small allocations only
        // (glibc keeps malloc usable after fork) and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = match confine_self(&job) {
                Ok(true) => {
                    // Each probe: 0 when allowed, else the errno.
                    let probes = [
                        write_errno(&staging.join("inside")),
                        write_errno(&outside.join("escape")),
                        write_errno(&cache.join("layer")),
                        write_errno(&dir.path().join("beside")),
                        i32::from(std::fs::read(cache.join("layer")).is_err()),
                    ];
                    let _ = std::fs::write(
                        staging.join("probes"),
                        probes.map(|p| p.to_string()).join(" "),
                    );
                    0
                }
                Ok(false) => 2,
                Err(_) => 3,
            };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(
            status, 0,
            "confinement failed or Landlock is not enforced here"
        );
        let probes = std::fs::read_to_string(staging.join("probes")).unwrap();
        let eacces = libc::EACCES.to_string();
        let expect = ["0", &eacces, &eacces, &eacces, "0"].join(" ");
        assert_eq!(probes, expect, "inside, outside, cache, beside, read cache");
        assert!(staging.join("inside").exists());
        assert!(!outside.join("escape").exists() && !dir.path().join("beside").exists());
        assert_eq!(std::fs::read(cache.join("layer")).unwrap(), b"blob");
    }
}
