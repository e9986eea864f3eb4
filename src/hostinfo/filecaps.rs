//! File capabilities: the `security.capability` extended attribute
//! (`struct vfs_cap_data`, revisions 1–3), decoded into names like getcap's.

use serde::Serialize;
use std::path::Path;

const XATTR: &str = "security.capability";
const REVISION_MASK: u32 = 0xff00_0000;
const FLAG_EFFECTIVE: u32 = 0x0000_0001;
const REVISION_1: u32 = 0x0100_0000;
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;

/// Capability names by bit number (linux/capability.h).
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCaps {
    pub revision: u8,
    /// The effective flag: permitted capabilities are raised at exec.
    pub effective: bool,
    pub permitted: Vec<String>,
    pub inheritable: Vec<String>,
    /// Revision 3: the namespace root uid the capabilities apply to.
    pub rootid: Option<u32>,
}

impl FileCaps {
    /// getcap's notation: `cap_setgid,cap_setuid=ep`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.permitted.is_empty() {
            let flags = if self.effective { "ep" } else { "p" };
            parts.push(format!("{}={flags}", self.permitted.join(",")));
        }
        if !self.inheritable.is_empty() {
            parts.push(format!("{}=i", self.inheritable.join(",")));
        }
        if let Some(root) = self.rootid.filter(|r| *r != 0) {
            parts.push(format!("[rootid={root}]"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }

    pub fn permits(&self, name: &str) -> bool {
        self.permitted.iter().any(|p| p == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    #[error("capability attribute of {0} bytes is too short")]
    Short(usize),
    #[error("unknown capability revision {0:#x}")]
    Revision(u32),
}

/// Decodes a raw `security.capability` value.
pub fn decode(raw: &[u8]) -> Result<FileCaps, CapsError> {
    let word = |i: usize| -> Result<u32, CapsError> {
        raw.get(i * 4..i * 4 + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(CapsError::Short(raw.len()))
    };
    let magic = word(0)?;
    let (revision, words) = match magic & REVISION_MASK {
        REVISION_1 => (1, 1),
        REVISION_2 => (2, 2),
        REVISION_3 => (3, 2),
        other => return Err(CapsError::Revision(other)),
    };
    let mut permitted = 0u64;
    let mut inheritable = 0u64;
    for i in 0..words {
        permitted |= u64::from(word(1 + 2 * i)?) << (32 * i);
        inheritable |= u64::from(word(2 + 2 * i)?) << (32 * i);
    }
    Ok(FileCaps {
        revision,
        effective: magic & FLAG_EFFECTIVE != 0,
        permitted: names(permitted),
        inheritable: names(inheritable),
        rootid: if revision == 3 { Some(word(5)?) } else { None },
    })
}

fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match NAMES.get(bit) {
            Some(n) => format!("cap_{n}"),
            None => format!("cap_{bit}"),
        })
        .collect()
}

/// The file capabilities of `path` (following symlinks, as exec does):
/// `Ok(None)` when it has none or the file system keeps no xattrs.
pub fn read(path: &Path) -> Result<Option<FileCaps>, String> {
    let mut buf = [0u8; 64];
    match rustix::fs::getxattr(path, XATTR, &mut buf[..]) {
        Ok(n) => decode(&buf[..n]).map(Some).map_err(|e| e.to_string()),
        Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::NOTSUP) => Ok(None),
        Err(e) => Err(super::os_reason(&e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn revision_2_as_newuidmap_carries_it() {
        // cap_setuid=ep: bit 7.
        let caps = decode(&blob(&[REVISION_2 | FLAG_EFFECTIVE, 1 << 7, 0, 0, 0])).unwrap();
        assert_eq!(caps.revision, 2);
        assert!(caps.effective);
        assert_eq!(caps.permitted, ["cap_setuid"]);
        assert!(caps.inheritable.is_empty());
        assert_eq!(caps.rootid, None);
        assert_eq!(caps.describe(), "cap_setuid=ep");
    }

    #[test]
    fn revision_3_with_high_bits_and_rootid() {
        // cap_chown, cap_sys_admin permitted; cap_checkpoint_restore (40) in
        // the high word; cap_kill inheritable; not effective; rootid 100000.
        let raw = blob(&[REVISION_3, 1 | 1 << 21, 1 << 5, 1 << (40 - 32), 0, 100_000]);
        let caps = decode(&raw).unwrap();
        assert_eq!(caps.revision, 3);
        assert!(!caps.effective);
        assert_eq!(
            caps.permitted,
            ["cap_chown", "cap_sys_admin", "cap_checkpoint_restore"]
        );
        assert_eq!(caps.inheritable, ["cap_kill"]);
        assert_eq!(caps.rootid, Some(100_000));
        assert!(caps.permits("cap_sys_admin"));
        assert_eq!(
            caps.describe(),
            "cap_chown,cap_sys_admin,cap_checkpoint_restore=p cap_kill=i [rootid=100000]"
        );
    }

    #[test]
    fn unknown_bits_and_bad_blobs() {
        let caps = decode(&blob(&[REVISION_2, 0, 0, 1 << 30, 0])).unwrap();
        assert_eq!(caps.permitted, ["cap_62"]);
        assert_eq!(decode(&[1, 2]), Err(CapsError::Short(2)));
        assert_eq!(
            decode(&blob(&[REVISION_3, 0, 0, 0, 0])),
            Err(CapsError::Short(20))
        );
        assert_eq!(
            decode(&blob(&[0x0900_0000, 0, 0])),
            Err(CapsError::Revision(0x0900_0000))
        );
    }

    #[test]
    fn reads_the_attribute_the_kernel_stores() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("helper");
        std::fs::write(&f, b"").unwrap();
        let raw = blob(&[REVISION_2 | FLAG_EFFECTIVE, 1 << 21, 0, 0, 0]);
        match rustix::fs::setxattr(&f, XATTR, &raw, rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            // Setting file capabilities needs CAP_SETFCAP; CI runs as root.
            Err(rustix::io::Errno::PERM) | Err(rustix::io::Errno::NOTSUP) => return,
            Err(e) => panic!("setxattr: {e}"),
        }
        let caps = read(&f).unwrap().unwrap();
        assert_eq!(caps.describe(), "cap_sys_admin=ep");
    }

    #[test]
    fn plain_files_have_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"").unwrap();
        assert_eq!(read(&f), Ok(None));
    }
}
