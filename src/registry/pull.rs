//! Resolving a reference to one platform's manifest and config, and
//! fetching its layers into the blob cache.

use super::Error;
use crate::env::EnvSnapshot;
use crate::oci::{self, Digest, Platform};
use crate::store::blobs::{digest_of, BlobCache};
use crate::store::{ImageConfig, ImageManifest};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const ACCEPT: &[&str] = &[
    oci::MT_OCI_INDEX,
    oci::MT_DOCKER_LIST,
    oci::MT_OCI_MANIFEST,
    oci::MT_DOCKER_MANIFEST,
];

/// A registry image we can resolve and download.
pub struct ImageSource {
    reference: Reference,
    client: Arc<LazyClient>,
    auth: RegistryAuth,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// One platform's image, ready to download.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub image_ref: String,
    pub platform: Platform,
    pub manifest: ImageManifest,
    pub config: ImageConfig,
    pub layers: Vec<crate::archive::LayerRef>,
    pub sizes: Vec<u64>,
    /// Resolved from the cache because the registry could not be reached.
    pub offline: bool,
}

impl ImageSource {
    /// Parses the reference and finds its credentials. The HTTP client is
    /// made on first use, on the I/O runtime when a resolution starts:
    /// loading the trust store then overlaps the unpacker's start.
    pub fn new(text: &str, env: &EnvSnapshot, allow_insecure: bool) -> Result<Self, Error> {
        let reference = oci::reference::parse(text).map_err(|reason| Error::Reference {
            reference: text.to_owned(),
            reason,
        })?;
        let registry = reference.registry().to_owned();
        let (auth, _) = super::auth::credentials(env, &registry)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Registry {
                registry,
                detail: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(Self {
            reference,
            client: Arc::new(LazyClient {
                client: OnceLock::new(),
                insecure: allow_insecure,
            }),
            auth,
            runtime: Arc::new(runtime),
        })
    }

    /// The normalised reference (`docker.io/library/ubuntu:latest`).
    pub fn whole(&self) -> String {
        self.reference.whole()
    }

    /// Starts resolving the manifest for `wanted` at the registry, on the
    /// I/O runtime; [`ImageSource::settle`] takes the answer.
    pub fn start_resolve(&self, wanted: &Platform, blobs: &BlobCache) -> Resolving {
        let lazy = self.client.clone();
        let reference = self.reference.clone();
        let auth = self.auth.clone();
        let wanted = wanted.clone();
        let blobs = blobs.clone();
        Resolving(self.runtime.spawn(async move {
            let registry = reference.registry().to_owned();
            let client = tokio::task::spawn_blocking(move || lazy.get(&registry))
                .await
                .map_err(|e| Error::Registry {
                    registry: reference.registry().to_owned(),
                    detail: e.to_string(),
                })??;
            let handle = super::fetch::ImageSourceHandle {
                client,
                reference,
                auth,
            };
            handle.resolve_online(&wanted, &blobs).await
        }))
    }

    /// What the manifest cache says `wanted` resolved to last time, if its
    /// manifest and config are still there.
    pub fn cached(
        &self,
        wanted: &Platform,
        manifests: &std::path::Path,
        blobs: &BlobCache,
    ) -> Option<Resolved> {
        load(manifests, &cache_key(&self.whole(), wanted), blobs)
    }

    /// Whether the reference names a digest: what it resolves to can never
    /// change, so a cached resolution is as good as the registry's.
    pub fn is_pinned(&self) -> bool {
        self.reference.digest().is_some()
    }

    /// The registry's answer to [`ImageSource::start_resolve`], saved in
    /// the manifest cache; when the registry cannot be reached, `offline`
    /// (the cached resolution) instead, marked as such.
    pub fn settle(
        &self,
        resolving: Resolving,
        wanted: &Platform,
        manifests: &std::path::Path,
        offline: Option<Resolved>,
    ) -> Result<Resolved, Error> {
        let answer = match self.runtime.block_on(resolving.0) {
            Ok(r) => r,
            Err(join) => Err(Error::Registry {
                registry: self.reference.registry().to_owned(),
                detail: join.to_string(),
            }),
        };
        match answer {
            Ok((resolved, bytes)) => {
                let _ = save(
                    manifests,
                    &cache_key(&self.whole(), wanted),
                    &resolved,
                    &bytes,
                );
                Ok(resolved)
            }
            Err(e @ Error::Network { .. }) => match offline {
                Some(mut r) => {
                    r.offline = true;
                    Ok(r)
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    pub fn runtime(&self) -> Arc<tokio::runtime::Runtime> {
        self.runtime.clone()
    }
}

fn value_media(bytes: &[u8]) -> Option<String> {
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

fn finish(
    image_ref: String,
    platform: Platform,
    manifest: ImageManifest,
    config: serde_json::Value,
) -> Result<Resolved, Error> {
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
    })
}

fn cache_key(whole: &str, platform: &Platform) -> String {
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

fn save(dir: &std::path::Path, key: &str, r: &Resolved, bytes: &[u8]) -> std::io::Result<()> {
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

fn load(dir: &std::path::Path, key: &str, blobs: &BlobCache) -> Option<Resolved> {
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

pub(super) fn map_error(reference: &Reference, e: OciDistributionError) -> Error {
    let registry = reference.registry().to_owned();
    let image = reference.whole();
    match e {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => Error::Unauthorized { registry, image },
        OciDistributionError::ImageManifestNotFoundError(_) => Error::NotFound { image },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}", e.code))
                .collect();
            if codes.iter().any(|c| c.contains("Unknown")) {
                Error::NotFound { image }
            } else if codes
                .iter()
                .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
            {
                Error::Unauthorized { registry, image }
            } else {
                Error::Registry {
                    registry,
                    detail: envelope.to_string(),
                }
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 | 403 => Error::Unauthorized { registry, image },
            404 => Error::NotFound { image },
            _ => Error::Registry {
                registry,
                detail: format!("HTTP {code}{}", registry_message(&message)),
            },
        },
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
            Error::Network {
                registry,
                detail: error_chain(&r),
            }
        }
        other => Error::Registry {
            registry,
            detail: error_chain(&other),
        },
    }
}

/// The registry's own words from an error body (`{"errors":[{"code",
/// "message"}]}`), else its first line, kept short.
fn registry_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(e) = v["errors"].get(0) {
            return format!(
                " ({}: {})",
                e["code"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or("no message")
            );
        }
    }
    let line: String = body
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect();
    if line.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", line.trim())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg
}

/// A resolution under way on the I/O runtime.
pub struct Resolving(tokio::task::JoinHandle<Result<(Resolved, Vec<u8>), Error>>);

impl super::fetch::ImageSourceHandle {
    async fn resolve_online(
        &self,
        wanted: &Platform,
        blobs: &BlobCache,
    ) -> Result<(Resolved, Vec<u8>), Error> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&self.reference, &self.auth, ACCEPT)
            .await
            .map_err(|e| self.map_err(e))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| self.bad(e))?;
        let (bytes, digest, index_platform) = if value.get("manifests").is_some() {
            let (d, p) = pick(&value, wanted)?;
            let by_digest = self.reference.clone_with_digest(d);
            let (b, d) = self
                .client
                .pull_manifest_raw(&by_digest, &self.auth, ACCEPT)
                .await
                .map_err(|e| self.map_err(e))?;
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
        let config_digest =
            Digest::parse(&manifest.config.digest).ok_or_else(|| self.bad("bad config digest"))?;
        let config_bytes = self.config_bytes(&config_digest, blobs).await?;
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

    async fn config_bytes(&self, digest: &Digest, blobs: &BlobCache) -> Result<Vec<u8>, Error> {
        if blobs.contains(digest) {
            if let Ok(b) = std::fs::read(blobs.path(digest)) {
                return Ok(b);
            }
        }
        let mut buf = Vec::new();
        self.client
            .pull_blob(&self.reference, digest.as_str(), &mut buf)
            .await
            .map_err(|e| self.map_err(e))?;
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

    fn map_err(&self, e: OciDistributionError) -> Error {
        map_error(&self.reference, e)
    }
}

impl ImageSource {
    /// What the download tasks share.
    pub fn handle(&self) -> Result<Arc<super::fetch::ImageSourceHandle>, Error> {
        Ok(Arc::new(super::fetch::ImageSourceHandle {
            client: self.client.get(self.reference.registry())?,
            reference: self.reference.clone(),
            auth: self.auth.clone(),
        }))
    }
}

/// The registry's HTTP client, made once, when first needed.
struct LazyClient {
    client: OnceLock<Client>,
    insecure: bool,
}

impl LazyClient {
    fn get(&self, registry: &str) -> Result<Client, Error> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let config = ClientConfig {
            protocol: if self.insecure {
                ClientProtocol::HttpsExcept(vec![registry.to_owned()])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(20)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        crate::tls::install_provider();
        // try_from, not new: new() silently drops a bad configuration.
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            registry: registry.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(self.client.get_or_init(|| client).clone())
    }
}
