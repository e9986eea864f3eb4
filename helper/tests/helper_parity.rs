//! One session, two root paths: the same container started by root
//! directly (the main binary's own namespaces and mounts) and by the rig
//! user through the setcap'd helper with real root granted must look the
//! same from inside: mount table, masked paths, capability sets, seccomp
//! mode and filter (a call only seccomp denies fails with EPERM in both,
//! for x86_64 and i386 programs alike), and environment.
//!
//! What differs on purpose, and is not compared: the helper's session
//! always has its own PID namespace and no_new_privs (DESIGN.md,
//! cd-mount-helper rules 2 and 10), and its rootfs is shown through an id
//! map.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{debian, main_bin, require_root, rig, run_as_user, set_policy, Groups, REAL_ROOT};

const NAME: &str = "parity";

/// The session's own view of itself, section by section.
const PROBE: &str = r#"
echo '== mounts'
awk '$2 != "/" { print $2, $3, $4 }' /proc/self/mounts | sed 's/,idmapped//' | sort
echo '== masked'
for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/acpi /proc/scsi /sys/firmware; do
  if [ -d "$p" ]; then echo "$p dir $(ls -A "$p" | wc -l)"
  elif [ -e "$p" ]; then echo "$p file $(head -c 64 "$p" | wc -c)"; fi
done
echo x > /proc/sysrq-trigger 2>/dev/null && echo 'sysrq writable' || echo 'sysrq read-only'
echo '== caps'
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):' /proc/self/status
echo '== filter'
perl -e 'print "keyctl: ", (syscall(250, 0, -3, 0) == -1 ? "$!" : "allowed"), "\n"'
perl -e 'print "unshare: ", (syscall(272, 0) == -1 ? "$!" : "allowed"), "\n"'
perl -e 'print "getpid: ", (syscall(39) > 0 ? "allowed" : "$!"), "\n"'
if [ -x /usr/local/bin/i386-probe ]; then /usr/local/bin/i386-probe; echo "i386 exit $?"; fi
echo '== env'
env | grep -v -e '^_=' -e '^SHLVL=' -e '^OLDPWD=' | sort
"#;

/// A static i386 program without libc (binutils only): keyctl through
/// `int 0x80` with i386's own number (288; on x86_64 that is accept4),
/// then getpid (20). An x86_64 filter that killed foreign ABIs would stop
/// it with SIGSYS; one that read i386 numbers as x86_64 ones would let
/// keyctl through.
const I386: &str = r#"
    .text
    .globl _start
_start:
    movl $288, %eax
    xorl %ebx, %ebx
    movl $-3, %ecx
    xorl %edx, %edx
    int $0x80
    movl $denied, %ecx
    movl $denied_len, %edx
    cmpl $-1, %eax
    je 1f
    movl $allowed, %ecx
    movl $allowed_len, %edx
1:  movl $4, %eax
    movl $1, %ebx
    int $0x80
    movl $20, %eax
    int $0x80
    xorl %ebx, %ebx
    testl %eax, %eax
    jg 2f
    movl $3, %ebx
2:  movl $1, %eax
    int $0x80
    .data
denied: .ascii "i386 keyctl: Operation not permitted\n"
    .set denied_len, . - denied
allowed: .ascii "i386 keyctl: allowed\n"
    .set allowed_len, . - allowed
"#;

/// Assembles [`I386`], or says why it cannot.
fn i386_probe(dir: &Path) -> Result<PathBuf, String> {
    let (src, obj, bin) = (dir.join("probe.s"), dir.join("probe.o"), dir.join("i386-probe"));
    std::fs::write(&src, I386).map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => Err(format!("{cmd:?}: {e}")),
    };
    run(Command::new("as").arg("--32").arg("-o").arg(&obj).arg(&src))?;
    run(Command::new("ld").args(["-m", "elf_i386", "-static", "-o"]).arg(&bin).arg(&obj))?;
    Ok(bin)
}

/// The Debian fixture as a root-owned store, for root's own session.
fn root_store(dir: &Path) -> PathBuf {
    let rootfs = dir.join("containers").join(NAME).join("rootfs");
    if !dir.join("ready").exists() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(&rootfs).unwrap();
        let tar = Command::new("tar")
            .args(["--numeric-owner", "-xzpf", rig().get("CD_RIG_FIXTURE_DEBIAN_TAR"), "-C"])
            .arg(&rootfs)
            .status()
            .unwrap();
        assert!(tar.success());
        std::fs::write(dir.join("ready"), "").unwrap();
    }
    rootfs
}

fn install(probe: &Path, rootfs: &Path, owner: Option<u32>) {
    let dst = rootfs.join("usr/local/bin/i386-probe");
    std::fs::copy(probe, &dst).unwrap();
    std::os::unix::fs::chown(&dst, owner, owner).unwrap();
}

/// The probe's output split into its sections, by name.
fn sections(out: &str) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        match (line.strip_prefix("== "), all.last_mut()) {
            (Some(name), _) => all.push((name.to_owned(), Vec::new())),
            (None, Some((_, lines))) => lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    all
}

#[test]
fn root_and_helper_sessions_look_the_same_from_inside() {
    if !require_root("a root session and the setcap'd helper") {
        return;
    }
    let bin = main_bin();
    set_policy(REAL_ROOT);
    let store = Path::new(rig().get("CD_RIG_BIN_DIR")).parent().unwrap().join("parity-root");
    let (root_rootfs, user_rootfs) = (root_store(&store.join("chroot-distro")), debian(NAME));
    let scratch = std::env::temp_dir().join(format!("cd-parity-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let i386 = match i386_probe(&scratch) {
        Ok(p) => {
            install(&p, &root_rootfs, Some(0));
            install(&p, &user_rootfs, Some(rig().uid()));
            true
        }
        Err(why) => support::skip::skip(&format!("no i386 probe (binutils' as --32): {why}")),
    };

    let _ = std::fs::remove_dir_all(&scratch);
    let direct = Command::new(&bin)
        .args(["login", NAME, "--", "sh", "-c", PROBE])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("XDG_DATA_HOME", &store)
        .current_dir("/")
        .output()
        .unwrap();
    let direct_out = String::from_utf8_lossy(&direct.stdout).into_owned();
    assert!(direct.status.success(), "{direct:?}");

    let helper = support::helper_bin();
    let env = [
        format!("CD_MOUNT_HELPER={}", helper.display()),
        format!("HOME={}", rig().get("CD_RIG_HOME")),
        bin.display().to_string(),
    ];
    let mut args: Vec<&str> = env.iter().map(String::as_str).collect();
    args.extend(["login", NAME, "--root", "--", "sh", "-c", PROBE]);
    let through = run_as_user(Path::new("/usr/bin/env"), Groups::Init, &args);
    through.ok();

    let (a, b) = (sections(&direct_out), sections(&through.stdout));
    assert_eq!(
        a.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["mounts", "masked", "caps", "filter", "env"],
        "{direct_out}"
    );
    for ((name, want), (_, got)) in a.iter().zip(&b) {
        assert_eq!(
            want, got,
            "section {name} differs:\nroot directly:\n{want:#?}\nthrough the helper:\n{got:#?}"
        );
    }
    // And what they agree on is the contract.
    let filter = &a[3].1;
    assert!(filter.contains(&"keyctl: Operation not permitted".to_string()), "{filter:?}");
    assert!(filter.contains(&"unshare: Operation not permitted".to_string()), "{filter:?}");
    assert!(filter.contains(&"getpid: allowed".to_string()), "{filter:?}");
    if i386 {
        let ran = ["i386 keyctl: Operation not permitted", "i386 exit 0"];
        assert!(ran.iter().all(|l| filter.contains(&l.to_string())), "{filter:?}");
    }
    let caps = &a[2].1;
    assert!(caps.contains(&"CapEff:\t00000000a80425fb".to_string()), "{caps:?}");
    assert!(caps.contains(&"CapBnd:\t00000000a80425fb".to_string()), "{caps:?}");
    assert!(caps.contains(&"Seccomp:\t2".to_string()), "{caps:?}");
    let masked = &a[1].1;
    // (This kernel may lack /proc/kcore; /proc/keys is always there.)
    assert!(masked.contains(&"/proc/keys file 0".to_string()), "{masked:?}");
    assert!(masked.contains(&"sysrq read-only".to_string()), "{masked:?}");
    let mounts = &a[0].1;
    assert!(
        mounts.iter().any(|m| m.starts_with("/dev tmpfs ") && m.contains("nodev")),
        "{mounts:?}"
    );
}
