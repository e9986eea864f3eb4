//! Manifests and indexes, fetched by us rather than by the registry
//! client: oci-client reads a manifest body whole, so an endless or huge
//! answer would grow the process without bound. Here the body streams into
//! a buffer capped at `CD_MAX_MANIFEST_SIZE` (4 MiB, as for the JSON of
//! local image archives); the client still does the token handshake, and
//! its token is reused.

use super::fetch::ImageSourceHandle;
use super::{unless_interrupted, Error};
use crate::store::blobs::digest_of;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};

/// Same default as `archive::image`'s limit on one JSON document.
pub const DEFAULT_MAX_MANIFEST: u64 = 4 << 20;
/// What is read of an error body, for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// The manifest `reference` names, and its digest (the registry's
/// `Docker-Content-Digest`, else the body's own).
pub(super) async fn pull(
    h: &ImageSourceHandle,
    reference: &Reference,
    accept: &[&str],
) -> Result<(Vec<u8>, String), Error> {
    let registry = reference.registry().to_owned();
    let image = reference.whole();
    let map = |e| super::errors::map_error(reference, e);
    let handshake = || async {
        let auth = h.client.auth(reference, &h.auth, RegistryOperation::Pull);
        unless_interrupted(auth).await?.map_err(map)
    };
    let token = h.token.get_or_try_init(handshake).await?;
    let host = reference.resolve_registry();
    let url = format!(
        "{}://{host}/v2/{}/manifests/{}{}",
        if h.insecure { "http" } else { "https" },
        reference.repository(),
        reference.digest().or(reference.tag()).unwrap_or("latest"),
        reference
            .namespace()
            .map(|ns| format!("?ns={ns}"))
            .unwrap_or_default()
    );
    let mut req = h
        .http
        .get(&url)
        .header(reqwest::header::ACCEPT, accept.join(", "));
    req = match (token, &h.auth) {
        (Some(t), _) => req.bearer_auth(t),
        (None, RegistryAuth::Basic(u, p)) => req.basic_auth(u, Some(p)),
        _ => req,
    };
    let network = |e: reqwest::Error| Error::Network {
        registry: registry.clone(),
        detail: crate::ioerr::error_chain(&e),
    };
    let mut res = unless_interrupted(req.send()).await?.map_err(network)?;
    let status = res.status();
    if !status.is_success() {
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match unless_interrupted(res.chunk()).await? {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        return Err(match status.as_u16() {
            401 | 403 => Error::Unauthorized { registry, image },
            404 => Error::NotFound { image },
            code => Error::Registry {
                registry,
                detail: format!(
                    "HTTP {code}{}",
                    super::errors::registry_message(&String::from_utf8_lossy(&body))
                ),
            },
        });
    }
    let too_big = || Error::Manifest {
        image: image.clone(),
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
    let mut body = Vec::new();
    while let Some(chunk) = unless_interrupted(res.chunk()).await?.map_err(network)? {
        if (body.len() + chunk.len()) as u64 > h.limits.manifest {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    let digest = header.unwrap_or_else(|| digest_of(&body).to_string());
    Ok((body, digest))
}
