//! The content-addressed blob cache (`oci_layers/`): layers and configs,
//! keyed by their sha256, written only after the hash has been checked.

use super::Error;
use crate::ioerr::{IoContext, IoError};
use crate::oci::Digest;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.file_name())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// A writer into a temporary file of the cache that hashes as it goes.
    pub fn writer(&self) -> Result<BlobWriter, Error> {
        super::ensure_private_dir(&self.dir)?;
        for attempt in 0..64u32 {
            let tmp = self.dir.join(format!(
                ".partial-{}-{}-{attempt}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(BlobWriter {
                        file: io::BufWriter::with_capacity(256 * 1024, file),
                        tmp: Some(tmp),
                        hasher: Sha256::new(),
                        size: 0,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(IoError::new("create", &tmp, e).into()),
            }
        }
        Err(IoError::new(
            "create temporary file in",
            &self.dir,
            io::ErrorKind::AlreadyExists.into(),
        )
        .into())
    }

    /// Opens a cached blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File, Error> {
        let path = self.path(digest);
        Ok(File::open(&path).ctx("open cached blob", &path)?)
    }
}

/// A blob being written; dropped without `commit` it leaves nothing behind.
pub struct BlobWriter {
    file: io::BufWriter<File>,
    tmp: Option<PathBuf>,
    hasher: Sha256,
    size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    Digest { expected: String, actual: String },
    #[error("content has the wrong size: expected {expected} bytes, got {actual}")]
    Size { expected: u64, actual: u64 },
}

impl BlobWriter {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The temporary file being written (for messages).
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(Path::new("oci_layers"))
    }

    /// Checks size and digest (when expected), then moves the file into the
    /// cache under its real digest. Returns that digest.
    pub fn commit(
        mut self,
        cache: &BlobCache,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Result<Digest, VerifyError>, Error> {
        let tmp = self.tmp.take().unwrap_or_default();
        let guard = TmpGuard(tmp.clone());
        self.file.flush().ctx("write", &tmp)?;
        let actual = Digest::from_hex(&hex::encode(self.hasher.clone().finalize()))
            .ok_or_else(|| IoError::new("hash", &tmp, io::ErrorKind::InvalidData.into()))?;
        if let Some(want) = expected_size {
            if want != self.size {
                return Ok(Err(VerifyError::Size {
                    expected: want,
                    actual: self.size,
                }));
            }
        }
        if let Some(want) = expected {
            if *want != actual {
                return Ok(Err(VerifyError::Digest {
                    expected: want.to_string(),
                    actual: actual.to_string(),
                }));
            }
        }
        let dest = cache.path(&actual);
        std::fs::rename(&tmp, &dest).ctx("store blob", &dest)?;
        std::mem::forget(guard);
        Ok(Ok(actual))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

struct TmpGuard(PathBuf);
impl Drop for TmpGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// sha256 of a byte slice as a digest.
pub fn digest_of(bytes: &[u8]) -> Digest {
    let hex = hex::encode(Sha256::digest(bytes));
    // 64 lowercase hex digits always parse.
    Digest::from_hex(&hex).unwrap_or_else(|| unreachable!("sha256 hex is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_blobs_land_bad_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path().join("oci_layers"));
        let want = digest_of(b"hello");
        let mut w = cache.writer().unwrap();
        w.write_all(b"hello").unwrap();
        assert_eq!(
            w.commit(&cache, Some(&want), Some(5)).unwrap().unwrap(),
            want
        );
        assert!(cache.contains(&want));

        let mut w = cache.writer().unwrap();
        w.write_all(b"evil").unwrap();
        assert!(matches!(
            w.commit(&cache, Some(&want), None).unwrap(),
            Err(VerifyError::Digest { .. })
        ));
        let mut w = cache.writer().unwrap();
        w.write_all(b"hell").unwrap();
        assert!(matches!(
            w.commit(&cache, Some(&want), Some(5)).unwrap(),
            Err(VerifyError::Size { .. })
        ));
        let w = cache.writer().unwrap();
        drop(w);
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
