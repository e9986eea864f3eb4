//! Support for the helper tests: setcap'd copies of the helper (built here
//! with the test-policy feature, installed by tests/rig/helper-setup),
//! policies at the test path, stores of the rig's user, and running the
//! helper as that user inside a throw-away *shared* mount namespace that
//! reports any mount leaking out of the helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The main binary, built if needed, copied where the rig user can run it.
pub fn main_bin() -> PathBuf {
    let ws = workspace();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--locked", "-p", "chroot-distro", "--bin", "chroot-distro"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    let src = target.join("debug/chroot-distro");
    let dir = Path::new(rig().get("CD_RIG_BIN_DIR")).join("helper-client");
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join("chroot-distro");
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::copy(&src, &tmp).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
    dst
}

/// The compile-time policy path of the `test-policy-path` build.
pub const POLICY: &str = "/var/lib/cd-test-rig/helper/helper.conf";
const BIN_DIR: &str = "/var/lib/cd-test-rig/helper/bin";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub mod decoy;

#[path = "../../../tests/common/skip.rs"]
pub mod skip;

/// True when we are root; otherwise a counted skip, and a failure under CI.
pub fn require_root(what: &str) -> bool {
    rustix::process::geteuid().is_root()
        || skip::skip(&format!("{what} needs root (run the suite as root)"))
}

pub struct Rig {
    vars: HashMap<String, String>,
}

impl Rig {
    pub fn get(&self, key: &str) -> &str {
        self.vars.get(key).map(String::as_str).unwrap_or_else(|| panic!("rig env file lacks {key}"))
    }
    pub fn uid(&self) -> u32 {
        self.get("CD_RIG_UID").parse().unwrap()
    }
    pub fn gid(&self) -> u32 {
        self.get("CD_RIG_GID").parse().unwrap()
    }
    /// The rig user's store, as the main binary lays it out by default.
    pub fn store(&self) -> PathBuf {
        Path::new(self.get("CD_RIG_HOME")).join(".local/share/chroot-distro")
    }
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The test rig (brought up if needed) and both helper copies installed.
pub fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let ws = workspace();
        sh(Command::new(ws.join("tests/rig/setup")).arg("-q").stdin(Stdio::null()));
        let text = std::fs::read_to_string("/var/lib/cd-test-rig/env").expect("rig env file");
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut bins = Vec::new();
        for (features, dir) in [
            ("test-policy-path", "helper-rig"),
            ("test-policy-path,force-openat2-fallback", "helper-rig-fallback"),
        ] {
            // Built as packaging/install.sh builds it: statically.
            let target = ws.join("target").join(dir);
            let out = Command::new(ws.join("helper/build"))
                .args(["--quiet", "--features", features, "--target-dir"])
                .arg(&target)
                .output()
                .unwrap();
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(out.status.success() && !path.is_empty(), "helper/build: {out:?}");
            bins.push(PathBuf::from(path));
        }
        sh(Command::new(ws.join("tests/rig/helper-setup")).args(&bins));
        Rig { vars }
    })
}

pub fn helper_bin() -> PathBuf {
    rig();
    Path::new(BIN_DIR).join("cd-mount-helper")
}

pub fn fallback_bin() -> PathBuf {
    rig();
    Path::new(BIN_DIR).join("cd-mount-helper-fallback")
}

/// Writes the test policy: root-owned, 0644, unless told otherwise.
pub fn set_policy(text: &str) {
    set_policy_as(text, 0, 0o644);
}

pub fn set_policy_as(text: &str, uid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    rig();
    let tmp = format!("{POLICY}.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::os::unix::fs::chown(&tmp, Some(uid), Some(0)).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, POLICY).unwrap();
}

pub fn remove_policy() {
    let _ = std::fs::remove_file(POLICY);
}

/// The policy most tests use: the rig's group may run real-root sessions.
pub const REAL_ROOT: &str = "groups = cdhelper\nreal_root = yes\nprivileged = no\n";

fn chown_user(rig: &Rig, path: &Path) {
    sh(Command::new("chown").arg("-R").arg(format!("{}:{}", rig.uid(), rig.gid())).arg(path));
}

/// Makes the store's directories down to `containers/` the user's.
fn store_dirs(rig: &Rig) -> PathBuf {
    let containers = rig.store().join("containers");
    std::fs::create_dir_all(&containers).unwrap();
    let home = Path::new(rig.get("CD_RIG_HOME"));
    for d in [
        ".local",
        ".local/share",
        ".local/share/chroot-distro",
        ".local/share/chroot-distro/containers",
    ] {
        std::os::unix::fs::chown(home.join(d), Some(rig.uid()), Some(rig.gid())).unwrap();
    }
    containers
}

/// A fresh busybox container owned by the user throughout (a squashed
/// store: everything shows as root's through the id map). Returns its rootfs.
pub fn busybox(name: &str) -> PathBuf {
    let rig = rig();
    let dir = store_dirs(rig).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(rig.get("CD_RIG_FIXTURE_ROOTFS_TAR"))
        .arg("-C")
        .arg(&rootfs));
    chown_user(rig, &dir);
    rootfs
}

/// The Debian fixture laid out as a rootless install does: container uid 0
/// is the user, uid N is subordinate id start+N-1 (made once, then reused).
pub fn debian(name: &str) -> PathBuf {
    let rig = rig();
    let dir = store_dirs(rig).join(name);
    let rootfs = dir.join("rootfs");
    if dir.join("ready").exists() {
        return rootfs;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&rootfs).unwrap();
    sh(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-xzpf")
        .arg(rig.get("CD_RIG_FIXTURE_DEBIAN_TAR"))
        .arg("-C")
        .arg(&rootfs));
    let shift = r#"
import os, stat, sys
root, own, sub = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def m(i): return own if i == 0 else sub + i - 1
def fix(p):
    st = os.lstat(p)
    os.lchown(p, m(st.st_uid), m(st.st_gid))
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(p, stat.S_IMODE(st.st_mode))  # chown cleared set-id bits
for d, dirs, files in os.walk(root):
    fix(d)
    for f in files: fix(os.path.join(d, f))
    for s in dirs:
        if os.path.islink(os.path.join(d, s)): fix(os.path.join(d, s))
"#;
    sh(Command::new("/usr/bin/python3")
        .args(["-c", shift])
        .arg(&rootfs)
        .arg(rig.get("CD_RIG_UID"))
        .arg(rig.get("CD_RIG_SUBUID_START")));
    std::os::unix::fs::chown(&dir, Some(rig.uid()), Some(rig.gid())).unwrap();
    std::fs::write(dir.join("ready"), "").unwrap();
    rootfs
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self.no_leak()
    }

    pub fn no_leak(&self) -> &Self {
        assert!(!self.stderr.contains("MOUNT LEAK"), "a mount escaped the helper: {self:#?}");
        self
    }

    /// Refused under `rule` with its exit code (80 + rule), one line
    /// naming the rule and containing `needle`, and nothing mounted outside.
    pub fn refused(&self, rule: u8, needle: &str) -> &Self {
        assert_eq!(self.code, 80 + i32::from(rule), "{self:#?}");
        let line = format!("cd-mount-helper: refused (rule {rule}:");
        assert!(
            self.stderr.lines().any(|l| l.starts_with(&line) && l.contains(needle)),
            "wanted {line:?} with {needle:?}: {self:#?}"
        );
        self.no_leak()
    }
}

/// How the user's groups are set for a run.
pub enum Groups {
    /// From /etc/group (includes the test group).
    Init,
    /// Only the primary group.
    Clear,
}

/// Runs `bin args` as the rig user, inside `unshare -m --propagation
/// shared`, comparing that namespace's mount table before and after.
pub fn run_as_user(bin: &Path, groups: Groups, args: &[&str]) -> Out {
    let mut cmd = user_command(bin, groups, args);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The command `run_as_user` runs, for tests that choose its descriptors.
pub fn user_command(bin: &Path, groups: Groups, args: &[&str]) -> Command {
    let rig = rig();
    let script = r#"before=$(cat /proc/self/mountinfo); "$@"; rc=$?; after=$(cat /proc/self/mountinfo); [ "$before" = "$after" ] || echo "MOUNT LEAK" >&2; exit $rc"#;
    let mut cmd = Command::new("/usr/bin/unshare");
    cmd.args([
        "-m",
        "--propagation",
        "shared",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
        "/usr/bin/setpriv",
        "--reuid",
        rig.get("CD_RIG_UID"),
        "--regid",
        rig.get("CD_RIG_GID"),
    ]);
    cmd.arg(match groups {
        Groups::Init => "--init-groups",
        Groups::Clear => "--clear-groups",
    });
    cmd.arg("--")
        .arg(bin)
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}

/// `--store <user's store> --name NAME --uid 0 --gid 0` + `extra` + `-- cmd`.
pub fn session_args(rig: &Rig, name: &str, extra: &[&str], cmd: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--store".into(),
        rig.store().display().to_string(),
        "--name".into(),
        name.into(),
        "--uid".into(),
        "0".into(),
        "--gid".into(),
        "0".into(),
        "--env".into(),
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v.push("--".into());
    v.extend(cmd.iter().map(|s| s.to_string()));
    v
}

/// Runs the standard helper as the user (with the test group).
pub fn session(name: &str, extra: &[&str], cmd: &[&str]) -> Out {
    let rig = rig();
    let args = session_args(rig, name, extra, cmd);
    run_as_user(&helper_bin(), Groups::Init, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Shell commands whose output tells a real-root session from a rootless
/// one that also says `id -u` = 0: the uid map of the user namespace, the
/// effective capabilities, and the name of the PID namespace's init.
pub const REAL_ROOT_PROBE: &str =
    "cat /proc/self/uid_map; grep '^CapEff:' /proc/self/status; cat /proc/1/comm";

/// Docker's default capability set, written out here rather than taken
/// from the helper, so that a change to the helper's list shows up.
/// As a mask: 0xa80425fb, what `docker run` shows in CapEff.
const DOCKER_DEFAULT: &[caps::Capability] = {
    use caps::Capability as C;
    &[
        C::CAP_CHOWN,
        C::CAP_DAC_OVERRIDE,
        C::CAP_FSETID,
        C::CAP_FOWNER,
        C::CAP_MKNOD,
        C::CAP_NET_RAW,
        C::CAP_SETGID,
        C::CAP_SETUID,
        C::CAP_SETFCAP,
        C::CAP_SETPCAP,
        C::CAP_NET_BIND_SERVICE,
        C::CAP_SYS_CHROOT,
        C::CAP_KILL,
        C::CAP_AUDIT_WRITE,
    ]
};

/// Checks the output of [`REAL_ROOT_PROBE`]: the initial user namespace
/// (so uid 0 is the host's root, not a mapped caller), exactly Docker's
/// capabilities, and the helper as PID 1 (its init: the session went
/// through the helper, which always makes a PID namespace).
pub fn assert_real_root(probe: &[&str]) {
    assert_eq!(probe.len(), 3, "{probe:?}");
    let map: Vec<&str> = probe[0].split_whitespace().collect();
    assert_eq!(map, ["0", "0", "4294967295"], "uid_map: {probe:?}");
    let mask = DOCKER_DEFAULT.iter().fold(0u64, |m, c| m | c.bitmask());
    assert_eq!(mask, 0xa80425fb, "Docker's set");
    assert_eq!(probe[1], format!("CapEff:\t{mask:016x}"), "{probe:?}");
    assert_eq!(probe[2], "cd-mount-helper", "PID 1: {probe:?}");
}
