//! `install IMAGE`: resolve, download layers in parallel into the verified
//! cache, and extract each in order: the next one while it downloads (the
//! unpacker follows the growing file; nothing counts until it is
//! verified), later ones as soon as they and their predecessors are there.

use super::feed::Sequencer;
use super::{extract_and_commit, Error, Installed, Reporter, Request};
use crate::registry::{download_layers, DownloadSettings, ImageSource};
use crate::store::blobs::BlobCache;
use crate::store::{ContainerLock, ContainerManifest, LockMode};
use crate::unpack::job::{Feed, Layer, Source};
use std::sync::mpsc;

pub(super) fn install_image(
    req: &Request,
    text: &str,
    report: &mut dyn Reporter,
) -> Result<Installed, Error> {
    let settings = DownloadSettings::from_env(req.env);
    let source = ImageSource::new(text, req.env, req.allow_insecure)?;
    let blobs = BlobCache::new(req.paths.layer_cache());
    let _cache_lock = ContainerLock::try_acquire(
        &req.paths.cache_lock(),
        "the download cache",
        LockMode::Shared,
    )?;
    report.step(&format!("resolving {}", source.whole()));
    let resolved = source.resolve(&req.platform, &req.paths.manifest_cache(), &blobs)?;
    if resolved.offline {
        report.warn("the registry cannot be reached: installing from the local cache");
    }
    let to_fetch: Vec<(usize, u64)> = resolved
        .layers
        .iter()
        .zip(&resolved.sizes)
        .enumerate()
        .filter(|(_, (l, _))| !blobs.contains(&l.digest))
        .map(|(i, (_, s))| (i, *s))
        .collect();
    let missing: u64 = to_fetch.iter().map(|(_, s)| s).sum();
    let count = resolved.layers.len();
    report.step(&format!(
        "{} layer(s), {} to download",
        count,
        crate::ui::human_size(missing)
    ));
    let feed_layers: Vec<Layer> = resolved
        .layers
        .iter()
        .map(|l| Layer {
            source: Source::Path {
                path: blobs.path(&l.digest),
            },
            oci: true,
            strip: 0,
            label: format!("layer {}", &l.digest.hex()[..12]),
        })
        .collect();
    let (tx, rx) = mpsc::channel::<Feed>();
    let sink = report.download_sink(&to_fetch);
    let runtime = source.runtime();
    let abort_tx = tx.clone();
    let sequencer = Sequencer::new(tx, feed_layers, resolved.sizes.clone());
    let download = {
        let handle = source.handle();
        let resolved = resolved.clone();
        let blobs = blobs.clone();
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
    let manifest = ContainerManifest {
        image_ref: resolved.image_ref.clone(),
        arch: resolved.platform.native_name().to_owned(),
        manifest: resolved.manifest.clone(),
        image_config: resolved.config.clone(),
        extra: Default::default(),
    };
    let built = extract_and_commit(
        req,
        Vec::new(),
        Vec::new(),
        Some(manifest),
        Some(rx),
        count,
        report,
    );
    // The download's own error says more than the unpacker's "aborted".
    match runtime.block_on(download) {
        Ok(Err(e)) => return Err(e.into()),
        Err(join) => return Err(Error::Download(join.to_string())),
        Ok(Ok(())) => {}
    }
    built
}
