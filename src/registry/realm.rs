//! The token handshake, and where credentials may go. A registry answers
//! `GET /v2/` with a challenge; a Bearer challenge names the realm that
//! exchanges credentials for a token. A realm over plain HTTP would put
//! the user's credentials on the wire in clear, and one on another host
//! hands them to whoever the registry names. Like Docker we follow a realm
//! on another host, but only over TLS; plain HTTP only for the registry's
//! own host when the user allowed plain HTTP for it (`--allow-insecure`).
//!
//! The handshake is ours (not oci-client's), so the challenge we check is
//! the one we answer, and every body is read against a ceiling. reqwest
//! drops the Authorization header on any redirect to another host.

use super::{unless_interrupted, Error};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

/// Token answers are small JSON documents.
const MAX_TOKEN_BODY: u64 = 1 << 20;

/// What the registry asks for.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    /// Nothing, or Basic: credentials (if any) go with each request.
    None,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The registry's token for pulling `repository`, or None when it wants
/// none (open, or Basic).
pub(super) async fn token(
    http: &reqwest::Client,
    base: &str,
    reference: &Reference,
    auth: &RegistryAuth,
    insecure: bool,
) -> Result<Option<String>, Error> {
    let registry = reference.registry();
    let repository = reference.repository();
    let network = |e| super::direct::network(registry, e);
    let res = unless_interrupted(http.get(format!("{base}/v2/")).send())
        .await?
        .map_err(network)?;
    let header = res.headers().get(reqwest::header::WWW_AUTHENTICATE);
    let challenge = header
        .and_then(|h| h.to_str().ok())
        .map_or(Challenge::None, parse);
    let Challenge::Bearer { realm, service } = challenge else {
        return Ok(None);
    };
    let mut req = match auth {
        RegistryAuth::Basic(user, password) => {
            verdict(registry, insecure, &realm)?;
            http.get(&realm).basic_auth(user, Some(password))
        }
        RegistryAuth::Bearer(t) => return Ok(Some(t.clone())),
        RegistryAuth::Anonymous => http.get(&realm),
    };
    let scope = format!("repository:{repository}:pull");
    req = req.query(&[("scope", scope.as_str())]);
    if let Some(s) = &service {
        req = req.query(&[("service", s.as_str())]);
    }
    let mut res = unless_interrupted(req.send()).await?.map_err(network)?;
    let status = res.status();
    let body = super::direct::read_capped(&mut res, registry, MAX_TOKEN_BODY)
        .await?
        .ok_or_else(|| bad_token(registry, "the token answer is larger than 1 MiB"))?;
    if matches!(status.as_u16(), 401 | 403) {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            image: reference.whole(),
        });
    }
    if !status.is_success() {
        return Err(bad_token(
            registry,
            &format!("the token service answered HTTP {status}"),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| bad_token(registry, &format!("the token answer is not JSON: {e}")))?;
    let token = json["token"].as_str().or(json["access_token"].as_str());
    token
        .map(|t| Some(t.to_owned()))
        .ok_or_else(|| bad_token(registry, "the token answer holds no token"))
}

fn bad_token(registry: &str, detail: &str) -> Error {
    Error::Registry {
        registry: registry.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A `WWW-Authenticate` value: Bearer with its realm and service, else
/// nothing to do beforehand.
fn parse(challenge: &str) -> Challenge {
    let Some((scheme, params)) = challenge.trim().split_once(' ') else {
        return Challenge::None;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let param = |name: &str| {
        let lower = params.to_ascii_lowercase();
        let at = lower
            .match_indices(&format!("{name}="))
            .find(|(i, _)| *i == 0 || matches!(lower.as_bytes()[i - 1], b',' | b' '))?
            .0;
        let rest = &params[at + name.len() + 1..];
        Some(match rest.strip_prefix('"') {
            Some(q) => q.split('"').next()?.to_owned(),
            None => rest.split(',').next()?.trim().to_owned(),
        })
    };
    match param("realm") {
        Some(realm) => Challenge::Bearer {
            realm,
            service: param("service"),
        },
        None => Challenge::None,
    }
}

/// Whether the user's credentials may go to `realm`.
fn verdict(registry: &str, insecure: bool, realm: &str) -> Result<(), Error> {
    let refuse = |why: &str| {
        Err(Error::Credentials(format!(
            "{registry} asks for your credentials to be sent to {realm}, {why}; refusing to send them"
        )))
    };
    let Ok(url) = reqwest::Url::parse(realm) else {
        return refuse("which is not a URL");
    };
    let registry_host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    let same_host = url.host_str() == Some(registry_host.trim_matches(['[', ']']));
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure && same_host => Ok(()),
        "http" if same_host => refuse("over plain HTTP (allowed only with --allow-insecure)"),
        "http" => refuse("another host, over plain HTTP"),
        _ => refuse("which is not an https URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(
            parse("bearer service=x,Realm=https://a/t"),
            Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("x".into())
            }
        );
        assert_eq!(parse(r#"Basic realm="r""#), Challenge::None);
        assert_eq!(parse("Bearer service=x"), Challenge::None);
    }

    #[test]
    fn realms_that_may_receive_credentials() {
        let ok = |reg: &str, insecure: bool, r: &str| verdict(reg, insecure, r).is_ok();
        assert!(ok("r.example", false, "https://auth.example/token"));
        assert!(ok("127.0.0.1:5000", true, "http://127.0.0.1:5001/token"));
        assert!(!ok("127.0.0.1:5000", true, "http://127.0.0.2:5001/token"));
        assert!(!ok("127.0.0.1:5000", false, "http://127.0.0.1:5001/token"));
        assert!(!ok("r.example", false, "http://evil.example/token"));
        assert!(!ok("r.example", false, "file:///etc/passwd"));
        assert!(!ok("r.example", false, "not a url"));
    }
}
