//! A registry that redirects blob downloads to another host (as registries
//! backed by object storage or a CDN do): the download follows the
//! redirect, and the registry credentials never reach the other host.

mod common;

use common::{require_root, rig, Outcome, TestStore};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Serves `root` over TLS on localhost, one log line per request:
/// `METHOD PATH auth=yes|no`.
const BLOB_SERVER: &str = r#"
import http.server, ssl, sys
root, port, cert, key, log = sys.argv[1:6]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def record(self):
        with open(log, "a") as f:
            auth = "yes" if self.headers.get("Authorization") else "no"
            f.write(f"{self.command} {self.path} auth={auth}\n")
    def do_GET(self):
        self.record(); super().do_GET()
    def do_HEAD(self):
        self.record(); super().do_HEAD()
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cross_host_blob_redirects_are_followed_without_the_credentials() {
    if !require_root("starting registries on the rig's certificates") {
        return;
    }
    let rig = rig();
    let dir = tempfile::tempdir_in(rig.get("CD_RIG_TMP")).unwrap();
    let ca = Path::new(rig.get("CD_RIG_DIR")).join("ca");
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let (reg_port, blob_port) = (free_port(), free_port());
    let htpasswd = Path::new(rig.get("CD_RIG_DIR")).join("registry-auth/htpasswd");
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://localhost:{blob_port}/\n\
         auth:\n  htpasswd:\n    realm: cd-redirect\n    path: {}\n\
         http:\n  addr: 127.0.0.1:{reg_port}\n  tls:\n    certificate: {}\n    key: {}\n",
        storage.display(),
        htpasswd.display(),
        ca.join("server.crt").display(),
        ca.join("server.key").display(),
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let requests = dir.path().join("requests.log");
    let mut children = Killed(Vec::new());
    children.0.push(
        Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry"),
    );
    children.0.push(
        Command::new("python3")
            .args(["-c", BLOB_SERVER])
            .arg(&storage)
            .arg(blob_port.to_string())
            .arg(ca.join("server.crt"))
            .arg(ca.join("server.key"))
            .arg(&requests)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    wait_for(&format!("127.0.0.1:{reg_port}"));
    wait_for(&format!("127.0.0.1:{blob_port}"));
    let creds = format!(
        "{}:{}",
        rig.get("CD_RIG_AUTH_USER"),
        rig.get("CD_RIG_AUTH_PASSWORD")
    );
    let image = format!("127.0.0.1:{reg_port}/cd/busybox:latest");
    Outcome::of(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-creds",
        &creds,
        &format!(
            "oci:{}:latest",
            rig.get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT")
        ),
        &format!("docker://{image}"),
    ]))
    .ok();
    let _ = std::fs::remove_file(&requests);
    let store = TestStore::new();
    Outcome::of(
        store
            .cmd()
            .env("CD_DOCKER_AUTH", &creds)
            .args(["install", &image, "-n", "bb", "-q"]),
    )
    .ok();
    assert!(store
        .container_dir("bb")
        .join("rootfs/bin/busybox")
        .exists());
    let seen = std::fs::read_to_string(&requests).unwrap_or_default();
    let blobs: Vec<&str> = seen.lines().filter(|l| l.contains("/blobs/")).collect();
    assert!(
        !blobs.is_empty(),
        "no blob went through the redirect: {seen}"
    );
    assert!(
        blobs.iter().all(|l| l.ends_with("auth=no")),
        "credentials sent to the other host: {seen}"
    );
}
