//! Device nodes, FIFOs and the path-relative metadata calls they and
//! symlinks need (they cannot be opened for fchown/fchmod: opening a
//! device runs its driver, opening a FIFO blocks).

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::fs::{chmodat, makedev, mknodat, statat, utimensat, AtFlags, FileType, Mode};
use rustix::io::Errno;

use super::apply::{chown_at, Meta};
use super::extract::{fail, Extractor, Fail};

/// Char/block devices (only when allowed) and FIFOs.
pub(crate) fn create(
    ex: &mut Extractor,
    dir: BorrowedFd,
    name: &OsStr,
    path: &Path,
    header: &tar::Header,
    meta: &Meta,
) -> Result<(), Fail> {
    let ty = header.entry_type();
    let (ft, dev) = if ty.is_fifo() {
        (FileType::Fifo, 0)
    } else {
        if !ex.allow_devices() {
            ex.stats.devices_skipped += 1;
            return Ok(());
        }
        let major = header.device_major().ok().flatten();
        let minor = header.device_minor().ok().flatten();
        let (Some(major), Some(minor)) = (major, minor) else {
            return Err(Fail::Skip("device without valid numbers".into()));
        };
        let ft = if ty.is_character_special() {
            FileType::CharacterDevice
        } else {
            FileType::BlockDevice
        };
        (ft, makedev(major, minor))
    };
    let mode = Mode::from_raw_mode(meta.mode);
    let r = match mknodat(dir, name, ft, mode, dev) {
        Err(Errno::EXIST) => {
            ex.clear(dir, name, path)?;
            mknodat(dir, name, ft, mode, dev)
        }
        r => r,
    };
    match r {
        Ok(()) => {}
        // No CAP_MKNOD (non-root, user namespace): counted, not an error.
        Err(Errno::PERM | Errno::ACCESS) if ft != FileType::Fifo => {
            ex.stats.devices_skipped += 1;
            return Ok(());
        }
        Err(e) => return Err(fail("create", path, e.into())),
    }
    if ex.preserve() {
        chown_at(dir, name, meta, &mut ex.stats).map_err(|e| fail("chown", path, e))?;
    }
    // mknod applied the umask, and chown may have cleared setuid/setgid.
    // chmodat follows a final symlink, so first make sure the name is still
    // the node we just made (only we write beneath this root).
    let st =
        statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| fail("stat", path, e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != ft {
        return Err(Fail::Skip("replaced while being created".into()));
    }
    if st.st_mode & 0o7777 != meta.mode {
        chmodat(dir, name, mode, AtFlags::empty()).map_err(|e| fail("chmod", path, e.into()))?;
    }
    ex.stats.xattrs_skipped += meta.xattrs.len() as u64;
    times_at(dir, name, path, meta)?;
    if ft == FileType::Fifo {
        ex.stats.fifos += 1;
    } else {
        ex.stats.devices += 1;
    }
    Ok(())
}

/// Times of the object itself, a symlink included.
pub(crate) fn times_at(
    dir: BorrowedFd,
    name: &OsStr,
    path: &Path,
    meta: &Meta,
) -> Result<(), Fail> {
    utimensat(dir, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| fail("set times of", path, e.into()))
}

/// Whether two names (neither followed) are the same inode.
pub(crate) fn same_inode(da: BorrowedFd, a: &OsStr, db: BorrowedFd, b: &OsStr) -> bool {
    let st = |d, n| statat(d, n, AtFlags::SYMLINK_NOFOLLOW).ok();
    match (st(da, a), st(db, b)) {
        (Some(x), Some(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}
