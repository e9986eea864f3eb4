//! The image a build produces: its config (the base image's, with the
//! build's layers, history and runtime settings on top) and its manifest,
//! both as the exact bytes that get hashed and stored.

use super::error::Error;
use super::layer::LayerDescriptor;
use crate::oci::{self, Digest, Platform};
use crate::store::blobs::digest_of;
use crate::store::{Descriptor, ImageConfig, ImageManifest, RuntimeConfig};
use serde_json::{json, Map, Value};

/// One instruction's entry in the image history.
#[derive(Debug, Clone)]
pub struct Step {
    /// The instruction as Docker records it (`RUN /bin/sh -c apt-get …`).
    pub created_by: String,
    pub comment: Option<String>,
    /// The layer the step made; `None` for a step that changed only the
    /// config (ENV, CMD, …): an `empty_layer` history entry.
    pub layer: Option<LayerDescriptor>,
}

/// A layer of the image: the manifest's descriptor and the config's diff_id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

/// An image being assembled from a base and the steps on top of it.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    config: ImageConfig,
    layers: Vec<ImageLayer>,
    history: Vec<Value>,
}

/// A finished image: documents as stored, and what they name.
#[derive(Debug, Clone)]
pub struct Image {
    pub platform: Platform,
    pub config: ImageConfig,
    pub config_bytes: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: Digest,
    pub layers: Vec<ImageLayer>,
}

impl ImageBuilder {
    /// `FROM scratch`: no layers, no settings.
    pub fn scratch(platform: &Platform) -> Self {
        Self {
            config: ImageConfig {
                architecture: Some(platform.architecture.clone()),
                variant: platform.variant.clone(),
                os: Some(platform.os.clone()),
                config: Some(RuntimeConfig::default()),
                extra: Map::new(),
            },
            layers: Vec::new(),
            history: Vec::new(),
        }
    }

    /// On top of a base image (its manifest and config, as install
    /// resolved them). Docker's layer media types become their OCI
    /// equivalents (the same bytes), since the result is an OCI manifest.
    pub fn from_base(manifest: &ImageManifest, config: &ImageConfig) -> Result<Self, Error> {
        let diff_ids = config.diff_ids().unwrap_or_default();
        if diff_ids.len() != manifest.layers.len() || diff_ids.iter().any(Option::is_none) {
            return Err(Error::Base(format!(
                "its config lists {} diff_ids for {} layers",
                diff_ids.len(),
                manifest.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers.iter().zip(diff_ids.into_iter().flatten()) {
            let digest = Digest::parse(&l.digest)
                .ok_or_else(|| Error::Base(format!("bad layer digest '{}'", l.digest)))?;
            layers.push(ImageLayer {
                digest,
                diff_id,
                size: l.size,
                media_type: oci_layer_type(&l.media_type)?,
            });
        }
        let mut config = config.clone();
        let history = match config.extra.remove("history") {
            Some(Value::Array(h)) => h,
            _ => Vec::new(),
        };
        config.extra.remove("rootfs");
        // Docker drops the base's build-time fields; `created` is the build's.
        for key in ["created", "container", "container_config", "docker_version"] {
            config.extra.remove(key);
        }
        if config.config.is_none() {
            config.config = Some(RuntimeConfig::default());
        }
        Ok(Self {
            config,
            layers,
            history,
        })
    }

    /// The runtime settings (Env, Cmd, Entrypoint, …) to change.
    pub fn runtime(&mut self) -> &mut RuntimeConfig {
        self.config.config.get_or_insert_with(Default::default)
    }

    /// The image's `author` (MAINTAINER).
    pub fn set_author(&mut self, author: &str) {
        self.config.extra.insert("author".into(), json!(author));
    }

    /// Records a step, with its layer when it made one.
    pub fn push_step(&mut self, step: Step, created: &str) {
        let mut h = Map::new();
        h.insert("created".into(), json!(created));
        h.insert("created_by".into(), json!(step.created_by));
        if let Some(c) = step.comment {
            h.insert("comment".into(), json!(c));
        }
        match step.layer {
            Some(l) => self.layers.push(ImageLayer {
                digest: l.digest,
                diff_id: l.diff_id,
                size: l.size,
                media_type: l.media_type.to_owned(),
            }),
            None => {
                h.insert("empty_layer".into(), json!(true));
            }
        }
        self.history.push(Value::Object(h));
    }

    /// The config and manifest documents; `created` (RFC 3339) dates the image.
    pub fn finish(self, created: &str) -> Result<Image, Error> {
        let mut config = self.config;
        let platform = Platform {
            os: config.os.clone().unwrap_or_else(|| "linux".into()),
            architecture: config.architecture.clone().unwrap_or_default(),
            variant: config.variant.clone(),
        };
        config.extra.insert("created".into(), json!(created));
        let diff_ids: Vec<&str> = self.layers.iter().map(|l| l.diff_id.as_str()).collect();
        config.extra.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        config
            .extra
            .insert("history".into(), Value::Array(self.history));
        let config_bytes = serde_json::to_vec(&config).map_err(|source| Error::Json {
            what: "config",
            source,
        })?;
        let config_digest = digest_of(&config_bytes);
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(oci::MT_OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: oci::MT_OCI_CONFIG.into(),
                digest: config_digest.to_string(),
                size: config_bytes.len() as u64,
                extra: Map::new(),
            },
            layers: self
                .layers
                .iter()
                .map(|l| Descriptor {
                    media_type: l.media_type.clone(),
                    digest: l.digest.to_string(),
                    size: l.size,
                    extra: Map::new(),
                })
                .collect(),
            content_type: None,
            digest: None,
            extra: Map::new(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| Error::Json {
            what: "manifest",
            source,
        })?;
        let manifest_digest = digest_of(&manifest_bytes);
        Ok(Image {
            platform,
            config,
            config_bytes,
            config_digest,
            manifest,
            manifest_bytes,
            manifest_digest,
            layers: self.layers,
        })
    }
}

/// The OCI media type for a base layer's (Docker's types name the same
/// bytes); anything but a tar layer is refused.
fn oci_layer_type(media: &str) -> Result<String, Error> {
    Ok(match media {
        oci::MT_DOCKER_LAYER_GZIP | oci::MT_OCI_LAYER_GZIP => oci::MT_OCI_LAYER_GZIP,
        oci::MT_DOCKER_LAYER_TAR | oci::MT_OCI_LAYER_TAR => oci::MT_OCI_LAYER_TAR,
        oci::MT_OCI_LAYER_ZSTD => oci::MT_OCI_LAYER_ZSTD,
        other => return Err(Error::Base(format!("unsupported layer type {other}"))),
    }
    .to_owned())
}

/// `secs` since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The time to date an image and its history with: the reproducible
/// epoch when there is one, else now.
pub fn created(epoch: Option<i64>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(epoch.unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    fn layer(n: u8) -> LayerDescriptor {
        LayerDescriptor {
            digest: digest_of(&[n]),
            diff_id: digest_of(&[n, n]),
            size: u64::from(n),
            media_type: oci::MT_OCI_LAYER_GZIP,
        }
    }

    #[test]
    fn base_layers_history_and_settings_carry_over() {
        let base_config: ImageConfig = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "created": "2020-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(b"d").to_string()]},
            "history": [{"created_by": "base"}]
        }))
        .unwrap();
        let base_manifest = ImageManifest {
            layers: vec![Descriptor {
                media_type: oci::MT_DOCKER_LAYER_GZIP.into(),
                digest: digest_of(b"l").to_string(),
                size: 9,
                extra: Map::new(),
            }],
            ..Default::default()
        };
        let mut b = ImageBuilder::from_base(&base_manifest, &base_config).unwrap();
        b.push_step(
            Step {
                created_by: "RUN true".into(),
                comment: None,
                layer: Some(layer(1)),
            },
            "1970-01-01T00:00:01Z",
        );
        b.runtime().entrypoint = Some(vec!["/e".into()]);
        b.set_author("someone");
        b.runtime().exposed_ports = Some(Map::from_iter([("80/tcp".into(), json!({}))]));
        b.runtime().healthcheck = Some(crate::store::Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: Some(30_000_000_000),
            ..Default::default()
        });
        b.push_step(
            Step {
                created_by: "ENTRYPOINT [\"/e\"]".into(),
                comment: Some("buildkit.dockerfile.v0".into()),
                layer: None,
            },
            "1970-01-01T00:00:01Z",
        );
        let img = b.finish("1970-01-01T00:00:02Z").unwrap();
        let v: Value = serde_json::from_slice(&img.config_bytes).unwrap();
        assert_eq!(v["created"], "1970-01-01T00:00:02Z");
        assert_eq!(v["author"], "someone");
        assert_eq!(v["rootfs"]["diff_ids"][0], digest_of(b"d").to_string());
        assert_eq!(v["rootfs"]["diff_ids"][1], layer(1).diff_id.to_string());
        assert_eq!(v["history"].as_array().unwrap().len(), 3);
        assert_eq!(v["history"][2]["empty_layer"], true);
        assert_eq!(v["history"][2]["comment"], "buildkit.dockerfile.v0");
        assert!(v["history"][1].get("empty_layer").is_none());
        assert_eq!(v["config"]["Env"][0], "PATH=/bin");
        assert_eq!(v["config"]["Entrypoint"][0], "/e");
        assert_eq!(v["config"]["ExposedPorts"]["80/tcp"], json!({}));
        assert_eq!(v["config"]["Healthcheck"]["Interval"], 30_000_000_000i64);
        let m: Value = serde_json::from_slice(&img.manifest_bytes).unwrap();
        assert_eq!(m["mediaType"], oci::MT_OCI_MANIFEST);
        assert_eq!(m["config"]["digest"], img.config_digest.to_string());
        assert_eq!(m["config"]["size"], img.config_bytes.len());
        assert_eq!(m["layers"][0]["mediaType"], oci::MT_OCI_LAYER_GZIP);
        assert_eq!(m["layers"][1]["digest"], layer(1).digest.to_string());
        assert!(m.get("_ct").is_none() && m.get("_digest").is_none());
        assert_eq!(img.manifest_digest, digest_of(&img.manifest_bytes));
    }

    #[test]
    fn a_base_whose_diff_ids_do_not_match_its_layers_is_refused() {
        let config = ImageConfig::default();
        let manifest = ImageManifest {
            layers: vec![Descriptor::default()],
            ..Default::default()
        };
        assert!(matches!(
            ImageBuilder::from_base(&manifest, &config),
            Err(Error::Base(_))
        ));
    }
}
