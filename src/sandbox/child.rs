//! The one confined-child protocol. Whatever must enter a namespace is a
//! re-exec of our own binary as a hidden applet (so it starts
//! single-threaded: `unshare(CLONE_NEWUSER)` refuses threaded callers),
//! talking to its parent over a socket on a fixed fd:
//!
//! - parent → child: one JSON request line, then the handshake reply
//!   (`"mapped"`) if asked for, then whatever lines the applet defines;
//! - child → parent: JSON lines, each an [`Up`]: the applet's events, the
//!   handshake's `"unshared"`, or its `failed` message as its last word.
//!
//! The user-namespace handshake is the same for every child: it unshares,
//! says `unshared`, the parent writes its maps (newuidmap/newgidmap for
//! subordinate ids, as rootless podman does) and answers `mapped`, and the
//! child becomes root of the namespace. Fds the parent hands down sit at
//! [`FIRST_FD`], 4, ...; stdio is the caller's choice (a terminal for a
//! session, none for an unpacker).

use super::idmap::IdMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Where the child finds its channel to the parent.
pub const CHANNEL_FD: RawFd = 10;
/// The first of the fds the parent hands down (`Spawn::fds`), below the
/// channel.
pub const FIRST_FD: RawFd = 3;
/// The handshake's words, as JSON strings on the wire.
const MAPPED: &str = "mapped";

/// A line from the child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Up<E> {
    /// The applet's own event.
    Event(E),
    /// In a new user namespace, waiting for its maps.
    Unshared,
    /// Its last word: why it gave up.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {what}: {source}")]
    Start {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("lost the channel to {what}: {source}")]
    Channel {
        what: &'static str,
        source: std::io::Error,
    },
    /// The child's own message: it says what failed.
    #[error("{0}")]
    Failed(String),
    #[error("user namespace setup failed: {0}")]
    IdMap(String),
    #[error("{what} was killed by signal {signal}{note}", note = abort_note(*.signal))]
    Killed { what: &'static str, signal: i32 },
    #[error("{what} exited without a result (status {code})")]
    NoResult { what: &'static str, code: i32 },
}

fn abort_note(signal: i32) -> &'static str {
    if signal == libc::SIGABRT {
        " (it hit its memory limit: a hostile or broken archive?)"
    } else {
        ""
    }
}

/// How to start a child.
pub struct Spawn<'a> {
    pub exe: &'a Path,
    /// The hidden applet, e.g. `__unpack`.
    pub applet: &'static str,
    /// In messages: "the unpacker", "the session".
    pub what: &'static str,
    /// Its whole environment (nothing of ours is inherited).
    pub env: Vec<(String, String)>,
    /// Handed down at FIRST_FD, FIRST_FD + 1, ...
    pub fds: Vec<OwnedFd>,
    /// stdin, stdout and stderr; `None` keeps ours.
    pub stdio: Option<[Stdio; 3]>,
    /// Sent to the child when we die (PR_SET_PDEATHSIG).
    pub parent_death: libc::c_int,
}

/// The parent's handle on a running child. Dropped unfinished, the child
/// is killed and reaped.
pub struct Child<E> {
    process: Option<std::process::Child>,
    inbox: BufReader<UnixStream>,
    outbox: Outbox,
    what: &'static str,
    /// Maps for a handshake the child may start later (see `event`).
    idmap: Option<IdMap>,
    _events: std::marker::PhantomData<E>,
}

impl<E: DeserializeOwned> Child<E> {
    /// Starts the child and sends it `request`.
    pub fn start(spawn: Spawn, request: &impl Serialize) -> Result<Self, Error> {
        let what = spawn.what;
        let start = |source| Error::Start { what, source };
        let (ours, theirs) = UnixStream::pair().map_err(start)?;
        // Out of the way of every target fd first, so no dup2 below
        // overwrites a source another one still needs.
        let sources = std::iter::once(OwnedFd::from(theirs))
            .chain(spawn.fds)
            .map(|fd| rustix::io::fcntl_dupfd_cloexec(&fd, 64).map_err(|e| start(e.into())))
            .collect::<Result<Vec<_>, _>>()?;
        let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(spawn.exe);
        cmd.arg(spawn.applet).env_clear().envs(spawn.env);
        if let Some([i, o, e]) = spawn.stdio {
            cmd.stdin(i).stdout(o).stderr(e);
        }
        let death = spawn.parent_death;
        // SAFETY: only dup2 and prctl (async-signal-safe) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let targets = std::iter::once(CHANNEL_FD).chain(FIRST_FD..);
                for (src, dst) in raw.iter().zip(targets) {
                    if libc::dup2(*src, dst) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, death);
                Ok(())
            });
        }
        let process = cmd.spawn().map_err(start)?;
        // Our copies of the child's ends must go, or its reads never see EOF.
        drop((cmd, sources));
        let inbox = BufReader::new(ours.try_clone().map_err(start)?);
        let mut child = Self {
            process: Some(process),
            inbox,
            outbox: Outbox(ours),
            what,
            idmap: None,
            _events: std::marker::PhantomData,
        };
        child.outbox.send(request).map_err(|e| child.lost(e))?;
        Ok(child)
    }

    pub fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, |p| p.id())
    }

    /// The handshake, parent side, now: waits for `unshared` (a failure
    /// or the child's end instead is an error; events before it are
    /// dropped), writes the maps and answers `mapped`.
    pub fn map_user_namespace(&mut self, map: &IdMap) -> Result<(), Error> {
        loop {
            match self.up()? {
                Some(Up::Unshared) => return self.mapped(map),
                Some(Up::Failed(message)) => return Err(Error::Failed(message)),
                Some(Up::Event(_)) => continue,
                None => return Err(self.exit_error()),
            }
        }
    }

    /// The handshake, parent side, whenever the child asks for it while
    /// [`Child::event`] reads (a session child that joins a live container
    /// makes no user namespace; one that finds it gone makes its own).
    pub fn map_on_request(&mut self, map: IdMap) {
        self.idmap = Some(map);
    }

    fn mapped(&mut self, map: &IdMap) -> Result<(), Error> {
        map.apply(self.pid()).map_err(Error::IdMap)?;
        self.outbox.send(&MAPPED).map_err(|e| self.lost(e))
    }

    /// The next event; `None` once the child closed its end. Its failure
    /// is an error.
    pub fn event(&mut self) -> Result<Option<E>, Error> {
        loop {
            return match self.up()? {
                Some(Up::Event(e)) => Ok(Some(e)),
                Some(Up::Failed(message)) => Err(Error::Failed(message)),
                Some(Up::Unshared) => match self.idmap.take() {
                    Some(map) => {
                        self.mapped(&map)?;
                        continue;
                    }
                    None => Err(Error::IdMap(
                        "no id map for the child's user namespace".into(),
                    )),
                },
                None => Ok(None),
            };
        }
    }

    fn up(&mut self) -> Result<Option<Up<E>>, Error> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.inbox.read_line(&mut line).map_err(|e| self.lost(e))? == 0 {
                return Ok(None);
            }
            // Only our own binary writes here; a line that does not parse
            // is a bug's noise, not a message.
            if let Ok(up) = serde_json::from_str(&line) {
                return Ok(Some(up));
            }
        }
    }

    /// A second handle for sending further lines (from another thread).
    pub fn outbox(&self) -> Result<Outbox, Error> {
        let sock = self.outbox.0.try_clone().map_err(|e| self.lost(e))?;
        Ok(Outbox(sock))
    }

    /// Reaps the child (once).
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        let what = self.what;
        match self.process.take() {
            Some(mut p) => p.wait().map_err(|source| Error::Channel { what, source }),
            None => Err(Error::NoResult { what, code: -1 }),
        }
    }

    /// Reaps the child and says why it ended without an answer.
    pub fn exit_error(&mut self) -> Error {
        match self.process.take().map(|mut c| c.wait()) {
            Some(Ok(status)) => self.status_error(status),
            Some(Err(source)) => Error::Channel {
                what: self.what,
                source,
            },
            None => Error::NoResult {
                what: self.what,
                code: -1,
            },
        }
    }

    /// A status that came without an answer, as an error.
    pub fn status_error(&self, status: ExitStatus) -> Error {
        match (status.signal(), status.code()) {
            (Some(signal), _) => Error::Killed {
                what: self.what,
                signal,
            },
            (_, code) => Error::NoResult {
                what: self.what,
                code: code.unwrap_or(-1),
            },
        }
    }

    fn lost(&self, source: std::io::Error) -> Error {
        Error::Channel {
            what: self.what,
            source,
        }
    }
}

impl<E> Drop for Child<E> {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// Sends JSON lines. Writes use MSG_NOSIGNAL: a peer that died early gives
/// EPIPE, never a SIGPIPE that would kill us.
pub struct Outbox(UnixStream);

impl Outbox {
    pub fn send(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        let mut text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let mut rest = &text[..];
        while !rest.is_empty() {
            let n = rustix::net::send(&self.0, rest, rustix::net::SendFlags::NOSIGNAL)?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Child side: one of the applet's events. Best effort: a parent that
    /// is gone cannot be told anything.
    pub fn event<E: Serialize>(&mut self, event: E) {
        let _ = self.send(&Up::Event(event));
    }

    /// Child side: its last word.
    pub fn failed(&mut self, message: String) {
        let _ = self.send(&Up::<()>::Failed(message));
    }
}

/// The child's end of the channel: what the parent sends.
pub struct Inbox(BufReader<UnixStream>);

impl Inbox {
    /// The next line as a `T`; `None` once the parent closed its end.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, String> {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| format!("bad message: {e}")),
            Err(e) => Err(format!("cannot read from the parent: {e}")),
        }
    }
}

/// Child side: takes the channel at CHANNEL_FD (once; the parent placed
/// it there for us alone) and reads the request.
pub fn adopt<R: DeserializeOwned>() -> Result<(R, Inbox, Outbox), String> {
    // SAFETY: the fd was dup2'd there by `Child::start` before exec, and
    // nothing else in this process refers to it.
    let sock = UnixStream::from(unsafe { OwnedFd::from_raw_fd(CHANNEL_FD) });
    let _ = rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::CLOEXEC);
    let mut out = Outbox(sock.try_clone().map_err(|e| e.to_string())?);
    let mut inbox = Inbox(BufReader::new(sock));
    match inbox.recv::<R>() {
        Ok(Some(request)) => Ok((request, inbox, out)),
        Ok(None) => Err("no request from the parent".into()),
        Err(e) => {
            out.failed(e.clone());
            Err(e)
        }
    }
}

/// The handshake, child side: a new user namespace, mapped by the parent,
/// in which we become root (the caller on the host).
pub fn enter_user_namespace(inbox: &mut Inbox, out: &mut Outbox) -> Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| format!("cannot create a user namespace: {e}"))?;
    out.send(&Up::<()>::Unshared).map_err(|e| e.to_string())?;
    if inbox.recv::<String>()?.as_deref() != Some(MAPPED) {
        return Err("the parent could not map the user namespace".into());
    }
    become_root()
}

/// Root of the user namespace we are in (the caller on the host): after
/// the handshake, or after joining a mapped one with setns.
pub fn become_root() -> Result<(), String> {
    use rustix::process::{Gid, Uid};
    rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)
        .map_err(|e| format!("setresgid in the user namespace: {e}"))?;
    rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)
        .map_err(|e| format!("setresuid in the user namespace: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in child: a shell script speaking the protocol on its fds,
    /// so the parent side is tested against a real exec'd process (bash:
    /// dash takes no fd above 9 in a redirection).
    const SCRIPT: &str = r#"#!/bin/bash
[ "$1" = __test ] || exit 9
read -r request <&10
case "$request" in
'"echo"')
    printf '%s\n' '{"event":"first"}' 'not json' '{"event":"second"}' >&10
    read -r handed <&3
    printf '{"event":"%s"}\n' "$handed" >&10 ;;
'"fail"') printf '%s\n' '{"failed":"it broke"}' >&10; exit 1 ;;
'"die"') kill -9 $$ ;;
'"hang"') exec sleep 30 ;;
esac
"#;

    fn start(dir: &Path, request: &str, fds: Vec<OwnedFd>) -> Child<String> {
        let exe = dir.join("child.sh");
        if !exe.exists() {
            std::fs::write(&exe, SCRIPT).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let spawn = Spawn {
            exe: &exe,
            applet: "__test",
            what: "the test child",
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            fds,
            stdio: Some([Stdio::null(), Stdio::null(), Stdio::inherit()]),
            parent_death: libc::SIGKILL,
        };
        Child::start(spawn, &request).unwrap()
    }

    #[test]
    fn events_come_back_and_fds_are_handed_down() {
        let dir = tempfile::tempdir().unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        std::io::Write::write_all(&mut writer, b"from-fd3\n").unwrap();
        let mut child = start(dir.path(), "echo", vec![reader.into()]);
        let mut events = Vec::new();
        while let Some(e) = child.event().unwrap() {
            events.push(e);
        }
        assert_eq!(events, ["first", "second", "from-fd3"]);
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn failures_and_deaths_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = start(dir.path(), "fail", vec![]);
        assert!(matches!(child.event(), Err(Error::Failed(m)) if m == "it broke"));
        let mut child = start(dir.path(), "die", vec![]);
        assert!(child.event().unwrap().is_none());
        let status = child.wait().unwrap();
        let e = child.status_error(status);
        assert!(matches!(e, Error::Killed { signal: 9, .. }), "{e}");
        assert_eq!(e.to_string(), "the test child was killed by signal 9");
    }

    #[test]
    fn a_child_dropped_unfinished_is_killed_and_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let child = start(dir.path(), "hang", vec![]);
        let pid = child.pid();
        // Wait until the script has exec'd its sleep.
        for _ in 0..200 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let started = std::time::Instant::now();
        drop(child);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
