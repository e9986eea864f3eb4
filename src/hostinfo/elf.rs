//! The architecture of an ELF file from its first 20 bytes
//! (`e_ident` and `e_machine`), the only part `info` reads of a guest binary.

use serde::Serialize;

/// Bytes needed: `e_ident` (16), `e_type` (2), `e_machine` (2).
pub const HEADER_LEN: usize = 20;

use crate::session::arch::em::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfArch {
    /// The reference's name (`x86_64`, `aarch64`, `arm`, `i686`, `riscv64`),
    /// else a descriptive one.
    pub arch: String,
    /// 32 or 64 (`EI_CLASS`).
    pub bits: u8,
    pub big_endian: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("truncated ELF header")]
    Truncated,
    #[error("invalid ELF class {0}")]
    BadClass(u8),
    #[error("invalid ELF data encoding {0}")]
    BadEncoding(u8),
}

/// Decodes the header. Only the magic, class, encoding and machine are used;
/// nothing else of an untrusted file is interpreted.
pub fn parse(header: &[u8]) -> Result<ElfArch, ElfError> {
    if header.len() < 4 || &header[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if header.len() < HEADER_LEN {
        return Err(ElfError::Truncated);
    }
    let bits = match header[4] {
        1 => 32,
        2 => 64,
        c => return Err(ElfError::BadClass(c)),
    };
    let big_endian = match header[5] {
        1 => false,
        2 => true,
        d => return Err(ElfError::BadEncoding(d)),
    };
    let raw = [header[18], header[19]];
    let machine = if big_endian {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    };
    Ok(ElfArch {
        arch: machine_name(machine, bits),
        bits,
        big_endian,
    })
}

fn machine_name(machine: u16, bits: u8) -> String {
    let name = match (machine, bits) {
        (EM_X86_64, 64) => "x86_64",
        (EM_X86_64, _) => "x32",
        (EM_AARCH64, _) => "aarch64",
        (EM_ARM, _) => "arm",
        (EM_386, _) => "i686",
        (EM_RISCV, 64) => "riscv64",
        (EM_RISCV, _) => "riscv32",
        (EM_MIPS, 64) => "mips64",
        (EM_MIPS, _) => "mips",
        (EM_PPC64, _) => "ppc64",
        (EM_PPC, _) => "ppc",
        (EM_S390, _) => "s390x",
        (EM_LOONGARCH, _) => "loongarch64",
        (other, _) => return format!("unknown (e_machine {other})"),
    };
    name.to_owned()
}

#[cfg(test)]
pub(crate) fn fake_header(machine: u16, bits: u8, big_endian: bool) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if bits == 64 { 2 } else { 1 };
    h[5] = if big_endian { 2 } else { 1 };
    h[6] = 1;
    let m = if big_endian {
        machine.to_be_bytes()
    } else {
        machine.to_le_bytes()
    };
    h[18..20].copy_from_slice(&m);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_machines() {
        for (m, bits, want) in [
            (62, 64, "x86_64"),
            (183, 64, "aarch64"),
            (40, 32, "arm"),
            (3, 32, "i686"),
            (243, 64, "riscv64"),
            (243, 32, "riscv32"),
        ] {
            let got = parse(&fake_header(m, bits, false)).unwrap();
            assert_eq!((got.arch.as_str(), got.bits), (want, bits), "machine {m}");
        }
        let be = parse(&fake_header(22, 64, true)).unwrap();
        assert_eq!((be.arch.as_str(), be.big_endian), ("s390x", true));
        assert_eq!(
            parse(&fake_header(9999, 64, false)).unwrap().arch,
            "unknown (e_machine 9999)"
        );
    }

    #[test]
    fn only_twenty_bytes_are_needed() {
        let h = fake_header(183, 64, false);
        assert_eq!(parse(&h[..HEADER_LEN]).unwrap().arch, "aarch64");
        assert_eq!(parse(&h[..19]), Err(ElfError::Truncated));
    }

    #[test]
    fn rejects_non_elf_and_bad_ident() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n...."), Err(ElfError::NotElf));
        assert_eq!(parse(b""), Err(ElfError::NotElf));
        let mut h = fake_header(62, 64, false);
        h[4] = 7;
        assert_eq!(parse(&h), Err(ElfError::BadClass(7)));
        let mut h = fake_header(62, 64, false);
        h[5] = 0;
        assert_eq!(parse(&h), Err(ElfError::BadEncoding(0)));
    }
}
