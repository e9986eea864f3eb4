//! `install IMAGE`: resolve, download layers in parallel into the verified
//! cache, and extract each in order: the next one while it downloads (the
//! unpacker follows the growing file; nothing counts until it is
//! verified), later ones as soon as they and their predecessors are there.
//!
//! The unpacker starts while the registry is asked, and when the last
//! resolution of the same reference is cached with all its layers, it
//! extracts those at once: the common case of a reinstall then costs no
//! round trip. Nothing counts until the registry confirms the manifest
//! digest (a tag moved: that work is dropped and the install starts over
//! with what the registry named). A digest reference needs no registry
//! at all once cached.

use super::feed::Sequencer;
use super::{start_rootfs, Building, Error, Prepared, Reporter, Request};
use crate::registry::{download_layers, DownloadSettings, ImageSource, Resolved};
use crate::store::blobs::BlobCache;
use crate::store::{ContainerLock, ContainerManifest, LockMode};
use crate::unpack::job::{Feed, Layer};
use std::sync::mpsc;

pub(super) fn prepare_image(
    req: &Request,
    text: &str,
    report: &mut dyn Reporter,
) -> Result<Prepared, Error> {
    let source = ImageSource::new(text, req.env, req.allow_insecure)?;
    let blobs = BlobCache::new(req.paths.layer_cache());
    let _cache_lock = ContainerLock::try_acquire(
        &req.paths.cache_lock(),
        "the download cache",
        LockMode::Shared,
    )?;
    let manifests = req.paths.manifest_cache();
    let cached = source.cached(&req.platform, &manifests, &blobs);
    let guess = cached
        .clone()
        .filter(|r| r.layers.iter().all(|l| blobs.contains(&l.digest)));
    // A pinned digest cannot change and a tag `build` stored here has no
    // other home: either way the cache is the answer.
    let resolving = match &guess {
        Some(g) if source.is_pinned() || g.built => None,
        _ => Some(source.start_resolve(&req.platform, &blobs)),
    };
    report.step(&format!("resolving {}", source.whole()));
    let (tx, rx) = mpsc::channel::<Feed>();
    let building = start_rootfs(req, Vec::new(), Vec::new(), Some(rx), report)?;
    if let Some(g) = &guess {
        for layer in layers_of(g, &blobs)? {
            let _ = tx.send(Feed::Layer { layer });
        }
    }
    let resolved = match resolving {
        None => guess.clone().ok_or_else(|| {
            Error::Unavailable("a pinned or built image resolved to nothing cached".into())
        })?,
        Some(r) => source.settle(r, &req.platform, &manifests, cached)?,
    };
    if resolved.offline {
        report.warn("the registry cannot be reached: installing from the local cache");
    }
    let confirmed = guess
        .as_ref()
        .is_some_and(|g| g.manifest.digest == resolved.manifest.digest);
    if confirmed {
        report.step(&format!("{} layer(s), all cached", resolved.layers.len()));
        let _ = tx.send(Feed::End);
        return finish(building, resolved, report);
    }
    if guess.is_none() {
        return download_and_finish(req, &source, building, tx, resolved, &blobs, report);
    }
    // The tag moved since the layers were cached: what was extracted is
    // not this image. Killed and removed before the new attempt starts.
    report.debug("the cached resolution is stale; extracting again");
    drop(building);
    let (tx, rx) = mpsc::channel::<Feed>();
    let building = start_rootfs(req, Vec::new(), Vec::new(), Some(rx), report)?;
    download_and_finish(req, &source, building, tx, resolved, &blobs, report)
}

/// Downloads what the cache lacks while the unpacker takes each layer in
/// order.
fn download_and_finish(
    req: &Request,
    source: &ImageSource,
    building: Building,
    tx: mpsc::Sender<Feed>,
    resolved: Resolved,
    blobs: &BlobCache,
    report: &mut dyn Reporter,
) -> Result<Prepared, Error> {
    let to_fetch: Vec<(usize, u64)> = resolved
        .layers
        .iter()
        .zip(&resolved.sizes)
        .enumerate()
        .filter(|(_, (l, _))| !blobs.contains(&l.digest))
        .map(|(i, (_, s))| (i, *s))
        .collect();
    let missing: u64 = to_fetch.iter().map(|(_, s)| s).sum();
    report.step(&format!(
        "{} layer(s), {} to download",
        resolved.layers.len(),
        crate::ui::human_size(missing)
    ));
    let sink = report.download_sink(&to_fetch);
    let runtime = source.runtime();
    let abort_tx = tx.clone();
    let sequencer = Sequencer::new(tx, layers_of(&resolved, blobs)?, resolved.sizes.clone());
    let download = {
        let handle = source.handle()?;
        let resolved = resolved.clone();
        let blobs = blobs.clone();
        let settings = DownloadSettings::from_env(req.env);
        runtime.spawn(async move {
            let result = download_layers(handle, resolved, blobs, settings, sink, &sequencer).await;
            if let Err(e) = &result {
                let _ = abort_tx.send(Feed::Abort {
                    reason: format!("download failed: {e}"),
                });
            }
            result
        })
    };
    let built = building.finish(resolved.layers.len(), report);
    // The download's own error says more than the unpacker's "aborted".
    match runtime.block_on(download) {
        Ok(Err(e)) => return Err(e.into()),
        Err(join) => return Err(Error::Download(join.to_string())),
        Ok(Ok(())) => {}
    }
    Ok(prepared(built?, resolved))
}

fn finish(
    building: Building,
    resolved: Resolved,
    report: &mut dyn Reporter,
) -> Result<Prepared, Error> {
    let built = building.finish(resolved.layers.len(), report)?;
    Ok(prepared(built, resolved))
}

/// The rootfs with the manifest.json it will be committed with.
fn prepared(built: super::Built, resolved: Resolved) -> Prepared {
    let manifest = ContainerManifest {
        image_ref: resolved.image_ref,
        arch: resolved.platform.native_name().to_owned(),
        manifest: resolved.manifest,
        image_config: resolved.config,
        extra: Default::default(),
    };
    Prepared {
        staging: built.staging,
        manifest: Some(manifest),
        stats: built.stats,
    }
}

/// The unpacker's view of each layer: its path in the cache.
fn layers_of(resolved: &Resolved, blobs: &BlobCache) -> Result<Vec<Layer>, Error> {
    super::image_layers(&resolved.layers, &resolved.sizes, &resolved.config, blobs)
}
