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
        const EM_386: u16 = 3;
        const EM_ARM: u16 = 40;
        const EM_X86_64: u16 = 62;
        const EM_PPC64: u16 = 21;
        const EM_S390: u16 = 22;
        const EM_AARCH64: u16 = 183;
        const EM_RISCV: u16 = 243;
        const EM_LOONGARCH: u16 = 258;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::symlink;

    const MASK: &str = "ffffffffffffff00fffffffffffffffffeffffff";
    const AARCH64_MAGIC: &str = "7f454c460201010000000000000000000200b700";
    const ARM_MAGIC: &str = "7f454c4601010100000000000000000002002800";

    /// A minimal ELF header: class (1/2), data (1 LE / 2 BE), machine,
    /// e_flags, type ET_DYN.
    fn elf(class: u8, data: u8, machine: u16, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = class;
        b[5] = data;
        b[6] = 1;
        let put16 = |b: &mut Vec<u8>, o: usize, v: u16| {
            let bytes = if data == 1 {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            b[o..o + 2].copy_from_slice(&bytes);
        };
        put16(&mut b, 16, 3);
        put16(&mut b, 18, machine);
        let fo = if class == 2 { 48 } else { 36 };
        let fl = if data == 1 {
            flags.to_le_bytes()
        } else {
            flags.to_be_bytes()
        };
        b[fo..fo + 4].copy_from_slice(&fl);
        b
    }

    fn x86_64() -> Vec<u8> {
        elf(2, 1, 62, 0)
    }
    fn aarch64() -> Vec<u8> {
        elf(2, 1, 183, 0)
    }
    fn arm() -> Vec<u8> {
        elf(1, 1, 40, 0x0500_0400)
    }
    fn i386() -> Vec<u8> {
        elf(1, 1, 3, 0)
    }
    fn riscv64() -> Vec<u8> {
        elf(2, 1, 243, 0x5)
    }

    fn arch_of(b: &[u8]) -> Option<Arch> {
        Arch::from_elf(&ElfHeader::parse(b)?)
    }

    #[test]
    fn elf_machines_map_to_cli_names() {
        assert_eq!(arch_of(&x86_64()), Some(Arch::X86_64));
        assert_eq!(arch_of(&aarch64()), Some(Arch::Aarch64));
        assert_eq!(arch_of(&arm()), Some(Arch::Arm));
        assert_eq!(arch_of(&i386()), Some(Arch::I686));
        assert_eq!(arch_of(&riscv64()), Some(Arch::Riscv64));
        assert_eq!(arch_of(&elf(2, 1, 21, 2)), Some(Arch::Ppc64le));
        assert_eq!(arch_of(&elf(2, 2, 21, 1)), Some(Arch::Ppc64));
        assert_eq!(arch_of(&elf(2, 2, 22, 0)), Some(Arch::S390x));
        // x32, big-endian arm, riscv32: not something we run.
        assert_eq!(arch_of(&elf(1, 1, 62, 0)), None);
        assert_eq!(arch_of(&elf(1, 2, 40, 0)), None);
        assert_eq!(arch_of(&elf(1, 1, 243, 0)), None);
        assert_eq!(Arch::I686.qemu_name(), "i386");
        assert_eq!(Arch::Arm.to_string(), "arm");
        let h = ElfHeader::parse(&arm()).unwrap();
        assert_eq!(h.arm_eabi(), 5);
    }

    #[test]
    fn non_elf_and_truncated_inputs_are_refused() {
        assert!(ElfHeader::parse(b"#!/bin/sh\n").is_none());
        assert!(ElfHeader::parse(b"\x7fELF").is_none());
        assert!(ElfHeader::parse(&x86_64()[..19]).is_none());
        let mut bad = x86_64();
        bad[4] = 3;
        assert!(ElfHeader::parse(&bad).is_none());
    }

    #[test]
    fn uname_names() {
        assert_eq!(Arch::from_machine("armv7l"), Some(Arch::Arm));
        assert_eq!(Arch::from_machine("armv8l"), Some(Arch::Arm));
        assert_eq!(Arch::from_machine("arm64"), Some(Arch::Aarch64));
        assert_eq!(Arch::from_machine("i586"), Some(Arch::I686));
        assert_eq!(Arch::from_machine("sparc64"), None);
        assert!(Arch::host().is_some());
    }

    #[test]
    fn native_cases() {
        let h = |b: Vec<u8>| ElfHeader::parse(&b).unwrap();
        assert!(runs_natively(&h(i386()), Arch::I686, Arch::X86_64));
        assert!(runs_natively(&h(arm()), Arch::Arm, Arch::Aarch64));
        // Old-ABI arm is not run by arm64's compat layer.
        assert!(!runs_natively(
            &h(elf(1, 1, 40, 0)),
            Arch::Arm,
            Arch::Aarch64
        ));
        assert!(!runs_natively(&h(x86_64()), Arch::X86_64, Arch::I686));
        assert!(!runs_natively(&h(aarch64()), Arch::Aarch64, Arch::X86_64));
    }

    fn entry(enabled: bool, interp: &str, flags: &str, magic: &str) -> String {
        format!(
            "{}\ninterpreter {interp}\nflags: {flags}\noffset 0\nmagic {magic}\nmask {MASK}\n",
            if enabled { "enabled" } else { "disabled" }
        )
    }

    fn binfmt_dir(status: &str, entries: &[(&str, String)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("status"), status).unwrap();
        std::fs::write(t.path().join("register"), "").unwrap();
        for (name, text) in entries {
            std::fs::write(t.path().join(name), text).unwrap();
        }
        t
    }

    #[test]
    fn parses_the_kernel_format() {
        let text = entry(
            true,
            "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
            "POCF",
            AARCH64_MAGIC,
        );
        let e = BinfmtEntry::parse("qemu-aarch64", &text).unwrap();
        assert!(e.enabled && e.fix_binary());
        assert_eq!(e.offset, 0);
        assert_eq!(e.magic.len(), 20);
        assert_eq!(
            e.interpreter,
            Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        assert!(e.matches(&aarch64()));
        assert!(!e.matches(&x86_64()));
        assert!(!e.matches(&aarch64()[..10]));
        // ET_EXEC (2) matches as well as ET_DYN (3): the mask drops bit 0.
        let mut exec = aarch64();
        exec[16] = 2;
        assert!(e.matches(&exec));
        // Extension entries and garbage are skipped.
        assert!(BinfmtEntry::parse("x", "enabled\ninterpreter /x\nextension .exe\n").is_none());
        assert!(BinfmtEntry::parse("x", "enabled\ninterpreter /x\nmagic zz\n").is_none());
    }

    #[test]
    fn emulated_when_an_enabled_entry_matches() {
        let d = binfmt_dir(
            "enabled\n",
            &[
                (
                    "qemu-arm",
                    entry(true, "/usr/bin/qemu-arm-static", "OC", ARM_MAGIC),
                ),
                (
                    "qemu-aarch64",
                    entry(true, "/usr/bin/qemu-aarch64-static", "F", AARCH64_MAGIC),
                ),
            ],
        );
        let h = ElfHeader::parse(&aarch64()).unwrap();
        assert_eq!(
            execution(&h, Arch::Aarch64, Arch::X86_64, d.path()),
            Execution::Emulated {
                interpreter: "/usr/bin/qemu-aarch64-static".into(),
                entry: "qemu-aarch64".into(),
                fix_binary: true,
            }
        );
        let h = ElfHeader::parse(&arm()).unwrap();
        assert!(matches!(
            execution(&h, Arch::Arm, Arch::X86_64, d.path()),
            Execution::Emulated {
                fix_binary: false,
                ..
            }
        ));
        // Native needs no binfmt at all, even with none mounted.
        let h = ElfHeader::parse(&x86_64()).unwrap();
        let none = Path::new("/nonexistent/binfmt");
        assert_eq!(
            execution(&h, Arch::X86_64, Arch::X86_64, none),
            Execution::Native
        );
    }

    #[test]
    fn disabled_entry_or_switch_is_reported() {
        let e = entry(false, "/usr/bin/qemu-aarch64", "F", AARCH64_MAGIC);
        let d = binfmt_dir("enabled\n", &[("qemu-aarch64", e)]);
        let h = ElfHeader::parse(&aarch64()).unwrap();
        let ex = execution(&h, Arch::Aarch64, Arch::X86_64, d.path());
        assert_eq!(
            ex,
            Execution::Disabled {
                entry: "qemu-aarch64".into()
            }
        );
        let err = ex
            .require_runnable(Arch::Aarch64, Arch::X86_64)
            .unwrap_err();
        assert!(err
            .hint()
            .unwrap()
            .contains("update-binfmts --enable qemu-aarch64"));
        // binfmt_misc switched off as a whole.
        let e = entry(true, "/usr/bin/qemu-aarch64", "F", AARCH64_MAGIC);
        let d = binfmt_dir("disabled\n", &[("qemu-aarch64", e)]);
        assert!(matches!(
            execution(&h, Arch::Aarch64, Arch::X86_64, d.path()),
            Execution::Disabled { .. }
        ));
    }

    #[test]
    fn missing_and_unmounted_name_the_packages() {
        let e = entry(true, "/usr/bin/qemu-arm", "F", ARM_MAGIC);
        let d = binfmt_dir("enabled\n", &[("qemu-arm", e)]);
        let h = ElfHeader::parse(&riscv64()).unwrap();
        let ex = execution(&h, Arch::Riscv64, Arch::X86_64, d.path());
        assert_eq!(
            ex,
            Execution::Missing {
                binfmt_mounted: true
            }
        );
        let err = ex
            .require_runnable(Arch::Riscv64, Arch::X86_64)
            .unwrap_err();
        let hint = err.hint().unwrap();
        for want in [
            "qemu-user-static",
            "binfmt-support",
            "update-binfmts --enable qemu-riscv64",
        ] {
            assert!(hint.contains(want), "{hint}");
        }
        assert!(err.to_string().contains("riscv64") && err.to_string().contains("x86_64"));

        let empty = tempfile::tempdir().unwrap();
        let ex = execution(&h, Arch::Riscv64, Arch::X86_64, empty.path());
        assert_eq!(
            ex,
            Execution::Missing {
                binfmt_mounted: false
            }
        );
        let err = ex
            .require_runnable(Arch::Riscv64, Arch::X86_64)
            .unwrap_err();
        assert!(err.to_string().contains("not mounted"));
        let hint = err.hint().unwrap();
        assert!(hint.contains("mount -t binfmt_misc") && hint.contains("qemu-user-static"));
    }

    fn rootfs() -> (tempfile::TempDir, PathBuf, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        let fd = rustix::fs::open(
            &r,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (t, r, fd)
    }

    #[test]
    fn shell_symlinks_resolve_inside_the_rootfs() {
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            let (t, r, fd) = rootfs();
            std::fs::write(r.join("bin/busybox"), aarch64()).unwrap();
            symlink("busybox", r.join("bin/sh")).unwrap();
            let (p, _, a) = detect_guest_in(fd.as_fd(), &PROBE_PATHS, mode).unwrap();
            assert_eq!((p.as_path(), a), (Path::new("/bin/sh"), Arch::Aarch64));

            // An absolute link means the rootfs's own file, not the host's:
            // the host has an x86_64 file at the same path.
            let host_side = t.path().join("hostfile");
            std::fs::write(&host_side, x86_64()).unwrap();
            let inside = r.join(host_side.strip_prefix("/").unwrap());
            std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
            std::fs::write(&inside, riscv64()).unwrap();
            std::fs::remove_file(r.join("bin/sh")).unwrap();
            symlink(&host_side, r.join("bin/sh")).unwrap();
            let h = read_elf_with(fd.as_fd(), Path::new("/bin/sh"), mode).unwrap();
            assert_eq!(Arch::from_elf(&h), Some(Arch::Riscv64), "{mode:?}");

            // `..` cannot climb out either.
            std::fs::remove_file(r.join("bin/sh")).unwrap();
            symlink("../../hostfile", r.join("bin/sh")).unwrap();
            let e = read_elf_with(fd.as_fd(), Path::new("/bin/sh"), mode).unwrap_err();
            assert!(matches!(e, Error::Open { .. }), "{e:?}");
        }
    }

    #[test]
    fn the_hosts_own_shell_runs_natively() {
        let (_t, r, fd) = rootfs();
        // The real /bin/sh of this machine (its link followed on the host).
        std::fs::copy("/bin/sh", r.join("bin/sh")).unwrap();
        let run = guest_run(fd.as_fd(), Path::new("/nonexistent")).unwrap();
        assert_eq!(Some(run.guest), Arch::host());
        assert_eq!(run.execution, Execution::Native);
        // A foreign guest with no binfmt_misc is an error with the fix.
        let foreign = if run.host == Arch::Riscv64 {
            x86_64()
        } else {
            riscv64()
        };
        std::fs::write(r.join("bin/sh"), foreign).unwrap();
        let e = guest_run(fd.as_fd(), Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(e, Error::BinfmtNotMounted { .. }), "{e}");
    }

    #[test]
    fn probing_skips_missing_and_reports_bad_files() {
        let (_t, r, fd) = rootfs();
        let e = detect_guest(fd.as_fd()).unwrap_err();
        assert!(matches!(e, Error::NothingToProbe { .. }));
        std::fs::write(r.join("usr/bin/env"), i386()).unwrap();
        let (p, _, a) = detect_guest(fd.as_fd()).unwrap();
        assert_eq!((p.as_path(), a), (Path::new("/usr/bin/env"), Arch::I686));
        // A script at /bin/sh is reported if nothing later is an ELF...
        std::fs::remove_file(r.join("usr/bin/env")).unwrap();
        std::fs::write(r.join("bin/sh"), "#!/bin/false\n").unwrap();
        assert!(matches!(
            detect_guest(fd.as_fd()).unwrap_err(),
            Error::NotElf { .. }
        ));
        // ...and a FIFO is never opened for reading.
        std::fs::remove_file(r.join("bin/sh")).unwrap();
        nix::unistd::mkfifo(
            &r.join("bin/sh"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        assert!(matches!(
            read_elf_in_root(fd.as_fd(), Path::new("/bin/sh")).unwrap_err(),
            Error::NotRegular { .. }
        ));
        // An ELF of an unknown machine is named as such.
        std::fs::write(r.join("bin/bash"), elf(2, 1, 0x9999, 0)).unwrap();
        assert!(matches!(
            detect_guest_in(fd.as_fd(), &["/bin/bash"], ResolveMode::Auto).unwrap_err(),
            Error::UnknownArch { machine: 0x9999 }
        ));
    }
}
