//! Registry credentials: `CD_DOCKER_AUTH`, then Docker's config (and its
//! credential helpers), then containers' `auth.json`, else anonymous.

use super::Error;
use crate::env::EnvSnapshot;
use oci_client::secrets::RegistryAuth;
use std::path::PathBuf;

/// Where the credentials came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Env,
    DockerConfig,
    ContainersAuth(PathBuf),
    Anonymous,
}

pub fn credentials(env: &EnvSnapshot, registry: &str) -> Result<(RegistryAuth, Origin), Error> {
    if let Some(value) = env.get("CD_DOCKER_AUTH") {
        let (user, password) = value.split_once(':').ok_or_else(|| {
            Error::Credentials(
                "CD_DOCKER_AUTH must be 'username:password' (the colon is required)".into(),
            )
        })?;
        return Ok((
            RegistryAuth::Basic(user.to_owned(), password.to_owned()),
            Origin::Env,
        ));
    }
    let key = if registry == "docker.io" || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    match docker_credential::get_credential(key) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
            return Ok((RegistryAuth::Basic(u, p), Origin::DockerConfig))
        }
        Ok(docker_credential::DockerCredential::IdentityToken(_)) => {
            return Err(Error::Credentials(format!(
                "the Docker config holds an identity token for {registry}, which chroot-distro cannot use; set CD_DOCKER_AUTH=user:password"
            )))
        }
        Err(_) => {}
    }
    for path in containers_auth_files(env) {
        if let Some(auth) = from_auth_json(&path, registry) {
            return Ok((auth, Origin::ContainersAuth(path)));
        }
    }
    Ok((RegistryAuth::Anonymous, Origin::Anonymous))
}

/// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `~/.config/containers/auth.json`, as podman and skopeo look them up.
fn containers_auth_files(env: &EnvSnapshot) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = env.get_abs_path("REGISTRY_AUTH_FILE") {
        files.push(p);
    }
    if let Some(p) = env.get_abs_path("XDG_RUNTIME_DIR") {
        files.push(p.join("containers/auth.json"));
    }
    if let Some(h) = env.get_abs_path("HOME") {
        files.push(h.join(".config/containers/auth.json"));
    }
    files
}

fn from_auth_json(path: &std::path::Path, registry: &str) -> Option<RegistryAuth> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let encoded = json["auths"][registry]["auth"].as_str()?;
    let decoded = base64_decode(encoded)?;
    let (u, p) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some(RegistryAuth::Basic(u, p))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_credentials_need_a_colon() {
        let env = EnvSnapshot::from_pairs([("CD_DOCKER_AUTH", "user:pa:ss")]);
        let (auth, origin) = credentials(&env, "r.example").unwrap();
        assert_eq!(auth, RegistryAuth::Basic("user".into(), "pa:ss".into()));
        assert_eq!(origin, Origin::Env);
        let env = EnvSnapshot::from_pairs([("CD_DOCKER_AUTH", "token-only")]);
        assert!(matches!(
            credentials(&env, "r.example"),
            Err(Error::Credentials(_))
        ));
    }

    #[test]
    fn containers_auth_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        // "bob:s3cret"
        std::fs::write(
            &file,
            r#"{"auths":{"127.0.0.1:5444":{"auth":"Ym9iOnMzY3JldA=="}}}"#,
        )
        .unwrap();
        assert_eq!(
            from_auth_json(&file, "127.0.0.1:5444"),
            Some(RegistryAuth::Basic("bob".into(), "s3cret".into()))
        );
        assert_eq!(from_auth_json(&file, "other"), None);
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
    }
}
