//! A private registry for tests that stop, slow or corrupt it: Debian's
//! docker-registry with the rig's TLS certificate on a free port.

use super::{rig, Outcome};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry of our own (Debian's docker-registry, the rig's TLS cert) on
/// a free port, holding the busybox fixture; killed on drop.
pub struct PrivateRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub addr: String,
    /// Runs as the rig's unprivileged user, so a chmod can make its storage fail.
    unprivileged: bool,
}

impl PrivateRegistry {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    pub fn start_with(unprivileged: bool) -> Self {
        Self::start_full(unprivileged, true)
    }

    /// `tls: false` serves plain http (for --allow-insecure).
    pub fn start_full(unprivileged: bool, tls: bool) -> Self {
        let rig = rig();
        let dir = tempfile::Builder::new()
            .tempdir_in(rig.get("CD_RIG_TMP"))
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ca_dir = Path::new(rig.get("CD_RIG_DIR")).join("ca");
        for f in ["server.crt", "server.key"] {
            std::fs::copy(ca_dir.join(f), dir.path().join(f)).unwrap();
        }
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display(),
        );
        if tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        if unprivileged {
            let uid: u32 = rig.get("CD_RIG_UID").parse().unwrap();
            for f in ["", "server.crt", "server.key", "config.yml"] {
                std::os::unix::fs::chown(dir.path().join(f), Some(uid), None).unwrap();
            }
        }
        let mut reg = Self {
            child: None,
            dir,
            addr: format!("127.0.0.1:{port}"),
            unprivileged,
        };
        reg.spawn();
        let src = format!(
            "oci:{}:latest",
            rig.get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT")
        );
        let dst = format!("docker://{}/cd/busybox:latest", reg.addr);
        let tls_verify = format!("--dest-tls-verify={tls}");
        Outcome::of(Command::new("skopeo").args(["copy", "--quiet", &tls_verify, &src, &dst])).ok();
        reg
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        let rig = rig();
        let mut cmd = if self.unprivileged {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                rig.get("CD_RIG_UID"),
                "--regid",
                rig.get("CD_RIG_GID"),
                "--init-groups",
                "docker-registry",
            ]);
            c
        } else {
            Command::new("docker-registry")
        };
        let child = cmd
            .args([
                "serve",
                self.dir.path().join("config.yml").to_str().unwrap(),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "private registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pushes an image with one uncompressed layer holding `mib` MiB of
/// incompressible data: big enough that killing the registry interrupts
/// the transfer (loopback socket buffers hold a few MiB).
pub fn push_big_image(addr: &str, mib: usize) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut b = tar::Builder::new(Vec::new());
    for d in ["bin", "etc", "usr"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append_data(&mut h, d, &b""[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    b.append_data(&mut h, "usr/big", &data[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let size = layer.len() as u64;
    super::oci::write(
        dir.path(),
        &super::oci::layout(&[layer], serde_json::json!({"Cmd": ["/bin/sh"]})),
    );
    let image = format!("{addr}/cd/big:latest");
    push_layout(dir.path(), &image);
    (image, size)
}

/// Pushes the OCI layout in `dir` (tag `latest`) to `image` with skopeo.
pub fn push_layout(dir: &Path, image: &str) {
    Outcome::of(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}:latest", dir.display()),
        &format!("docker://{image}"),
    ]))
    .ok();
}
