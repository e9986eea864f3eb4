//! The parent side of an unpacker: start the child, map its user namespace,
//! relay its events, and report its outcome.

use super::job::{Event, Feed, Job, Op};
use super::stats::Stats;
use crate::fsops::du::Usage;
use crate::sandbox::Privilege;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;

/// Name of the hidden applet the child runs as.
pub const CHILD_APPLET: &str = "__unpack";

/// Our PID, for the child to check once it asked to die with us.
pub(super) const PARENT_ENV: &str = "CD_UNPACK_PARENT";

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start the unpacker: {0}")]
    Start(std::io::Error),
    #[error("{0}")]
    Failed(String),
    #[error("user namespace setup failed: {0}")]
    IdMap(String),
    #[error("the unpacker was killed by signal {0}{note}", note = abort_note(*.0))]
    Killed(i32),
    #[error("the unpacker exited without a result (status {0})")]
    NoResult(i32),
}

fn abort_note(signal: i32) -> &'static str {
    if signal == libc::SIGABRT {
        " (it hit its memory limit: a hostile or broken archive?)"
    } else {
        ""
    }
}

/// Runs `job` in a fresh unpacker. `fds` are handed down as fds 3, 4, ...
/// (the job refers to them by those numbers).
pub fn run(
    exe: &Path,
    job: &Job,
    privilege: &Privilege,
    fds: Vec<OwnedFd>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Stats, SpawnError> {
    Running::start(exe, job, privilege, fds, None)?.finish_extract(on_event)
}

/// Disk usage of a tree as the store's user namespace sees it (a rootless
/// rootfs has directories only subordinate ids may read).
pub fn usage_in_userns(
    exe: &Path,
    privilege: &Privilege,
    path: &Path,
) -> Result<Usage, SpawnError> {
    let job = Job {
        op: Op::Usage {
            path: path.to_path_buf(),
        },
        userns: privilege.is_userns(),
        root: false,
        rw: vec![],
        ro: vec![path.to_path_buf()],
        force_walk: false,
    };
    match Running::start(exe, &job, privilege, Vec::new(), None)?.finish(&mut |_| {})? {
        Event::Usage { usage } => Ok(usage),
        _ => Err(SpawnError::Failed(
            "unexpected reply from the unpacker".into(),
        )),
    }
}

/// Starts a job whose input is complete (`fds` handed down as 3, 4, ...).
pub fn start(
    exe: &Path,
    job: &Job,
    privilege: &Privilege,
    fds: Vec<OwnedFd>,
) -> Result<Running, SpawnError> {
    Running::start(exe, job, privilege, fds, None)
}

/// Starts an extract job whose layers arrive through `feed` (in order,
/// then `Feed::End`), each extracted as soon as it is handed over. The
/// child is running (and, rootless, mapped) when this returns, so its
/// start-up overlaps whatever the caller does before it feeds anything.
pub fn start_fed(
    exe: &Path,
    job: &Job,
    privilege: &Privilege,
    feed: Receiver<Feed>,
) -> Result<Running, SpawnError> {
    Running::start(exe, job, privilege, Vec::new(), Some(feed))
}

/// The child's stdin is a socket, not a pipe, so writes can use
/// MSG_NOSIGNAL: a child that died early gives EPIPE, never a SIGPIPE that
/// would kill the applet.
struct ToChild(UnixStream);

impl Write for ToChild {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(rustix::net::send(
            &self.0,
            buf,
            rustix::net::SendFlags::NOSIGNAL,
        )?)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn send_line(to: &mut ToChild, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_string(value).map_err(std::io::Error::other)?;
    text.push('\n');
    to.write_all(text.as_bytes())
}

/// Hands the feed to a thread that writes it to the child. Detached: if the
/// child dies, the writes fail and the thread ends by itself. Without a
/// feed, the socket just closes.
fn start_feeder(mut to: ToChild, feed: Option<Receiver<Feed>>) {
    let Some(rx) = feed else {
        return;
    };
    std::thread::spawn(move || {
        for item in rx {
            let last = matches!(item, Feed::End | Feed::Abort { .. });
            if send_line(&mut to, &item).is_err() || last {
                return;
            }
        }
        let _ = send_line(
            &mut to,
            &Feed::Abort {
                reason: "the layer downloads stopped".into(),
            },
        );
    });
}

/// An unpacker at work. Dropped unfinished, it is killed and reaped, so
/// nothing writes into a staging tree that is being removed.
pub struct Running {
    child: Option<std::process::Child>,
    lines: BufReader<std::process::ChildStdout>,
}

impl Running {
    fn start(
        exe: &Path,
        job: &Job,
        privilege: &Privilege,
        fds: Vec<OwnedFd>,
        feed: Option<Receiver<Feed>>,
    ) -> Result<Self, SpawnError> {
        let (ours, theirs) = UnixStream::pair().map_err(SpawnError::Start)?;
        let mut cmd = Command::new(exe);
        cmd.arg(CHILD_APPLET)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        // SAFETY: only dup2 (async-signal-safe) runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in raw.iter().enumerate() {
                    let target = 3 + i as i32;
                    if libc::dup2(*fd, target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(SpawnError::Start)?;
        drop(fds);
        // Our copy of the child's end must go, or its reads never see EOF.
        drop(cmd);
        let stdout = child.stdout.take();
        let mut running = Self {
            lines: BufReader::new(stdout.ok_or_else(|| SpawnError::Failed("no stdout".into()))?),
            child: Some(child),
        };
        let mut stdin = ToChild(ours);
        send_line(&mut stdin, job).map_err(SpawnError::Start)?;
        if job.userns {
            running.map_user_namespace(privilege, &mut stdin)?;
        }
        start_feeder(stdin, feed);
        Ok(running)
    }

    /// Waits for the child's `Unshared`, writes its id maps, and lets it go on.
    fn map_user_namespace(
        &mut self,
        privilege: &Privilege,
        stdin: &mut ToChild,
    ) -> Result<(), SpawnError> {
        let Privilege::UserNs(map) = privilege else {
            return Err(SpawnError::IdMap("unexpected user namespace".into()));
        };
        loop {
            match self.next_event()? {
                Some(Event::Unshared) => break,
                Some(Event::Failed { message }) => return Err(SpawnError::Failed(message)),
                Some(_) => continue,
                None => return Err(self.exit_error()),
            }
        }
        let pid = self.child.as_ref().map_or(0, |c| c.id());
        map.apply(pid).map_err(SpawnError::IdMap)?;
        stdin.write_all(b"mapped\n").map_err(SpawnError::Start)
    }

    /// The next event that answers a request: a failure is an error, the
    /// child's end without one too.
    pub fn answer(&mut self) -> Result<Event, SpawnError> {
        loop {
            match self.next_event()? {
                Some(Event::Failed { message }) => return Err(SpawnError::Failed(message)),
                Some(Event::Confined { .. } | Event::Progress { .. } | Event::Warning { .. }) => {}
                Some(e) => return Ok(e),
                None => {
                    return Err(SpawnError::Failed(
                        "the unpacker ended without an answer".into(),
                    ))
                }
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, SpawnError> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.lines.read_line(&mut line).map_err(SpawnError::Start)? == 0 {
                return Ok(None);
            }
            if let Ok(event) = serde_json::from_str::<Event>(&line) {
                return Ok(Some(event));
            }
        }
    }

    /// Relays events until the terminal one (`Done` or `Usage`) and reaps
    /// the child.
    pub fn finish(mut self, on_event: &mut dyn FnMut(&Event)) -> Result<Event, SpawnError> {
        let result = loop {
            match self.next_event() {
                Ok(Some(e @ (Event::Done { .. } | Event::Usage { .. }))) => break Ok(Some(e)),
                Ok(Some(Event::Failed { message })) => break Err(SpawnError::Failed(message)),
                Ok(Some(e)) => on_event(&e),
                Ok(None) => break Ok(None),
                Err(e) => break Err(e),
            }
        };
        let Some(mut child) = self.child.take() else {
            return Err(SpawnError::NoResult(-1));
        };
        let status = child.wait().map_err(SpawnError::Start)?;
        match result {
            Ok(Some(event)) if status.success() => Ok(event),
            Err(e) => Err(e),
            _ => Err(status_error(status)),
        }
    }

    /// Like [`Running::finish`], for an extract job: its statistics.
    pub fn finish_extract(self, on_event: &mut dyn FnMut(&Event)) -> Result<Stats, SpawnError> {
        match self.finish(on_event)? {
            Event::Done { stats } => Ok(stats),
            _ => Err(SpawnError::Failed(
                "unexpected reply from the unpacker".into(),
            )),
        }
    }

    /// Why the child ended without a terminal event.
    fn exit_error(&mut self) -> SpawnError {
        match self.child.take().map(|mut c| c.wait()) {
            Some(Ok(status)) => status_error(status),
            Some(Err(e)) => SpawnError::Start(e),
            None => SpawnError::NoResult(-1),
        }
    }
}

fn status_error(status: std::process::ExitStatus) -> SpawnError {
    match (status.signal(), status.code()) {
        (Some(sig), _) => SpawnError::Killed(sig),
        (_, code) => SpawnError::NoResult(code.unwrap_or(-1)),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How trees of this store are deleted: directly, or (rootless) inside a
/// user namespace, because subordinate-id files are not ours on the host.
pub fn remover(privilege: &Privilege, exe: &Path) -> Box<crate::store::Remover> {
    let privilege = privilege.clone();
    let exe = exe.to_path_buf();
    Box::new(move |path: &Path| {
        match crate::fsops::remove_tree(path) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(privilege, Privilege::Squash { .. }) => return Err(e),
            Err(_) => {}
        }
        // Subordinate-id files (rootless), or files of other owners that a
        // capability-less root applet may not touch: the unpacker can.
        let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let job = Job {
            op: Op::Remove {
                path: path.to_path_buf(),
            },
            userns: privilege.is_userns(),
            root: matches!(privilege, Privilege::Root),
            rw: vec![parent],
            ro: vec![],
            force_walk: false,
        };
        run(&exe, &job, &privilege, Vec::new(), &mut |_| {})
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
}
