//! Tests of `arch`.

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
