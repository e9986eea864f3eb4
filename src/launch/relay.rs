//! The caller's fds 0-2 as a real-root session may receive them (DESIGN.md,
//! cd-mount-helper rule 10). Container root can reopen or walk any fd it
//! inherits through /proc/self/fd/N: `login -- cat /proc/self/fd/0/etc/shadow
//! < /` would read the host's shadow (the runc CVE-2024-21626 class). So the
//! helper is handed only anonymous pipes, sockets and a fresh pty slave, and
//! this unprivileged process relays everything else with threads.
//!
//! Use: `prepare`, `configure` the command, spawn it, `start`, wait for the
//! child, `finish`.

use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::termios::{self, OptionalActions, Termios};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pumps stream through a fixed buffer of this size.
const CHUNK: usize = 64 * 1024;
/// How often the caller's window size is compared with the pty's. Polling
/// instead of a SIGWINCH handler: a handler is process-wide state (and a
/// blocked mask for sigwait/signalfd would be inherited by the helper and so
/// by the container, where full-screen programs need SIGWINCH); a check every
/// 200 ms changes nothing outside this module and costs one ioctl.
const SIZE_POLL: Duration = Duration::from_millis(200);

/// Whether `fd` may be handed to a real-root session as it is: the session
/// contract's answer, which cd-mount-helper checks again.
pub use session_contract::stdio::passable;

/// What a real-root session may be handed on fds 0-2, and the relays for
/// the rest.
#[derive(Default)]
pub struct Relay {
    /// The child's fds 0-2 where they are not the caller's as they are.
    /// Ours until `start`: the Command keeps no copy (its Stdio would
    /// outlive the spawn and hold the pipes open, so no pump saw EOF).
    child_ends: [Option<OwnedFd>; 3],
    /// The pty slave, named in the child's TIOCSCTTY; closed in `start`
    /// so the master reads EIO once the session's last copy is gone.
    slave: Option<OwnedFd>,
    /// Pumps to run from `start`.
    pumps: Vec<Pump>,
    /// fd 0's terminal, to be put in raw mode in `start`.
    raw_pending: Option<OwnedFd>,
    /// The caller's output terminal and the pty master: sizes to follow.
    sizes: Option<(OwnedFd, OwnedFd)>,
    /// Write end of the stop pipe: closing it ends the input pumps' polls
    /// and the size watcher.
    stop: Option<OwnedFd>,
    outputs: Vec<JoinHandle<()>>,
    inputs: Vec<JoinHandle<()>>,
    watcher: Option<JoinHandle<()>>,
    /// Restores fd 0's terminal when dropped (`finish`, errors, Drop).
    raw: Option<RawMode>,
}

/// One copy loop: `from` into `to` (None: discard).
struct Pump {
    from: OwnedFd,
    to: Option<OwnedFd>,
    /// Reads the caller's input: stops when told, and is never joined.
    input: bool,
}

/// What one of fds 0-2 is, for the session.
enum Kind {
    /// An anonymous pipe or a socket: passed as it is.
    Pass,
    /// A terminal (a copy of the fd): replaced by the pty slave.
    Terminal(OwnedFd),
    /// Anything else: replaced by a pipe. `Some` is a copy of the original
    /// to pump from or to; `None` (closed or O_PATH) behaves as /dev/null.
    Relayed(Option<OwnedFd>),
}

impl Relay {
    /// Inspects this process's fds 0, 1, 2. Pipes and sockets pass as they
    /// are; terminals share one fresh pty, whose slave the session gets (a
    /// pty of its own: container root holding the caller's terminal could
    /// push input into the caller's shell with TIOCSTI); everything else is
    /// replaced by a pipe that a thread serves.
    pub fn prepare() -> io::Result<Relay> {
        let kinds = [classify(0)?, classify(1)?, classify(2)?];
        // `> log 2>&1`: one pipe for both keeps the order of the writes.
        let shared_output = match (&kinds[1], &kinds[2]) {
            (Kind::Relayed(Some(a)), Kind::Relayed(Some(b))) => same_file(a, b),
            _ => false,
        };
        let mut relay = Relay::default();
        let mut terminals = Vec::new();
        for (n, kind) in kinds.into_iter().enumerate() {
            match kind {
                Kind::Pass => {}
                Kind::Terminal(fd) => terminals.push((n, fd)),
                Kind::Relayed(_) if n == 2 && shared_output => {
                    relay.child_ends[2] = relay.child_ends[1].as_ref().map(dup).transpose()?;
                }
                Kind::Relayed(original) => relay.relay(n, original)?,
            }
        }
        if !terminals.is_empty() {
            relay.attach_pty(terminals)?;
        }
        Ok(relay)
    }

    /// A pipe in place of fd `n`, pumped from or to `original`.
    fn relay(&mut self, n: usize, original: Option<OwnedFd>) -> io::Result<()> {
        let (read, write) = std::io::pipe()?;
        let (read, write) = (high(read.into())?, high(write.into())?);
        if n == 0 {
            self.child_ends[0] = Some(read);
            // Without an original the write end closes here: the session reads EOF.
            if let Some(from) = original {
                let to = Some(write);
                self.pumps.push(Pump {
                    from,
                    to,
                    input: true,
                });
            }
        } else {
            self.child_ends[n] = Some(write);
            self.pumps.push(Pump {
                from: read,
                to: original,
                input: false,
            });
        }
        Ok(())
    }

    /// One pty for all the terminal fds among 0-2, with the caller's
    /// settings and size; its master is pumped to and from the caller's
    /// terminals (output to the first of fds 1, 2, 0 that is one).
    fn attach_pty(&mut self, mut terminals: Vec<(usize, OwnedFd)>) -> io::Result<()> {
        terminals.sort_by_key(|&(n, _)| [2, 0, 1][n]);
        let Some(outer) = terminals.first().map(|(_, fd)| dup(fd)).transpose()? else {
            return Ok(());
        };
        let (master, slave) = open_pty(outer.as_fd())?;
        for (n, fd) in terminals {
            self.child_ends[n] = Some(dup(&slave)?);
            if n == 0 {
                self.raw_pending = Some(dup(&fd)?);
                let to = Some(dup(&master)?);
                self.pumps.push(Pump {
                    from: fd,
                    to,
                    input: true,
                });
            }
        }
        self.sizes = Some((dup(&outer)?, dup(&master)?));
        self.pumps.push(Pump {
            from: master,
            to: Some(outer),
            input: false,
        });
        self.slave = Some(slave);
        Ok(())
    }

    /// Sets cmd's stdin/stdout/stderr to what the child gets and, with a
    /// pty, makes it the controlling terminal of a new session, so a Ctrl-C
    /// typed by the user reaches the container's foreground job through
    /// the pty's line discipline.
    pub fn configure(&mut self, cmd: &mut Command) {
        cmd.stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        let ends: [Option<RawFd>; 3] =
            [0, 1, 2].map(|n| self.child_ends[n].as_ref().map(AsRawFd::as_raw_fd));
        let ctty = self.slave.as_ref().map(AsRawFd::as_raw_fd);
        if ends.iter().all(Option::is_none) && ctty.is_none() {
            return;
        }
        // SAFETY: only dup2, setsid and ioctl (async-signal-safe) run
        // between fork and exec. The fds named stay open until `start`,
        // which runs after the spawn; they are all >= 3 and close-on-exec,
        // so no dup2 overwrites another's source and none leaks.
        unsafe {
            cmd.pre_exec(move || {
                for (n, end) in (0..).zip(ends) {
                    if let Some(fd) = end {
                        if libc::dup2(fd, n) < 0 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                }
                if let Some(fd) = ctty {
                    rustix::process::setsid()?;
                    rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(fd))?;
                }
                Ok(())
            });
        }
    }

    /// After a successful spawn: drops our copies of the child's ends,
    /// puts fd 0's terminal in raw mode (its keys belong to the pty now)
    /// and starts the pumps. On an error the caller should end the child;
    /// dropping the Relay restores the terminal.
    pub fn start(&mut self) -> io::Result<()> {
        self.child_ends = Default::default();
        self.slave = None;
        // Best effort: the session is running; a terminal that refuses raw
        // mode (hung up, say) still gets its output relayed.
        self.raw = self
            .raw_pending
            .take()
            .and_then(|tty| RawMode::enter(tty).ok());
        let (stop_rx, stop_tx) = std::io::pipe()?;
        let stop_rx: OwnedFd = high(stop_rx.into())?;
        self.stop = Some(high(stop_tx.into())?);
        for Pump { from, to, input } in std::mem::take(&mut self.pumps) {
            let stop = input.then(|| dup(&stop_rx)).transpose()?;
            let handle = spawn(move || pump(from, to, stop))?;
            if input {
                self.inputs.push(handle);
            } else {
                self.outputs.push(handle);
            }
        }
        if let Some((outer, master)) = self.sizes.take() {
            self.watcher = Some(spawn(move || follow_size(outer, master, stop_rx))?);
        }
        Ok(())
    }

    /// After the child exited: waits for the output pumps to drain (every
    /// writer is gone, so they reach EOF), stops the input pumps without
    /// waiting for them (one may sit in a read of fd 0 that only the next
    /// keystroke ends; the process exits soon anyway), restores the terminal.
    pub fn finish(mut self) {
        for handle in self.outputs.drain(..) {
            let _ = handle.join();
        }
        self.stop = None;
        if let Some(handle) = self.watcher.take() {
            let _ = handle.join();
        }
        self.inputs.clear();
        self.raw = None;
    }
}

/// fd 0's terminal in raw mode while alive: every key, Ctrl-C included,
/// goes to the pty, whose own line discipline interprets it.
struct RawMode {
    tty: OwnedFd,
    saved: Termios,
}

impl RawMode {
    fn enter(tty: OwnedFd) -> io::Result<Self> {
        let saved = termios::tcgetattr(&tty)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&tty, OptionalActions::Now, &raw)?;
        Ok(Self { tty, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.tty, OptionalActions::Now, &self.saved);
    }
}

/// Sorts fd `n` of this process.
fn classify(n: RawFd) -> io::Result<Kind> {
    // SAFETY: F_GETFL reads the flags of whatever fd n is, or fails.
    if unsafe { libc::fcntl(n, libc::F_GETFL) } < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EBADF) => Ok(Kind::Relayed(None)),
            _ => Err(e),
        };
    }
    // SAFETY: fd n is open (above) and nothing closes it while this
    // single-threaded stretch of the applet runs.
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    if rustix::fs::fcntl_getfl(fd)?.contains(OFlags::PATH) {
        Ok(Kind::Relayed(None))
    } else if passable(fd) {
        Ok(Kind::Pass)
    } else if termios::isatty(fd) {
        Ok(Kind::Terminal(dup(fd)?))
    } else {
        Ok(Kind::Relayed(Some(dup(fd)?)))
    }
}

/// A fresh pty like `like`: the master and its slave, opened O_RDWR |
/// O_NOCTTY (the helper checks the mode; our own session keeps its terminal).
fn open_pty(like: BorrowedFd) -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::{self, OpenptFlags};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = high(pty::openpt(flags)?)?;
    pty::grantpt(&master)?;
    pty::unlockpt(&master)?;
    // TIOCGPTPEER (Linux 4.13) opens the slave without a path lookup;
    // older kernels (Android 4.x) go through its name.
    let slave = match pty::ioctl_tiocgptpeer(&master, flags) {
        Ok(slave) => slave,
        Err(_) => {
            let name = pty::ptsname(&master, Vec::new())?;
            let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
            rustix::fs::open(name.as_c_str(), flags, rustix::fs::Mode::empty())?
        }
    };
    // Best effort: the pty's defaults are a usable terminal too.
    if let Ok(settings) = termios::tcgetattr(like) {
        let _ = termios::tcsetattr(&slave, OptionalActions::Now, &settings);
    }
    if let Ok(size) = termios::tcgetwinsize(like) {
        let _ = termios::tcsetwinsize(&master, size);
    }
    Ok((master, high(slave)?))
}

/// Copies `from` to `to` (None: discards) until EOF, an error (EIO is the
/// pty master's EOF; EPIPE a reader gone), or, with `stop`, that pipe
/// closing. Dropping `to` passes the EOF on; dropping `from` turns a
/// failed destination into EPIPE for the session's writer.
fn pump(from: OwnedFd, to: Option<OwnedFd>, stop: Option<OwnedFd>) {
    block_sigpipe();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if let Some(stop) = &stop {
            if !readable(from.as_fd(), stop.as_fd()) {
                return;
            }
        }
        let n = match rustix::io::read(&from, &mut buf[..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                wait(from.as_fd(), libc::POLLIN);
                continue;
            }
            Err(_) => return,
        };
        if let Some(to) = &to {
            if write_all(to.as_fd(), &buf[..n]).is_err() {
                return;
            }
        }
    }
}

fn write_all(to: BorrowedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(to, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            // The caller's file description may be non-blocking.
            Err(Errno::AGAIN) => wait(to, libc::POLLOUT),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Keeps the pty's window size equal to the caller's terminal's until the
/// stop pipe closes; the kernel sends SIGWINCH to the session on a change.
fn follow_size(outer: OwnedFd, master: OwnedFd, stop: OwnedFd) {
    let mut last = None;
    loop {
        let now = termios::tcgetwinsize(&outer).ok();
        if now != last {
            if let Some(size) = now {
                let _ = termios::tcsetwinsize(&master, size);
            }
            last = now;
        }
        if poll(
            &mut [pollfd(stop.as_fd(), libc::POLLIN)],
            SIZE_POLL.as_millis() as i32,
        ) != 0
        {
            return;
        }
    }
}

/// Waits until `fd` is readable or `stop` closed; false when stopped.
fn readable(fd: BorrowedFd, stop: BorrowedFd) -> bool {
    let mut fds = [pollfd(fd, libc::POLLIN), pollfd(stop, libc::POLLIN)];
    poll(&mut fds, -1);
    fds[1].revents == 0
}

fn wait(fd: BorrowedFd, events: libc::c_short) {
    poll(&mut [pollfd(fd, events)], -1);
}

fn pollfd(fd: BorrowedFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// poll(2) retried on EINTR; how many fds are ready (0 on error or timeout:
/// the caller's next read or write reports what is wrong).
fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> usize {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return n.max(0) as usize;
        }
    }
}

/// A write to a pipe whose reader is gone raises SIGPIPE, which kills the
/// applet unless ignored; blocked in this thread, the write fails with
/// EPIPE instead, and the process-wide disposition stays as it was.
fn block_sigpipe() {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset, and the
    // mask change affects only the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn spawn(work: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("session-relay".into())
        .spawn(work)
}

/// A close-on-exec copy at 3 or above: never one of the stdio numbers the
/// child's pre_exec hook writes to.
fn dup(fd: impl AsFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 3)?)
}

/// `fd` moved to 3 or above (new fds take a closed 0-2's number).
fn high(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        Ok(fd)
    } else {
        dup(fd)
    }
}

/// Same file (device and inode) behind both fds.
fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
