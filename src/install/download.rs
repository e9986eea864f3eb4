//! Archives by URL: streamed to a temporary file with progress, checked
//! against the length the server announced.

use super::Error;
use std::io::{Read, Write};
use std::path::Path;

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    /// The sha256 of what arrived, in hex.
    pub sha256: String,
    /// The server's `Last-Modified`, in seconds since the epoch.
    pub last_modified: Option<u64>,
}

/// Downloads `url` into `dest` (created new). Returns the byte count.
pub fn fetch(
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, Error> {
    fetch_hashed(url, dest, progress).map(|f| f.bytes)
}

/// [`fetch`], hashing what arrives and keeping the server's date.
pub fn fetch_hashed(
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Fetched, Error> {
    use sha2::Digest as _;
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
    let last_modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    let mut sha = sha2::Sha256::new();
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
        sha.update(&buf[..n]);
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
    Ok(Fetched {
        bytes: done,
        sha256: hex::encode(sha.finalize()),
        last_modified,
    })
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's preferred
/// form) in seconds since the epoch; other forms give `None`.
pub fn http_date(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_read_as_epoch_seconds() {
        assert_eq!(
            super::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(super::http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            super::http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1835438400)
        );
        assert_eq!(super::http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }
}
