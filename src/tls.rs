//! TLS set-up shared by the registry client and URL downloads: the crypto
//! provider, and which system trust store file rustls reads.

use crate::env::EnvSnapshot;
use std::path::PathBuf;

/// Where distributions keep the whole trust store as one PEM file, most
/// common first (Debian and Ubuntu, Fedora and RHEL, openSUSE, Alpine and
/// Arch, FreeBSD).
const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// Installs ring as the process's rustls provider (reqwest is built
/// without one). Idempotent: the first provider installed stays.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The trust store file to point `SSL_CERT_FILE` at, when the user set
/// neither it nor `SSL_CERT_DIR`.
///
/// Without either, rustls-native-certs reads the bundle *and* every file of
/// the hashed directory beside it (about 300 on Debian, the same
/// certificates again), once per HTTP client (oci-client built two), so
/// a registry install read some 600 files before its first request: 40 ms
/// with a cold page cache. The bundle alone holds the same roots wherever
/// the directory is generated from it (update-ca-certificates,
/// update-ca-trust, Termux's ca-certificates). Android proper has only a
/// directory, so nothing is chosen there and the default search applies.
pub fn bundle_override(env: &EnvSnapshot) -> Option<PathBuf> {
    if env.is_set("SSL_CERT_FILE") || env.is_set("SSL_CERT_DIR") {
        return None;
    }
    let termux = crate::termux::Termux::detect(env).map(|t| t.prefix.join("etc/tls/cert.pem"));
    termux
        .into_iter()
        .chain(BUNDLES.iter().map(PathBuf::from))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_choice_wins_and_termux_looks_in_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let env = EnvSnapshot::from_pairs([("SSL_CERT_DIR", "/somewhere")]);
        assert_eq!(bundle_override(&env), None);
        let env = EnvSnapshot::from_pairs([("SSL_CERT_FILE", "")]);
        assert_eq!(bundle_override(&env), None);
        let pem = dir.path().join("etc/tls/cert.pem");
        std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let env = EnvSnapshot::from_pairs([("TERMUX__PREFIX", dir.path())]);
        assert_eq!(bundle_override(&env), Some(pem));
    }
}
