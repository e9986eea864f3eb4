//! The guest's architecture, and how its programs will run on this host:
//! natively, through a qemu-user interpreter registered in binfmt_misc, or
//! not at all (with what to install).
//!
//! The guest is identified by the ELF header of its shell, read through an
//! fd confined to the rootfs: `/bin/sh` is usually a symlink (to dash,
//! bash or busybox), and a hostile image may point it anywhere, so it is
//! resolved as the guest would see it and never reaches the host's files.

use crate::unpack::resolve::{open_in_root, ResolveMode};
use std::fmt;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Where the kernel exposes binfmt_misc.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Tried in order; the first ELF wins. A distroless image may have no
/// shell, so a few common binaries follow.
pub const PROBE_PATHS: [&str; 7] = [
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/sh",
    "/bin/busybox",
    "/usr/bin/env",
    "/bin/ls",
    "/usr/bin/ls",
];

/// binfmt_misc compares at most 128 bytes (`BINPRM_BUF_SIZE` is 256 today,
/// but magic is limited to 128); reading this much covers any entry.
const HEADER_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    I686,
    Aarch64,
    Arm,
    Riscv64,
    Ppc64le,
    Ppc64,
    S390x,
    Loongarch64,
}

impl Arch {
    /// The name the CLI and manifests use.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I686 => "i686",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64le => "ppc64le",
            Arch::Ppc64 => "ppc64",
            Arch::S390x => "s390x",
            Arch::Loongarch64 => "loongarch64",
        }
    }

    /// The suffix of qemu's binary and binfmt entry (`qemu-<this>`).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Arch::I686 => "i386",
            other => other.name(),
        }
    }

    /// From `uname -m` (and the aliases other tools print).
    pub fn from_machine(machine: &str) -> Option<Self> {
        Some(match machine {
            "x86_64" | "amd64" => Arch::X86_64,
            "i386" | "i486" | "i586" | "i686" | "x86" => Arch::I686,
            "aarch64" | "arm64" => Arch::Aarch64,
            m if m.starts_with("armv") || m == "arm" => Arch::Arm,
            "riscv64" => Arch::Riscv64,
            "ppc64le" => Arch::Ppc64le,
            "ppc64" => Arch::Ppc64,
            "s390x" => Arch::S390x,
            "loongarch64" => Arch::Loongarch64,
            _ => return None,
        })
    }

    /// The host kernel's architecture.
    pub fn host() -> Option<Self> {
        let uts = rustix::system::uname();
        Self::from_machine(&uts.machine().to_string_lossy())
    }

    /// From an ELF header; `None` for ABIs we do not run (x32, big-endian
    /// arm, 32-bit riscv, ...).
    pub fn from_elf(h: &ElfHeader) -> Option<Self> {
        use em::*;
        Some(match (h.machine, h.class64, h.little_endian) {
            (EM_X86_64, true, true) => Arch::X86_64,
            (EM_386, false, true) => Arch::I686,
            (EM_AARCH64, true, true) => Arch::Aarch64,
            (EM_ARM, false, true) => Arch::Arm,
            (EM_RISCV, true, true) => Arch::Riscv64,
            (EM_PPC64, true, true) => Arch::Ppc64le,
            (EM_PPC64, true, false) => Arch::Ppc64,
            (EM_S390, true, false) => Arch::S390x,
            (EM_LOONGARCH, true, true) => Arch::Loongarch64,
            _ => return None,
        })
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What we need from an ELF header, plus its first bytes for binfmt
/// matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfHeader {
    pub class64: bool,
    pub little_endian: bool,
    pub machine: u16,
    pub flags: u32,
    pub bytes: Vec<u8>,
}

impl ElfHeader {
    /// Parses the start of a file. `None` when it is not a complete ELF
    /// header of a known class and byte order.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.get(..4)? != b"\x7fELF" {
            return None;
        }
        let class64 = match *bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little_endian = match *bytes.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        let u16_at = |o: usize| -> Option<u16> {
            let b: [u8; 2] = bytes.get(o..o + 2)?.try_into().ok()?;
            Some(if little_endian {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            })
        };
        let u32_at = |o: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(o..o + 4)?.try_into().ok()?;
            Some(if little_endian {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        };
        let flags_at = if class64 { 48 } else { 36 };
        Some(Self {
            class64,
            little_endian,
            machine: u16_at(18)?,
            flags: u32_at(flags_at)?,
            bytes: bytes[..bytes.len().min(HEADER_LEN)].to_vec(),
        })
    }

    /// ARM EABI version (`EF_ARM_EABIMASK`); 0 is the old ABI, which an
    /// arm64 kernel's compat layer does not run.
    pub fn arm_eabi(&self) -> u32 {
        self.flags >> 24
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {path} in the container: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path} in the container: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} in the container is not a regular file")]
    NotRegular { path: String },
    #[error("{path} in the container is not an ELF program")]
    NotElf { path: String },
    #[error("the container's programs are for an architecture chroot-distro does not know (ELF machine {machine})")]
    UnknownArch { machine: u16 },
    #[error("no program to identify the container's architecture (tried {tried})")]
    NothingToProbe { tried: String },
    #[error("the container is {guest} but this host is {host}, and no qemu-{qemu} interpreter is registered in binfmt_misc", qemu = guest.qemu_name())]
    NoEmulator { guest: Arch, host: Arch },
    #[error("the container is {guest} but this host is {host}, and binfmt_misc is not mounted")]
    BinfmtNotMounted { guest: Arch, host: Arch },
    #[error("this host's architecture ({0}) is not one chroot-distro knows")]
    UnknownHost(String),
    #[error("the container is {guest}; its binfmt_misc entry '{entry}' is disabled")]
    EmulatorDisabled { guest: Arch, entry: String },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        let install = |a: Arch| {
            format!(
                "install qemu-user-static and binfmt-support (e.g. apt-get install qemu-user-static binfmt-support), then: update-binfmts --enable qemu-{}",
                a.qemu_name()
            )
        };
        match self {
            Error::NoEmulator { guest, .. } => Some(install(*guest)),
            Error::BinfmtNotMounted { guest, .. } => Some(format!(
                "mount it with: mount -t binfmt_misc binfmt_misc {BINFMT_DIR}; then, if needed, {}",
                install(*guest)
            )),
            Error::EmulatorDisabled { guest, entry } => Some(format!(
                "enable it with: update-binfmts --enable qemu-{} (or: echo 1 > {BINFMT_DIR}/{entry})",
                guest.qemu_name()
            )),
            Error::NotElf { .. } | Error::NothingToProbe { .. } | Error::NotRegular { .. } => {
                Some("the container's rootfs may be damaged; try: chroot-distro reset NAME".into())
            }
            _ => None,
        }
    }
}

/// Reads the ELF header of `path` inside the rootfs open at `root`.
/// Symlinks (the final one too) resolve inside the rootfs.
pub fn read_elf_in_root(root: BorrowedFd, path: &Path) -> Result<ElfHeader, Error> {
    read_elf_with(root, path, ResolveMode::Auto)
}

fn read_elf_with(root: BorrowedFd, path: &Path, mode: ResolveMode) -> Result<ElfHeader, Error> {
    let shown = || path.display().to_string();
    let fd = open_in_root(root, path, mode).map_err(|source| Error::Open {
        path: shown(),
        source,
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::Read {
        path: shown(),
        source: e.into(),
    })?;
    // A FIFO or device planted at /bin/sh would block or have side effects.
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Error::NotRegular { path: shown() });
    }
    // Reopening the O_PATH fd through /proc reads the very inode resolved
    // above; no second path walk can be raced.
    let reopen = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = rustix::fs::open(
        reopen.as_str(),
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::CLOEXEC
            | rustix::fs::OFlags::NOCTTY
            | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::Open {
        path: shown(),
        source: e.into(),
    })?;
    let mut buf = Vec::with_capacity(HEADER_LEN);
    std::fs::File::from(file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Read {
            path: shown(),
            source,
        })?;
    ElfHeader::parse(&buf).ok_or_else(|| Error::NotElf { path: shown() })
}

/// The guest's architecture, from the first of [`PROBE_PATHS`] that
/// exists. Returns the path used too, for messages.
pub fn detect_guest(root: BorrowedFd) -> Result<(PathBuf, ElfHeader, Arch), Error> {
    detect_guest_in(root, &PROBE_PATHS, ResolveMode::Auto)
}

fn detect_guest_in(
    root: BorrowedFd,
    paths: &[&str],
    mode: ResolveMode,
) -> Result<(PathBuf, ElfHeader, Arch), Error> {
    let mut first_err = None;
    for p in paths {
        match read_elf_with(root, Path::new(p), mode) {
            Ok(h) => {
                let arch = Arch::from_elf(&h).ok_or(Error::UnknownArch { machine: h.machine })?;
                return Ok((PathBuf::from(p), h, arch));
            }
            Err(Error::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| Error::NothingToProbe {
        tried: paths.join(", "),
    }))
}

/// Whether the host CPU runs the guest's programs itself. 32-bit x86 on
/// x86_64 and EABI arm on aarch64 are assumed to work (best effort: some
/// arm64 CPUs lack AArch32, and then exec fails with a clear ENOEXEC).
pub fn runs_natively(header: &ElfHeader, guest: Arch, host: Arch) -> bool {
    guest == host
        || (guest == Arch::I686 && host == Arch::X86_64)
        || (guest == Arch::Arm && host == Arch::Aarch64 && header.arm_eabi() >= 4)
}

/// One binfmt_misc registration, as the kernel prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinfmtEntry {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
    pub offset: usize,
    pub magic: Vec<u8>,
    pub mask: Vec<u8>,
}

impl BinfmtEntry {
    /// Parses an entry file. Extension-based entries (no `magic` line) and
    /// malformed ones give `None`.
    pub fn parse(name: &str, text: &str) -> Option<Self> {
        let mut enabled = None;
        let (mut interpreter, mut flags, mut offset) = (None, String::new(), 0usize);
        let (mut magic, mut mask) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            match line {
                "enabled" => enabled = Some(true),
                "disabled" => enabled = Some(false),
                _ => {}
            }
            if let Some(v) = line.strip_prefix("interpreter ") {
                interpreter = Some(PathBuf::from(v.trim()));
            } else if let Some(v) = line.strip_prefix("flags:") {
                flags = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("offset ") {
                offset = v.trim().parse().ok()?;
            } else if let Some(v) = line.strip_prefix("magic ") {
                magic = Some(hex::decode(v.trim()).ok()?);
            } else if let Some(v) = line.strip_prefix("mask ") {
                mask = Some(hex::decode(v.trim()).ok()?);
            }
        }
        let magic = magic?;
        let mask = mask.unwrap_or_else(|| vec![0xff; magic.len()]);
        if mask.len() != magic.len() || magic.is_empty() {
            return None;
        }
        Some(Self {
            name: name.to_owned(),
            enabled: enabled?,
            interpreter: interpreter?,
            flags,
            offset,
            magic,
            mask,
        })
    }

    /// The kernel's test: every masked byte of the file equals the magic.
    pub fn matches(&self, file_start: &[u8]) -> bool {
        let Some(window) = file_start.get(self.offset..self.offset + self.magic.len()) else {
            return false;
        };
        window
            .iter()
            .zip(&self.magic)
            .zip(&self.mask)
            .all(|((b, m), k)| (b ^ m) & k == 0)
    }

    /// `F`: the kernel opened the interpreter at registration, so it need
    /// not exist inside the rootfs.
    pub fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

/// How the guest's programs will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    Native,
    /// Through a registered interpreter. Without `fix_binary` the launcher
    /// must make `interpreter` reachable at the same path in the rootfs.
    Emulated {
        interpreter: PathBuf,
        entry: String,
        fix_binary: bool,
    },
    /// A matching entry exists but is switched off (it or binfmt_misc as
    /// a whole).
    Disabled {
        entry: String,
    },
    /// Nothing matches; `binfmt_mounted` false when binfmt_misc itself is
    /// absent.
    Missing {
        binfmt_mounted: bool,
    },
}

impl Execution {
    /// Turns the cases where nothing can run into an error with a hint.
    pub fn require_runnable(self, guest: Arch, host: Arch) -> Result<Self, Error> {
        match self {
            Execution::Disabled { entry } => Err(Error::EmulatorDisabled { guest, entry }),
            Execution::Missing {
                binfmt_mounted: false,
            } => Err(Error::BinfmtNotMounted { guest, host }),
            Execution::Missing { .. } => Err(Error::NoEmulator { guest, host }),
            ok => Ok(ok),
        }
    }
}

/// Decides how `header` (the guest's probe binary) runs on `host`, looking
/// up binfmt_misc registrations in `binfmt_dir` (normally [`BINFMT_DIR`]).
pub fn execution(header: &ElfHeader, guest: Arch, host: Arch, binfmt_dir: &Path) -> Execution {
    if runs_natively(header, guest, host) {
        return Execution::Native;
    }
    let status = match std::fs::read_to_string(binfmt_dir.join("status")) {
        Ok(s) => s,
        Err(_) => {
            return Execution::Missing {
                binfmt_mounted: false,
            }
        }
    };
    let globally_on = status.trim() == "enabled";
    let mut entries: Vec<BinfmtEntry> = std::fs::read_dir(binfmt_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| {
            let name = d.file_name().to_str()?.to_owned();
            if name == "status" || name == "register" {
                return None;
            }
            let text = std::fs::read_to_string(d.path()).ok()?;
            BinfmtEntry::parse(&name, &text)
        })
        .filter(|e| e.matches(&header.bytes))
        .collect();
    entries.sort_by(|a, b| b.enabled.cmp(&a.enabled).then(a.name.cmp(&b.name)));
    match entries.into_iter().next() {
        Some(e) if e.enabled && globally_on => Execution::Emulated {
            fix_binary: e.fix_binary(),
            interpreter: e.interpreter,
            entry: e.name,
        },
        // Switched off as a whole: the `status` file is what to flip.
        Some(_) if !globally_on => Execution::Disabled {
            entry: "status".into(),
        },
        Some(e) => Execution::Disabled { entry: e.name },
        None => Execution::Missing {
            binfmt_mounted: true,
        },
    }
}

/// What a session needs to know: the guest's architecture and how its
/// programs run here, or an error saying what to install or enable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRun {
    pub probe: PathBuf,
    pub guest: Arch,
    pub host: Arch,
    pub execution: Execution,
}

/// Probes the rootfs open at `root` and decides how it runs on this host.
pub fn guest_run(root: BorrowedFd, binfmt_dir: &Path) -> Result<GuestRun, Error> {
    let host = Arch::host().ok_or_else(|| {
        Error::UnknownHost(
            rustix::system::uname()
                .machine()
                .to_string_lossy()
                .into_owned(),
        )
    })?;
    let (probe, header, guest) = detect_guest(root)?;
    let execution = execution(&header, guest, host, binfmt_dir).require_runnable(guest, host)?;
    Ok(GuestRun {
        probe,
        guest,
        host,
        execution,
    })
}

/// ELF `e_machine` values (elf.h), for the session's loader and `info`.
pub mod em {
    pub const EM_386: u16 = 3;
    pub const EM_MIPS: u16 = 8;
    pub const EM_PPC: u16 = 20;
    pub const EM_PPC64: u16 = 21;
    pub const EM_S390: u16 = 22;
    pub const EM_ARM: u16 = 40;
    pub const EM_X86_64: u16 = 62;
    pub const EM_AARCH64: u16 = 183;
    pub const EM_RISCV: u16 = 243;
    pub const EM_LOONGARCH: u16 = 258;
}

#[cfg(test)]
#[path = "arch_tests.rs"]
mod tests;
