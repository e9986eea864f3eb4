//! OCI image layouts and `docker save` archives: one streaming pass puts
//! every blob into the cache (checked against its name where the name is a
//! digest), then the wanted platform's manifest is picked from the index.

use super::{member_name, Error};
use crate::ioerr::IoContext;
use crate::oci::{self, Digest, Platform};
use crate::store::blobs::{digest_of, BlobCache};
use crate::store::{Descriptor, ImageConfig, ImageManifest};
use crate::unpack::decompress::{self, Compression};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Small JSON members kept in memory (index.json, manifest.json, configs).
const MAX_JSON: u64 = 4 << 20;
const MAX_JSON_TOTAL: u64 = 64 << 20;

/// What one pass over an image archive found.
#[derive(Debug, Default)]
pub struct ImageArchive {
    /// Small metadata members by name.
    files: HashMap<String, Vec<u8>>,
    /// Every other member, by name, as the digest it was cached under.
    blobs: HashMap<String, Digest>,
}

/// A layer to apply, in order.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub digest: Digest,
    pub media_type: String,
}

#[derive(Debug)]
pub struct ResolvedImage {
    pub image_ref: String,
    pub platform: Platform,
    pub manifest: ImageManifest,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
}

/// Reads the whole archive once, caching its blobs.
pub fn ingest(
    path: &Path,
    cache: &BlobCache,
    progress: &mut dyn FnMut(u64),
) -> Result<ImageArchive, Error> {
    let bad = |e: std::io::Error| Error::Malformed(format!("{}: {e}", path.display()));
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ctx("read", path)?;
    if Compression::sniff(&head[..n]) == Compression::None {
        // Uncompressed: members already cached are skipped by seeking, so a
        // second install of the same archive reads little more than headers.
        let file = std::fs::File::open(path).ctx("open", path)?;
        let mut archive = tar::Archive::new(file);
        let entries = archive.entries_with_seek().map_err(bad)?;
        return ingest_entries(entries, path, cache, progress);
    }
    let file = std::fs::File::open(path).ctx("open", path)?;
    let (_, reader) = decompress::open(file).ctx("read", path)?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(bad)?;
    ingest_entries(entries, path, cache, progress)
}

fn ingest_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    path: &Path,
    cache: &BlobCache,
    progress: &mut dyn FnMut(u64),
) -> Result<ImageArchive, Error> {
    let mut found = ImageArchive::default();
    let mut json_total = 0u64;
    let bad = |e: std::io::Error| Error::Malformed(format!("{}: {e}", path.display()));
    for entry in entries {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = member_name(&entry.path_bytes());
        let size = entry.size();
        let named_digest = name
            .strip_prefix("blobs/sha256/")
            .and_then(Digest::from_hex);
        let is_meta = name.ends_with(".json") || name == "oci-layout" || name == "repositories";
        if named_digest.is_none()
            && is_meta
            && size <= MAX_JSON
            && json_total + size <= MAX_JSON_TOTAL
        {
            let mut buf = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut buf).map_err(bad)?;
            json_total += size;
            found.files.insert(name, buf);
            continue;
        }
        if let Some(d) = named_digest.as_ref().filter(|d| cache.contains(d)) {
            found.blobs.insert(name, d.clone());
            progress(size);
            continue;
        }
        let mut writer = cache.writer()?;
        std::io::copy(&mut entry, &mut writer).map_err(bad)?;
        progress(size);
        let digest = writer
            .commit(cache, named_digest.as_ref(), Some(size))?
            .map_err(|e| Error::Verify {
                name: name.clone(),
                detail: e.to_string(),
            })?;
        found.blobs.insert(name, digest);
    }
    Ok(found)
}

/// Picks the image for `wanted` out of an ingested archive.
pub fn resolve(
    archive: &ImageArchive,
    cache: &BlobCache,
    wanted: &Platform,
    fallback_ref: &str,
) -> Result<ResolvedImage, Error> {
    if archive.files.contains_key("index.json") && archive.files.contains_key("oci-layout") {
        resolve_oci(archive, cache, wanted, fallback_ref)
    } else if archive.files.contains_key("manifest.json") {
        resolve_docker(archive, cache, wanted, fallback_ref)
    } else {
        Err(Error::Malformed(
            "neither index.json nor manifest.json found".into(),
        ))
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Malformed(format!("{what}: {e}")))
}

fn read_blob(cache: &BlobCache, digest: &Digest) -> Result<Vec<u8>, Error> {
    let path = cache.path(digest);
    let meta = std::fs::metadata(&path)
        .map_err(|_| Error::Malformed(format!("blob {digest} is missing from the archive")))?;
    if meta.len() > MAX_JSON {
        return Err(Error::Malformed(format!(
            "metadata blob {digest} is too large"
        )));
    }
    Ok(std::fs::read(&path).ctx("read", &path)?)
}

fn descriptor_digest(d: &Value) -> Result<Digest, Error> {
    d["digest"]
        .as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| Error::Malformed(format!("bad descriptor digest in {d}")))
}

fn platform_of(value: &Value) -> Option<Platform> {
    Some(Platform {
        os: value["os"].as_str().unwrap_or("linux").to_owned(),
        architecture: value["architecture"].as_str()?.to_owned(),
        variant: value["variant"].as_str().map(str::to_owned),
    })
}

fn resolve_oci(
    archive: &ImageArchive,
    cache: &BlobCache,
    wanted: &Platform,
    fallback_ref: &str,
) -> Result<ResolvedImage, Error> {
    let index: Value = parse_json("index.json", &archive.files["index.json"])?;
    let mut available = Vec::new();
    let mut queue: Vec<(Value, Option<String>)> = index["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d, None))
        .collect();
    let mut depth = 0;
    while !queue.is_empty() && depth < 4 {
        depth += 1;
        let mut next = Vec::new();
        for (desc, parent_ref) in queue {
            let media = desc["mediaType"].as_str().unwrap_or_default().to_owned();
            let ann = &desc["annotations"];
            let name = ann["io.containerd.image.name"]
                .as_str()
                .or(ann["org.opencontainers.image.ref.name"].as_str())
                .map(str::to_owned)
                .or(parent_ref.clone());
            let digest = descriptor_digest(&desc)?;
            let bytes = read_blob(cache, &digest)?;
            let body: Value = parse_json(&format!("blob {digest}"), &bytes)?;
            let body_media = body["mediaType"].as_str().unwrap_or(&media).to_owned();
            if oci::is_index(&media)
                || oci::is_index(&body_media)
                || body.get("manifests").is_some()
            {
                for d in body["manifests"].as_array().cloned().unwrap_or_default() {
                    next.push((d, name.clone()));
                }
                continue;
            }
            let manifest: ImageManifest = parse_json(&format!("manifest {digest}"), &bytes)?;
            let config_digest = Digest::parse(&manifest.config.digest).ok_or_else(|| {
                Error::Malformed(format!("manifest {digest} has a bad config digest"))
            })?;
            let config_bytes = read_blob(cache, &config_digest)?;
            let config_value: Value = parse_json("image config", &config_bytes)?;
            let platform = platform_of(&desc["platform"])
                .or_else(|| platform_of(&config_value))
                .ok_or_else(|| Error::Malformed(format!("manifest {digest} names no platform")))?;
            if !wanted.matches(&platform) {
                available.push(platform.to_string());
                continue;
            }
            let image_ref = image_ref(name.as_deref(), fallback_ref);
            return finish(
                manifest,
                body_media,
                digest,
                config_value,
                platform,
                image_ref,
            );
        }
        queue = next;
    }
    Err(Error::NoPlatform {
        wanted: wanted.to_string(),
        available,
    })
}

fn image_ref(name: Option<&str>, fallback: &str) -> String {
    match name {
        Some(n) if n.contains(':') || n.contains('/') => n.to_owned(),
        Some(tag) => format!("{fallback}:{tag}"),
        None => fallback.to_owned(),
    }
}

fn finish(
    mut manifest: ImageManifest,
    media: String,
    digest: Digest,
    config_value: Value,
    platform: Platform,
    image_ref: String,
) -> Result<ResolvedImage, Error> {
    let mut layers = Vec::new();
    for l in &manifest.layers {
        let d = Digest::parse(&l.digest)
            .ok_or_else(|| Error::Malformed(format!("bad layer digest '{}'", l.digest)))?;
        if !is_layer_type(&l.media_type) {
            return Err(Error::MediaType(l.media_type.clone()));
        }
        layers.push(LayerRef {
            digest: d,
            media_type: l.media_type.clone(),
        });
    }
    manifest.content_type = Some(if media.is_empty() {
        oci::MT_OCI_MANIFEST.to_owned()
    } else {
        media
    });
    manifest.digest = Some(digest.to_string());
    let config: ImageConfig = serde_json::from_value(config_value)
        .map_err(|e| Error::Malformed(format!("image config: {e}")))?;
    Ok(ResolvedImage {
        image_ref,
        platform,
        manifest,
        config,
        layers,
    })
}

/// Layer media types we can apply: tar, gzip or zstd, OCI or Docker,
/// including the non-distributable variants.
pub fn is_layer_type(media: &str) -> bool {
    let m = media.replace(".nondistributable", "");
    matches!(
        m.as_str(),
        oci::MT_OCI_LAYER_TAR
            | oci::MT_OCI_LAYER_GZIP
            | oci::MT_OCI_LAYER_ZSTD
            | oci::MT_DOCKER_LAYER_TAR
            | oci::MT_DOCKER_LAYER_GZIP
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    )
}

fn resolve_docker(
    archive: &ImageArchive,
    cache: &BlobCache,
    wanted: &Platform,
    fallback_ref: &str,
) -> Result<ResolvedImage, Error> {
    let list: Vec<Value> = parse_json("manifest.json", &archive.files["manifest.json"])?;
    let mut available = Vec::new();
    for image in &list {
        let config_name = image["Config"]
            .as_str()
            .map(|s| member_name(s.as_bytes()))
            .ok_or_else(|| Error::Malformed("manifest.json entry without Config".into()))?;
        let config_bytes = match archive.files.get(&config_name) {
            Some(b) => b.clone(),
            None => match archive.blobs.get(&config_name) {
                Some(d) => read_blob(cache, d)?,
                None => return Err(Error::Malformed(format!("{config_name} is missing"))),
            },
        };
        let config_value: Value = parse_json(&config_name, &config_bytes)?;
        let platform = platform_of(&config_value)
            .ok_or_else(|| Error::Malformed(format!("{config_name} names no architecture")))?;
        if !wanted.matches(&platform) {
            available.push(platform.to_string());
            continue;
        }
        // The config must be in the cache too: reset and diff read it later.
        let config_digest = digest_of(&config_bytes);
        if !cache.contains(&config_digest) {
            let mut w = cache.writer()?;
            std::io::Write::write_all(&mut w, &config_bytes).ctx("write", cache.dir())?;
            let _ = w.commit(cache, Some(&config_digest), None)?;
        }
        let mut layers = Vec::new();
        for l in image["Layers"].as_array().cloned().unwrap_or_default() {
            let name = member_name(l.as_str().unwrap_or_default().as_bytes());
            let digest = archive
                .blobs
                .get(&name)
                .ok_or_else(|| Error::Malformed(format!("layer {name} is missing")))?;
            let meta = std::fs::metadata(cache.path(digest)).ctx("inspect", cache.path(digest))?;
            let mut head = [0u8; 8];
            let n = std::fs::File::open(cache.path(digest))
                .and_then(|mut f| f.read(&mut head))
                .ctx("read", cache.path(digest))?;
            let media_type = match Compression::sniff(&head[..n]) {
                Compression::Gzip => oci::MT_DOCKER_LAYER_GZIP,
                Compression::Zstd => oci::MT_OCI_LAYER_ZSTD,
                _ => oci::MT_DOCKER_LAYER_TAR,
            };
            layers.push(Descriptor {
                media_type: media_type.to_owned(),
                digest: digest.to_string(),
                size: meta.len(),
                extra: Default::default(),
            });
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(oci::MT_DOCKER_MANIFEST.to_owned()),
            config: Descriptor {
                media_type: oci::MT_DOCKER_CONFIG.to_owned(),
                digest: config_digest.to_string(),
                size: config_bytes.len() as u64,
                extra: Default::default(),
            },
            layers,
            content_type: None,
            digest: None,
            extra: Default::default(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| Error::Malformed(format!("manifest: {e}")))?;
        let tag = image["RepoTags"][0].as_str();
        return finish(
            manifest,
            oci::MT_DOCKER_MANIFEST.to_owned(),
            digest_of(&manifest_bytes),
            config_value,
            platform,
            image_ref(tag, fallback_ref),
        );
    }
    Err(Error::NoPlatform {
        wanted: wanted.to_string(),
        available,
    })
}
