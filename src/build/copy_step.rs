//! COPY and ADD steps: what they read (context or stage paths,
//! here-documents) turned into the tar stream the unpacker lays onto the
//! stage's rootfs.

use super::context::{Content, Context, CopyOptions, Made, Rootfs};
use super::dockerfile::{Action, CopySource, Step};
use super::exec::{at, not_yet};
use super::Error;
use std::path::{Path, PathBuf};

/// Where a COPY reads its paths from.
#[derive(Clone)]
pub(super) enum Sources {
    /// The build context (and the Dockerfile, for its ignore file).
    Context(PathBuf, Option<PathBuf>),
    /// Another stage's (or image's) rootfs: no ignore file.
    Tree(PathBuf),
}

/// A COPY/ADD step's flags and arguments, whichever of the two it is.
pub(super) struct Parts<'a> {
    pub sources: &'a [CopySource],
    pub dest: &'a str,
    pub workdir: &'a str,
    pub chown: &'a Option<String>,
    pub chmod: Option<u32>,
    pub parents: bool,
    pub exclude: &'a [String],
    /// ADD: archives unpack, URLs download.
    pub add: bool,
}

impl<'a> Parts<'a> {
    pub fn of(action: &'a Action) -> Option<Self> {
        match action {
            Action::Copy {
                sources,
                dest,
                workdir,
                chown,
                chmod,
                parents,
                exclude,
                ..
            } => Some(Self {
                sources,
                dest,
                workdir,
                chown,
                chmod: *chmod,
                parents: *parents,
                exclude,
                add: false,
            }),
            Action::Add {
                sources,
                dest,
                workdir,
                chown,
                chmod,
                exclude,
                ..
            } => Some(Self {
                sources,
                dest,
                workdir,
                chown,
                chmod: *chmod,
                parents: false,
                exclude,
                add: true,
            }),
            _ => None,
        }
    }

    /// The destination made absolute against WORKDIR; its trailing `/` kept.
    pub fn absolute_dest(&self) -> String {
        if self.dest.starts_with('/') {
            self.dest.to_owned()
        } else {
            format!("{}/{}", self.workdir.trim_end_matches('/'), self.dest)
        }
    }
}

/// COPY/ADD's tar stream for `step` into `out`. `created` is the mtime of
/// the files the step makes itself (here-documents).
pub(super) fn copy_into(
    file: &str,
    step: &Step,
    rootfs: &Path,
    sources: &Sources,
    created: u64,
    out: impl std::io::Write,
) -> Result<(), Error> {
    let Some(parts) = Parts::of(&step.action) else {
        return Ok(());
    };
    let mut paths = Vec::new();
    let mut made = Vec::new();
    for s in parts.sources {
        match s {
            CopySource::Path(p) if is_url(p) => return Err(not_yet(file, step, "ADD from a URL")),
            CopySource::Path(p) => paths.push(p.clone()),
            // Docker's here-document files: 0644 unless --chmod says.
            CopySource::Inline { name, content } => made.push(Made {
                name: name.clone(),
                content: Content::Bytes(content.clone().into_bytes()),
                mode: 0o644,
                mtime: created,
            }),
        }
    }
    if parts.add {
        if let Sources::Context(dir, _) = sources {
            if paths.iter().any(|p| is_archive(&dir.join(p))) {
                return Err(not_yet(file, step, "ADD of a local archive (unpacking it)"));
            }
        }
    }
    let context = match sources {
        Sources::Context(dir, dockerfile) => Context::open(dir, dockerfile.as_deref())?,
        Sources::Tree(dir) => Context::open_tree(dir)?,
    };
    let image = Rootfs::open(rootfs)?;
    let opts = CopyOptions {
        owner: owner(file, step, rootfs, parts.chown)?,
        mode: parts.chmod,
        parents: parts.parents,
        exclude: super::ignore::Patterns::new(parts.exclude.iter().map(String::as_str))
            .map_err(|e| at(file, step, e.to_string()))?,
    };
    context.copy_with(&paths, &made, &parts.absolute_dest(), &opts, &image, out)?;
    Ok(())
}

/// `--chown`, resolved through the stage's passwd and group files.
fn owner(
    file: &str,
    step: &Step,
    rootfs: &Path,
    chown: &Option<String>,
) -> Result<Option<(u32, u32)>, Error> {
    let Some(spec) = chown else {
        return Ok(None);
    };
    let root =
        std::fs::File::open(rootfs).map_err(|e| crate::ioerr::IoError::new("open", rootfs, e))?;
    let user = crate::session::resolve_user(Some(spec), std::os::fd::AsFd::as_fd(&root))
        .map_err(|e| at(file, step, format!("--chown={spec}: {e}")))?;
    Ok(Some((user.uid, user.gid)))
}

/// Whether ADD would unpack `path`: a regular file (not through a
/// symlink) that starts like a tar archive, compressed or not.
pub(super) fn is_archive(path: &Path) -> bool {
    use std::io::Read;
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 262];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    const MAGICS: [&[u8]; 4] = [b"\x1f\x8b", b"BZh", b"\xfd7zXZ\0", b"\x28\xb5\x2f\xfd"];
    MAGICS.iter().any(|m| head.starts_with(m)) || head.get(257..262) == Some(b"ustar")
}

pub(super) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}
