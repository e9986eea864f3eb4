//! ADD from a URL: each URL downloaded once per build (streamed into the
//! cache's `downloads/`, removed when the build ends) with the install
//! pipeline's HTTP client, checked against `--checksum`, and laid down as
//! Docker does: one file, 0600, dated by the server's `Last-Modified`.
//! Docker never unpacks a download, and neither do we.

use super::context::{Content, Made};
use crate::install::download::{fetch_hashed, Fetched};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The build's downloads, by URL.
pub(super) struct Downloads {
    dir: PathBuf,
    got: HashMap<String, (PathBuf, Fetched)>,
}

impl Downloads {
    pub fn new(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join("downloads"),
            got: HashMap::new(),
        }
    }

    /// `url`, downloaded on first use.
    fn get(&mut self, url: &str) -> Result<&(PathBuf, Fetched), String> {
        if !self.got.contains_key(url) {
            crate::store::ensure_private_dir(&self.dir).map_err(|e| e.to_string())?;
            let path = self
                .dir
                .join(format!("build-{}-{}", std::process::id(), self.got.len()));
            let _ = std::fs::remove_file(&path);
            let fetched = fetch_hashed(url, &path, &mut |_, _| {}).map_err(|e| {
                let _ = std::fs::remove_file(&path);
                e.to_string()
            })?;
            self.got.insert(url.to_owned(), (path, fetched));
        }
        Ok(&self.got[url])
    }

    /// The file `url` becomes, downloaded and checked against `checksum`
    /// before anything is applied. `created` dates it when the server
    /// gave no `Last-Modified`.
    pub fn made(
        &mut self,
        url: &str,
        checksum: Option<&str>,
        created: u64,
    ) -> Result<Made, String> {
        let want = checksum.map(sha256_of_checksum).transpose()?;
        let (path, fetched) = self.get(url)?;
        if let Some(want) = want {
            if want != fetched.sha256 {
                return Err(format!(
                    "{url}: checksum mismatch: --checksum says sha256:{want}, the download is sha256:{}",
                    fetched.sha256
                ));
            }
        }
        Ok(Made {
            name: file_name(url),
            content: Content::File(path.clone()),
            mode: 0o600,
            mtime: fetched.last_modified.unwrap_or(created),
        })
    }

    /// What the step's cache key holds for `url`: with `--checksum` the
    /// checksum (nothing is downloaded), else the download's digest and
    /// date.
    pub fn key(&mut self, url: &str, checksum: Option<&str>) -> Result<Made, String> {
        let (digest, mtime) = match checksum {
            Some(c) => (sha256_of_checksum(c)?, 0),
            None => {
                let (_, f) = self.get(url)?;
                (f.sha256.clone(), f.last_modified.unwrap_or(0))
            }
        };
        Ok(Made {
            name: file_name(url),
            content: Content::Bytes(format!("{url}\0sha256:{digest}").into_bytes()),
            mode: 0o600,
            mtime,
        })
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        for (path, _) in self.got.values() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `--checksum=sha256:HEX` → HEX (lowercase).
fn sha256_of_checksum(checksum: &str) -> Result<String, String> {
    let hex = checksum
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("--checksum={checksum}: expected sha256: and 64 hex digits"))?;
    Ok(hex.to_ascii_lowercase())
}

/// The name a download takes in a directory: the last segment of the
/// URL's path, trailing slashes aside (Docker's rule), without query or fragment.
pub(super) fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map_or("", |(_, p)| p);
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => "__unnamed__".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_named_by_the_end_of_its_url_path() {
        assert_eq!(file_name("http://h:1/a/b/tool.tgz?x=1#y"), "tool.tgz");
        assert_eq!(file_name("https://h/"), "__unnamed__");
        assert_eq!(file_name("https://h"), "__unnamed__");
        assert_eq!(file_name("https://h/dir/"), "dir");
    }

    #[test]
    fn checksums_are_sha256_only() {
        let hex = "A".repeat(64);
        assert_eq!(
            sha256_of_checksum(&format!("sha256:{hex}")).unwrap(),
            hex.to_lowercase()
        );
        assert!(sha256_of_checksum("sha512:abc").is_err());
        assert!(sha256_of_checksum("sha256:abc").is_err());
    }
}
