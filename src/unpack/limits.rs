//! Bounds on what a layer may inflate to, and the uncompressed stream's
//! sha256 (the image config's diff_id), both taken where the decoder
//! hands its bytes over: one pass, no second read.
//!
//! Real distribution layers inflate 3-5x, zero-heavy ones 20-50x; gzip
//! itself cannot exceed ~1030x, zstd and xz go far beyond. The ratio
//! ceiling sits well above any real layer and far below a bomb, and a
//! fixed allowance per layer keeps tiny layers (a few KiB of headers and
//! tar padding compress a hundredfold) and the odd big sparse file from
//! ever tripping it. The total ceiling bounds a whole install.

use crate::env::EnvSnapshot;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

pub const RATIO_VAR: &str = "CD_MAX_EXTRACT_RATIO";
pub const SIZE_VAR: &str = "CD_MAX_EXTRACT_SIZE";
const DEFAULT_RATIO: u64 = 100;
/// Every layer may inflate this far whatever its compressed size.
const DEFAULT_ALLOWANCE: u64 = 1 << 30;
const DEFAULT_TOTAL: u64 = 256 << 30;

/// What one extract job may inflate to; 0 turns a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub ratio: u64,
    pub allowance: u64,
    pub total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ratio: DEFAULT_RATIO,
            allowance: DEFAULT_ALLOWANCE,
            total: DEFAULT_TOTAL,
        }
    }
}

impl Limits {
    /// `CD_MAX_EXTRACT_RATIO` (a whole number, 0 = off) and
    /// `CD_MAX_EXTRACT_SIZE` (`64G`, `500M`, bytes; 0 = off); a value that
    /// does not parse keeps the default, like the other `CD_*` knobs.
    pub fn from_env(env: &EnvSnapshot) -> Self {
        let d = Self::default();
        Self {
            ratio: env
                .get(RATIO_VAR)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(d.ratio),
            allowance: d.allowance,
            total: env
                .get(SIZE_VAR)
                .and_then(|v| crate::registry::settings::parse_rate(&v))
                .unwrap_or(d.total),
        }
    }

    /// The most a layer of `compressed` bytes may inflate to, given what
    /// the layers before it took (`used`), and which bound that is.
    pub(super) fn for_layer(&self, compressed: Option<u64>, used: u64) -> Option<Ceiling> {
        let by_ratio = match (self.ratio, compressed) {
            (0, _) | (_, None) => None,
            (r, Some(c)) => {
                let bytes = r.saturating_mul(c).max(self.allowance);
                Some(Ceiling {
                    bytes,
                    why: Bound::Ratio {
                        ratio: r,
                        compressed: c,
                        ceiling: bytes,
                    },
                })
            }
        };
        let by_total = (self.total > 0).then(|| Ceiling {
            bytes: self.total.saturating_sub(used),
            why: Bound::Total(self.total),
        });
        match (by_ratio, by_total) {
            (Some(a), Some(b)) => Some(if a.bytes <= b.bytes { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ceiling {
    pub bytes: u64,
    pub why: Bound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bound {
    Ratio {
        ratio: u64,
        compressed: u64,
        ceiling: u64,
    },
    Total(u64),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::ui::human_size;
        match *self {
            Bound::Ratio {
                ratio,
                compressed,
                ceiling,
            } => write!(
                f,
                "inflates past {}, the limit for {} compressed ({RATIO_VAR}={ratio}): \
                 a decompression bomb? if the image is genuine, raise {RATIO_VAR} (0 = no limit)",
                human_size(ceiling),
                human_size(compressed),
            ),
            Bound::Total(total) => write!(
                f,
                "inflates past {}, the limit on what one install extracts ({SIZE_VAR}): \
                 if the image is genuine, raise {SIZE_VAR} (0 = no limit)",
                human_size(total)
            ),
        }
    }
}

/// What the meter saw, shared with the thread that reads through it.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub bytes: u64,
    /// Set once the ceiling was crossed.
    pub tripped: Option<Bound>,
    /// The stream's sha256, once it was read to its end (when hashed).
    pub sha256: Option<[u8; 32]>,
}

/// Counts (and, asked to, hashes) the decoded stream; reading past the
/// ceiling fails.
pub(super) struct Meter<R> {
    inner: R,
    ceiling: Option<Ceiling>,
    hasher: Option<Sha256>,
    seen: u64,
    tally: Arc<Mutex<Tally>>,
}

impl<R: Read> Meter<R> {
    pub fn new(inner: R, ceiling: Option<Ceiling>, hash: bool) -> (Self, Arc<Mutex<Tally>>) {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let meter = Self {
            inner,
            ceiling,
            hasher: hash.then(Sha256::new),
            seen: 0,
            tally: tally.clone(),
        };
        (meter, tally)
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if let Some(c) = self.ceiling.filter(|c| self.seen > c.bytes) {
            let mut t = self.tally();
            t.bytes = self.seen;
            t.tripped = Some(c.why);
            return Err(io::Error::other("extraction limit reached"));
        }
        match (n, self.hasher.as_mut()) {
            (0, Some(_)) => {
                let sum = self.hasher.take().map(|h| h.finalize().into());
                self.tally().sha256 = sum;
            }
            (_, Some(h)) => h.update(&buf[..n]),
            (_, None) => {}
        }
        self.tally().bytes = self.seen;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(pairs: &[(&str, &str)]) -> Limits {
        Limits::from_env(&EnvSnapshot::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn knobs_parse_and_garbage_keeps_the_default() {
        assert_eq!(limits(&[]), Limits::default());
        assert_eq!(limits(&[(RATIO_VAR, "7")]).ratio, 7);
        assert_eq!(limits(&[(RATIO_VAR, "lots")]).ratio, DEFAULT_RATIO);
        assert_eq!(limits(&[(SIZE_VAR, "2G")]).total, 2 << 30);
        assert_eq!(limits(&[(SIZE_VAR, "0")]).total, 0);
        assert_eq!(limits(&[(SIZE_VAR, "huge")]).total, DEFAULT_TOTAL);
    }

    #[test]
    fn the_tighter_bound_wins_and_small_layers_get_the_allowance() {
        let l = Limits {
            ratio: 10,
            allowance: 100,
            total: 1000,
        };
        let c = l.for_layer(Some(5), 0).unwrap();
        assert_eq!(c.bytes, 100, "allowance over 10 x 5");
        let c = l.for_layer(Some(50), 0).unwrap();
        assert_eq!(c.bytes, 500);
        let c = l.for_layer(Some(50), 800).unwrap();
        assert_eq!((c.bytes, c.why), (200, Bound::Total(1000)));
        assert_eq!(l.for_layer(None, 0).unwrap().why, Bound::Total(1000));
        let off = Limits {
            ratio: 0,
            allowance: 0,
            total: 0,
        };
        assert_eq!(off.for_layer(Some(1), 0), None);
    }

    #[test]
    fn the_meter_trips_past_its_ceiling_and_hashes_what_it_passed() {
        let data = vec![0u8; 10_000];
        let ceiling = Ceiling {
            bytes: 4096,
            why: Bound::Total(4096),
        };
        let (mut m, tally) = Meter::new(&data[..], Some(ceiling), true);
        assert!(io::copy(&mut m, &mut io::sink()).is_err());
        assert_eq!(tally.lock().unwrap().tripped, Some(Bound::Total(4096)));

        let (mut m, tally) = Meter::new(&data[..], None, true);
        io::copy(&mut m, &mut io::sink()).unwrap();
        let t = tally.lock().unwrap();
        assert_eq!(t.bytes, 10_000);
        assert_eq!(t.sha256, Some(Sha256::digest(&data).into()));
    }
}
