//! Archives by URL: streamed to a temporary file with progress, checked
//! against the length the server announced.

use super::Error;
use std::io::{Read, Write};
use std::path::Path;

/// Downloads `url` into `dest` (created new). Returns the byte count.
pub fn fetch(
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, Error> {
    let fail = |what: String| Error::Download(format!("{url}: {what}"));
    crate::tls::install_provider();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("chroot-distro/", env!("CARGO_PKG_VERSION")))
        .timeout(None)
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .map_err(|e| fail(crate::ioerr::error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    let total = response.content_length();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| fail(format!("cannot create {}: {e}", dest.display())))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(fail(format!(
                    "the download broke off after {done} bytes: {e}"
                )))
            }
        };
        file.write_all(&buf[..n])
            .map_err(|e| fail(format!("cannot write {}: {e}", dest.display())))?;
        done += n as u64;
        progress(done, total);
    }
    if let Some(t) = total {
        if t != done {
            return Err(fail(format!(
                "the server announced {t} bytes but sent {done}"
            )));
        }
    }
    file.sync_all().map_err(|e| fail(e.to_string()))?;
    Ok(done)
}
