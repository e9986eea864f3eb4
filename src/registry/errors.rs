//! What registry failures mean to the user: oci-client's errors mapped to
//! ours, with the registry's own words where it gave some.

use super::Error;
use oci_client::errors::OciDistributionError;
use oci_client::Reference;

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
                detail: crate::ioerr::error_chain(&r),
            }
        }
        other => Error::Registry {
            registry,
            detail: crate::ioerr::error_chain(&other),
        },
    }
}

/// The registry's own words from an error body (`{"errors":[{"code",
/// "message"}]}`), else its first line, kept short.
pub(super) fn registry_message(body: &str) -> String {
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
