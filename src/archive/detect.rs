//! What kind of archive a file is, from its first entries.

use super::{member_name, Error};
use crate::ioerr::IoContext;
use crate::unpack::decompress::{self, Compression};
use std::path::Path;

/// How many entries are looked at to decide.
const SAMPLE: usize = 500;

/// Top-level names of a Linux root file system.
const ROOTFS_DIRS: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt",
    "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// A root file system, with `strip` leading path components to drop.
    Plain {
        compression: Compression,
        strip: usize,
    },
    /// An OCI image layout (`oci-layout` + `index.json`), e.g. skopeo's oci-archive.
    OciLayout { compression: Compression },
    /// `docker save` output (`manifest.json` + layer tars).
    DockerSave { compression: Compression },
}

pub fn classify(path: &Path) -> Result<ArchiveKind, Error> {
    let file = std::fs::File::open(path).ctx("open", path)?;
    let (compression, reader) = decompress::open(file).ctx("read", path)?;
    let mut archive = tar::Archive::new(reader);
    let mut names = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::Malformed(format!("{}: {e}", path.display())))?;
    for entry in entries.take(SAMPLE) {
        let entry = entry.map_err(|e| Error::Malformed(format!("{}: {e}", path.display())))?;
        let name = member_name(&entry.path_bytes());
        if name == "oci-layout" {
            return Ok(ArchiveKind::OciLayout { compression });
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(Error::Malformed(format!(
            "{} holds no files",
            path.display()
        )));
    }
    let has_manifest = names.iter().any(|n| n == "manifest.json");
    let has_layers = names
        .iter()
        .any(|n| n.ends_with(".tar") || n.starts_with("blobs/sha256/"));
    if has_manifest && has_layers {
        return Ok(ArchiveKind::DockerSave { compression });
    }
    Ok(ArchiveKind::Plain {
        compression,
        strip: strip_level(&names),
    })
}

/// Scores strip levels 0–4 by how many entries then start with a well-known
/// rootfs directory; the best wins, ties go to the smaller level.
pub fn strip_level(names: &[String]) -> usize {
    let mut best = (0usize, 0usize);
    for level in 0..=4 {
        let score = names
            .iter()
            .filter(|n| {
                n.split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .nth(level)
                    .is_some_and(|c| ROOTFS_DIRS.contains(&c))
            })
            .count();
        if score > best.1 {
            best = (level, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| member_name(s.as_bytes())).collect()
    }

    #[test]
    fn strip_levels() {
        assert_eq!(
            strip_level(&names(&["bin/sh", "etc/passwd", "usr/lib/x"])),
            0
        );
        assert_eq!(
            strip_level(&names(&[
                "./rootfs/",
                "./rootfs/bin/sh",
                "./rootfs/etc/x",
                "./rootfs/usr/"
            ])),
            1
        );
        assert_eq!(
            strip_level(&names(&[
                "a/b/rootfs/bin/sh",
                "a/b/rootfs/etc/x",
                "a/b/rootfs/usr/y"
            ])),
            3
        );
        assert_eq!(strip_level(&names(&["README", "docs/x"])), 0);
    }

    #[test]
    fn detects_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, files: &[&str]| {
            let path = dir.path().join(name);
            let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
            for f in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(2);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, f, &b"{}"[..]).unwrap();
            }
            b.finish().unwrap();
            path
        };
        let oci = make("oci.tar", &["blobs/sha256/aa", "oci-layout", "index.json"]);
        assert!(matches!(
            classify(&oci).unwrap(),
            ArchiveKind::OciLayout { .. }
        ));
        let docker = make("d.tar", &["abc/layer.tar", "abc.json", "manifest.json"]);
        assert!(matches!(
            classify(&docker).unwrap(),
            ArchiveKind::DockerSave { .. }
        ));
        let plain = make("p.tar", &["./rootfs/bin/sh", "./rootfs/etc/passwd"]);
        assert_eq!(
            classify(&plain).unwrap(),
            ArchiveKind::Plain {
                compression: Compression::None,
                strip: 1
            }
        );
        let empty = make("e.tar", &[]);
        assert!(matches!(classify(&empty), Err(Error::Malformed(_))));
    }
}
