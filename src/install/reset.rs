//! `reset`: rebuild a container from the image in its manifest.json. The
//! new rootfs is built beside the old one and swapped in atomically.

use super::{build_rootfs, Error, Installed, Reporter, Request};
use crate::registry::{download_layers, AllLayers, DownloadSettings, ImageSource, Resolved};
use crate::store::blobs::BlobCache;
use crate::store::{ContainerLock, ContainerManifest, LockMode};

pub fn reset(req: &Request, report: &mut dyn Reporter) -> Result<Installed, Error> {
    let _lock = super::lock_for_change(req, true)?;
    let manifest_path = req.paths.manifest(&req.name);
    if std::fs::symlink_metadata(&manifest_path).is_err() {
        return Err(Error::NoImage(req.name.to_string()));
    }
    let manifest = ContainerManifest::read(&manifest_path)?;
    let blobs = BlobCache::new(req.paths.layer_cache());
    let _cache_lock = ContainerLock::try_acquire(
        &req.paths.cache_lock(),
        "the download cache",
        LockMode::Shared,
    )?;
    let mut refs = Vec::new();
    let mut sizes = Vec::new();
    for l in &manifest.manifest.layers {
        let digest = crate::oci::Digest::parse(&l.digest).ok_or_else(|| {
            Error::Unavailable(format!(
                "manifest.json of '{}' has a bad layer digest",
                req.name
            ))
        })?;
        refs.push(crate::archive::LayerRef {
            digest,
            media_type: l.media_type.clone(),
        });
        sizes.push(l.size);
    }
    let layers = super::image_layers(&refs, &sizes, &manifest.image_config, &blobs)?;
    if refs.iter().any(|r| !blobs.contains(&r.digest)) {
        fetch_missing(req, &manifest, refs, sizes, &blobs, report)?;
    }
    let total = layers.len();
    let built = build_rootfs(req, layers, Vec::new(), None, total, report)?;
    manifest.write(&built.staging.manifest())?;
    built.staging.exchange(req.paths, &req.name)?;
    Ok(Installed {
        dir: req.paths.container_dir(&req.name),
        manifest: Some(manifest),
        stats: built.stats,
    })
}

/// Layers gone from the cache come from the registry again, by the exact
/// manifest digest recorded at install time.
fn fetch_missing(
    req: &Request,
    manifest: &ContainerManifest,
    refs: Vec<crate::archive::LayerRef>,
    sizes: Vec<u64>,
    blobs: &BlobCache,
    report: &mut dyn Reporter,
) -> Result<(), Error> {
    let by_digest = match &manifest.manifest.digest {
        Some(d) => format!(
            "{}@{d}",
            manifest.image_ref.split('@').next().unwrap_or_default()
        ),
        None => manifest.image_ref.clone(),
    };
    let source = ImageSource::new(&by_digest, req.env, req.allow_insecure).map_err(|_| {
        Error::Unavailable(format!(
            "layers of '{}' are no longer cached and '{}' cannot be pulled again",
            req.name, manifest.image_ref
        ))
    })?;
    report.step(&format!("downloading the layers of {}", manifest.image_ref));
    let resolved = Resolved {
        image_ref: manifest.image_ref.clone(),
        platform: crate::oci::Platform::parse(&manifest.arch)
            .unwrap_or_else(|_| crate::oci::Platform::host()),
        manifest: manifest.manifest.clone(),
        config: manifest.image_config.clone(),
        layers: refs,
        sizes,
        offline: false,
        built: false,
    };
    let to_fetch: Vec<(usize, u64)> = resolved
        .layers
        .iter()
        .zip(&resolved.sizes)
        .enumerate()
        .filter(|(_, (l, _))| !blobs.contains(&l.digest))
        .map(|(i, (_, s))| (i, *s))
        .collect();
    let sink = report.download_sink(&to_fetch);
    let settings = DownloadSettings::from_env(req.env);
    let runtime = source.runtime();
    runtime.block_on(download_layers(
        source.handle()?,
        resolved,
        blobs.clone(),
        settings,
        sink,
        &AllLayers,
    ))?;
    Ok(())
}
