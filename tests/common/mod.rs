//! Shared support for the integration tests: the built binary, throw-away
//! stores, the test rig, and running things as the rig's unprivileged user.
#![allow(dead_code)]

pub mod fixture;
pub mod masks;
pub mod oci;
pub mod registry;
pub mod tarbuild;
pub mod tree;
pub mod watch;

pub mod skip;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chroot-distro"))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// For tests that need root: true when we are root. Otherwise a counted
/// skip, and a failure under CI, where everything must run.
pub fn require_root(what: &str) -> bool {
    is_root() || skip::skip(&format!("{what} needs root (run the suite as root)"))
}

/// The test rig's env file, bringing the rig up first if needed.
pub struct Rig {
    pub vars: HashMap<String, String>,
}

impl Rig {
    pub fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("rig env file lacks {key}"))
    }
}

pub fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let dir = std::env::var("CD_RIG_DIR").unwrap_or_else(|_| "/var/lib/cd-test-rig".into());
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/setup");
        let status = Command::new(&setup)
            .arg("-q")
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", setup.display()));
        assert!(status.success(), "tests/rig/setup failed ({status})");
        let text =
            std::fs::read_to_string(Path::new(&dir).join("env")).expect("rig env file after setup");
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Rig { vars }
    })
}

/// A copy of the binary the rig's user can execute (a checkout under /root
/// is not reachable by it). One directory per build, named by content size
/// and mtime, so concurrent test binaries never write the same file twice.
pub fn user_bin() -> PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let src = bin();
        let meta = std::fs::metadata(&src).expect("built binary");
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = Path::new(rig().get("CD_RIG_BIN_DIR")).join(format!("{}-{mtime}", meta.len()));
        let dst = dir.join("chroot-distro");
        if !dst.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let tmp = dir.join(format!(".tmp-{}", std::process::id()));
            std::fs::copy(&src, &tmp).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::rename(&tmp, &dst).unwrap();
        }
        dst
    })
    .clone()
}

/// A fresh, empty store in a temporary directory: HOME, XDG_DATA_HOME and
/// XDG_CACHE_HOME all point inside it.
pub struct TestStore {
    pub dir: tempfile::TempDir,
}

impl TestStore {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A store the rig's unprivileged user owns (under the rig's scratch dir).
    pub fn for_rig_user() -> Self {
        let rig = rig();
        let dir = tempfile::Builder::new()
            .prefix("store-")
            .tempdir_in(rig.get("CD_RIG_TMP"))
            .expect("tempdir in rig tmp");
        let uid: u32 = rig.get("CD_RIG_UID").parse().unwrap();
        let gid: u32 = rig.get("CD_RIG_GID").parse().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn data_home(&self) -> PathBuf {
        self.root().join("data")
    }
    pub fn cache_home(&self) -> PathBuf {
        self.root().join("cache")
    }
    pub fn runtime_dir(&self) -> PathBuf {
        self.data_home().join("chroot-distro")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_home().join("chroot-distro")
    }
    pub fn container_dir(&self, name: &str) -> PathBuf {
        self.runtime_dir().join("containers").join(name)
    }

    /// The command with a clean environment that points at this store.
    pub fn cmd_with(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.root())
            .env("XDG_DATA_HOME", self.data_home())
            .env("XDG_CACHE_HOME", self.cache_home())
            .stdin(Stdio::null());
        cmd
    }

    pub fn cmd(&self) -> Command {
        self.cmd_with(&bin())
    }

    /// Runs `chroot-distro ARGS` against this store.
    pub fn run(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.cmd().args(args))
    }

    /// `program` run as the rig's unprivileged user against this store
    /// (add its arguments).
    pub fn user_cmd(&self, program: &Path) -> Command {
        let rig = rig();
        let mut cmd = self.cmd_with(Path::new("/usr/bin/setpriv"));
        cmd.args([
            "--reuid",
            rig.get("CD_RIG_UID"),
            "--regid",
            rig.get("CD_RIG_GID"),
            "--init-groups",
            "--",
        ])
        .arg(program);
        cmd
    }

    /// Runs `chroot-distro ARGS` as the rig's unprivileged user.
    pub fn run_as_user(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.user_cmd(&user_bin()).args(args))
    }

    /// Lays out a container the way the Python tool does: `rootfs/` with a
    /// few files, and (optionally) its `manifest.json`.
    pub fn add_python_container(&self, name: &str, with_manifest: bool) -> PathBuf {
        let dir = self.container_dir(name);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "root", "tmp", "usr/bin"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::write(rootfs.join("etc/os-release"), "ID=test\n").unwrap();
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        if with_manifest {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/container-manifest.python.json");
            std::fs::copy(manifest, dir.join("manifest.json")).unwrap();
        }
        dir
    }
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn of(cmd: &mut Command) -> Self {
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("spawn");
        Self {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts the exit code and that stderr is one `chroot-distro: error:`
    /// line (plus at most one `hint:` line) containing `needle`.
    #[track_caller]
    pub fn fails_with(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, code, "exit code: {self:#?}");
        // Step lines (":: ...") may precede the error when stderr is not a TTY.
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .skip_while(|l| l.starts_with(":: "))
            .collect();
        assert!(
            !lines.is_empty() && lines[0].starts_with("chroot-distro: error: "),
            "error line: {self:#?}"
        );
        assert!(
            lines[0].contains(needle),
            "expected {needle:?} in {:?}",
            lines[0]
        );
        assert!(
            lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
            "one error line and an optional hint: {self:#?}"
        );
        self
    }
}

/// Who runs a command: root, or the rig's unprivileged user (rootless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Root,
    User,
}

impl TestStore {
    /// An empty store `who` owns.
    pub fn for_who(who: As) -> Self {
        match who {
            As::Root => TestStore::new(),
            As::User => TestStore::for_rig_user(),
        }
    }

    /// `chroot-distro ARGS` as `who`.
    pub fn run_as(&self, who: As, args: &[&str]) -> Outcome {
        match who {
            As::Root => self.run(args),
            As::User => self.run_as_user(args),
        }
    }
}

/// A fresh store holding the rig's busybox fixture as container `bb`.
pub fn store_with_busybox() -> TestStore {
    store_with_busybox_as(As::Root)
}

/// The same, owned and installed by `who` (for the user: on their
/// subordinate ids).
pub fn store_with_busybox_as(who: As) -> TestStore {
    let store = TestStore::for_who(who);
    store
        .run_as(
            who,
            &[
                "install",
                rig().get("CD_RIG_FIXTURE_OCI_ARCHIVE"),
                "-n",
                "bb",
                "-q",
            ],
        )
        .ok();
    store
}

/// Installs the rig's multi-arch image for the architecture foreign to
/// this host as `foreign`; returns that architecture.
pub fn install_foreign(store: &TestStore, who: As) -> &'static str {
    let arch = if cfg!(target_arch = "aarch64") {
        "x86_64"
    } else {
        "aarch64"
    };
    store
        .run_as(
            who,
            &[
                "install",
                rig().get("CD_RIG_FIXTURE_MULTI"),
                "-a",
                arch,
                "-n",
                "foreign",
                "-q",
            ],
        )
        .ok();
    arch
}

/// `pid` and every process below it.
pub fn descendants(pid: u32) -> Vec<u32> {
    chroot_distro::launch::running::with_descendants(&[pid])
}

/// Command lines of the direct children of `pid`.
pub fn children_cmdlines(pid: u32) -> Vec<String> {
    chroot_distro::launch::running::children_of(pid)
        .into_iter()
        .map(|p| {
            let raw = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&raw).replace('\0', " ")
        })
        .collect()
}

/// `cmd` starts with only stdio open: whatever the harness that started
/// us left open is not the program's to close, and would hide a leak.
/// Runs `cmd` (a `login ... -- sh -c 'ls /proc/$$/fd'`) with only stdio
/// inherited and asserts the command saw only fds 0, 1 and 2.
pub fn assert_command_holds_only_stdio(cmd: &mut Command) {
    let out = Outcome::of(only_stdio(cmd));
    out.ok();
    let mut fds: Vec<u32> = out
        .stdout
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2], "{out:#?}");
}

pub fn only_stdio(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
            Ok(())
        })
    }
}
