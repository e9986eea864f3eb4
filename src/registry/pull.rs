//! A registry image: its reference, credentials, lazily made HTTP client
//! and I/O runtime, and the resolution of a platform's manifest, online or
//! from the manifest cache.

use super::Error;
use crate::env::EnvSnapshot;
use crate::oci::{self, Platform};
use crate::store::blobs::BlobCache;
use crate::store::{ImageConfig, ImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A registry image we can resolve and download.
pub struct ImageSource {
    reference: Reference,
    client: Arc<LazyClient>,
    auth: RegistryAuth,
    runtime: Arc<tokio::runtime::Runtime>,
    limits: super::settings::Limits,
    /// The registry token, shared by resolution and downloads.
    token: Arc<tokio::sync::Mutex<Option<Option<String>>>>,
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
    /// An image `build` made here: the manifest cache is its only home.
    pub built: bool,
}

/// A resolution under way on the I/O runtime.
pub struct Resolving(tokio::task::JoinHandle<Result<(Resolved, Vec<u8>), Error>>);

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
            limits: super::settings::Limits::from_env(env),
            token: Default::default(),
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
        let lazy_insecure = lazy.insecure;
        let limits = self.limits;
        let token = self.token.clone();
        let reference = self.reference.clone();
        let auth = self.auth.clone();
        let wanted = wanted.clone();
        let blobs = blobs.clone();
        Resolving(self.runtime.spawn(async move {
            let registry = reference.registry().to_owned();
            let http = tokio::task::spawn_blocking(move || lazy.get(&registry))
                .await
                .map_err(|e| Error::Registry {
                    registry: reference.registry().to_owned(),
                    detail: e.to_string(),
                })??;
            let handle = super::fetch::ImageSourceHandle {
                reference,
                auth,
                http,
                insecure: lazy_insecure,
                limits,
                token,
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
        super::cache::load(manifests, &super::cache::key(&self.whole(), wanted), blobs)
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
                let _ = super::cache::save(
                    manifests,
                    &super::cache::key(&self.whole(), wanted),
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

impl ImageSource {
    /// What the download tasks share.
    pub fn handle(&self) -> Result<Arc<super::fetch::ImageSourceHandle>, Error> {
        Ok(Arc::new(super::fetch::ImageSourceHandle {
            reference: self.reference.clone(),
            auth: self.auth.clone(),
            http: self.client.get(self.reference.registry())?,
            insecure: self.client.insecure,
            limits: self.limits,
            token: self.token.clone(),
        }))
    }
}

/// The registry's HTTP client, made once, when first needed (loading the
/// trust store then overlaps the unpacker's start).
struct LazyClient {
    client: OnceLock<reqwest::Client>,
    insecure: bool,
}

impl LazyClient {
    fn get(&self, registry: &str) -> Result<reqwest::Client, Error> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        crate::tls::install_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Registry {
                registry: registry.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(self.client.get_or_init(|| http).clone())
    }
}
