//! Every registry request, made by us rather than by oci-client (which
//! reads manifests and error bodies whole, so an endless or huge answer
//! would grow the process without bound, and whose handshake would re-read
//! a challenge we had checked). Every body is read as it streams, against
//! a ceiling: manifests and indexes against `CD_MAX_MANIFEST_SIZE` (4 MiB,
//! as the JSON of local image archives), configs and blobs against their
//! declared size, error bodies against 64 KiB. One token per install,
//! asked for again once when the registry says it expired.

use super::fetch::ImageSourceHandle;
use super::{unless_interrupted, Error};
use crate::store::blobs::digest_of;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

/// Same default as `archive::image`'s limit on one JSON document.
pub const DEFAULT_MAX_MANIFEST: u64 = 4 << 20;
/// What is read of an error body, for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

impl ImageSourceHandle {
    /// `GET /v2/<repository>/<what>` of `reference`'s repository, with the
    /// registry's token (or the Basic credentials of a Basic registry) and
    /// `range` as a `Range` header. A non-success answer becomes an error
    /// (401/403 unauthorized, 404 not found, else the registry's words).
    pub(super) async fn get(
        &self,
        reference: &Reference,
        what: &str,
        accept: Option<&str>,
        range: Option<u64>,
    ) -> Result<reqwest::Response, Error> {
        let registry = reference.registry().to_owned();
        let url = format!(
            "{}/v2/{}/{what}{}",
            self.base(reference),
            reference.repository(),
            reference
                .namespace()
                .map(|ns| format!("?ns={ns}"))
                .unwrap_or_default()
        );
        let mut used = None;
        let mut res = loop {
            let token = self.token(reference, used.as_ref()).await?;
            let mut req = self.http.get(&url);
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            if let Some(from) = range.filter(|n| *n > 0) {
                req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
            }
            req = match (&token, &self.auth) {
                (Some(t), _) => req.bearer_auth(t),
                (None, RegistryAuth::Basic(u, p)) => req.basic_auth(u, Some(p)),
                _ => req,
            };
            let res = unless_interrupted(req.send())
                .await?
                .map_err(|e| network(&registry, e))?;
            // A token that expired mid-install (Docker Hub's last five
            // minutes): one new handshake, then the answer stands.
            let expired = res.status() == reqwest::StatusCode::UNAUTHORIZED && token.is_some();
            if expired && used.is_none() {
                used = Some(token);
                continue;
            }
            break res;
        };
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match unless_interrupted(res.chunk()).await? {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        let image = reference.whole();
        Err(match status.as_u16() {
            401 | 403 => Error::Unauthorized { registry, image },
            404 => Error::NotFound { image },
            code => Error::Registry {
                registry,
                detail: format!(
                    "HTTP {code}{}",
                    super::errors::registry_message(&String::from_utf8_lossy(&body))
                ),
            },
        })
    }

    /// `scheme://host` of the registry's API.
    fn base(&self, reference: &Reference) -> String {
        let scheme = if self.insecure { "http" } else { "https" };
        format!("{scheme}://{}", reference.resolve_registry())
    }

    /// The install's token, shared by every request; a new one when
    /// `stale` is the one we hold.
    async fn token(
        &self,
        reference: &Reference,
        stale: Option<&Option<String>>,
    ) -> Result<Option<String>, Error> {
        let mut slot = self.token.lock().await;
        match slot.as_ref() {
            Some(held) if Some(held) != stale => return Ok(held.clone()),
            _ => {}
        }
        let base = self.base(reference);
        let fresh =
            super::realm::token(&self.http, &base, reference, &self.auth, self.insecure).await?;
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// The blob `digest` (a config), never more than `size` bytes of it.
    pub(super) async fn small_blob(&self, digest: &str, size: u64) -> Result<Vec<u8>, Error> {
        let what = format!("blobs/{digest}");
        let mut res = self.get(&self.reference, &what, None, None).await?;
        read_capped(&mut res, self.reference.registry(), size)
            .await?
            .ok_or_else(|| Error::Verify {
                digest: digest.to_owned(),
                detail: format!(
                    "the registry sent more bytes of config where its manifest declares {size}"
                ),
            })
    }
}

/// The body of `res`, read as it streams; None once it passes `limit`
/// bytes (the rest is never read).
pub(super) async fn read_capped(
    res: &mut reqwest::Response,
    registry: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = unless_interrupted(res.chunk())
        .await?
        .map_err(|e| network(registry, e))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// A failed request or body read, as the user should read it.
pub(super) fn network(registry: &str, e: reqwest::Error) -> Error {
    Error::Network {
        registry: registry.to_owned(),
        detail: crate::ioerr::error_chain(&e),
    }
}

/// The manifest `reference` names, and its digest (the registry's
/// `Docker-Content-Digest`, else the body's own).
pub(super) async fn pull_manifest(
    h: &ImageSourceHandle,
    reference: &Reference,
    accept: &[&str],
) -> Result<(Vec<u8>, String), Error> {
    let what = format!(
        "manifests/{}",
        reference.digest().or(reference.tag()).unwrap_or("latest")
    );
    let mut res = h
        .get(reference, &what, Some(&accept.join(", ")), None)
        .await?;
    let too_big = || Error::Manifest {
        image: reference.whole(),
        detail: format!(
            "it is larger than {} bytes (CD_MAX_MANIFEST_SIZE)",
            h.limits.manifest
        ),
    };
    if res.content_length().is_some_and(|n| n > h.limits.manifest) {
        return Err(too_big());
    }
    let header = res
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_capped(&mut res, reference.registry(), h.limits.manifest)
        .await?
        .ok_or_else(too_big)?;
    let digest = header.unwrap_or_else(|| digest_of(&body).to_string());
    Ok((body, digest))
}
