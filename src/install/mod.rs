//! `install` from local archives and URLs: classify, cache image blobs,
//! extract in a confined child into a staging dir, then rename into place.

pub mod download;
mod feed;
mod registry;
mod reset;

pub use reset::reset;
pub mod source;

pub use source::InstallSource;

use crate::archive::{self, ArchiveKind};
use crate::oci::Platform;
use crate::sandbox::Privilege;
use crate::store::blobs::BlobCache;
use crate::store::{
    self, ContainerLock, ContainerManifest, ContainerName, LockMode, Staging, StorePaths,
};
use crate::unpack::fixups::Fixups;
use crate::unpack::job::{Event, Job, Layer, MemoDirs, Op, Source};
use crate::unpack::spawn::{self, SpawnError};
use crate::unpack::stats::Stats;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Archive(#[from] archive::Error),
    #[error("extraction failed: {0}")]
    Unpack(#[from] SpawnError),
    #[error("download failed: {0}")]
    Download(String),
    #[error(transparent)]
    Registry(#[from] crate::registry::Error),
    #[error("{0}")]
    Unavailable(String),
    #[error("container '{0}' was installed from a plain rootfs archive: there is no image to reset it from")]
    NoImage(String),
    #[error("cannot read {}: {reason}", path.display())]
    Source { path: PathBuf, reason: String },
    #[error("{0} (--strict)")]
    Skipped(String),
    #[error("the image config lists {diff_ids} diff_id(s) for {layers} layer(s)")]
    DiffIds { diff_ids: usize, layers: usize },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(e) => e.hint(),
            Error::Registry(e) => e.hint(),
            Error::NoImage(n) => Some(format!(
                "remove it and install again: chroot-distro remove {n}"
            )),
            Error::Archive(e) => e.hint(),
            Error::Skipped(_) => {
                Some("without --strict, such entries are skipped with a warning".into())
            }
            Error::DiffIds { .. } => Some("the image is broken; ask its publisher".into()),
            Error::Source { .. } => {
                Some("local archives are paths starting with /, ./, ../ or ~".into())
            }
            Error::Unpack(SpawnError::Failed(m))
                if m.contains("malformed") || m.contains("truncated") =>
            {
                Some("the archive is damaged; download it again".into())
            }
            _ => None,
        }
    }
}

/// Progress and notes, rendered by the applet (bars on a TTY, lines otherwise).
pub trait Reporter {
    fn step(&mut self, message: &str);
    fn bytes(&mut self, done: u64, total: Option<u64>);
    fn extract(&mut self, layer: usize, layers: usize, entries: u64, bytes: u64);
    fn warn(&mut self, message: &str);
    /// A sink for downloaded bytes per layer (called from download threads);
    /// `missing` lists the layers to download as (index, size).
    fn download_sink(&mut self, _missing: &[(usize, u64)]) -> crate::registry::ByteSink {
        std::sync::Arc::new(|_, _| {})
    }
    /// Shown only when debugging (`CD_DEBUG=1`).
    fn debug(&mut self, _message: &str) {}
}

pub struct Request<'a> {
    pub paths: &'a StorePaths,
    pub name: ContainerName,
    pub source: &'a InstallSource,
    pub platform: Platform,
    pub privilege: &'a Privilege,
    /// Our own binary, re-executed as the unpacker.
    pub exe: &'a Path,
    pub termux_user: Option<(String, u32, u32)>,
    pub force_walk: bool,
    /// Registry credentials and `CD_DOWNLOAD_*` settings come from here.
    pub env: &'a crate::env::EnvSnapshot,
    pub allow_insecure: bool,
    /// An entry the unpacker has to leave out fails the install.
    pub strict: bool,
}

pub struct Installed {
    pub dir: PathBuf,
    pub manifest: Option<ContainerManifest>,
    pub stats: Stats,
}

/// Readies the store for changing `req.name` (leftovers cleaned the
/// store's way) and takes its exclusive lock; `exists` is what the command
/// needs the container to be.
pub(crate) fn lock_for_change(req: &Request, exists: bool) -> Result<ContainerLock, Error> {
    let remover = crate::unpack::remover(req.privilege, req.exe);
    store::prepare_for_mutation_with(req.paths, &*remover)?;
    let lock = ContainerLock::try_acquire(
        &req.paths.lock_file(&req.name),
        req.name.as_str(),
        LockMode::Exclusive,
    )?;
    let present = std::fs::symlink_metadata(req.paths.container_dir(&req.name)).is_ok();
    match (exists, present) {
        (false, true) => Err(store::Error::Exists(req.name.to_string()).into()),
        (true, false) => Err(store::Error::NotFound(req.name.to_string()).into()),
        _ => Ok(lock),
    }
}

pub fn install(req: &Request, report: &mut dyn Reporter) -> Result<Installed, Error> {
    let _lock = lock_for_change(req, false)?;
    prepare(req, report)?.commit(req)
}

/// A rootfs built from an image in a staging directory of the store, not
/// yet a container: `install` commits it under its name, `build` runs its
/// steps in it first. Dropped, it is removed.
pub struct Prepared {
    pub staging: crate::store::Staging,
    pub manifest: Option<ContainerManifest>,
    pub stats: Stats,
}

impl Prepared {
    /// Writes manifest.json beside the rootfs and moves it into place as
    /// `req.name` (whose lock the caller holds).
    pub fn commit(self, req: &Request) -> Result<Installed, Error> {
        if let Some(m) = &self.manifest {
            m.write(&self.staging.manifest())?;
        }
        let dir = self.staging.commit(req.paths, &req.name)?;
        Ok(Installed {
            dir,
            manifest: self.manifest,
            stats: self.stats,
        })
    }
}

/// Builds `req.source` into a staging rootfs (see [`Prepared`]).
pub fn prepare(req: &Request, report: &mut dyn Reporter) -> Result<Prepared, Error> {
    match req.source {
        InstallSource::Image(r) => registry::prepare_image(req, r, report),
        InstallSource::Path(p) => install_file(req, p, report),
        InstallSource::Url(u) => {
            let dl = req.paths.cache_dir.join("downloads");
            store::ensure_private_dir(&dl)?;
            let tmp = dl.join(format!("{}-{}", std::process::id(), req.name));
            let _guard = RemoveOnDrop(tmp.clone());
            let _ = std::fs::remove_file(&tmp);
            report.step(&format!("downloading {u}"));
            download::fetch(u, &tmp, &mut |done, total| report.bytes(done, total))?;
            install_file(req, &tmp, report)
        }
    }
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn install_file(req: &Request, path: &Path, report: &mut dyn Reporter) -> Result<Prepared, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Source {
        path: path.to_path_buf(),
        reason: crate::ioerr::os_reason(&e),
    })?;
    if !meta.is_file() {
        return Err(Error::Source {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    report.step(&format!("reading {}", path.display()));
    let kind = archive::classify(path)?;
    let cache = BlobCache::new(req.paths.layer_cache());
    let (layers, fds, manifest) = match kind {
        ArchiveKind::Plain { strip, .. } => {
            let file = std::fs::File::open(path).map_err(|e| Error::Source {
                path: path.to_path_buf(),
                reason: crate::ioerr::os_reason(&e),
            })?;
            let layer = Layer {
                source: Source::Fd { fd: 3 },
                digest: None,
                oci: false,
                strip,
                into: None,
                owner: None,
                label: path.display().to_string(),
                size: None,
                diff_id: None,
            };
            (vec![layer], vec![OwnedFd::from(file)], None)
        }
        ArchiveKind::OciLayout { .. } | ArchiveKind::DockerSave { .. } => {
            let _cache_lock = ContainerLock::try_acquire(
                &req.paths.cache_lock(),
                "the download cache",
                LockMode::Shared,
            )?;
            report.step("caching image blobs");
            let total = meta.len();
            let mut seen = 0u64;
            let found = archive::ingest(path, &cache, &mut |n| {
                seen += n;
                report.bytes(seen.min(total), Some(total));
            })?;
            let fallback = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let image = archive::resolve(&found, &cache, &req.platform, &fallback)?;
            let sizes: Vec<u64> = image.manifest.layers.iter().map(|d| d.size).collect();
            let layers = image_layers(&image.layers, &sizes, &image.config, &cache)?;
            let manifest = ContainerManifest {
                image_ref: image.image_ref,
                arch: image.platform.native_name().to_owned(),
                manifest: image.manifest,
                image_config: image.config,
                extra: Default::default(),
            };
            (layers, Vec::new(), Some(manifest))
        }
    };
    let total = layers.len();
    let Built { staging, stats } = build_rootfs(req, layers, fds, None, total, report)?;
    Ok(Prepared {
        staging,
        manifest,
        stats,
    })
}

/// The unpacker's view of an image's layers: each blob in the cache, with
/// its size (from the manifest) and the diff_id its config names.
pub(crate) fn image_layers(
    refs: &[archive::LayerRef],
    sizes: &[u64],
    config: &store::ImageConfig,
    cache: &BlobCache,
) -> Result<Vec<Layer>, Error> {
    let diff_ids = match config.diff_ids() {
        Some(ids) if ids.len() != refs.len() => {
            return Err(Error::DiffIds {
                diff_ids: ids.len(),
                layers: refs.len(),
            })
        }
        Some(ids) => ids,
        None => vec![None; refs.len()],
    };
    Ok(refs
        .iter()
        .zip(diff_ids)
        .enumerate()
        .map(|(i, (l, diff_id))| {
            let layer = Layer::cached(cache.path(&l.digest), &l.digest);
            match sizes.get(i) {
                Some(size) => layer.described(*size, diff_id),
                None => Layer { diff_id, ..layer },
            }
        })
        .collect())
}

/// What a new rootfs is built from.
pub(crate) struct Built {
    pub staging: Staging,
    pub stats: Stats,
}

/// A rootfs being built: the unpacker runs, layers may still be coming.
/// Dropped unfinished, the unpacker is killed first, then the staging
/// tree removed (field order).
pub(crate) struct Building {
    unpacker: spawn::Running,
    staging: Staging,
    memo_cache: PathBuf,
    strict: bool,
}

/// Where in a staging tree the unpacker leaves new layer hash memos.
const MEMO_OUT: &str = ".layer-hashes";

/// Moves the memos an unpacker wrote into the cache, and drops the cache's
/// memos it found stale. Best effort: a memo only saves time.
fn adopt_memos(out: &Path, cache: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    let _ = store::ensure_private_dir(cache);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stale) = name.strip_suffix(".stale") {
            let _ = std::fs::remove_file(cache.join(stale));
        } else if crate::oci::Digest::from_file_name(&name).is_some() {
            // Same file system as the store, usually; else a copy, then a
            // rename, so a reader never sees half a memo.
            let dest = cache.join(&*name);
            if std::fs::rename(entry.path(), &dest).is_err() {
                let tmp = cache.join(format!(".tmp-{}-{name}", std::process::id()));
                if std::fs::copy(entry.path(), &tmp).is_ok() {
                    let _ = std::fs::rename(&tmp, &dest);
                }
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    let _ = std::fs::remove_dir_all(out);
}

/// Starts building a rootfs from `layers` (and, with `feed`, layers still
/// arriving) in a new staging directory, confined, with fixups and index.
pub(crate) fn start_rootfs(
    req: &Request,
    layers: Vec<Layer>,
    fds: Vec<OwnedFd>,
    feed: Option<std::sync::mpsc::Receiver<crate::unpack::job::Feed>>,
    report: &mut dyn Reporter,
) -> Result<Building, Error> {
    let cache = BlobCache::new(req.paths.layer_cache());
    if feed.is_some() {
        // Landlock grants only what exists when the unpacker starts, and
        // fed layers are read from the cache.
        store::ensure_private_dir(cache.dir())?;
    }
    let staging =
        Staging::create(req.paths)?.with_remover(crate::unpack::remover(req.privilege, req.exe));
    let rootfs = staging.rootfs();
    let memo_out = staging.dir().join(MEMO_OUT);
    for dir in [&rootfs, &memo_out] {
        std::fs::create_dir(dir)
            .map_err(|e| store::Error::Io(crate::ioerr::IoError::new("create", dir, e)))?;
    }
    if let Privilege::Squash { reason } = req.privilege {
        report.warn(&format!(
            "file ownership is not preserved: {reason}; every file will be owned by you"
        ));
    }
    let termux = req
        .termux_user
        .as_ref()
        .map(|(n, u, g)| (n.as_str(), *u, *g));
    let job = Job {
        op: Op::Extract {
            rootfs: rootfs.clone(),
            layers,
            fixups: Some(Box::new(Fixups::for_host(termux))),
            squash: matches!(req.privilege, Privilege::Squash { .. }),
            index: Some(staging.dir().join(store::INDEX_FILE)),
            follow: feed.is_some(),
            memos: Some(MemoDirs {
                cache: req.paths.layer_hashes(),
                out: memo_out.clone(),
            }),
            limits: crate::unpack::limits::Limits::from_env(req.env),
        },
        userns: req.privilege.is_userns(),
        root: matches!(req.privilege, Privilege::Root),
        rw: vec![staging.dir().to_path_buf()],
        ro: vec![cache.dir().to_path_buf(), req.paths.layer_hashes()],
        force_walk: req.force_walk,
    };
    let unpacker = match feed {
        Some(rx) => spawn::start_fed(req.exe, &job, req.privilege, rx)?,
        None => spawn::start(req.exe, &job, req.privilege, fds)?,
    };
    Ok(Building {
        unpacker,
        staging,
        memo_cache: req.paths.layer_hashes(),
        strict: req.strict,
    })
}

impl Building {
    /// Waits for the unpacker, relaying its progress (`total_layers` for
    /// the bars) and warnings.
    pub(crate) fn finish(
        self,
        total_layers: usize,
        report: &mut dyn Reporter,
    ) -> Result<Built, Error> {
        report.step("extracting");
        let mut on_event = |ev: &Event| {
            match ev {
            Event::Progress {
                layer,
                entries,
                bytes,
            } => report.extract(*layer, total_layers, *entries, *bytes),
            Event::Warning { message } => report.warn(message),
            Event::Confined { report: r } => report.debug(&format!(
                "unpacker confined: euid {} userns {} no_new_privs {} landlock {} caps [{}] bounding {} writable [{}]",
                r.euid,
                r.user_namespace,
                r.no_new_privs,
                r.landlock,
                r.effective.join(","),
                r.bounding,
                r.writable.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")
            )),
            _ => {}
        }
        };
        let Building {
            unpacker,
            staging,
            memo_cache,
            strict,
        } = self;
        let stats = unpacker.finish_extract(&mut on_event)?;
        adopt_memos(&staging.dir().join(MEMO_OUT), &memo_cache);
        let skipped = stats.skipped();
        if strict && !skipped.is_empty() {
            return Err(Error::Skipped(skipped.join("; ")));
        }
        for line in skipped {
            report.warn(&line);
        }
        Ok(Built { staging, stats })
    }
}

/// [`start_rootfs`] and [`Building::finish`] in one.
pub(crate) fn build_rootfs(
    req: &Request,
    layers: Vec<Layer>,
    fds: Vec<OwnedFd>,
    feed: Option<std::sync::mpsc::Receiver<crate::unpack::job::Feed>>,
    total_layers: usize,
    report: &mut dyn Reporter,
) -> Result<Built, Error> {
    start_rootfs(req, layers, fds, feed, report)?.finish(total_layers, report)
}
