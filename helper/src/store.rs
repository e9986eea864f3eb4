//! Rule 3: the rootfs is recomputed from the caller's own store and the
//! container name, and everything on the way must be the caller's. Rule 6:
//! bind sources are opened here too, as the caller. All of this runs with
//! no effective capability and the caller's file system ids.

use crate::policy::{Caller, Policy};
use crate::refusal::{refuse, OrSetup, Refusal, Rule};
use crate::request::Request;
use crate::resolve::{fd_path, Kind};
use rustix::fs::{fstat, open, openat, FileType, Mode, OFlags};
use session_contract::mounts::Source;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

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
    if !caller.allows(&policy.store_roots, &real) {
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
    if !caller.allows(&policy.bind_sources, &real) {
        return Err(deny(format!(
            "{} is neither under your home nor under a bind_sources entry of the policy",
            real.display()
        )));
    }
    Ok((fd, kind))
}

/// The source of one bind of the plan, opened as the caller.
pub fn open_source(
    from: Source,
    req: &Request,
    caller: &Caller,
    policy: &Policy,
) -> Result<(OwnedFd, Kind), Refusal> {
    match from {
        Source::User(i) => open_bind_source(&req.binds[i].src, caller, policy),
        Source::HostTmp => {
            Ok((std::fs::File::open("/tmp").or_setup("open /tmp")?.into(), Kind::Dir))
        }
        Source::Gpu(i) => open_host_file(&req.gpu[i], true),
        Source::Interpreter => {
            let path = req.interpreter.as_deref().unwrap_or(Path::new(""));
            // Only what the kernel itself runs for foreign binaries: the
            // interpreter of a binfmt_misc entry (which only root registers).
            let entries = std::fs::read_dir("/proc/sys/fs/binfmt_misc").into_iter().flatten();
            let texts = entries.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok());
            let line = format!("interpreter {}", path.display());
            if !texts.into_iter().any(|t| t.lines().any(|l| l == line)) {
                let why = format!("{} is no binfmt_misc interpreter", path.display());
                return Err(refuse(Rule::BindSource, why));
            }
            open_host_file(path, false)
        }
    }
}

/// A host file bound at its own path (a GPU path, the emulator): really at
/// that path (no symlink on the way), root's and writable by root only, and
/// with every file and device in it usable by the caller (`access` checks
/// the real ids): real root gets nothing the caller could not open itself.
fn open_host_file(path: &Path, devices: bool) -> Result<(OwnedFd, Kind), Refusal> {
    let deny = |m: &str| refuse(Rule::BindSource, format!("{}: {m}", path.display()));
    let fd = open(path, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| deny(&e.to_string()))?;
    if fd_path(fd.as_fd())? != path {
        return Err(deny("not at its own path"));
    }
    let st = fstat(&fd).or_setup("inspect a bind source")?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory if devices => Kind::Dir,
        FileType::CharacterDevice if devices => Kind::File,
        FileType::RegularFile if !devices => Kind::File,
        _ => return Err(deny("not a file of the kind this bind takes")),
    };
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(deny("not owned and writable by root alone"));
    }
    usable(fd.as_fd(), kind, 0).map_err(|e| deny(&e))?;
    Ok((fd, kind))
}

/// The caller may read `fd` (and write it, if a device); for a directory,
/// everything in it, a few levels deep.
fn usable(fd: BorrowedFd, kind: Kind, depth: u8) -> Result<(), String> {
    use rustix::fs::{accessat, Access, AtFlags};
    let st = fstat(fd).map_err(|e| e.to_string())?;
    let want = match FileType::from_raw_mode(st.st_mode) {
        FileType::CharacterDevice => Access::READ_OK | Access::WRITE_OK,
        FileType::Symlink => return Ok(()),
        _ => Access::READ_OK,
    };
    let path = fd_path(fd).map_err(|e| e.msg)?;
    accessat(rustix::fs::CWD, &path, want, AtFlags::empty())
        .map_err(|e| format!("{}: {e} for you", path.display()))?;
    if kind != Kind::Dir || FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(());
    }
    let dir = openat(fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| e.to_string())?;
    for entry in rustix::fs::Dir::read_from(&dir).map_err(|e| e.to_string())? {
        let name = entry.map_err(|e| e.to_string())?.file_name().to_owned();
        if [&b"."[..], b".."].contains(&name.to_bytes()) {
            continue;
        }
        if depth == 4 {
            return Err("nested too deep".into());
        }
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let child = openat(&dir, &name, flags, Mode::empty()).map_err(|e| e.to_string())?;
        usable(child.as_fd(), kind, depth + 1)?;
    }
    Ok(())
}
