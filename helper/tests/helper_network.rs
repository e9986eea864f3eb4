//! Rule 10, the network: real root in a helper session is never in the
//! host's network namespace unless the policy grants `host_network`, and
//! then without raw sockets or (unless `privileged_ports`) low ports. A
//! namespace the client hands over must be the caller's own.

mod support;
use std::process::{Child, Command};
use support::*;

fn prepare(policy: &str) -> bool {
    if !require_root("running the setcap'd helper as the rig user") {
        return false;
    }
    set_policy(policy);
    true
}

/// The host's network namespace, as `readlink /proc/self/ns/net` prints it.
fn host_netns() -> String {
    std::fs::read_link("/proc/self/ns/net").unwrap().display().to_string()
}

/// What a session prints of its network: its namespace, its interfaces,
/// whether an abstract socket of the host's answers, what AF_PACKET and a
/// bind to port 80 give.
const PROBE: &str = r#"
use Socket;
print readlink("/proc/self/ns/net"), "\n";
open(my $d, "<", "/proc/net/dev"); my @i = map { /^\s*([^:\s]+):/ ? $1 : () } <$d>;
print "ifaces @i\n";
socket(my $u, PF_UNIX, SOCK_STREAM, 0);
print "abstract ", (connect($u, pack_sockaddr_un("\0$ARGV[0]")) ? "reached" : "unreachable"), "\n";
print "packet ", (socket(my $p, 17, SOCK_RAW, 0) ? "opened" : "$!"), "\n";
socket(my $t, PF_INET, SOCK_STREAM, 0);
setsockopt($t, SOL_SOCKET, SO_REUSEADDR, 1);
print "port80 ", (bind($t, sockaddr_in(80, INADDR_ANY)) ? "bound" : "$!"), "\n";
"#;

/// A root listener on a fresh abstract socket of the host's network.
fn abstract_listener() -> (Child, String) {
    let name = format!("cd-rig-net-{}", std::process::id());
    let child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind('\\0'+sys.argv[1]); s.listen(); print('up', flush=True); time.sleep(60)",
            &name,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "up\n");
    (child, name)
}

fn probe(extra: &[&str], abstract_name: &str) -> Out {
    debian("helper-deb");
    session("helper-deb", extra, &["perl", "-e", PROBE, abstract_name])
}

#[test]
fn sessions_get_a_network_of_their_own() {
    if !prepare(REAL_ROOT) {
        return;
    }
    let (mut listener, name) = abstract_listener();
    // The positive control: the host's abstract socket answers on the host.
    let host = Command::new("/usr/bin/perl").args(["-e", PROBE, &name]).output().unwrap();
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(host.contains("abstract reached\n"), "{host}");
    for extra in [&[][..], &["--isolated"]] {
        let out = probe(extra, &name);
        let text = &out.ok().stdout;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("net:[") && lines[0] != host_netns(), "{extra:?} {out:#?}");
        assert_eq!(lines[1], "ifaces lo", "{extra:?}: only a loopback, down: {out:#?}");
        assert_eq!(lines[2], "abstract unreachable", "{extra:?} {out:#?}");
        // In a namespace of its own both are harmless, and container root keeps them.
        assert_eq!(lines[3..], ["packet opened", "port80 bound"], "{extra:?} {out:#?}");
    }
    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn the_host_network_needs_its_key_and_never_brings_raw_sockets() {
    if !prepare(REAL_ROOT) {
        return;
    }
    probe(&["--host-network"], "none").refused(7, "host_network");
    let (mut listener, name) = abstract_listener();
    for (ports, port80) in [("no", "port80 Permission denied"), ("yes", "port80 bound")] {
        set_policy(&format!("{REAL_ROOT}host_network = yes\nprivileged_ports = {ports}\n"));
        for extra in [&["--host-network"][..], &["--host-network", "--isolated"]] {
            let out = probe(extra, &name);
            let lines: Vec<&str> = out.ok().stdout.lines().collect();
            assert_eq!(lines[0], host_netns(), "{extra:?} {out:#?}");
            assert_eq!(lines[3], "packet Operation not permitted", "{extra:?} {out:#?}");
            // Someone else may hold port 80; what matters is the permission.
            assert!(
                lines[4] == port80
                    || (ports == "yes" && lines[4] == "port80 Address already in use"),
                "privileged_ports = {ports} {extra:?}: {out:#?}"
            );
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
    set_policy(REAL_ROOT);
}

/// A process that lives until dropped, started by `argv`.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hold(uid: &str, argv: &[&str]) -> Holder {
    let child = Command::new("/usr/bin/setpriv")
        .args(["--reuid", uid, "--regid", uid, "--clear-groups", "--"])
        .args(argv)
        .spawn()
        .unwrap();
    // Until the namespaces are made (unshare execs sleep after them).
    let pid = child.id();
    let host = host_netns();
    for _ in 0..500 {
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net"));
        if argv.len() < 3 || ns.is_ok_and(|n| n.display().to_string() != host) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Holder(child)
}

#[test]
fn a_network_namespace_handed_over_must_be_the_callers_own() {
    if !prepare(REAL_ROOT) {
        return;
    }
    debian("helper-deb");
    let uid = rig().get("CD_RIG_UID").to_owned();
    let show = ["readlink", "/proc/self/ns/net"];
    let pid_args = |pid: u32| vec!["--netns-pid".to_owned(), pid.to_string()];
    let with = |pid: u32| {
        let extra = pid_args(pid);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        session("helper-deb", &extra, &show)
    };
    // The positive control: the caller's own user+network namespace.
    let own = hold(&uid, &["/usr/bin/unshare", "-Urn", "sleep", "60"]);
    let want = std::fs::read_link(format!("/proc/{}/ns/net", own.0.id())).unwrap();
    assert_eq!(with(own.0.id()).ok().stdout.trim(), want.display().to_string());
    // The caller's own process in the host's namespace.
    let plain = hold(&uid, &["sleep", "60"]);
    with(plain.0.id()).refused(10, "host's network");
    // Root's process, and another user's own namespace.
    with(1).refused(10, "--netns-pid 1");
    let other = hold("1999", &["/usr/bin/unshare", "-Urn", "sleep", "60"]);
    with(other.0.id()).refused(10, "--netns-pid");
    // A namespace root made for the caller's process is not the caller's.
    let rooted = Command::new("/usr/bin/unshare")
        .args(["-n", "--", "setpriv", "--reuid", &uid, "--regid", &uid, "--clear-groups"])
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let rooted = Holder(rooted);
    std::thread::sleep(std::time::Duration::from_millis(200));
    with(rooted.0.id()).refused(10, "not a network namespace of the caller's own");
}
