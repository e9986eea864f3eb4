//! Dropping the build cache (`clear-cache --build-cache [--keep SIZE]`, and
//! `CD_BUILD_CACHE_MAX` after a build): the index's least recently used
//! entries go (all of them, and the cache mounts' directories, without
//! `--keep`), then every blob of the layer cache that nothing refers to
//! any more. A blob is kept while the index or any cached manifest, tag or
//! index document names it, so the layers of images still cached (pulled
//! or built) stay, and the build's stranded intermediates go.

use super::cache::BuildCache;
use super::Error;
use crate::ioerr::{IoContext, IoError};
use crate::store::{ContainerLock, LockMode, Log, StorePaths};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Index entries removed.
    pub entries: usize,
    /// Blobs removed from the layer cache.
    pub blobs: usize,
    pub bytes: u64,
    /// The `RUN --mount=type=cache` directories were dropped.
    pub mounts: bool,
}

/// Shrinks the index to `keep` bytes of layers (`None`: drops it) and
/// sweeps the layer cache. Refuses while another command holds the cache.
pub fn prune(paths: &StorePaths, keep: Option<u64>, log: Log) -> Result<Pruned, Error> {
    let _lock = ContainerLock::try_acquire(
        &paths.cache_lock(),
        "the download cache",
        LockMode::Exclusive,
    )?;
    let mut index = BuildCache::open(&paths.cache_dir);
    // Dropping the whole build cache drops the cache mounts' contents too.
    let mounts = match keep {
        None => super::run_mounts::drop_all(paths)?,
        Some(_) => false,
    };
    let entries = index.shrink(keep);
    if keep.is_none() {
        let file = index.path().to_path_buf();
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IoError::new("remove", &file, e).into()),
        }
    } else {
        index.save();
    }
    let mut referenced: HashSet<String> = index.layers().map(|d| d.to_string()).collect();
    named_in_manifests(&paths.manifest_cache(), &mut referenced)?;
    let (blobs, bytes) = sweep(
        &paths.layer_cache(),
        &paths.layer_hashes(),
        &referenced,
        log,
    )?;
    Ok(Pruned {
        entries,
        blobs,
        bytes,
        mounts,
    })
}

/// Every `sha256:…` digest written in the manifest cache's documents.
fn named_in_manifests(dir: &Path, into: &mut HashSet<String>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError::new("read directory", dir, e).into()),
    };
    for entry in entries {
        let path = entry.ctx("read directory", dir)?.path();
        let text = std::fs::read_to_string(&path).ctx("read", &path)?;
        into.extend(digests_in(&text));
    }
    Ok(())
}

/// The `sha256:<64 hex>` words of a text (a manifest, an index, a tag file).
fn digests_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("sha256:").filter_map(|(at, _)| {
        let hex = text.get(at + 7..at + 7 + 64)?;
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .then(|| format!("sha256:{hex}"))
    })
}

/// Removes the layer cache's blobs (`sha256-<hex>`) not in `referenced`,
/// with their per-file hash lists. Other names (downloads in progress of
/// a command that has since ended) are left alone.
fn sweep(
    blobs: &Path,
    hashes: &Path,
    referenced: &HashSet<String>,
    log: Log,
) -> Result<(usize, u64), Error> {
    let entries = match std::fs::read_dir(blobs) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(IoError::new("read directory", blobs, e).into()),
    };
    let (mut count, mut bytes) = (0, 0);
    for entry in entries {
        let entry = entry.ctx("read directory", blobs)?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix("sha256-")) else {
            continue;
        };
        if hex.len() != 64 || referenced.contains(&format!("sha256:{hex}")) {
            continue;
        }
        let path = entry.path();
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&path).ctx("remove", &path)?;
        if let Some(log) = log {
            log(&path);
        }
        let list = hashes.join(&name);
        match std::fs::remove_file(&list) {
            Ok(()) => {
                if let Some(log) = log {
                    log(&list);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IoError::new("remove", &list, e).into()),
        }
        count += 1;
        bytes += size;
    }
    Ok((count, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_found_wherever_a_document_names_them() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = format!(
            r#"{{"manifest":"sha256:{a}","layers":[{{"digest":"sha256:{b}"}}],"x":"sha256:short","y":"sha256:{}"}}"#,
            "A".repeat(64)
        );
        let found: Vec<String> = digests_in(&text).collect();
        assert_eq!(found, [format!("sha256:{a}"), format!("sha256:{b}")]);
    }
}
