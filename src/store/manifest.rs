//! `containers/<name>/manifest.json`: the image a container came from.
//!
//! The shape is the Python tool's (see `reference/container-manifest.example.json`):
//! `image_ref`, `arch`, `manifest` (the OCI manifest plus `_ct` and `_digest`)
//! and `image_config`. Unknown keys are kept, in order, so a store written by
//! either tool round-trips through the other.

use super::Error;
use crate::ioerr::IoContext;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerManifest {
    pub image_ref: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub manifest: ImageManifest,
    #[serde(default)]
    pub image_config: ImageConfig,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Content type the registry served the manifest with.
    #[serde(rename = "_ct", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Digest of the manifest as served.
    #[serde(rename = "_digest", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RuntimeConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `config` object of an image configuration (Docker's capitalised keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map<String, Value>>,
    /// `{"80/tcp": {}}`: ports the image says it listens on.
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<Map<String, Value>>,
    /// `{"/data": {}}`: mount points the image declares.
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Map<String, Value>>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<Healthcheck>,
    /// Instructions a build `FROM` this image runs first.
    #[serde(rename = "OnBuild", default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// The shell of shell-form RUN/CMD/ENTRYPOINT (`SHELL`).
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `Healthcheck`: durations in nanoseconds, absent when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(rename = "Test", default)]
    pub test: Vec<String>,
    #[serde(rename = "Interval", default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(
        rename = "StartPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_period: Option<i64>,
    #[serde(
        rename = "StartInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_interval: Option<i64>,
    #[serde(rename = "Retries", default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

impl ImageConfig {
    /// `rootfs.diff_ids`, when the config lists them: per layer, the
    /// sha256 of its uncompressed tar stream (one that is not a sha256
    /// digest is `None`, and goes unchecked).
    pub fn diff_ids(&self) -> Option<Vec<Option<crate::oci::Digest>>> {
        let list = self.extra.get("rootfs")?.get("diff_ids")?.as_array()?;
        Some(
            list.iter()
                .map(|v| v.as_str().and_then(crate::oci::Digest::parse))
                .collect(),
        )
    }
}

impl ContainerManifest {
    pub fn read(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).ctx("read", path)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Manifest {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes through a temporary file and a rename, so a crash leaves either
    /// the old manifest or the new one, never half of one.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile_in(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(|source| Error::Manifest {
            path: path.to_path_buf(),
            source,
        })?;
        tmp.1.write_all(&json).ctx("write", &tmp.0)?;
        tmp.1.write_all(b"\n").ctx("write", &tmp.0)?;
        tmp.1.sync_all().ctx("sync", &tmp.0)?;
        std::fs::rename(&tmp.0, path).ctx("rename", path)?;
        Ok(())
    }

    /// Labels of the image config (source URL, image type, ...).
    pub fn label(&self, key: &str) -> Option<&str> {
        self.image_config
            .config
            .as_ref()?
            .labels
            .as_ref()?
            .get(key)?
            .as_str()
    }
}

fn tempfile_in(dir: &Path) -> Result<(std::path::PathBuf, std::fs::File), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    for attempt in 0..16u32 {
        let path = dir.join(format!(
            ".manifest.json.{}.{}.tmp",
            std::process::id(),
            attempt
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(crate::ioerr::IoError::new("create", &path, e).into()),
        }
    }
    Err(crate::ioerr::IoError::new(
        "create temporary file in",
        dir,
        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_EXAMPLE: &str = include_str!("../../tests/data/container-manifest.python.json");

    #[test]
    fn reads_the_python_tools_manifest() {
        let m: ContainerManifest = serde_json::from_str(PYTHON_EXAMPLE).unwrap();
        assert_eq!(m.image_ref, "localhost:5443/debian:bookworm");
        assert_eq!(m.arch, "x86_64");
        assert_eq!(
            m.manifest.content_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(m.manifest.layers.len(), 1);
        assert_eq!(m.manifest.layers[0].size, 51137663);
        let rc = m.image_config.config.as_ref().unwrap();
        assert_eq!(rc.cmd.as_deref(), Some(&["/bin/bash".to_owned()][..]));
    }

    #[test]
    fn round_trips_key_for_key() {
        let m: ContainerManifest = serde_json::from_str(PYTHON_EXAMPLE).unwrap();
        let back: Value = serde_json::to_value(&m).unwrap();
        let orig: Value = serde_json::from_str(PYTHON_EXAMPLE).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let m: ContainerManifest = serde_json::from_str(PYTHON_EXAMPLE).unwrap();
        m.write(&path).unwrap();
        assert_eq!(ContainerManifest::read(&path).unwrap(), m);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn garbage_is_a_manifest_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            ContainerManifest::read(&path),
            Err(Error::Manifest { .. })
        ));
    }
}
