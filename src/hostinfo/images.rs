//! Images section: each installed container, its size, architecture,
//! origin, status and labels. The rootfs is untrusted: files in it are only
//! opened through [`Root`], never by a host path that could follow a link out.

use super::confined::Root;
use super::{elf, Probe};
use crate::store::{self, Source, StorePaths, Summary};
use rustix::fs::FileType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Guest files whose ELF header tells the rootfs's architecture, in order.
pub const SHELLS: [&str; 5] = [
    "bin/sh",
    "usr/bin/sh",
    "bin/busybox",
    "bin/bash",
    "usr/bin/bash",
];

/// Image-config labels worth showing (OCI annotation keys and their
/// label-schema predecessors).
const LABELS: [&str; 9] = [
    "org.opencontainers.image.source",
    "org.opencontainers.image.url",
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.base.name",
    "org.label-schema.vcs-url",
    "org.label-schema.name",
];

#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub name: String,
    pub rootfs: PathBuf,
    pub size_bytes: Option<u64>,
    /// False when some directories could not be read (size is a lower bound).
    pub size_complete: bool,
    /// From the ELF header of the guest's shell.
    pub arch: Probe<GuestArch>,
    pub source: Source,
    /// "idle" or "in_use".
    pub status: &'static str,
    pub pids: Vec<u32>,
    /// Media type the manifest was served with (OCI or Docker v2).
    pub manifest_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub layout: Probe<Layout>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestArch {
    pub arch: String,
    pub bits: u8,
    /// The guest file the header was read from, e.g. "bin/sh".
    pub file: String,
}

/// What a usable rootfs is expected to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub empty: bool,
    /// One of [`SHELLS`] is a regular file.
    pub has_shell: bool,
    pub has_etc: bool,
}

impl Image {
    /// The label value shown as the image's source URL.
    pub fn source_url(&self) -> Option<&str> {
        [
            "org.opencontainers.image.source",
            "org.opencontainers.image.url",
            "org.label-schema.vcs-url",
        ]
        .iter()
        .find_map(|k| self.labels.get(*k).map(String::as_str))
    }
}

/// Every installed container.
pub fn gather(paths: &StorePaths, use_openat2: bool) -> Probe<Vec<Image>> {
    match store::installed(paths) {
        Ok(names) => Probe::Known(
            names
                .iter()
                .map(|n| inspect(Summary::gather(paths, n, true), use_openat2))
                .collect(),
        ),
        Err(e) => Probe::unknown(e.to_string()),
    }
}

pub fn inspect(s: Summary, use_openat2: bool) -> Image {
    let root = Root::open(&s.rootfs, use_openat2)
        .map_err(|e| format!("{}: {}", s.rootfs.display(), super::os_reason(&e)));
    let (arch, layout) = match &root {
        Ok(r) => (detect_arch(r), Probe::Known(layout(r, &s.rootfs))),
        Err(e) => (Probe::unknown(e.clone()), Probe::unknown(e.clone())),
    };
    let labels = s
        .manifest
        .as_ref()
        .map(|m| {
            LABELS
                .iter()
                .filter_map(|k| Some(((*k).to_owned(), m.label(k)?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let manifest_type = s.manifest.as_ref().and_then(|m| {
        m.manifest
            .content_type
            .clone()
            .or_else(|| m.manifest.media_type.clone())
    });
    Image {
        size_bytes: s.usage.map(|u| u.bytes),
        size_complete: s.usage.is_some_and(|u| u.unreadable_dirs == 0),
        status: if s.in_use_by.is_empty() {
            "idle"
        } else {
            "in_use"
        },
        pids: s.in_use_by,
        name: s.name,
        rootfs: s.rootfs,
        source: s.source,
        arch,
        manifest_type,
        labels,
        layout,
    }
}

/// The first of [`SHELLS`] that is an ELF file decides.
pub fn detect_arch(root: &Root) -> Probe<GuestArch> {
    let mut why = Vec::new();
    for file in SHELLS {
        match root.read_head(Path::new(file), elf::HEADER_LEN) {
            Ok(head) => match elf::parse(&head) {
                Ok(e) => {
                    return Probe::Known(GuestArch {
                        arch: e.arch,
                        bits: e.bits,
                        file: file.to_owned(),
                    })
                }
                Err(e) => why.push(format!("{file}: {e}")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => why.push(format!("{file}: {}", super::os_reason(&e))),
        }
    }
    if why.is_empty() {
        Probe::unknown(format!("none of {} exists", SHELLS.join(", ")))
    } else {
        Probe::unknown(why.join("; "))
    }
}

fn layout(root: &Root, rootfs: &Path) -> Layout {
    let is = |p: &str, t: FileType| root.file_type(Path::new(p)).is_ok_and(|f| f == t);
    Layout {
        empty: std::fs::read_dir(rootfs).is_ok_and(|mut d| d.next().is_none()),
        has_shell: SHELLS.iter().any(|s| is(s, FileType::RegularFile)),
        has_etc: is("etc", FileType::Directory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ContainerName;

    #[test]
    fn scripts_are_skipped_for_the_next_shell() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        let name = ContainerName::new("deb").unwrap();
        let rootfs = paths.rootfs(&name);
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::write(rootfs.join("bin/sh"), b"#!/bin/busybox sh\n").unwrap();
        std::fs::write(rootfs.join("bin/busybox"), elf::fake_header(243, 64, false)).unwrap();
        let img = inspect(Summary::gather(&paths, &name, true), true);
        let arch = img.arch.known().unwrap();
        assert_eq!(
            (arch.arch.as_str(), arch.file.as_str()),
            ("riscv64", "bin/busybox")
        );
        assert_eq!(
            img.layout,
            Probe::Known(Layout {
                empty: false,
                has_shell: true,
                has_etc: true
            })
        );
        assert_eq!(img.source, Source::LocalArchive);
        assert_eq!(img.status, "idle");
    }

    #[test]
    fn empty_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        let name = ContainerName::new("void").unwrap();
        std::fs::create_dir_all(paths.rootfs(&name)).unwrap();
        let img = inspect(Summary::gather(&paths, &name, false), false);
        assert!(img.arch.known().is_none());
        assert!(img.layout.known().unwrap().empty);
    }
}
