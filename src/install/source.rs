//! What the user asked to install, and the container name it implies.

use crate::env::EnvSnapshot;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallSource {
    /// A local archive (the argument started with `/`, `./`, `../` or `~`).
    Path(PathBuf),
    /// An http(s) URL of an archive.
    Url(String),
    /// Anything else is an image reference, as in the reference tool.
    Image(String),
}

impl InstallSource {
    pub fn parse(arg: &str, env: &EnvSnapshot) -> Self {
        let lower = arg.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Self::Url(arg.to_owned());
        }
        if arg == "~" || arg.starts_with("~/") {
            let home = env
                .get_abs_path("HOME")
                .unwrap_or_else(|| PathBuf::from("/"));
            return Self::Path(home.join(arg.trim_start_matches('~').trim_start_matches('/')));
        }
        if arg.starts_with('/') || arg.starts_with("./") || arg.starts_with("../") {
            return Self::Path(PathBuf::from(arg));
        }
        Self::Image(arg.to_owned())
    }

    /// The container name used when `--name` is not given.
    pub fn default_name(&self) -> String {
        match self {
            Self::Path(p) => from_file_name(
                &p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            Self::Url(u) => {
                let path = u.split(['?', '#']).next().unwrap_or_default();
                from_file_name(
                    path.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default(),
                )
            }
            Self::Image(r) => {
                let no_digest = r.split('@').next().unwrap_or_default();
                let last = no_digest.rsplit('/').next().unwrap_or_default();
                sanitize(last.split(':').next().unwrap_or_default())
            }
        }
    }
}

/// Archive extensions stripped from file names, longest first.
const EXTENSIONS: &[&str] = &[
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tar.lzma",
    ".tar.zst",
    ".tar.zstd",
    ".tgz",
    ".tbz2",
    ".tbz",
    ".txz",
    ".tlz",
    ".tzst",
    ".tar",
    ".gz",
    ".xz",
    ".bz2",
    ".zst",
];

fn from_file_name(name: &str) -> String {
    let mut n = name.to_owned();
    if let Some(ext) = EXTENSIONS
        .iter()
        .find(|e| n.to_ascii_lowercase().ends_with(*e))
    {
        n.truncate(n.len() - ext.len());
    }
    for suffix in [".oci", ".docker", "-rootfs", ".rootfs"] {
        if n.len() > suffix.len() && n.to_ascii_lowercase().ends_with(suffix) {
            n.truncate(n.len() - suffix.len());
        }
    }
    sanitize(&n)
}

/// Maps a string onto the container-name alphabet.
fn sanitize(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut out: String = trimmed.chars().take(64).collect();
    while out.ends_with(['.', '-']) {
        out.pop();
    }
    if out.is_empty() {
        "container".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> EnvSnapshot {
        EnvSnapshot::from_pairs([("HOME", "/home/u")])
    }

    #[test]
    fn kinds() {
        assert_eq!(
            InstallSource::parse("ubuntu", &env()),
            InstallSource::Image("ubuntu".into())
        );
        assert_eq!(
            InstallSource::parse("rootfs.tar", &env()),
            InstallSource::Image("rootfs.tar".into())
        );
        assert_eq!(
            InstallSource::parse("./r.tar", &env()),
            InstallSource::Path("./r.tar".into())
        );
        assert_eq!(
            InstallSource::parse("../r.tar", &env()),
            InstallSource::Path("../r.tar".into())
        );
        assert_eq!(
            InstallSource::parse("/r.tar", &env()),
            InstallSource::Path("/r.tar".into())
        );
        assert_eq!(
            InstallSource::parse("~/r.tar", &env()),
            InstallSource::Path("/home/u/r.tar".into())
        );
        assert_eq!(
            InstallSource::parse("HTTPS://x/y.tgz", &env()),
            InstallSource::Url("HTTPS://x/y.tgz".into())
        );
    }

    #[test]
    fn names() {
        let n = |s: &str| InstallSource::parse(s, &env()).default_name();
        assert_eq!(n("./alpine-rootfs.tar.gz"), "alpine");
        assert_eq!(n("./myimage.oci.tar"), "myimage");
        assert_eq!(n("/x/debian-12.tar.zst"), "debian-12");
        assert_eq!(n("/x/Ubuntu 24.04.tar.xz"), "Ubuntu-24.04");
        assert_eq!(n("https://h/p/rootfs.tar.xz?sig=1"), "rootfs");
        assert_eq!(n("https://h/p/.hidden.tgz"), "hidden");
        assert_eq!(n("ghcr.io/foo/bar:latest"), "bar");
        assert_eq!(n("ubuntu@sha256:abc"), "ubuntu");
        assert_eq!(n("/x/---.tar"), "container");
    }
}
