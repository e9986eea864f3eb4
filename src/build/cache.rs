//! The build cache: which layer a step made, by a key over everything the
//! step depends on, in `build_cache_index.json` beside the layer cache.
//!
//! A key chains the base image, every earlier step's key and this step's
//! canonical text (flags, here-document bodies, RUN's ARG values) with the
//! digest of its inputs (COPY's stream of context files). Secrets never
//! enter it: the front end leaves them out of the canonical text.

use crate::oci::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const INDEX_FILE: &str = "build_cache_index.json";

/// What a step left: a layer, or nothing (an empty step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub layer: Option<CachedLayer>,
    /// Seconds since the epoch, for `clear-cache --build-cache --keep`.
    #[serde(default)]
    pub used: u64,
    /// When the step first ran (RFC 3339): a fully cached rebuild dates
    /// its history and image with it, so it gives the same digest.
    #[serde(default)]
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
}

/// The index, read once per build and written back at its end.
pub struct BuildCache {
    path: PathBuf,
    index: Index,
    changed: bool,
}

impl BuildCache {
    pub fn open(cache_dir: &Path) -> Self {
        let path = cache_dir.join(INDEX_FILE);
        // A damaged index only costs rebuilding: start empty.
        let index = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            path,
            index,
            changed: false,
        }
    }

    /// The entry for `key` if its layer is still in the layer cache.
    pub fn get(&mut self, key: &str, have: &dyn Fn(&Digest) -> bool) -> Option<Entry> {
        let entry = self.index.entries.get_mut(key)?;
        if entry.layer.as_ref().is_some_and(|l| !have(&l.digest)) {
            return None;
        }
        entry.used = now();
        self.changed = true;
        Some(entry.clone())
    }

    pub fn put(&mut self, key: String, layer: Option<CachedLayer>, created: &str) {
        let created = created.to_owned();
        self.index.entries.insert(
            key,
            Entry {
                layer,
                used: now(),
                created,
            },
        );
        self.changed = true;
    }

    /// Keeps the most recently used entries whose layers (each counted
    /// once) fit in `keep` bytes, or none for `None`; returns how many went.
    pub fn shrink(&mut self, keep: Option<u64>) -> usize {
        let before = self.index.entries.len();
        let Some(keep) = keep else {
            self.index.entries.clear();
            self.changed = before > 0;
            return before;
        };
        let mut by_use: Vec<(String, u64)> = self
            .index
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.used))
            .collect();
        by_use.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut counted = std::collections::BTreeSet::new();
        let mut total = 0u64;
        let mut full = false;
        for (key, _) in by_use {
            let size = match &self.index.entries[&key].layer {
                Some(l) if !counted.contains(&l.digest) => l.size,
                _ => 0,
            };
            if full || total.saturating_add(size) > keep {
                // Past the budget: this and every older entry go.
                full = true;
                self.index.entries.remove(&key);
                continue;
            }
            total += size;
            if let Some(l) = &self.index.entries[&key].layer {
                counted.insert(l.digest.clone());
            }
        }
        let removed = before - self.index.entries.len();
        self.changed |= removed > 0;
        removed
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layers the index holds on to.
    pub fn layers(&self) -> impl Iterator<Item = &Digest> {
        self.index
            .entries
            .values()
            .filter_map(|e| e.layer.as_ref().map(|l| &l.digest))
    }

    /// Writes the index back (atomically); best effort, the build is done.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let Ok(text) = serde_json::to_vec_pretty(&self.index) else {
            return;
        };
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &self.path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The next key of a chain.
pub fn chain(previous: &str, step_text: &str, inputs: &str) -> String {
    let mut h = Sha256::new();
    for part in [previous, step_text, inputs] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// A writer that only hashes: COPY's stream, measured before it is applied.
#[derive(Default)]
pub struct HashSink(Sha256);

impl HashSink {
    pub fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

impl std::io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_separate_their_parts() {
        let a = chain("base", "RUN x", "");
        assert_eq!(a, chain("base", "RUN x", ""));
        assert_ne!(a, chain("base2", "RUN x", ""));
        // Length-prefixed: moving a byte between parts changes the key.
        assert_ne!(chain("ab", "c", ""), chain("a", "bc", ""));
    }

    #[test]
    fn entries_whose_layer_is_gone_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = BuildCache::open(dir.path());
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let layer = CachedLayer {
            digest: digest.clone(),
            diff_id: digest.clone(),
            size: 1,
            media_type: "m".into(),
        };
        cache.put("k".into(), Some(layer), "2026-01-01T00:00:00Z");
        cache.put("empty".into(), None, "");
        cache.save();
        let mut again = BuildCache::open(dir.path());
        let hit = again.get("k", &|_| true).unwrap();
        assert_eq!(hit.created, "2026-01-01T00:00:00Z");
        assert!(again.get("k", &|_| false).is_none());
        assert!(again.get("empty", &|_| false).is_some());
        assert!(again.get("other", &|_| true).is_none());
    }
}
