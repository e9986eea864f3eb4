//! The host's account files, read as plain text (no NSS modules are loaded
//! into a privileged process): the caller's name and home from /etc/passwd,
//! group names from /etc/group, subordinate ranges from /etc/subuid and
//! /etc/subgid. Never from anything the caller supplies.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub home: PathBuf,
}

/// The /etc/passwd entry of `uid`.
pub fn account(passwd: &str, uid: u32) -> Option<Account> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 7 && f[2].parse() == Ok(uid) && f[5].starts_with('/'))
            .then(|| Account { name: f[0].to_owned(), home: f[5].into() })
    })
}

/// The gid of group `name` (or `name` itself when numeric) from /etc/group.
pub fn group_id(group: &str, name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 4 && f[0] == name).then(|| f[2].parse().ok()).flatten()
    })
}

/// A subordinate id range: container ids 1.. map to `start`.. on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

/// The main binary maps container ids 1..=65536; so do we, at most.
pub const MAX_MAPPED: u32 = 65536;

/// The first range of `name` (or numeric `uid`) in a subuid/subgid file.
/// A matching line that is malformed, empty, starts at 0, overflows, or
/// contains the caller's own id is an error: the admin must fix it.
pub fn sub_range(text: &str, name: &str, id: u32) -> Result<Option<SubRange>, String> {
    for l in text.lines().map(str::trim) {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() != 3 || (f[0] != name && f[0].parse() != Ok(id)) {
            continue;
        }
        let (Ok(start), Ok(count)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) else {
            return Err(format!("malformed line {l:?}"));
        };
        let end = start.checked_add(count).filter(|_| start > 0 && count > 0);
        match end {
            Some(end) if !(start..end).contains(&id) => {
                return Ok(Some(SubRange { start, count: count.min(MAX_MAPPED) }))
            }
            _ => return Err(format!("unusable range in {l:?}")),
        }
    }
    Ok(None)
}

/// The id map of an idmapped mount that shows the caller's files as
/// container root's and subordinate id start+N-1 as N. In uid_map terms the
/// on-disk id is the "inside" one and what the container sees the
/// "outside": `<caller> 0 1` and `<start> 1 <count>`.
pub fn id_map(own: u32, range: Option<SubRange>) -> String {
    let mut map = format!("{own} 0 1\n");
    if let Some(r) = range {
        map += &format!("{} 1 {}\n", r.start, r.count);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group() {
        let pw =
            "root:x:0:0:root:/root:/bin/bash\ncdtest:x:1001:1001::/home/cdtest:/bin/sh\nbad:x:7\n";
        assert_eq!(account(pw, 1001).unwrap().home, PathBuf::from("/home/cdtest"));
        assert_eq!(account(pw, 7), None);
        let gr = "root:x:0:\ncdhelper:x:1002:cdtest\n";
        assert_eq!(group_id(gr, "cdhelper"), Some(1002));
        assert_eq!(group_id(gr, "44"), Some(44));
        assert_eq!(group_id(gr, "nope"), None);
    }

    #[test]
    fn sub_ranges_are_checked() {
        let t = "other:1:5\ncdtest:100000:65536\ncdtest:300000:10\n";
        assert_eq!(
            sub_range(t, "cdtest", 1001),
            Ok(Some(SubRange { start: 100000, count: 65536 }))
        );
        assert_eq!(sub_range("1001:200000:99999\n", "x", 1001).unwrap().unwrap().count, MAX_MAPPED);
        assert_eq!(sub_range(t, "nobody", 9), Ok(None));
        for bad in ["u:4294967295:2", "u:0:10", "u:5:0", "u:x:1", "u:1000:10"] {
            assert!(sub_range(bad, "u", 1001).is_err(), "{bad}");
        }
        let m = id_map(1001, Some(SubRange { start: 100000, count: 65536 }));
        assert_eq!(m, "1001 0 1\n100000 1 65536\n");
    }
}
