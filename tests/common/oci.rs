//! Hand-made OCI images for tests: the files of an image layout, as a
//! tar archive or written to a directory (for skopeo to push).
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::path::Path;

pub const MT_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The files of a one-manifest image layout: uncompressed `layers`, and
/// `config` as the image config's `config` section, for the host platform.
pub fn layout(layers: &[Vec<u8>], config: serde_json::Value) -> Vec<(String, Vec<u8>)> {
    let diff_ids = layers
        .iter()
        .map(|l| format!("sha256:{}", hex(l)))
        .collect();
    layout_with(layers, false, diff_ids, config)
}

/// `tar` gzipped.
pub fn gzip(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// [`layout`] with the layers gzipped when `gz`, and the config's
/// `rootfs.diff_ids` as given (right or wrong).
pub fn layout_with(
    layers: &[Vec<u8>],
    gz: bool,
    diff_ids: Vec<String>,
    config: serde_json::Value,
) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(
        "oci-layout".to_owned(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let mut descs = Vec::new();
    for l in layers {
        let (blob, mt) = if gz {
            (gzip(l), MT_LAYER_GZIP)
        } else {
            (l.clone(), MT_LAYER_TAR)
        };
        let h = hex(&blob);
        descs.push(serde_json::json!({"mediaType": mt, "digest": format!("sha256:{h}"), "size": blob.len()}));
        files.push((format!("blobs/sha256/{h}"), blob));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": chroot_distro::oci::Platform::host().architecture, "os": "linux",
        "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let ch = hex(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{ch}"), "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    let mh = hex(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mh}"),
        "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    .unwrap();
    files.push(("index.json".to_owned(), index));
    files.push((format!("blobs/sha256/{ch}"), config));
    files.push((format!("blobs/sha256/{mh}"), manifest));
    files
}

/// The layout as an oci-archive tarball.
pub fn archive(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// The layout as a directory (`oci:DIR:latest` for skopeo).
pub fn write(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, data) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// Standard base64, for Docker and containers auth files.
pub fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (*c as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
