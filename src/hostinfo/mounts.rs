//! The mount a path lives on, from `/proc/self/mountinfo`: its nosuid and
//! noexec flags decide whether setuid programs and binaries in a rootfs work.

use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub read_only: bool,
    pub nosuid: bool,
    pub noexec: bool,
    pub nodev: bool,
}

impl Mount {
    /// `/data (f2fs, rw,nosuid,nodev)`.
    pub fn describe(&self) -> String {
        let mut flags = vec![if self.read_only { "ro" } else { "rw" }];
        flags.extend(self.nosuid.then_some("nosuid"));
        flags.extend(self.noexec.then_some("noexec"));
        flags.extend(self.nodev.then_some("nodev"));
        let at = self.mount_point.display();
        format!("{at} ({}, {})", self.fs_type, flags.join(","))
    }
}

/// Parses mountinfo (proc(5)); malformed lines are skipped.
pub fn parse(table: &str) -> Vec<Mount> {
    table.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 {
        return None;
    }
    let opts: Vec<&str> = fields[5].split(',').collect();
    let has = |o: &str| opts.contains(&o);
    Some(Mount {
        mount_point: PathBuf::from(unescape(fields[4])),
        fs_type: fields.get(sep + 1)?.to_string(),
        read_only: has("ro"),
        nosuid: has("nosuid"),
        noexec: has("noexec"),
        nodev: has("nodev"),
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = (b[i] == b'\\')
            .then(|| field.get(i + 1..i + 4))
            .flatten()
            .and_then(|oct| u8::from_str_radix(oct, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount `path` (absolute, symlinks resolved) is on: the longest mount
/// point above it, and of several mounts there the last (the visible one).
pub fn containing<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

/// The mount at exactly `point`, if something is mounted there.
pub fn at<'a>(mounts: &'a [Mount], point: &Path) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == point)
}

pub fn read_table() -> Result<Vec<Mount>, String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse(&t))
        .map_err(|e| format!("/proc/self/mountinfo: {}", super::os_reason(&e)))
}

/// `path` itself or its nearest existing ancestor, with symlinks resolved:
/// the directory a store not yet created would be made in.
pub fn nearest_existing(path: &Path) -> Option<PathBuf> {
    path.ancestors().find_map(|p| p.canonicalize().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /data rw,nosuid,nodev,noatime shared:5 - f2fs /dev/block/dm-5 rw
31 30 0:26 / /data/media\\040x rw,nosuid,nodev,noexec master:3 - sdcardfs /data/media rw
32 22 0:27 / /data rw,nodev - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn parses_flags_and_escapes() {
        let m = parse(TABLE);
        assert_eq!(m.len(), 4);
        assert!(m[1].nosuid && !m[1].noexec && m[1].nodev);
        assert_eq!(m[1].fs_type, "f2fs");
        assert_eq!(m[2].mount_point, Path::new("/data/media x"));
        assert!(m[2].noexec);
        assert_eq!(m[1].describe(), "/data (f2fs, rw,nosuid,nodev)");
    }

    #[test]
    fn picks_the_deepest_then_the_last_mount() {
        let m = parse(TABLE);
        let data = containing(&m, Path::new("/data/data/com.termux/files")).unwrap();
        assert_eq!(
            data.fs_type, "tmpfs",
            "the later mount on /data hides the first"
        );
        let media = containing(&m, Path::new("/data/media x/DCIM")).unwrap();
        assert_eq!(media.fs_type, "sdcardfs");
        assert_eq!(containing(&m, Path::new("/home")).unwrap().fs_type, "ext4");
        assert_eq!(at(&m, Path::new("/data")).unwrap().fs_type, "tmpfs");
        assert!(containing(&m, Path::new("/data/mediax")).unwrap().fs_type == "tmpfs");
    }

    #[test]
    fn nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let want = dir.path().canonicalize().unwrap();
        assert_eq!(nearest_existing(&dir.path().join("a/b/c")), Some(want));
    }
}
