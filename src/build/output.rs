//! Where a built image goes: the local caches under every tag (so
//! `install TAG` finds it with no registry), and `-o FILE` OCI image-layout
//! tarballs.

use super::error::Error;
use super::image::Image;
use super::tarwrite::{EntryHeader, TarWriter, TypeFlag};
use crate::ioerr::{IoContext, IoError};
use crate::oci::{self, Platform};
use crate::store::blobs::BlobCache;
use crate::store::{ContainerLock, LockMode, StorePaths};
use serde_json::json;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Puts `image` in the store's caches under each of `tags`: the config
/// blob beside the layers in `oci_layers/`, the manifest in
/// `oci_manifests/`, marked as built here so `install TAG` takes it
/// without asking any registry. Every layer must already be in the cache
/// (the executor holds the cache lock shared for the whole build, so that
/// `clear-cache` cannot take its layers away; this takes it too).
/// Returns the tags as normalised references.
pub fn store_image(
    paths: &StorePaths,
    tags: &[String],
    image: &Image,
) -> Result<Vec<String>, Error> {
    let refs = tags
        .iter()
        .map(|t| normalise(t))
        .collect::<Result<Vec<_>, _>>()?;
    let _cache =
        ContainerLock::try_acquire(&paths.cache_lock(), "the download cache", LockMode::Shared)?;
    let blobs = BlobCache::new(paths.layer_cache());
    for l in &image.layers {
        if !blobs.contains(&l.digest) {
            return Err(Error::Base(format!(
                "layer {} is not in the layer cache",
                l.digest
            )));
        }
    }
    if !blobs.contains(&image.config_digest) {
        let mut w = blobs.writer()?;
        let tmp = w.path().to_path_buf();
        w.write_all(&image.config_bytes).ctx("write", &tmp)?;
        w.commit(&blobs, Some(&image.config_digest), None)?
            .map_err(|e| IoError::new("store", &tmp, io::Error::other(e.to_string())))?;
    }
    let dir = paths.manifest_cache();
    for whole in &refs {
        for platform in cache_platforms(&image.platform) {
            crate::registry::store_built(
                &dir,
                whole,
                &platform,
                &image.manifest_bytes,
                &image.manifest_digest,
            )
            .ctx("write the manifest cache", &dir)?;
        }
    }
    Ok(refs)
}

fn normalise(tag: &str) -> Result<String, Error> {
    oci::reference::parse(tag)
        .map(|r| r.whole())
        .map_err(|reason| Error::Reference {
            reference: tag.to_owned(),
            reason,
        })
}

/// The platforms `install` may ask the cache for this image under: the
/// image's own, and its spellings through `-a` and the host's.
fn cache_platforms(image: &Platform) -> Vec<Platform> {
    let mut out = vec![image.clone()];
    if let Ok(p) = Platform::parse(image.native_name()) {
        out.push(p);
    }
    let host = Platform::host();
    if host.matches(image) {
        out.push(host);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.to_string()));
    out
}

/// How the outer tar of an `-o` archive is compressed, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterCompression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl OuterCompression {
    /// From the name's extension (`.oci.tar`, `.tar.gz`/`.tgz`,
    /// `.tar.zst`/`.tar.zstd`, `.tar.xz`/`.txz`, `.tar.bz2`/`.tbz2`);
    /// any other name is a plain tar, as 3.2 writes it.
    pub fn from_name(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
        if ends(&[".tar.gz", ".tgz"]) {
            Self::Gzip
        } else if ends(&[".tar.zst", ".tar.zstd"]) {
            Self::Zstd
        } else if ends(&[".tar.xz", ".txz"]) {
            Self::Xz
        } else if ends(&[".tar.bz2", ".tbz2"]) {
            Self::Bzip2
        } else {
            Self::None
        }
    }
}

/// Writes `image` as an OCI image layout tarball at `path`, with one
/// index entry per tag (`org.opencontainers.image.ref.name` is the tag,
/// `io.containerd.image.name` the whole reference, as `docker save`
/// writes them) and a `manifest.json` for `docker load` of older Dockers.
/// Written beside `path` and renamed over it once complete.
pub fn write_oci_archive(
    path: &Path,
    image: &Image,
    tags: &[String],
    blobs: &BlobCache,
) -> Result<(), Error> {
    let refs = tags
        .iter()
        .map(|t| {
            oci::reference::parse(t).map_err(|reason| Error::Reference {
                reference: t.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tmp = Tmp::create(path)?;
    let file = io::BufWriter::with_capacity(256 << 10, tmp.file()?);
    let out = Outer::new(OuterCompression::from_name(path), file).ctx("write", &tmp.0)?;
    let mut tar = TarWriter::new(out);
    let fail = |e: io::Error| Error::from(IoError::new("write", path, e));
    let dir = |tar: &mut TarWriter<Outer>, name: &str| {
        let mut h = EntryHeader::new(name.as_bytes().to_vec(), TypeFlag::Dir);
        h.mode = 0o755;
        tar.append(&h, None)
    };
    let file_entry = |tar: &mut TarWriter<Outer>, name: &str, bytes: &[u8]| {
        let mut h = EntryHeader::new(name.as_bytes().to_vec(), TypeFlag::File);
        h.size = bytes.len() as u64;
        tar.append(&h, Some(&mut &bytes[..]))
    };
    let platform = json!({
        "architecture": image.platform.architecture,
        "os": image.platform.os,
    });
    let mut platform = platform;
    if let Some(v) = &image.platform.variant {
        platform["variant"] = json!(v);
    }
    let manifests: Vec<_> = refs
        .iter()
        .map(|r| {
            json!({
                "mediaType": oci::MT_OCI_MANIFEST,
                "digest": image.manifest_digest.as_str(),
                "size": image.manifest_bytes.len(),
                "platform": platform,
                "annotations": {
                    "io.containerd.image.name": r.whole(),
                    "org.opencontainers.image.ref.name": r.tag().unwrap_or("latest"),
                },
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": oci::MT_OCI_INDEX,
        "manifests": manifests,
    });
    let blob_name = |d: &crate::oci::Digest| format!("blobs/sha256/{}", d.hex());
    let docker = json!([{
        "Config": blob_name(&image.config_digest),
        "RepoTags": refs.iter().map(|r| r.whole()).collect::<Vec<_>>(),
        "Layers": image.layers.iter().map(|l| blob_name(&l.digest)).collect::<Vec<_>>(),
    }]);
    let json_bytes = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
    file_entry(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(fail)?;
    file_entry(&mut tar, "index.json", &json_bytes(&index)).map_err(fail)?;
    file_entry(&mut tar, "manifest.json", &json_bytes(&docker)).map_err(fail)?;
    dir(&mut tar, "blobs/").map_err(fail)?;
    dir(&mut tar, "blobs/sha256/").map_err(fail)?;
    file_entry(
        &mut tar,
        &blob_name(&image.manifest_digest),
        &image.manifest_bytes,
    )
    .map_err(fail)?;
    file_entry(
        &mut tar,
        &blob_name(&image.config_digest),
        &image.config_bytes,
    )
    .map_err(fail)?;
    let mut written = std::collections::HashSet::new();
    for l in &image.layers {
        if !written.insert(l.digest.clone()) {
            continue;
        }
        let mut blob = blobs.open(&l.digest)?;
        let mut h = EntryHeader::new(blob_name(&l.digest).into_bytes(), TypeFlag::File);
        h.size = blob.metadata().ctx("stat", blobs.path(&l.digest))?.len();
        tar.append(&h, Some(&mut blob)).map_err(fail)?;
    }
    let out = tar.finish().map_err(fail)?;
    let mut file = out.finish().map_err(fail)?;
    file.flush().map_err(fail)?;
    let file = file.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)?;
    tmp.commit(path)
}

/// A temporary file beside the output, removed unless committed. Made with
/// `O_EXCL`, so a symlink planted under its name is never followed.
struct Tmp(PathBuf, Option<std::fs::File>);

impl Tmp {
    fn create(path: &Path) -> Result<Self, Error> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Output {
                path: path.display().to_string(),
                reason: "it names no file".into(),
            })?;
        let tmp = dir.join(format!(".{base}.{}.tmp", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .ctx("create", &tmp)?;
        Ok(Self(tmp, Some(file)))
    }

    fn file(&self) -> Result<std::fs::File, Error> {
        let f = self
            .1
            .as_ref()
            .ok_or_else(|| IoError::new("write", &self.0, io::ErrorKind::BrokenPipe.into()))?;
        Ok(f.try_clone().ctx("write", &self.0)?)
    }

    fn commit(mut self, path: &Path) -> Result<(), Error> {
        self.1 = None;
        std::fs::rename(&self.0, path).ctx("write", path)?;
        self.0 = PathBuf::new();
        Ok(())
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

type File = io::BufWriter<std::fs::File>;

enum Outer {
    None(File),
    Gzip(flate2::write::GzEncoder<File>),
    Zstd(zstd::stream::write::Encoder<'static, File>),
    Xz(liblzma::write::XzEncoder<File>),
    Bzip2(bzip2::write::BzEncoder<File>),
}

impl Outer {
    fn new(c: OuterCompression, f: File) -> io::Result<Self> {
        Ok(match c {
            OuterCompression::None => Outer::None(f),
            OuterCompression::Gzip => {
                Outer::Gzip(flate2::GzBuilder::new().write(f, flate2::Compression::new(6)))
            }
            OuterCompression::Zstd => Outer::Zstd(zstd::stream::write::Encoder::new(f, 3)?),
            OuterCompression::Xz => Outer::Xz(liblzma::write::XzEncoder::new(f, 6)),
            OuterCompression::Bzip2 => {
                Outer::Bzip2(bzip2::write::BzEncoder::new(f, bzip2::Compression::best()))
            }
        })
    }

    fn finish(self) -> io::Result<File> {
        match self {
            Outer::None(f) => Ok(f),
            Outer::Gzip(e) => e.finish(),
            Outer::Zstd(e) => e.finish(),
            Outer::Xz(e) => e.finish(),
            Outer::Bzip2(e) => e.finish(),
        }
    }
}

impl Write for Outer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Outer::None(f) => f.write(buf),
            Outer::Gzip(e) => e.write(buf),
            Outer::Zstd(e) => e.write(buf),
            Outer::Xz(e) => e.write(buf),
            Outer::Bzip2(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Outer::None(f) => f.flush(),
            Outer::Gzip(e) => e.flush(),
            Outer::Zstd(e) => e.flush(),
            Outer::Xz(e) => e.flush(),
            Outer::Bzip2(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_compression_follows_the_extension() {
        let c = |n: &str| OuterCompression::from_name(Path::new(n));
        assert_eq!(c("a.oci.tar"), OuterCompression::None);
        assert_eq!(c("dir/a.OCI.TAR.GZ"), OuterCompression::Gzip);
        assert_eq!(c("a.tgz"), OuterCompression::Gzip);
        assert_eq!(c("a.oci.tar.zst"), OuterCompression::Zstd);
        assert_eq!(c("a.oci.tar.xz"), OuterCompression::Xz);
        assert_eq!(c("a.tar.bz2"), OuterCompression::Bzip2);
        assert_eq!(c("image"), OuterCompression::None);
    }
}
