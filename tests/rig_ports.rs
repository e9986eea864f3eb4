//! The rig does not need 127.0.0.1:5443 (issue 14): with the default port
//! held by another program, its port picking chooses another one, records
//! it for reruns, starts a registry there, and a pull through it works.
//! Run in a rig dir of its own (its own ports file and registry), borrowing
//! the real rig's server certificate, so the shared registries are left
//! alone.

mod common;

use common::{require_root, rig, TestStore};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SETUP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rig/setup");

/// A rig dir of its own whose registry is stopped when dropped.
struct SecondRig {
    dir: tempfile::TempDir,
}

impl SecondRig {
    fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("cd-rig-ports.")
                .tempdir()
                .unwrap(),
        }
    }

    /// Runs `script` in bash with setup's functions loaded for this dir.
    fn bash(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let real = Path::new(rig().get("CD_RIG_DIR")).join("ca");
        let prelude = format!(
            ". {SETUP}; CA_CRT={ca}; SRV_CRT={crt}; SRV_KEY={key}; set -e; ",
            ca = real.join("ca.crt").display(),
            crt = real.join("server.crt").display(),
            key = real.join("server.key").display(),
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(prelude + script)
            .env("CD_RIG_DIR", self.dir.path())
            .env_remove("CD_RIG_PORT");
        cmd.envs(env.iter().copied()).output().unwrap()
    }

    fn ports_file(&self) -> PathBuf {
        self.dir.path().join("ports")
    }
}

impl Drop for SecondRig {
    fn drop(&mut self) {
        let _ = self.bash("reg_stop open", &[]);
    }
}

/// 127.0.0.1:5443 held (by us unless something, the real rig, already
/// does), for one test at a time: a listener one test drops must not free
/// the port under the other.
fn occupy_default_port() -> (std::sync::MutexGuard<'static, ()>, Option<TcpListener>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let held = TcpListener::bind("127.0.0.1:5443").ok();
    assert!(TcpListener::bind("127.0.0.1:5443").is_err());
    (turn, held)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn the_rig_comes_up_on_another_port_when_the_default_is_taken() {
    if !require_root("starting a registry and reading the rig's server key") {
        return;
    }
    let busybox_layout = rig().get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT").to_owned();
    let _held = occupy_default_port();
    let second = SecondRig::new();
    let out = second.bash(
        "rig_lock; rig_pick_ports; openssl rand -hex 32 >\"$CD_RIG_DIR/http-secret\"; \
         RESTART_REGISTRIES=false; ensure_registry open; echo \"PORT=$CD_RIG_PORT\"",
        &[],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("127.0.0.1:5443 is in use by another program: CD_RIG_PORT="),
        "{log}"
    );
    let port = log
        .lines()
        .find_map(|l| l.strip_prefix("PORT="))
        .expect("the port setup chose")
        .to_owned();
    assert_ne!(port, "5443");
    let recorded = std::fs::read_to_string(second.ports_file()).unwrap();
    assert!(
        recorded.contains(&format!("CD_RIG_PORT={port}\n")),
        "{recorded}"
    );

    // A rerun keeps the recorded port: its own registry holds it now.
    let again = second.bash("rig_lock; rig_pick_ports; echo \"PORT=$CD_RIG_PORT\"", &[]);
    assert!(
        text(&again).contains(&format!("PORT={port}\n")),
        "{}",
        text(&again)
    );

    // A pull through it works.
    let image = format!("127.0.0.1:{port}/cd/busybox:latest");
    let push = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{busybox_layout}:latest"))
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", text(&push));
    let store = TestStore::new();
    store.run(&["install", &image, "-n", "moved"]).ok();
    assert!(store
        .container_dir("moved")
        .join("rootfs/etc/motd")
        .is_file());
}

#[test]
fn a_port_the_caller_chose_that_is_taken_names_the_variable_to_set() {
    if !require_root("the rig's functions run as root") {
        return;
    }
    let _held = occupy_default_port();
    let second = SecondRig::new();
    let out = second.bash("rig_lock; rig_pick_ports", &[("CD_RIG_PORT", "5443")]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("127.0.0.1:5443 (CD_RIG_PORT) is in use by another program: set CD_RIG_PORT to a free port"),
        "{log}"
    );
    assert!(!second.ports_file().exists());
}
