//! The `CD_DOWNLOAD_*` knobs, parsed once with the reference's defaults
//! and clamps (an invalid value falls back to the default, never errors).

use crate::env::EnvSnapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadSettings {
    /// Parallel layer downloads, 1–10 (default 4).
    pub workers: usize,
    /// Retries per blob after a failure, 0–20 (default 3).
    pub max_retries: u32,
    /// Bytes per second over all downloads; 0 = unlimited.
    pub rate_limit: u64,
    /// A transfer slower than this many bytes per second over a whole
    /// `stall_time` window counts as stalled (then retried, resuming).
    pub min_rate: u64,
    pub stall_time: std::time::Duration,
}

impl DownloadSettings {
    pub fn from_env(env: &EnvSnapshot) -> Self {
        let int = |key: &str| env.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        Self {
            workers: int("CD_DOWNLOAD_WORKERS").map_or(4, |n| n.clamp(1, 10) as usize),
            max_retries: int("CD_DOWNLOAD_MAX_RETRIES").map_or(3, |n| n.clamp(0, 20) as u32),
            rate_limit: env
                .get("CD_DOWNLOAD_RATE_LIMIT")
                .and_then(|v| parse_rate(&v))
                .unwrap_or(0),
            min_rate: env
                .get("CD_DOWNLOAD_MIN_RATE")
                .and_then(|v| parse_rate(&v))
                .unwrap_or(DEFAULT_MIN_RATE),
            stall_time: std::time::Duration::from_secs(
                int("CD_DOWNLOAD_STALL_TIME")
                    .map_or(DEFAULT_STALL_SECS, |n| n.clamp(1, 3600) as u64),
            ),
        }
    }
}

/// 1 KiB/s for 30 s, like curl's `--speed-limit`/`--speed-time` pair: a
/// server trickling a byte every few seconds (the per-read timeout never
/// fires) fails in half a minute, while a slow but moving link never does.
pub const DEFAULT_MIN_RATE: u64 = 1024;
pub const DEFAULT_STALL_SECS: u64 = 30;

/// Image configs are a few KiB; Docker's own limit for them is far below
/// this. Anything bigger is a broken or hostile registry, and the config is
/// held in memory to be parsed.
pub const DEFAULT_MAX_CONFIG: u64 = 16 << 20;

/// Ceilings on what a registry may make us hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `CD_MAX_CONFIG_SIZE`, default 16 MiB.
    pub config: u64,
    /// `CD_MAX_MANIFEST_SIZE`, default 4 MiB.
    pub manifest: u64,
}

impl Limits {
    /// Sizes as `16M`, `512K` or bytes; a value that does not parse falls
    /// back to the default.
    pub fn from_env(env: &EnvSnapshot) -> Self {
        let size = |key: &str, default: u64| {
            env.get(key)
                .and_then(|v| parse_rate(&v))
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Self {
            config: size("CD_MAX_CONFIG_SIZE", DEFAULT_MAX_CONFIG),
            manifest: size("CD_MAX_MANIFEST_SIZE", super::direct::DEFAULT_MAX_MANIFEST),
        }
    }
}

/// `5M` → 5 MiB/s, `500K`, `1G`, `123` bytes; case-insensitive, an
/// optional trailing `B` or `/s` allowed.
pub fn parse_rate(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("/s").trim_end_matches('b');
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let value: f64 = num.trim().parse().ok()?;
    (value >= 0.0 && value.is_finite()).then_some((value * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> DownloadSettings {
        DownloadSettings::from_env(&EnvSnapshot::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_clamps_and_garbage() {
        assert_eq!(
            settings(&[]),
            DownloadSettings {
                workers: 4,
                max_retries: 3,
                rate_limit: 0,
                min_rate: 1024,
                stall_time: std::time::Duration::from_secs(30),
            }
        );
        assert_eq!(settings(&[("CD_DOWNLOAD_WORKERS", "50")]).workers, 10);
        assert_eq!(settings(&[("CD_DOWNLOAD_WORKERS", "0")]).workers, 1);
        assert_eq!(settings(&[("CD_DOWNLOAD_WORKERS", "many")]).workers, 4);
        assert_eq!(
            settings(&[("CD_DOWNLOAD_MAX_RETRIES", "99")]).max_retries,
            20
        );
        assert_eq!(
            settings(&[("CD_DOWNLOAD_MAX_RETRIES", "-2")]).max_retries,
            0
        );
        assert_eq!(
            settings(&[("CD_DOWNLOAD_RATE_LIMIT", "5M")]).rate_limit,
            5 << 20
        );
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500K"), Some(500 << 10));
        assert_eq!(parse_rate("1g"), Some(1 << 30));
        assert_eq!(parse_rate("1.5M"), Some(3 << 19));
        assert_eq!(parse_rate("2MB/s"), Some(2 << 20));
        assert_eq!(parse_rate("0"), Some(0));
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_rate(""), None);
    }
}
