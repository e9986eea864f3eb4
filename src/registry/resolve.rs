//! Asking the registry what a reference names for one platform: the
//! manifest (through an index when there is one), checked against its
//! digest, and the config, from the blob cache when it is there.

use super::pull::Resolved;
use super::Error;
use crate::oci::{self, Digest, Platform};
use crate::store::blobs::{digest_of, BlobCache};
use crate::store::{ImageConfig, ImageManifest};
use std::io::Write;

const ACCEPT: &[&str] = &[
    oci::MT_OCI_INDEX,
    oci::MT_DOCKER_LIST,
    oci::MT_OCI_MANIFEST,
    oci::MT_DOCKER_MANIFEST,
];

impl super::fetch::ImageSourceHandle {
    pub(super) async fn resolve_online(
        &self,
        wanted: &Platform,
        blobs: &BlobCache,
    ) -> Result<(Resolved, Vec<u8>), Error> {
        let (bytes, digest) = super::direct::pull_manifest(self, &self.reference, ACCEPT).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| self.bad(e))?;
        if value["schemaVersion"] == 1 {
            return Err(self.bad(
                "it is a Docker schema 1 manifest, retired in 2019 and not supported: \
                 push the image again with a current Docker, podman or skopeo",
            ));
        }
        let (bytes, digest, index_platform) = if value.get("manifests").is_some() {
            let (d, p) = pick(&value, wanted)?;
            let by_digest = self.reference.clone_with_digest(d);
            let (b, d) = super::direct::pull_manifest(self, &by_digest, ACCEPT).await?;
            (b, d, Some(p))
        } else {
            (bytes, digest, None)
        };
        if digest_of(&bytes).as_str() != digest {
            return Err(Error::Verify {
                digest,
                detail: "the manifest does not match its digest".into(),
            });
        }
        let mut manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| self.bad(e))?;
        if !manifest.config.media_type.is_empty() && !is_image_config(&manifest.config.media_type) {
            return Err(self.bad(format!(
                "it is an OCI artifact (config type {}), not a container image",
                manifest.config.media_type
            )));
        }
        let config_digest =
            Digest::parse(&manifest.config.digest).ok_or_else(|| self.bad("bad config digest"))?;
        let config_bytes = self
            .config_bytes(&config_digest, manifest.config.size, blobs)
            .await?;
        let config_value: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| self.bad(e))?;
        let platform = index_platform.unwrap_or_else(|| Platform {
            os: config_value["os"].as_str().unwrap_or("linux").to_owned(),
            architecture: config_value["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            variant: config_value["variant"].as_str().map(str::to_owned),
        });
        if !wanted.matches(&platform) {
            return Err(Error::NoPlatform {
                wanted: wanted.to_string(),
                available: vec![platform.to_string()],
            });
        }
        let media = value_media(&bytes).unwrap_or_else(|| oci::MT_OCI_MANIFEST.to_owned());
        manifest.content_type = Some(media);
        manifest.digest = Some(digest);
        let resolved = finish(self.reference.whole(), platform, manifest, config_value)?;
        Ok((resolved, bytes.to_vec()))
    }

    /// The config blob, never more than its declared `size` in memory,
    /// and `size` no more than the limit.
    async fn config_bytes(
        &self,
        digest: &Digest,
        size: u64,
        blobs: &BlobCache,
    ) -> Result<Vec<u8>, Error> {
        if size > self.limits.config {
            return Err(self.bad(format!(
                "its config declares {size} bytes, over the limit of {} (CD_MAX_CONFIG_SIZE)",
                self.limits.config
            )));
        }
        if blobs.contains(digest) {
            if let Ok(b) = std::fs::read(blobs.path(digest)) {
                return Ok(b);
            }
        }
        let buf = self.small_blob(digest.as_str(), size).await?;
        if buf.len() as u64 != size {
            return Err(Error::Verify {
                digest: digest.to_string(),
                detail: format!(
                    "the registry sent {} bytes of config where its manifest declares {size}",
                    buf.len()
                ),
            });
        }
        let mut w = blobs.writer()?;
        w.write_all(&buf).map_err(|e| {
            crate::store::Error::Io(crate::ioerr::IoError::new("write", blobs.dir(), e))
        })?;
        w.commit(blobs, Some(digest), None)?
            .map_err(|e| Error::Verify {
                digest: digest.to_string(),
                detail: e.to_string(),
            })?;
        Ok(buf)
    }

    fn bad(&self, e: impl std::fmt::Display) -> Error {
        Error::Manifest {
            image: self.reference.whole(),
            detail: e.to_string(),
        }
    }
}

/// Config media types of container images (Docker's and OCI's); anything
/// else (Helm charts, signatures, SBOMs, ...) is an artifact.
fn is_image_config(media: &str) -> bool {
    media == oci::MT_OCI_CONFIG || media == oci::MT_DOCKER_CONFIG
}

pub(super) fn value_media(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v["mediaType"].as_str().map(str::to_owned)
}

/// The index entry for `wanted`, skipping attestations (`unknown/unknown`).
fn pick(index: &serde_json::Value, wanted: &Platform) -> Result<(String, Platform), Error> {
    let mut available = Vec::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let p = &m["platform"];
        let Some(arch) = p["architecture"].as_str() else {
            continue;
        };
        if arch == "unknown" {
            continue;
        }
        let platform = Platform {
            os: p["os"].as_str().unwrap_or("linux").to_owned(),
            architecture: arch.to_owned(),
            variant: p["variant"].as_str().map(str::to_owned),
        };
        if wanted.matches(&platform) {
            if let Some(d) = m["digest"].as_str().filter(|d| Digest::parse(d).is_some()) {
                return Ok((d.to_owned(), platform));
            }
        }
        available.push(platform.to_string());
    }
    Err(Error::NoPlatform {
        wanted: wanted.to_string(),
        available,
    })
}

/// Docker refuses to build more than 127 layers and overlayfs stacks at
/// most 128 lower directories: a manifest listing more is broken or
/// hostile, and each layer costs a download task and a cache lookup.
const MAX_LAYERS: usize = 128;

pub(super) fn finish(
    image_ref: String,
    platform: Platform,
    manifest: ImageManifest,
    config: serde_json::Value,
) -> Result<Resolved, Error> {
    if manifest.layers.len() > MAX_LAYERS {
        return Err(Error::Manifest {
            image: image_ref,
            detail: format!(
                "it lists {} layers, more than the {MAX_LAYERS} any image builder makes",
                manifest.layers.len()
            ),
        });
    }
    let mut layers = Vec::new();
    let mut sizes = Vec::new();
    for l in &manifest.layers {
        if !crate::archive::is_layer_type(&l.media_type) {
            return Err(Error::MediaType(l.media_type.clone()));
        }
        let digest = Digest::parse(&l.digest).ok_or_else(|| Error::Manifest {
            image: image_ref.clone(),
            detail: format!("bad layer digest '{}'", l.digest),
        })?;
        layers.push(crate::archive::LayerRef {
            digest,
            media_type: l.media_type.clone(),
        });
        sizes.push(l.size);
    }
    let config: ImageConfig = serde_json::from_value(config).map_err(|e| Error::Manifest {
        image: image_ref.clone(),
        detail: e.to_string(),
    })?;
    Ok(Resolved {
        image_ref,
        platform,
        manifest,
        config,
        layers,
        sizes,
        offline: false,
        built: false,
    })
}
