//! Rule 3: the rootfs is recomputed from the caller's own store and the
//! container name, and everything on the way must be the caller's. Rule 6:
//! bind sources are opened here too, as the caller. All of this runs with
//! no effective capability and the caller's file system ids.

use crate::policy::{under, Caller, Policy};
use crate::refusal::{refuse, Refusal, Rule};
use crate::resolve::{fd_path, Kind};
use rustix::fs::{fstat, open, openat, FileType, Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Opens `<store>/containers/<name>/rootfs` and checks it belongs to the
/// caller. Returns an O_PATH fd on the rootfs.
pub fn open_rootfs(
    store: &Path,
    name: &str,
    caller: &Caller,
    policy: &Policy,
) -> Result<OwnedFd, Refusal> {
    let deny = |m: String| refuse(Rule::Policy, m);
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = open(store, dir_flags, Mode::empty())
        .map_err(|e| Refusal::setup(format!("open the store {}", store.display()), e))?;
    let real = fd_path(fd.as_fd())?;
    let mut roots: Vec<&Path> = policy.store_roots.iter().map(PathBuf::as_path).collect();
    roots.extend(caller.home());
    if !under(&real, &roots) {
        return Err(deny(format!(
            "store {} is neither under your home nor under a store root of the policy",
            real.display()
        )));
    }
    let mut fd = fd;
    for (i, part) in ["", "containers", name, "rootfs"].into_iter().enumerate() {
        if i > 0 {
            fd = openat(&fd, part, dir_flags | OFlags::NOFOLLOW, Mode::empty()).map_err(
                |e| match e {
                    rustix::io::Errno::NOENT => {
                        Refusal::setup(format!("find container {name:?} in {}", real.display()), e)
                    }
                    _ => deny(format!(
                        "{}/{part} is not a plain directory: {e}",
                        fd_path(fd.as_fd()).unwrap_or_default().display()
                    )),
                },
            )?;
        }
        let owner = fstat(&fd).map_err(|e| Refusal::setup("inspect the store", e))?.st_uid;
        if owner != caller.uid {
            return Err(deny(format!(
                "{} belongs to uid {owner}, not to you (uid {})",
                fd_path(fd.as_fd())?.display(),
                caller.uid
            )));
        }
    }
    Ok(fd)
}

/// Opens a bind source for reading as the caller, so nothing the caller
/// cannot read can be bound, and checks where it really is against the
/// caller's home and the policy's bind_sources.
pub fn open_bind_source(
    src: &Path,
    caller: &Caller,
    policy: &Policy,
) -> Result<(OwnedFd, Kind), Refusal> {
    let deny = |m: String| refuse(Rule::BindSource, m);
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = open(src, flags, Mode::empty())
        .map_err(|e| deny(format!("cannot read {} as uid {}: {e}", src.display(), caller.uid)))?;
    let kind = match FileType::from_raw_mode(
        fstat(&fd).map_err(|e| Refusal::setup("inspect a bind source", e))?.st_mode,
    ) {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        _ => {
            return Err(deny(format!("{}: only files and directories can be bound", src.display())))
        }
    };
    let real = fd_path(fd.as_fd())?;
    let mut roots: Vec<&Path> = policy.bind_sources.iter().map(PathBuf::as_path).collect();
    roots.extend(caller.home());
    if !under(&real, &roots) {
        return Err(deny(format!(
            "{} is neither under your home nor under a bind_sources entry of the policy",
            real.display()
        )));
    }
    Ok((fd, kind))
}
