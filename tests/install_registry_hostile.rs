//! A hostile registry (tests/rig/hostile-registry.py) gets one clear
//! error, bounded memory, and never the user's credentials; the store is
//! left as it was.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

/// The hostile registry, serving until dropped.
struct Hostile {
    child: Child,
    addr: String,
}

impl Hostile {
    fn start(args: &[&str]) -> Self {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/hostile-registry.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (the rig installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .expect("port line")
            .to_owned();
        Self {
            child,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    /// The body of `GET path` from the server.
    fn get(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sf", &format!("http://{}{path}", self.addr)])
            .output();
        String::from_utf8_lossy(&out.unwrap().stdout).into_owned()
    }

    /// What the "other host" realm received.
    fn realm_log(&self) -> String {
        self.get("/log")
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, killing it after 60 s; returns its outcome and peak RSS in
/// KiB, measured by the kernel for that child alone (wait4).
// Reaped by wait4 below: std's wait cannot return the child's rusage.
#[allow(clippy::zombie_processes)]
fn measured(cmd: &mut Command) -> (Outcome, u64) {
    measured_with(cmd, |_| {})
}

/// `measured`, telling `started` the child's pid first.
#[allow(clippy::zombie_processes)]
fn measured_with(cmd: &mut Command, started: impl FnOnce(i32)) -> (Outcome, u64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    started(pid);
    let watchdog = std::thread::spawn(move || {
        for _ in 0..600 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: signal 0 only probes.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return;
            }
        }
        // SAFETY: our own child, still unreaped (wait4 below has not returned).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let (mut out, mut err) = (String::new(), String::new());
    let (mut o, mut e) = (child.stdout.unwrap(), child.stderr.unwrap());
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = o.read_to_string(&mut s);
        s
    });
    use std::io::Read;
    let _ = e.read_to_string(&mut err);
    out.push_str(&reader.join().unwrap());
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    watchdog.join().unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    let outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out,
        stderr: err,
    };
    (outcome, usage.ru_maxrss as u64)
}

/// `install` from the hostile registry into a fresh store; asserts the
/// store holds no container and no staging directory afterwards.
fn install(reg: &Hostile, case: &str, env: &[(&str, &str)]) -> (Outcome, u64) {
    let store = TestStore::new();
    let image = format!("{}/{case}:latest", reg.addr);
    let mut cmd = store.cmd();
    cmd.args(["install", &image, "-n", "victim", "--allow-insecure"]);
    cmd.envs(env.iter().copied());
    let result = measured(&mut cmd);
    let containers = store.container_dir("victim");
    let parent = containers.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(parent)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "the store changed: {left:?} {:#?}",
        result.0
    );
    result
}

/// 256 MiB: a few times what an install of a small image needs; the
/// unbounded reads this guards against grew past 1.5 GiB in two seconds.
const RSS_BOUND_KIB: u64 = 256 * 1024;

#[test]
fn an_endless_config_stops_at_its_declared_size() {
    let reg = Hostile::start(&[]);
    let (out, rss) = install(&reg, "big-config", &[]);
    out.fails_with(
        1,
        "the registry sent more bytes of config where its manifest declares 200",
    );
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
}

#[test]
fn a_config_over_the_limit_is_refused_before_download() {
    let reg = Hostile::start(&[]);
    let (out, rss) = install(&reg, "huge-config", &[]);
    out.fails_with(
        1,
        "its config declares 1073741824 bytes, over the limit of 16777216 (CD_MAX_CONFIG_SIZE)",
    );
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
    // The limit is the user's to move.
    let (out, _) = install(&reg, "big-config", &[("CD_MAX_CONFIG_SIZE", "100")]);
    out.fails_with(1, "its config declares 200 bytes, over the limit of 100");
}

#[test]
fn thousands_of_platforms_make_one_short_line() {
    let reg = Hostile::start(&[]);
    let (out, _) = install(&reg, "many-platforms", &[]);
    out.fails_with(1, "it has: 5000 platforms, plan9/arch0, plan9/arch1");
    assert!(out.stderr.contains("and 4992 more"), "{out:#?}");
    assert!(out.stderr.lines().all(|l| l.len() < 400), "{out:#?}");
}

#[test]
fn an_artifact_is_named_as_such() {
    let reg = Hostile::start(&[]);
    let (out, _) = install(&reg, "artifact", &[]);
    out.fails_with(1, "it is an OCI artifact (config type application/vnd.cncf.helm.config.v1+json), not a container image");
}

#[test]
fn credentials_never_go_to_a_plain_http_realm_on_another_host() {
    let reg = Hostile::start(&["--realm"]);
    let (out, _) = install(&reg, "realm", &[("CD_DOCKER_AUTH", "user:secret-password")]);
    out.fails_with(1, "to be sent to http://127.0.0.2:");
    assert!(out.stderr.contains("refusing to send them"), "{out:#?}");
    assert_eq!(reg.realm_log(), "", "the realm received something");
    // The positive control: anonymous, the token flow goes on (and the
    // realm sees a request, with no credentials in it).
    let (out, _) = install(&reg, "realm", &[]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        reg.realm_log().lines().all(|l| l == "(none)"),
        "{}",
        reg.realm_log()
    );
    // Once: the token is reused for every request of the install.
    assert_eq!(reg.realm_log().lines().count(), 1, "{}", reg.realm_log());
}

#[test]
fn a_blob_that_does_not_hash_to_its_digest_is_named_so_and_not_retried() {
    let reg = Hostile::start(&[]);
    let (out, _) = install(&reg, "wrong-blob", &[]);
    out.fails_with(1, "the registry sent a blob whose digest does not match");
    assert!(!out.stderr.contains("cannot reach"), "{out:#?}");
    // Once: a network failure would have been retried (CD_DOWNLOAD_MAX_RETRIES).
    assert_eq!(reg.get(&format!("/gets/sha256:{}", "cd".repeat(32))), "1");
}

#[test]
fn a_manifest_of_a_thousand_layers_is_refused() {
    let reg = Hostile::start(&[]);
    let (out, rss) = install(&reg, "many-layers", &[]);
    out.fails_with(
        1,
        "it lists 1000 layers, more than the 128 any image builder makes",
    );
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
    // No layer was asked for.
    assert_eq!(reg.get(&format!("/gets/sha256:{:064x}", 0)), "0");
}

/// Every file under `dir` whose name starts with `.partial-`.
fn partial_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(partial_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with(".partial-") {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_trickling_server_fails_once_it_stalls() {
    let reg = Hostile::start(&[]);
    let env = [
        ("CD_DOWNLOAD_STALL_TIME", "2"),
        ("CD_DOWNLOAD_MAX_RETRIES", "0"),
    ];
    let (out, _) = install(&reg, "trickle", &env);
    out.fails_with(
        1,
        "the download stalled: under 1024 bytes/s for 2 s (CD_DOWNLOAD_MIN_RATE",
    );
    assert!(out.stderr.contains(&reg.addr), "names the server: {out:#?}");
}

/// Ctrl-C (SIGINT to the foreground process group) while a layer trickles
/// in: the install stops at once, exits 130, and leaves store and cache as
/// they were. (The watchdog of `measured` would end it after 60 s, with
/// another code.)
#[test]
fn ctrl_c_stops_a_download_in_flight() {
    use std::os::unix::process::CommandExt;
    let reg = Hostile::start(&[]);
    let store = TestStore::new();
    let image = format!("{}/trickle:latest", reg.addr);
    let layer = format!("/gets/sha256:{}", "be".repeat(32));
    let mut cmd = store.cmd();
    cmd.args(["install", &image, "-n", "victim", "--allow-insecure"])
        .process_group(0);
    let reg_addr = reg.addr.clone();
    let interrupter = std::thread::spawn(move || {
        let get = |path: &str| {
            let out = Command::new("curl")
                .args(["-sf", &format!("http://{reg_addr}{path}")])
                .output();
            String::from_utf8_lossy(&out.unwrap().stdout).into_owned()
        };
        for _ in 0..200 {
            if get(&layer) != "0" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    let child_pid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let (out, _) = {
        // Start, then interrupt the whole group once the layer is in flight.
        let pid = child_pid.clone();
        let signaller = std::thread::spawn(move || {
            interrupter.join().unwrap();
            let pid = pid.load(std::sync::atomic::Ordering::SeqCst);
            // SAFETY: a process group of our own child.
            unsafe { libc::kill(-pid, libc::SIGINT) };
        });
        let result = measured_with(&mut cmd, |pid| {
            child_pid.store(pid, std::sync::atomic::Ordering::SeqCst)
        });
        signaller.join().unwrap();
        result
    };
    assert_eq!(out.code, 130, "{out:#?}");
    assert!(
        out.stderr.contains("interrupted; nothing was changed"),
        "{out:#?}"
    );
    assert!(!store.container_dir("victim").exists(), "{out:#?}");
    let parent = store
        .container_dir("victim")
        .parent()
        .unwrap()
        .to_path_buf();
    let left: Vec<_> = std::fs::read_dir(parent)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the store changed: {left:?}");
    assert_eq!(
        partial_files(store.root()),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn an_endless_manifest_stops_at_the_limit() {
    let reg = Hostile::start(&[]);
    let (out, rss) = install(&reg, "endless-manifest", &[]);
    out.fails_with(1, "it is larger than 4194304 bytes (CD_MAX_MANIFEST_SIZE)");
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
    let (out, _) = install(&reg, "many-platforms", &[("CD_MAX_MANIFEST_SIZE", "64K")]);
    out.fails_with(1, "it is larger than 65536 bytes (CD_MAX_MANIFEST_SIZE)");
}

#[test]
fn an_endless_error_body_is_read_only_in_part() {
    let reg = Hostile::start(&[]);
    let (out, rss) = install(&reg, "error-blob", &[("CD_DOWNLOAD_MAX_RETRIES", "0")]);
    out.fails_with(1, "failed: HTTP 500");
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
}

/// Registries send blobs to their storage by redirect; credentials stay
/// behind when the redirect leads to another host.
#[test]
fn credentials_never_follow_a_redirect_to_another_host() {
    let reg = Hostile::start(&[]);
    let (out, _) = install(
        &reg,
        "redirect-blob",
        &[("CD_DOCKER_AUTH", "user:secret-password")],
    );
    assert_ne!(out.code, 0, "{out:#?}");
    let log = reg.realm_log();
    assert!(!log.is_empty(), "the redirect was never followed: {out:#?}");
    assert!(
        log.lines().all(|l| l == "(none)"),
        "the other host received: {log}"
    );
}

#[test]
fn a_schema1_manifest_is_named_as_such() {
    let reg = Hostile::start(&[]);
    let (out, _) = install(&reg, "schema1", &[]);
    out.fails_with(
        1,
        "it is a Docker schema 1 manifest, retired in 2019 and not supported",
    );
}
