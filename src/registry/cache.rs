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
    let hex = digest.trim_start_matches("sha256:");
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(format!("sha256-{hex}.json")))?;
    let entry = CachedRef {
        image_ref: r.image_ref.clone(),
        platform: r.platform.clone(),
        manifest: digest,
    };
    std::fs::write(&tmp, serde_json::to_vec(&entry)?)?;
    std::fs::rename(&tmp, dir.join(format!("ref-{key}.json")))
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
    finish(entry.image_ref, entry.platform, manifest, config).ok()
}
