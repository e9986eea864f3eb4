//! Fetching layer blobs into the cache: several at a time, each hashed as
//! it is written, retried with Range resume, rate-limited on request, and
//! reported as it grows so extraction can follow a download in progress.

use super::pull::Resolved;
use super::{DownloadSettings, Error};
use crate::oci::Digest;
use crate::store::blobs::{BlobCache, BlobWriter, VerifyError};
use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much a download grows between two [`LayerEvent::Growing`] reports
/// (each one flushes the blob writer first).
const GROW_STEP: u64 = 1 << 20;

/// What the download tasks share: the HTTP client, reference and auth.
pub struct ImageSourceHandle {
    pub(super) reference: Reference,
    pub(super) auth: RegistryAuth,
    pub(super) http: reqwest::Client,
    /// Plain HTTP to the registry (`--allow-insecure`).
    pub(super) insecure: bool,
    pub(super) limits: super::settings::Limits,
    /// The install's token, shared by every handle of one image source
    /// (None inside: the registry wants none).
    pub(super) token: Arc<tokio::sync::Mutex<Option<Option<String>>>>,
}

/// What [`download_layers`] reports while it works.
#[derive(Debug)]
pub enum LayerEvent<'a> {
    /// The first `written` bytes of layer `index` are on disk in
    /// `partial` (flushed, not yet verified). The file only ever grows: a
    /// resumed download appends, it never rewrites what was reported.
    Growing {
        index: usize,
        partial: &'a Path,
        written: u64,
    },
    /// Layer `index` passed its size and digest checks and is in the
    /// cache (reported in completion order, cached layers at once).
    Cached { index: usize },
}

/// Receives [`LayerEvent`]s from the download tasks.
pub trait LayerSink: Send + Sync {
    /// `false` from a `Cached` event stops the downloads still running
    /// (their partial files are removed).
    fn event(&self, ev: LayerEvent<'_>) -> bool;
}

/// A sink that only lets the downloads run.
pub struct AllLayers;

impl LayerSink for AllLayers {
    fn event(&self, _: LayerEvent<'_>) -> bool {
        true
    }
}

/// A token bucket shared by all downloads (`CD_DOWNLOAD_RATE_LIMIT`).
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// How long to wait before `n` bytes may pass.
    fn take(&mut self, n: usize) -> Duration {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Downloads every layer not yet cached, `settings.workers` at a time,
/// telling `events` how each grows and when each is verified.
pub async fn download_layers(
    source: Arc<ImageSourceHandle>,
    resolved: Resolved,
    blobs: BlobCache,
    settings: DownloadSettings,
    on_bytes: super::ByteSink,
    events: &dyn LayerSink,
) -> Result<(), Error> {
    let bucket = (settings.rate_limit > 0).then(|| {
        Mutex::new(Bucket {
            rate: settings.rate_limit as f64,
            tokens: settings.rate_limit as f64,
            last: Instant::now(),
        })
    });
    // A user's own rate limit below the floor must not read as a stall.
    let min_rate = match settings.rate_limit {
        0 => settings.min_rate,
        limit => settings.min_rate.min(limit / (4 * settings.workers as u64)),
    };
    let shared = Shared {
        src: &source,
        blobs: &blobs,
        max_retries: settings.max_retries,
        min_rate,
        stall_time: settings.stall_time,
        bucket: bucket.as_ref(),
        on_bytes: &on_bytes,
        events,
    };
    let shared = &shared;
    let jobs = resolved
        .layers
        .iter()
        .cloned()
        .zip(resolved.sizes.iter().copied())
        .enumerate()
        .map(|(index, (layer, size))| async move {
            let want = Wanted {
                index,
                digest: &layer.digest,
                size,
            };
            (index, fetch_blob(shared, want).await)
        });
    let mut stream = futures_util::stream::iter(jobs).buffer_unordered(settings.workers);
    while let Some((index, result)) = stream.next().await {
        result?;
        if !events.event(LayerEvent::Cached { index }) {
            return Ok(());
        }
    }
    Ok(())
}

/// What every blob download of one install shares.
struct Shared<'a> {
    src: &'a ImageSourceHandle,
    blobs: &'a BlobCache,
    max_retries: u32,
    min_rate: u64,
    stall_time: Duration,
    bucket: Option<&'a Mutex<Bucket>>,
    on_bytes: &'a super::ByteSink,
    events: &'a dyn LayerSink,
}

/// One blob to fetch: which layer it is (for progress), what and how big.
struct Wanted<'a> {
    index: usize,
    digest: &'a Digest,
    size: u64,
}

async fn fetch_blob(sh: &Shared<'_>, want: Wanted<'_>) -> Result<(), Error> {
    if sh.blobs.contains(want.digest) {
        return Ok(());
    }
    let mut writer = sh.blobs.writer()?;
    let mut attempt = 0u32;
    loop {
        match stream_once(sh, &want, &mut writer).await {
            Ok(()) => break,
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) if attempt >= sh.max_retries => return Err(e),
            Err(Attempt::Retry(_)) => {
                attempt += 1;
                let backoff =
                    tokio::time::sleep(Duration::from_millis(250 * (1 << attempt.min(6))));
                if let Err(Attempt::Fatal(e) | Attempt::Retry(e)) =
                    unless_interrupted(backoff).await
                {
                    return Err(e);
                }
            }
        }
    }
    // Corrupt data is not retried: resuming would only hash the same bytes.
    writer
        .commit(sh.blobs, Some(want.digest), Some(want.size))?
        .map_err(|e| Error::Verify {
            digest: want.digest.to_string(),
            detail: match e {
                VerifyError::Digest { actual, .. } => format!(
                    "the registry sent a blob whose digest does not match (it hashes to {actual})"
                ),
                e => e.to_string(),
            },
        })?;
    Ok(())
}

enum Attempt {
    Retry(Error),
    Fatal(Error),
}

async fn stream_once(
    sh: &Shared<'_>,
    want: &Wanted<'_>,
    writer: &mut BlobWriter,
) -> Result<(), Attempt> {
    let Wanted {
        index,
        digest,
        size,
    } = *want;
    let src = sh.src;
    let offset = writer.size();
    let retry = |e: Error| match e {
        Error::Unauthorized { .. } | Error::NotFound { .. } | Error::Interrupted => {
            Attempt::Fatal(e)
        }
        e => Attempt::Retry(e),
    };
    // A Range resume: the writer's hasher already covers the prefix, so the
    // final digest check spans prefix and rest. A server that ignores the
    // Range sends it all: its first `offset` bytes are skipped, not
    // rewritten, so what was reported as written never changes and the
    // digest covers exactly the bytes in the file.
    let what = format!("blobs/{digest}");
    let res = src
        .get(&src.reference, &what, None, Some(offset))
        .await
        .map_err(retry)?;
    let partial = res.status() == reqwest::StatusCode::PARTIAL_CONTENT;
    let mut skip = if partial { 0 } else { offset };
    let mut stream = res.bytes_stream();
    let partial = writer.path().to_path_buf();
    let fatal = |e: std::io::Error| Attempt::Fatal(io_err(partial.clone(), e));
    let mut reported = offset;
    let mut window = Window::new(sh.min_rate, sh.stall_time);
    loop {
        let chunk = match tokio::time::timeout(super::TICK, stream.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                check_going(&window, src)?;
                continue;
            }
        };
        let chunk = chunk
            .map_err(|e| Attempt::Retry(super::direct::network(src.reference.registry(), e)))?;
        let n = chunk.len();
        window.add(n as u64);
        check_going(&window, src)?;
        let skipped = (skip.min(n as u64)) as usize;
        skip -= skipped as u64;
        let chunk = &chunk[skipped..];
        if let Some(b) = sh.bucket {
            let wait = b.lock().map(|mut b| b.take(n)).unwrap_or_default();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        writer.write_all(chunk).map_err(fatal)?;
        (sh.on_bytes)(index, chunk.len() as u64);
        if writer.size() > size {
            return Err(Attempt::Fatal(Error::Verify {
                digest: digest.to_string(),
                detail: format!(
                    "the registry sent more than the {size} bytes the manifest declares"
                ),
            }));
        }
        if writer.size() - reported >= GROW_STEP {
            reported = grown(sh, index, writer).map_err(fatal)?;
        }
    }
    if writer.size() > reported {
        grown(sh, index, writer).map_err(fatal)?;
    }
    if writer.size() < size {
        return Err(Attempt::Retry(Error::Network {
            registry: src.reference.registry().to_owned(),
            detail: format!(
                "the download of {digest} stopped at {} of {size} bytes",
                writer.size()
            ),
        }));
    }
    Ok(())
}

/// Awaits `fut`, unless Ctrl-C comes first.
async fn unless_interrupted<F: std::future::Future>(fut: F) -> Result<F::Output, Attempt> {
    super::unless_interrupted(fut).await.map_err(Attempt::Fatal)
}

/// Ctrl-C ends a download at once; a transfer that moved fewer than
/// `min_rate` bytes a second over a whole window has stalled (the per-read
/// timeout never fires for a server that trickles a byte at a time).
fn check_going(window: &Window, src: &ImageSourceHandle) -> Result<(), Attempt> {
    if crate::interrupt::happened() {
        return Err(Attempt::Fatal(Error::Interrupted));
    }
    if window.stalled() {
        return Err(Attempt::Retry(Error::Registry {
            registry: src.reference.registry().to_owned(),
            detail: format!(
                "the download stalled: under {} bytes/s for {} s (CD_DOWNLOAD_MIN_RATE, CD_DOWNLOAD_STALL_TIME)",
                window.min_rate,
                window.length.as_secs()
            ),
        }));
    }
    Ok(())
}

/// Bytes received in the current window of `length`.
struct Window {
    min_rate: u64,
    length: Duration,
    start: Instant,
    bytes: u64,
}

impl Window {
    fn new(min_rate: u64, length: Duration) -> Self {
        Self {
            min_rate,
            length,
            start: Instant::now(),
            bytes: 0,
        }
    }

    fn add(&mut self, n: u64) {
        self.bytes += n;
        if self.start.elapsed() >= self.length && !self.stalled() {
            *self = Self::new(self.min_rate, self.length);
        }
    }

    fn stalled(&self) -> bool {
        self.start.elapsed() >= self.length
            && self.bytes < self.min_rate.saturating_mul(self.length.as_secs().max(1))
    }
}

/// Flushes what was written and reports it; returns the size reported.
fn grown(sh: &Shared<'_>, index: usize, writer: &mut BlobWriter) -> std::io::Result<u64> {
    writer.flush()?;
    let written = writer.size();
    sh.events.event(LayerEvent::Growing {
        index,
        partial: writer.path(),
        written,
    });
    Ok(written)
}

fn io_err(path: PathBuf, e: std::io::Error) -> Error {
    Error::Store(crate::store::Error::Io(crate::ioerr::IoError::new(
        "write", path, e,
    )))
}
