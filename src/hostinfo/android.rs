//! Android system properties, read with `getprop` (Termux only: it is the
//! one program `info` spawns, and only there).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Android keeps it when `PATH` does not say.
const SYSTEM_GETPROP: &str = "/system/bin/getprop";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Android {
    /// `ro.build.version.release`, e.g. "14".
    pub release: Option<String>,
    /// `ro.build.version.sdk`, e.g. "34".
    pub sdk: Option<String>,
    /// `ro.product.manufacturer` and `ro.product.model`.
    pub device: Option<String>,
}

impl Android {
    pub fn from_props(props: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| props.get(k).filter(|v| !v.is_empty()).cloned();
        let device = match (get("ro.product.manufacturer"), get("ro.product.model")) {
            (Some(m), Some(d)) if !d.to_lowercase().starts_with(&m.to_lowercase()) => {
                Some(format!("{m} {d}"))
            }
            (_, Some(d)) => Some(d),
            (m, None) => m,
        };
        Self {
            release: get("ro.build.version.release"),
            sdk: get("ro.build.version.sdk"),
            device,
        }
    }
}

/// Runs `getprop` once (all properties) and parses its listing.
pub fn read(search_dirs: &[PathBuf]) -> Result<Android, String> {
    let exe = super::executables::find(search_dirs, "getprop")
        .or_else(|| {
            let p = Path::new(SYSTEM_GETPROP);
            super::executables::is_executable(p).then(|| p.to_path_buf())
        })
        .ok_or("getprop not found")?;
    let out = Command::new(&exe)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {}", exe.display(), super::os_reason(&e)))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", exe.display(), out.status));
    }
    Ok(Android::from_props(&parse(&String::from_utf8_lossy(
        &out.stdout,
    ))))
}

/// `[key]: [value]` lines, as `getprop` without arguments prints them.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once("]: [")?;
            let k = k.strip_prefix('[')?;
            let v = v.strip_suffix(']')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_getprop_listing() {
        let text = "[ro.build.version.release]: [14]\n[ro.build.version.sdk]: [34]\n\
                    [ro.product.manufacturer]: [Google]\n[ro.product.model]: [Pixel 8]\n\
                    [weird line]\n[empty]: []\n";
        let props = parse(text);
        assert_eq!(props.get("empty").map(String::as_str), Some(""));
        let a = Android::from_props(&props);
        assert_eq!(a.release.as_deref(), Some("14"));
        assert_eq!(a.sdk.as_deref(), Some("34"));
        assert_eq!(a.device.as_deref(), Some("Google Pixel 8"));
    }

    #[test]
    fn model_already_naming_the_maker_is_not_doubled() {
        let props =
            parse("[ro.product.manufacturer]: [samsung]\n[ro.product.model]: [SAMSUNG SM-S911B]\n");
        assert_eq!(
            Android::from_props(&props).device.as_deref(),
            Some("SAMSUNG SM-S911B")
        );
    }
}
