//! The parent side of an unpacker: start the child, map its user namespace,
//! relay its events, and report its outcome, through the confined-child
//! protocol (`sandbox::child`).

use super::job::{Event, Feed, Job, Op};
use super::stats::Stats;
use crate::fsops::du::Usage;
use crate::sandbox::child::{Child, Outbox, Spawn};
use crate::sandbox::Privilege;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc::Receiver;

/// Name of the hidden applet the child runs as.
pub const CHILD_APPLET: &str = "__unpack";

/// Our PID, for the child to check once it asked to die with us.
pub(super) const PARENT_ENV: &str = "CD_UNPACK_PARENT";

/// The unpacker's failures are the confined-child protocol's.
pub type SpawnError = crate::sandbox::child::Error;

/// Runs `job` in a fresh unpacker. `fds` are handed down as fds 3, 4, ...
/// (`sandbox::child::FIRST_FD` on)
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

/// Hands the feed to a thread that writes it to the child. Detached: if the
/// child dies, the writes fail and the thread ends by itself. Without a
/// feed, nothing more is sent.
fn start_feeder(mut to: Outbox, feed: Option<Receiver<Feed>>) {
    let Some(rx) = feed else {
        return;
    };
    std::thread::spawn(move || {
        for item in rx {
            let last = matches!(item, Feed::End | Feed::Abort { .. });
            if to.send(&item).is_err() || last {
                return;
            }
        }
        let _ = to.send(&Feed::Abort {
            reason: "the layer downloads stopped".into(),
        });
    });
}

/// An unpacker at work. Dropped unfinished, it is killed and reaped, so
/// nothing writes into a staging tree that is being removed.
pub struct Running {
    child: Child<Event>,
}

impl Running {
    fn start(
        exe: &Path,
        job: &Job,
        privilege: &Privilege,
        fds: Vec<OwnedFd>,
        feed: Option<Receiver<Feed>>,
    ) -> Result<Self, SpawnError> {
        let spawn = Spawn {
            exe,
            applet: CHILD_APPLET,
            what: "the unpacker",
            env: vec![
                ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
                (PARENT_ENV.into(), std::process::id().to_string()),
            ],
            fds,
            stdio: Some([Stdio::null(), Stdio::null(), Stdio::inherit()]),
            parent_death: libc::SIGKILL,
        };
        let mut child = Child::start(spawn, job)?;
        if job.userns {
            let Privilege::UserNs(map) = privilege else {
                return Err(SpawnError::IdMap("unexpected user namespace".into()));
            };
            child.map_user_namespace(map)?;
        }
        start_feeder(child.outbox()?, feed);
        Ok(Self { child })
    }

    /// The next event that answers a request: a failure is an error, the
    /// child's end without one too.
    pub fn answer(&mut self) -> Result<Event, SpawnError> {
        loop {
            match self.child.event()? {
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

    /// Relays events until the terminal one (`Done` or `Usage`) and reaps
    /// the child.
    pub fn finish(mut self, on_event: &mut dyn FnMut(&Event)) -> Result<Event, SpawnError> {
        let result = loop {
            match self.child.event() {
                Ok(Some(e @ (Event::Done { .. } | Event::Usage { .. }))) => break Ok(Some(e)),
                Ok(Some(e)) => on_event(&e),
                Ok(None) => break Ok(None),
                Err(e) => break Err(e),
            }
        };
        let status = self.child.wait()?;
        match result {
            Ok(Some(event)) if status.success() => Ok(event),
            Err(e) => Err(e),
            _ => Err(self.child.status_error(status)),
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
