//! The network of a real-root session through cd-mount-helper (DESIGN.md,
//! rule 10). Container root must not sit in the host's network namespace
//! (raw sockets would sniff every user's traffic, and services that trust
//! uid 0 by SO_PEERCRED would trust it), so this unprivileged process makes
//! a network namespace of the caller's own: a holder process in a new user
//! and network namespace, loopback up, with `pasta` (Debian's `passt`)
//! attached for outbound traffic and `-p` port forwards. The helper checks
//! that the namespace is the caller's and joins it.
//!
//! Why pasta over slirp4netns: it needs no tap setup of ours (it configures
//! the namespace's interface, addresses and routes from the host's itself),
//! forwards ports with one option each, copies data without a TCP/IP stack
//! of its own on the host side, and is what podman uses by default now.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long pasta may take to configure the namespace.
const PASTA_READY: Duration = Duration::from_secs(5);

/// `-p HOST:GUEST[/tcp|/udp]`: a host port forwarded into the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    pub host: u16,
    pub guest: u16,
    pub udp: bool,
}

impl std::str::FromStr for Publish {
    type Err = String;

    /// `8080:80`, `8080:80/udp`, or `80` for the same port on both sides.
    fn from_str(s: &str) -> Result<Self, String> {
        let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            _ => return Err(format!("{s:?}: the protocol is tcp or udp")),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
        let (host, guest) = ports.split_once(':').unwrap_or((ports, ports));
        match (port(host), port(guest)) {
            (Some(host), Some(guest)) => Ok(Self { host, guest, udp }),
            _ => Err(format!(
                "{s:?}: expected HOST:GUEST ports (1-65535), optionally /udp"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot make the session's network namespace: {0}")]
    Namespace(io::Error),
    #[error(
        "pasta could not set up the session's network{0}; try `pasta --config-net true` to see why"
    )]
    Pasta(String),
    #[error("-p needs pasta (Debian and Ubuntu: apt install passt), which is not installed")]
    NoPasta,
}

/// The session's network namespace, alive as long as this value.
pub struct SessionNet {
    holder: u32,
    pasta: Option<Child>,
    /// Whether the session can reach beyond its loopback.
    pub connected: bool,
}

impl SessionNet {
    /// The process whose namespace the helper joins (`--netns-pid`).
    pub fn pid(&self) -> u32 {
        self.holder
    }

    /// Makes the namespace and attaches pasta (found in `path_dirs`) with
    /// the forwards. Without pasta the session has loopback only, unless
    /// forwards were asked for.
    pub fn start(publish: &[Publish], path_dirs: &[PathBuf]) -> Result<Self, NetError> {
        let pasta = crate::hostinfo::executables::find(path_dirs, "pasta");
        if pasta.is_none() && !publish.is_empty() {
            return Err(NetError::NoPasta);
        }
        let holder = spawn_holder().map_err(NetError::Namespace)?;
        let mut net = Self {
            holder,
            pasta: None,
            connected: false,
        };
        if let Some(pasta) = pasta {
            net.pasta = Some(attach_pasta(&pasta, holder, publish)?);
            net.connected = true;
        }
        Ok(net)
    }

    /// A namespace with loopback only, whether or not pasta is installed
    /// ([`super::Network::None`]).
    pub fn loopback_only() -> Result<Self, NetError> {
        Ok(Self {
            holder: spawn_holder().map_err(NetError::Namespace)?,
            pasta: None,
            connected: false,
        })
    }
}

impl Drop for SessionNet {
    fn drop(&mut self) {
        if let Some(mut p) = self.pasta.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        // SAFETY: our own child, killed and reaped once.
        unsafe {
            libc::kill(self.holder as i32, libc::SIGKILL);
            libc::waitpid(self.holder as i32, std::ptr::null_mut(), 0);
        }
    }
}

/// Forks the holder: a new user namespace (the caller as its root) and
/// network namespace, loopback up; it pauses until killed or until we die.
/// Only async-signal-safe calls run in the child, on strings made before
/// the fork, so a threaded caller is fine.
fn spawn_holder() -> io::Result<u32> {
    // SAFETY: plain getters.
    let (uid, gid, parent) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
    let files = [
        (c"/proc/self/setgroups", CString::new("deny")?),
        (c"/proc/self/uid_map", CString::new(format!("0 {uid} 1"))?),
        (c"/proc/self/gid_map", CString::new(format!("0 {gid} 1"))?),
    ];
    let (ready_rx, ready_tx) = std::io::pipe()?;
    // SAFETY: the child runs only async-signal-safe calls and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(ready_rx);
        // SAFETY: async-signal-safe calls on valid buffers; never returns.
        unsafe {
            let ok = libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0
                && libc::getppid() == parent
                && libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0
                && files.iter().all(|(path, text)| write_file(path, text))
                && loopback_up();
            if ok {
                libc::write(ready_tx.as_raw_fd(), b"r".as_ptr().cast(), 1);
                // Nothing of the caller's stays open here (a reader of our
                // stdout would otherwise wait for the holder's end too).
                libc::syscall(libc::SYS_close_range, 0, u32::MAX, 0);
                loop {
                    libc::pause();
                }
            }
            libc::_exit(1);
        }
    }
    drop(ready_tx);
    let mut byte = [0u8; 1];
    match (&ready_rx).read(&mut byte) {
        Ok(1) => Ok(pid as u32),
        _ => {
            // SAFETY: our own child.
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Err(io::Error::other(
                "no user namespace for it (are unprivileged user namespaces turned off?)",
            ))
        }
    }
}

/// open/write/close, async-signal-safe.
unsafe fn write_file(path: &std::ffi::CStr, text: &CString) -> bool {
    // SAFETY: valid C strings; the fd is ours.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        let len = text.as_bytes().len();
        let ok = fd >= 0 && libc::write(fd, text.as_ptr().cast(), len) == len as isize;
        if fd >= 0 {
            libc::close(fd);
        }
        ok
    }
}

/// `ip link set lo up` in our network namespace, with one ioctl
/// (async-signal-safe, so a forked child may call it).
pub(crate) unsafe fn loopback_up() -> bool {
    // SAFETY: a zeroed ifreq is valid; the socket is ours.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return false;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let ok = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) == 0;
        libc::close(sock);
        ok
    }
}

/// Runs pasta in the foreground as our child (so it dies with us, where a
/// daemonized pasta would outlive a killed session) and waits until it has
/// given the namespace a default route.
fn attach_pasta(pasta: &Path, holder: u32, publish: &[Publish]) -> Result<Child, NetError> {
    let mut cmd = Command::new(pasta);
    cmd.args(["--config-net", "--foreground", "--quiet"]);
    for (udp, flag) in [(false, "-t"), (true, "-u")] {
        let specs: Vec<String> = publish
            .iter()
            .filter(|p| p.udp == udp)
            .map(|p| format!("{}:{}", p.host, p.guest))
            .collect();
        let spec = if specs.is_empty() {
            "none".to_owned()
        } else {
            specs.join(",")
        };
        cmd.args([flag, &spec]);
    }
    // Nothing from the namespace to the host's ports.
    cmd.args(["-T", "none", "-U", "none"])
        .arg(holder.to_string());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| NetError::Pasta(format!(" ({e})")))?;
    let deadline = Instant::now() + PASTA_READY;
    while !has_default_route(holder) {
        let gone = child.try_wait().ok().flatten();
        if gone.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut why = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut why);
            }
            let why = why
                .lines()
                .find(|l| !l.contains("syslog"))
                .unwrap_or("")
                .trim();
            let why = match (gone, why.is_empty()) {
                (_, false) => format!(": {why}"),
                (Some(status), true) => format!(" ({status})"),
                (None, true) => format!(" within {} s", PASTA_READY.as_secs()),
            };
            return Err(NetError::Pasta(why));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // From here pasta logs nothing we read: its pipe must not fill up.
    drop(child.stderr.take().map(OwnedFd::from));
    Ok(child)
}

/// Whether the namespace of `pid` has an IPv4 or IPv6 default route yet.
fn has_default_route(pid: u32) -> bool {
    let v4 = std::fs::read_to_string(format!("/proc/{pid}/net/route")).unwrap_or_default();
    let v6 = std::fs::read_to_string(format!("/proc/{pid}/net/ipv6_route")).unwrap_or_default();
    v4.lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
        || v6.lines().any(|l| {
            l.split_whitespace()
                .take(2)
                .eq(["00000000000000000000000000000000", "00"])
                && !l.contains(" lo")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let p = |s: &str| s.parse::<Publish>();
        assert_eq!(
            p("8080:80"),
            Ok(Publish {
                host: 8080,
                guest: 80,
                udp: false
            })
        );
        assert_eq!(
            p("53:5353/udp"),
            Ok(Publish {
                host: 53,
                guest: 5353,
                udp: true
            })
        );
        assert_eq!(
            p("80"),
            Ok(Publish {
                host: 80,
                guest: 80,
                udp: false
            })
        );
        for bad in ["", "0:80", "80:", "x:80", "70000:80", "80:80/sctp", "1:2:3"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
