//! Mounts a build step adds for itself (`RUN --mount`), in the session's
//! own mount namespace after its binds. Unlike user binds they apply under
//! `--isolated` too: they are the Dockerfile's, not the host's, and the
//! build made every source itself (a context path resolved beneath the
//! context, a cache directory, a proxy socket).

use super::mounts::remount;
use super::target::{fd_path, open_target, Kind};
use super::Error;
use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepMount {
    /// Absolute in the guest.
    pub target: PathBuf,
    pub kind: StepMountKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StepMountKind {
    /// A host path bound onto the target; `owner` is applied to the
    /// source first (a directory or socket the build made, whose guest
    /// owner is set from inside the user namespace, where the subordinate
    /// ids are mapped).
    Bind {
        source: PathBuf,
        readonly: bool,
        owner: Option<Owner>,
        /// The (device, inode) the applet resolved the source to: what is
        /// bound must be it, so a path swapped since (a context symlink
        /// planted after the check) is refused, not mounted.
        #[serde(default)]
        identity: Option<(u64, u64)>,
    },
    /// A fresh tmpfs, `size` bytes at most.
    Tmpfs { size: Option<u64> },
    /// A read-only file holding `contents`, made in a tmpfs mounted over
    /// `holder` (an empty host directory, covered in this namespace only),
    /// so the contents never touch a disk.
    File {
        holder: PathBuf,
        contents: Secret,
        owner: Owner,
    },
}

/// Guest owner and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Bytes that must not show up in a log or a debug print.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Applies `mounts` beneath `root` (a directory fd on `rootfs`).
pub fn apply(root: BorrowedFd, rootfs: &Path, mounts: &[StepMount]) -> Result<(), Error> {
    let always = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    for m in mounts {
        let rel = m.target.strip_prefix("/").unwrap_or(&m.target);
        let shown = m.target.display();
        match &m.kind {
            StepMountKind::Bind {
                source,
                readonly,
                owner,
                identity,
            } => {
                if let Some(o) = owner {
                    set_owner(source, o)?;
                }
                let kind = Kind::of(source);
                bind(root, rootfs, source, rel, kind)?;
                if let Some(want) = identity {
                    let fd = open_target(root, rel, kind)?;
                    let st = rustix::fs::fstat(&fd)
                        .map_err(|e| Error::setup(format!("check the bind on {shown}"), e))?;
                    if (st.st_dev, st.st_ino) != *want {
                        let why =
                            format!("{} changed while it was being mounted", source.display());
                        return Err(Error::setup(format!("bind onto {shown}"), why));
                    }
                }
                let ro = match readonly {
                    true => MsFlags::MS_RDONLY,
                    false => MsFlags::empty(),
                };
                remount(root, rootfs, rel, kind, always | ro)?;
            }
            StepMountKind::Tmpfs { size } => {
                let fd = open_target(root, rel, Kind::Dir)?;
                let at = fd_path(&fd, rootfs)?;
                let data = size.map(|s| format!("size={s}"));
                mount(Some("tmpfs"), &at, Some("tmpfs"), always, data.as_deref())
                    .map_err(|e| Error::setup(format!("mount a tmpfs on {shown}"), e))?;
            }
            StepMountKind::File {
                holder,
                contents,
                owner,
            } => {
                let what = || format!("make the file for {shown}");
                mount(
                    Some("tmpfs"),
                    holder,
                    Some("tmpfs"),
                    always | MsFlags::MS_NOEXEC,
                    Some("mode=700"),
                )
                .map_err(|e| Error::setup(what(), e))?;
                let file = holder.join("file");
                let mut f =
                    std::fs::File::create_new(&file).map_err(|e| Error::setup(what(), e))?;
                f.write_all(&contents.0)
                    .map_err(|e| Error::setup(what(), e))?;
                drop(f);
                set_owner(&file, owner)?;
                bind(root, rootfs, &file, rel, Kind::File)?;
                let flags = always | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
                remount(root, rootfs, rel, Kind::File, flags)?;
            }
        }
    }
    Ok(())
}

fn bind(
    root: BorrowedFd,
    rootfs: &Path,
    source: &Path,
    rel: &Path,
    kind: Kind,
) -> Result<(), Error> {
    let fd = open_target(root, rel, kind)?;
    let at = fd_path(&fd, rootfs)?;
    mount(
        Some(source),
        &at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::setup(format!("bind onto /{}", rel.display()), e))
}

/// chown then chmod (a chown clears set-id bits) of a path the build made.
fn set_owner(path: &Path, o: &Owner) -> Result<(), Error> {
    use rustix::fs::{chmodat, chownat, AtFlags, Gid, Mode, Uid, CWD};
    let err = |e| Error::setup(format!("set the owner of {}", path.display()), e);
    let (uid, gid) = (Uid::from_raw(o.uid), Gid::from_raw(o.gid));
    chownat(CWD, path, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
    chmodat(CWD, path, Mode::from_raw_mode(o.mode), AtFlags::empty()).map_err(err)?;
    Ok(())
}
