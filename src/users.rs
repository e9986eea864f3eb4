//! The calling user as the host's account database and `/etc/subuid` see it.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// Account entry of a host user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
}

/// Looks a uid up through NSS (`getpwuid_r`), so LDAP/sssd users work too.
pub fn lookup_uid(uid: u32) -> Option<HostUser> {
    let mut buf = vec![0u8; 4096];
    loop {
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: buf outlives every pointer getpwuid_r stores in pwd; out is
        // either null or &mut pwd.
        let rc = unsafe {
            libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut out)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || out.is_null() {
            return None;
        }
        // SAFETY: on success the fields point into buf as NUL-terminated strings.
        let (name, home) = unsafe {
            (
                CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned(),
                PathBuf::from(CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned()),
            )
        };
        return Some(HostUser {
            uid,
            gid: pwd.pw_gid,
            name,
            home,
        });
    }
}

/// A subordinate id range from `/etc/subuid` or `/etc/subgid`, as `info`
/// reports it (the contract's `SubRange`, serialisable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

/// Ranges granted to `user` (matched by name or numeric uid, as shadow does),
/// skipping malformed lines and ranges that would overflow a u32: the
/// session contract's parser, which cd-mount-helper reads them with too.
pub fn subid_ranges(file: &Path, user: &HostUser) -> Vec<SubIdRange> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    parse_subid(&text, user)
}

fn parse_subid(text: &str, user: &HostUser) -> Vec<SubIdRange> {
    session_contract::ids::sub_ranges(text, &user.name, user.uid)
        .filter_map(Result::ok)
        .map(|r| SubIdRange {
            start: r.start,
            count: r.count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> HostUser {
        HostUser {
            uid: 1000,
            gid: 1000,
            name: "alice".into(),
            home: "/home/alice".into(),
        }
    }

    #[test]
    fn subid_by_name_and_uid() {
        let text = "bob:100000:65536\nalice:165536:65536\n1000:300000:10\n";
        let got = parse_subid(text, &alice());
        assert_eq!(
            got,
            vec![
                SubIdRange {
                    start: 165536,
                    count: 65536
                },
                SubIdRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
    }

    #[test]
    fn subid_rejects_garbage_and_overflow() {
        let text = "alice:x:1\nalice:4294967295:2\nalice:1:0\nalice:5:5:extra\n";
        assert!(parse_subid(text, &alice()).is_empty());
    }

    #[test]
    fn root_is_found() {
        let root = lookup_uid(0).expect("uid 0 exists");
        assert_eq!(root.uid, 0);
        assert!(!root.name.is_empty());
    }
}
