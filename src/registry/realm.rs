//! Where credentials may go. A registry answers `GET /v2/` with a Bearer
//! challenge naming the realm that exchanges credentials for a token, and
//! the registry client sends the user's Basic credentials there. A realm
//! over plain HTTP would put them on the wire in clear, and one on another
//! host hands them to whoever the registry names. Like Docker we follow a
//! realm on another host, but only over TLS; plain HTTP only for the
//! registry's own host when the user allowed plain HTTP for it
//! (`--allow-insecure`).
//!
//! Checked before the client's own handshake, with our own request; the
//! client re-reads the challenge itself, so a
//! registry that answers the two differently is not caught here. reqwest
//! drops the Authorization header on any redirect to another host.

use super::Error;

/// Refuses a challenge that would send credentials where they must not go.
/// Network failures are left to the real request, which reports them.
pub(super) async fn check(
    http: &reqwest::Client,
    registry: &str,
    insecure: bool,
) -> Result<(), Error> {
    let scheme = if insecure { "http" } else { "https" };
    let get = http.get(format!("{scheme}://{registry}/v2/")).send();
    let Ok(res) = super::unless_interrupted(get).await? else {
        return Ok(());
    };
    let Some(header) = res.headers().get(reqwest::header::WWW_AUTHENTICATE) else {
        return Ok(());
    };
    let Some(realm) = header.to_str().ok().and_then(bearer_realm) else {
        return Ok(());
    };
    verdict(registry, insecure, &realm)
}

/// The realm of a `Bearer` challenge.
fn bearer_realm(challenge: &str) -> Option<String> {
    let (scheme, params) = challenge.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let at = params.to_ascii_lowercase().find("realm=")?;
    let rest = &params[at + "realm=".len()..];
    Some(match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?.to_owned(),
        None => rest.split(',').next()?.trim().to_owned(),
    })
}

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
    fn realms_that_may_receive_credentials() {
        let realm = |c: &str| bearer_realm(c);
        assert_eq!(
            realm(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#),
            Some("https://auth.docker.io/token".into())
        );
        assert_eq!(
            realm("bearer service=x,Realm=https://a/t"),
            Some("https://a/t".into())
        );
        assert_eq!(realm(r#"Basic realm="r""#), None);
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
