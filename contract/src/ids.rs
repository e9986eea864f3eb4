//! The host's account files, read as plain text (no NSS modules are loaded
//! into a privileged process; the main binary reads /etc/subuid and
//! /etc/subgid with the same parser): the caller's name and home from /etc/passwd,
//! group names from /etc/group, subordinate ranges from /etc/subuid and
//! /etc/subgid. Never from anything the caller supplies.

use crate::refusal::{refuse, OrSetup, Refusal, Rule};
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

/// The ranges of `name` (or numeric `id`) in a subuid/subgid file, in file
/// order: a well-formed one (count > 0, its end within u32), or the line
/// that matched but is not.
pub fn sub_ranges<'a>(
    text: &'a str,
    name: &'a str,
    id: u32,
) -> impl Iterator<Item = Result<SubRange, &'a str>> + 'a {
    text.lines().map(str::trim).filter_map(move |l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() != 3 || (f[0] != name && f[0].parse() != Ok(id)) {
            return None;
        }
        let (Ok(start), Ok(count)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) else {
            return Some(Err(l));
        };
        let fits = count > 0 && start.checked_add(count).is_some();
        Some(if fits { Ok(SubRange { start, count }) } else { Err(l) })
    })
}

/// The range cd-mount-helper maps for the caller: the first of `name`'s.
/// A first matching line that is malformed, empty, starts at 0, overflows,
/// or contains the caller's own id is an error: the admin must fix it.
pub fn sub_range(text: &str, name: &str, id: u32) -> Result<Option<SubRange>, String> {
    match sub_ranges(text, name, id).next() {
        None => Ok(None),
        Some(Err(l)) => Err(format!("malformed line {l:?}")),
        Some(Ok(r)) if r.start == 0 || (r.start..r.start + r.count).contains(&id) => {
            Err(format!("unusable range {}:{} for id {id}", r.start, r.count))
        }
        Some(Ok(r)) => Ok(Some(SubRange { count: r.count.min(MAX_MAPPED), ..r })),
    }
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

/// [`id_map`] of `own` and `name`'s range in `file` (/etc/subuid or
/// /etc/subgid), read as whoever calls.
pub fn id_map_from(file: &str, name: &str, own: u32) -> Result<String, Refusal> {
    let text = std::fs::read_to_string(file).or_setup(format_args!("read {file}"))?;
    let range =
        sub_range(&text, name, own).map_err(|e| refuse(Rule::Policy, format!("{file}: {e}")))?;
    Ok(id_map(own, range))
}
