//! Local archives: which kind a file is, and how to turn image archives
//! (OCI layout, `docker save`) into layers in the blob cache.

mod detect;
mod image;

pub use detect::{classify, strip_level, ArchiveKind};
pub use image::{ingest, is_layer_type, resolve, ImageArchive, LayerRef, ResolvedImage};

use crate::ioerr::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("malformed archive: {0}")]
    Malformed(String),
    #[error(
        "the image has no {wanted} variant; it has: {}",
        crate::registry::platform_list(available)
    )]
    NoPlatform {
        wanted: String,
        available: Vec<String>,
    },
    #[error("unsupported layer media type '{0}'")]
    MediaType(String),
    #[error("blob {name} in the archive does not match its digest ({detail})")]
    Verify { name: String, detail: String },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoPlatform { .. } => Some("pick one of them with -a/--architecture".into()),
            Error::Verify { .. } | Error::Malformed(_) => {
                Some("the archive is damaged or was tampered with; fetch it again".into())
            }
            Error::Io(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::MediaType(_) => None,
        }
    }
}

/// Normalises a tar member name for matching: no leading `./` or `/`.
pub(crate) fn member_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut s: &str = &s;
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else {
            break;
        }
    }
    s.trim_end_matches('/').to_owned()
}
