//! The manifest cache: what each reference and platform resolved to last,
//! so installs work offline and reinstalls start before the registry
//! answers.

use super::pull::Resolved;
use super::resolve::{finish, value_media};
use crate::oci::{self, Digest, Platform};
use crate::store::blobs::{digest_of, BlobCache};
use crate::store::ImageManifest;
use std::os::unix::fs::DirBuilderExt;

pub(super) fn key(whole: &str, platform: &Platform) -> String {
    digest_of(format!("{whole}|{platform}").as_bytes())
        .hex()
        .to_owned()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedRef {
    image_ref: String,
    platform: Platform,
    manifest: String,
    /// Made by `build` on this machine: the cache is where the tag lives,
    /// so install takes it without asking the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    built: bool,
}

pub(super) fn save(
    dir: &std::path::Path,
    key: &str,
    r: &Resolved,
    bytes: &[u8],
) -> std::io::Result<()> {
    // Private like the layer cache: what a user pulled is nobody else's business.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let digest = r.manifest.digest.clone().unwrap_or_default();
    let entry = CachedRef {
        image_ref: r.image_ref.clone(),
        platform: r.platform.clone(),
        manifest: digest,
        built: false,
    };
    write_entry(dir, key, &entry, bytes)
}

fn write_entry(
    dir: &std::path::Path,
    key: &str,
    entry: &CachedRef,
    bytes: &[u8],
) -> std::io::Result<()> {
    let hex = entry.manifest.trim_start_matches("sha256:");
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(format!("sha256-{hex}.json")))?;
    std::fs::write(&tmp, serde_json::to_vec(entry)?)?;
    std::fs::rename(&tmp, dir.join(format!("ref-{key}.json")))
}

/// Records an image built here under `whole` (a normalised reference)
/// for `platform`: `manifest` (its exact bytes, whose sha256 is `digest`)
/// and the mark that makes install trust the cache for this tag. The
/// config and layer blobs must be in the blob cache already.
pub fn store_built(
    dir: &std::path::Path,
    whole: &str,
    platform: &Platform,
    manifest: &[u8],
    digest: &Digest,
) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let entry = CachedRef {
        image_ref: whole.to_owned(),
        platform: platform.clone(),
        manifest: digest.to_string(),
        built: true,
    };
    write_entry(dir, &key(whole, platform), &entry, manifest)
}

pub(super) fn load(dir: &std::path::Path, key: &str, blobs: &BlobCache) -> Option<Resolved> {
    let entry: CachedRef =
        serde_json::from_slice(&std::fs::read(dir.join(format!("ref-{key}.json"))).ok()?).ok()?;
    let digest = Digest::parse(&entry.manifest)?;
    let bytes = std::fs::read(dir.join(format!("sha256-{}.json", digest.hex()))).ok()?;
    if digest_of(&bytes) != digest {
        return None;
    }
    let mut manifest: ImageManifest = serde_json::from_slice(&bytes).ok()?;
    manifest.content_type = value_media(&bytes).or(Some(oci::MT_OCI_MANIFEST.to_owned()));
    manifest.digest = Some(digest.to_string());
    let config_digest = Digest::parse(&manifest.config.digest)?;
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.path(&config_digest)).ok()?).ok()?;
    let mut resolved = finish(entry.image_ref, entry.platform, manifest, config).ok()?;
    resolved.built = entry.built;
    Some(resolved)
}
