//! binfmt_misc and QEMU: what lets a foreign-architecture rootfs run.

use super::arch;
use super::executables::{self, Found};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const DIR: &str = "/proc/sys/fs/binfmt_misc";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binfmt {
    /// The binfmt_misc file system is mounted (its `status` file exists).
    pub mounted: bool,
    /// Its global switch (`status`: enabled/disabled); None when unreadable.
    pub enabled: Option<bool>,
    /// Registered `qemu-*` handlers.
    pub qemu_handlers: Vec<Handler>,
    /// QEMU user-mode binaries in PATH, for the architectures the host is not.
    pub qemu_binaries: Vec<Found>,
    /// Why the handler list may be incomplete.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handler {
    pub name: String,
    pub enabled: bool,
    pub interpreter: Option<String>,
    pub flags: String,
    /// Flag `F`: the interpreter is opened at registration, so it works inside
    /// a chroot that lacks it.
    pub fix_binary: bool,
}

impl Binfmt {
    pub fn gather(host_arch: &str, search_dirs: &[PathBuf]) -> Self {
        let mut b = read_dir(Path::new(DIR));
        b.qemu_binaries = qemu_binaries(host_arch, search_dirs);
        b
    }

    /// The enabled handler that runs `arch` binaries, when binfmt_misc is on.
    pub fn handler_for(&self, arch: &str) -> Option<&Handler> {
        let want = format!("qemu-{}", arch::qemu_name(arch)?);
        if self.enabled != Some(true) {
            return None;
        }
        self.qemu_handlers
            .iter()
            .find(|h| h.enabled && h.name == want)
    }
}

/// Reads a binfmt_misc directory (a parameter so tests can fake one).
pub fn read_dir(dir: &Path) -> Binfmt {
    let status = std::fs::read_to_string(dir.join("status"));
    let mut b = Binfmt {
        mounted: dir.join("status").exists(),
        enabled: status.ok().map(|s| s.trim() == "enabled"),
        qemu_handlers: Vec::new(),
        qemu_binaries: Vec::new(),
        error: None,
    };
    if !b.mounted {
        return b;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            b.error = Some(format!("{}: {}", dir.display(), super::os_reason(&e)));
            return b;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("qemu-") {
            continue;
        }
        match std::fs::read_to_string(entry.path()) {
            Ok(text) => b.qemu_handlers.push(parse_handler(&name, &text)),
            Err(e) => b.error = Some(format!("{name}: {}", super::os_reason(&e))),
        }
    }
    b.qemu_handlers.sort_by(|x, y| x.name.cmp(&y.name));
    b
}

/// One handler file: `enabled`, `interpreter /usr/bin/qemu-arm-static`,
/// `flags: OCF`, offset, magic, mask.
pub fn parse_handler(name: &str, text: &str) -> Handler {
    let mut lines = text.lines();
    let enabled = lines.next().map(str::trim) == Some("enabled");
    let mut interpreter = None;
    let mut flags = String::new();
    for line in lines {
        if let Some(v) = line.strip_prefix("interpreter ") {
            interpreter = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("flags:") {
            flags = v.trim().to_owned();
        }
    }
    Handler {
        name: name.to_owned(),
        enabled,
        interpreter,
        fix_binary: flags.contains('F'),
        flags,
    }
}

/// `qemu-<arch>-static`, else `qemu-<arch>`, for each architecture but the host's.
fn qemu_binaries(host_arch: &str, dirs: &[PathBuf]) -> Vec<Found> {
    arch::KNOWN
        .iter()
        .filter(|a| **a != host_arch)
        .filter_map(|a| {
            let q = arch::qemu_name(a)?;
            let names = [format!("qemu-{q}-static"), format!("qemu-{q}")];
            names.iter().find_map(|n| {
                executables::find(dirs, n).map(|path| Found {
                    name: n.clone(),
                    path,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
";

    #[test]
    fn parses_handler_files() {
        let h = parse_handler("qemu-aarch64", AARCH64);
        assert!(h.enabled && h.fix_binary);
        assert_eq!(h.flags, "POCF");
        assert_eq!(
            h.interpreter.as_deref(),
            Some("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        let off = parse_handler(
            "qemu-arm",
            "disabled\ninterpreter /usr/bin/qemu-arm\nflags: \n",
        );
        assert!(!off.enabled && !off.fix_binary);
    }

    #[test]
    fn reads_a_directory_and_finds_handlers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!read_dir(dir.path()).mounted);
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        std::fs::write(dir.path().join("register"), "").unwrap();
        std::fs::write(dir.path().join("python3.11"), "enabled\n").unwrap();
        std::fs::write(dir.path().join("qemu-aarch64"), AARCH64).unwrap();
        std::fs::write(dir.path().join("qemu-arm"), "disabled\nflags: F\n").unwrap();
        let mut b = read_dir(dir.path());
        assert!(b.mounted);
        assert_eq!(b.enabled, Some(true));
        let names: Vec<&str> = b.qemu_handlers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["qemu-aarch64", "qemu-arm"]);
        assert!(b.handler_for("aarch64").is_some());
        assert!(b.handler_for("arm").is_none(), "disabled handler");
        assert!(b.handler_for("riscv64").is_none());
        b.enabled = Some(false);
        assert!(
            b.handler_for("aarch64").is_none(),
            "binfmt_misc switched off"
        );
    }
}
