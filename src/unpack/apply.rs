//! Ownership, mode, extended attributes and times taken from a tar entry.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;

use rustix::fs::Timespec;
use rustix::fs::{chownat, fchown, fsetxattr, AtFlags, Gid, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::stats::{Error, Stats};

/// Whose files the rootfs holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    /// The numeric uid/gid of the archive (uname/gname are ignored: the
    /// host's name tables mean nothing for the guest).
    #[default]
    Preserve,
    /// Never chown: everything belongs to the extracting user.
    Squash,
}

/// The metadata of one entry, read before its data.
#[derive(Debug)]
pub(crate) struct Meta {
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: Timespec,
    pub xattrs: Vec<(CString, Vec<u8>)>,
    /// PAX `GNU.sparse.*` records: the data holds a sparse map, not content.
    pub sparse: bool,
}

impl Meta {
    pub fn read<R: Read>(entry: &mut tar::Entry<R>) -> Result<Self, Error> {
        let h = entry.header();
        let mtime = h.mtime().map_err(Error::tar)?;
        let mut meta = Meta {
            mode: h.mode().map_err(Error::tar)? & 0o7777,
            // PAX uid/gid records were already applied by the tar crate.
            uid: h.uid().map_err(Error::tar)?,
            gid: h.gid().map_err(Error::tar)?,
            mtime: Timespec {
                tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
            sparse: false,
        };
        let Some(exts) = entry.pax_extensions().map_err(Error::tar)? else {
            return Ok(meta);
        };
        for ext in exts {
            let ext = ext.map_err(Error::tar)?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                // A NUL inside the name cannot be passed to the kernel; an
                // empty name would be refused by it anyway.
                match CString::new(name) {
                    Ok(n) if !name.is_empty() => meta.xattrs.push((n, ext.value_bytes().to_vec())),
                    _ => {}
                }
            } else if key == b"mtime" {
                if let Some(t) = parse_pax_time(ext.value_bytes()) {
                    meta.mtime = t;
                }
            } else if key.starts_with(b"GNU.sparse.") {
                meta.sparse = true;
            }
        }
        Ok(meta)
    }

    pub fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }

    /// `None` for ids chown cannot express (-1 means "leave unchanged").
    fn ids(&self) -> Option<(Uid, Gid)> {
        let uid = u32::try_from(self.uid).ok().filter(|&u| u != u32::MAX)?;
        let gid = u32::try_from(self.gid).ok().filter(|&g| g != u32::MAX)?;
        Some((Uid::from_raw(uid), Gid::from_raw(gid)))
    }
}

/// PAX times: decimal seconds with an optional fraction, maybe negative.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(match (neg, nsec) {
        (false, _) => Timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
        (true, 0) => Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        },
        (true, n) => Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - n,
        },
    })
}

/// An id the user namespace does not map (EINVAL) or a missing CAP_CHOWN
/// (EPERM) costs that entry its owner, not the install.
fn owner_result(r: rustix::io::Result<()>, stats: &mut Stats) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) | Err(Errno::PERM) => {
            stats.owners_unmapped += 1;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn chown_fd(fd: BorrowedFd, meta: &Meta, stats: &mut Stats) -> io::Result<()> {
    match meta.ids() {
        Some((u, g)) => owner_result(fchown(fd, Some(u), Some(g)), stats),
        None => owner_result(Err(Errno::INVAL), stats),
    }
}

/// The object itself, never a symlink's target.
pub(crate) fn chown_at(
    dir: BorrowedFd,
    name: &std::ffi::OsStr,
    meta: &Meta,
    stats: &mut Stats,
) -> io::Result<()> {
    match meta.ids() {
        Some((u, g)) => owner_result(
            chownat(dir, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW),
            stats,
        ),
        None => owner_result(Err(Errno::INVAL), stats),
    }
}

/// Sets every xattr of the entry. Callers run this after chown, which
/// clears `security.capability`. Refusals (trusted.* or security.* without
/// the capability, a file system without user xattrs, a malformed value)
/// are counted; a full disk or I/O error is not refused, it fails.
pub(crate) fn set_xattrs(fd: BorrowedFd, meta: &Meta, stats: &mut Stats) -> io::Result<()> {
    for (name, value) in &meta.xattrs {
        match fsetxattr(fd, name.as_c_str(), value, XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::PERM)
            | Err(Errno::OPNOTSUPP)
            | Err(Errno::ACCESS)
            | Err(Errno::INVAL)
            | Err(Errno::RANGE)
            | Err(Errno::TOOBIG) => stats.xattrs_skipped += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("1.0000000019"), Some((1, 1)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t("x"), None);
        assert_eq!(t("1.x"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn unrepresentable_ids_are_not_passed_to_chown() {
        let mut m = Meta {
            mode: 0,
            uid: u64::from(u32::MAX),
            gid: 0,
            mtime: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
            sparse: false,
        };
        assert!(m.ids().is_none());
        m.uid = 1 << 40;
        assert!(m.ids().is_none());
        m.uid = 42;
        assert!(m.ids().is_some());
    }
}
