//! COPY and ADD steps: what they read (context or stage paths,
//! here-documents) turned into the tar stream the unpacker lays onto the
//! stage's rootfs.

use super::context::{Archive, Content, Context, CopyOptions, Destination, Made, Rootfs};
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
    /// ADD --checksum: what a download must hash to.
    pub checksum: Option<&'a str>,
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
                checksum: None,
            }),
            Action::Add {
                sources,
                dest,
                workdir,
                chown,
                chmod,
                exclude,
                checksum,
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
                checksum: checksum.as_deref(),
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

/// What a COPY/ADD step writes through one tar stream: context (or
/// stage) paths and the files it makes.
pub(super) struct CopyStream {
    context: Context,
    paths: Vec<String>,
    made: Vec<Made>,
    dest: String,
    opts: CopyOptions,
    image: Rootfs,
}

impl CopyStream {
    pub fn write(&self, out: impl std::io::Write) -> Result<(), Error> {
        let (paths, made) = (&self.paths, &self.made);
        let (dest, opts) = (&self.dest, &self.opts);
        self.context
            .copy_with(paths, made, dest, opts, &self.image, out)?;
        Ok(())
    }
}

/// ADD's local archives, each unpacked into the destination directory.
pub(super) struct Archives {
    /// The destination, relative to the rootfs.
    pub into: PathBuf,
    /// `--chown`: the owner of every unpacked entry.
    pub owner: Option<(u32, u32)>,
    pub list: Vec<Archive>,
}

impl Archives {
    /// Each archive's name and content, for the step's cache key.
    pub fn hash_into(&mut self, sink: &mut impl std::io::Write) -> Result<(), Error> {
        for a in &mut self.list {
            let name = a.rel.display().to_string();
            let io = |e| crate::ioerr::IoError::new("read", &a.rel, e);
            writeln!(sink, "\0archive {name}").map_err(io)?;
            std::io::copy(&mut a.file, sink).map_err(io)?;
            std::io::Seek::rewind(&mut a.file).map_err(io)?;
        }
        Ok(())
    }
}

/// ADD's URL sources: the file each becomes (or stands for, in a key),
/// given the step's `--checksum`.
pub(super) type Urls<'a> = &'a mut dyn FnMut(&str, Option<&str>) -> Result<Made, String>;

/// Gathers what `step` copies. `created` is the mtime of the files the
/// step makes itself (here-documents); `urls` gives ADD's downloads.
pub(super) fn gather(
    file: &str,
    step: &Step,
    rootfs: &Path,
    sources: &Sources,
    created: u64,
    urls: Urls,
) -> Result<(CopyStream, Archives), Error> {
    let parts = Parts::of(&step.action).ok_or_else(|| at(file, step, "not a copy".into()))?;
    let mut paths = Vec::new();
    let mut made = Vec::new();
    let mut downloads = 0;
    for s in parts.sources {
        match s {
            CopySource::Path(p) if p.starts_with("git@") || (p.ends_with(".git") && is_url(p)) => {
                return Err(not_yet(file, step, "ADD from a git repository"))
            }
            CopySource::Path(p) if is_url(p) && !parts.add => {
                return Err(at(file, step, format!("COPY cannot fetch {p}: use ADD")))
            }
            CopySource::Path(p) if is_url(p) => {
                downloads += 1;
                made.push(urls(p, parts.checksum).map_err(|m| at(file, step, m))?);
            }
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
    if parts.checksum.is_some() && downloads != parts.sources.len() {
        let why = "ADD --checksum needs every source to be a URL";
        return Err(at(file, step, why.into()));
    }
    let context = match sources {
        Sources::Context(dir, dockerfile) => Context::open(dir, dockerfile.as_deref())?,
        Sources::Tree(dir) => Context::open_tree(dir)?,
    };
    // ADD unpacks local archives (COPY never does, nor ADD a download).
    let (paths, list) = match (parts.add, sources) {
        (true, Sources::Context(..)) => context.take_archives(&paths, is_archive)?,
        _ => (paths, Vec::new()),
    };
    let image = Rootfs::open(rootfs)?;
    let owner = owner(file, step, rootfs, parts.chown)?;
    let mut dest = parts.absolute_dest();
    let into = crate::unpack::resolve::normalize(dest.as_bytes())
        .map_err(|e| at(file, step, format!("destination '{dest}': {e}")))?;
    if !list.is_empty() {
        // An archive unpacks into a directory, which the rest joins.
        if image.exists(&into) && !image.is_dir(&into) {
            return Err(at(
                file,
                step,
                format!("ADD unpacks an archive into '{dest}', which is not a directory"),
            ));
        }
        dest.push('/');
    }
    let opts = CopyOptions {
        owner,
        mode: parts.chmod,
        parents: parts.parents,
        exclude: super::ignore::Patterns::new(parts.exclude.iter().map(String::as_str))
            .map_err(|e| at(file, step, e.to_string()))?,
    };
    let stream = CopyStream {
        context,
        paths,
        made,
        dest,
        opts,
        image,
    };
    Ok((stream, Archives { into, owner, list }))
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

/// Whether ADD unpacks a file that starts with `head` (its first 262
/// bytes): a tar archive, plain or gzip, bzip2, xz or zstd compressed.
pub(super) fn is_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [b"\x1f\x8b", b"BZh", b"\xfd7zXZ\0", b"\x28\xb5\x2f\xfd"];
    MAGICS.iter().any(|m| head.starts_with(m)) || head.get(257..262) == Some(b"ustar")
}

pub(super) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}
