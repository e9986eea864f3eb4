//! The running sessions behind `ps`, `kill` and `unmount` (not to be
//! confused with an OCI registry, `crate::registry`): one JSON file per
//! live session in `sessions/`, held under an exclusive flock by the applet
//! that runs it. A file nobody holds belongs to a session that is gone, so
//! liveness survives crashes and PID reuse without any daemon.

use crate::store::StorePaths;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Host PID of the session: the process holding the container's
    /// namespaces, parent of the command.
    pub pid: u32,
    pub container: String,
    /// `login` or `run`.
    pub kind: String,
    pub user: String,
    /// Unix time the session started.
    pub started: u64,
    pub command: Vec<String>,
    /// The namespaces' shape; sessions of another shape may not join.
    #[serde(default)]
    pub mode: super::Mode,
    /// PID of the applet that holds this record (for `run -d`).
    #[serde(default)]
    pub applet: u32,
    /// `run -d`: where its output goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

impl SessionRecord {
    /// A session starting now, run by this applet.
    pub fn new(
        pid: u32,
        container: &str,
        kind: &str,
        user: &str,
        spec: &super::LaunchSpec,
    ) -> Self {
        Self {
            pid,
            container: container.to_owned(),
            kind: kind.to_owned(),
            user: user.to_owned(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            command: spec.argv.clone(),
            mode: spec.mode(),
            applet: std::process::id(),
            log: None,
        }
    }

    /// What `ps` shows as TYPE: a detached run is marked `run*`.
    pub fn type_label(&self) -> String {
        if self.log.is_some() {
            format!("{}*", self.kind)
        } else {
            self.kind.clone()
        }
    }
}

/// A registered session; the record disappears when this drops.
pub struct Registration {
    _file: File,
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn register(paths: &StorePaths, record: &SessionRecord) -> std::io::Result<Registration> {
    let dir = paths.sessions_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.json", record.pid));
    let tmp = dir.join(format!(".{}.json.tmp", record.pid));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
    // Locked before it is visible: a reader never sees an unheld record.
    f.lock()?;
    std::fs::rename(&tmp, &path)?;
    Ok(Registration { _file: f, path })
}

/// Held (exclusive flock) while a session decides whether to make the
/// container's namespaces or join them, until they exist.
pub fn setup_lock(paths: &StorePaths, container: &str) -> std::io::Result<File> {
    let dir = paths.locks_dir();
    std::fs::create_dir_all(&dir)?;
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{container}.ns")))?;
    f.lock()?;
    Ok(f)
}

/// A live session of the container runs in namespaces of another shape.
#[derive(Debug, thiserror::Error)]
#[error("container '{container}' is running as {live} (session {pid}), and this session asks for {wanted}")]
pub struct OtherShape {
    pub container: String,
    pub live: super::Mode,
    pub pid: u32,
    pub wanted: super::Mode,
}

/// The session holding the container's live namespaces, if any, provided
/// they have the shape `wanted`.
pub fn holder(
    paths: &StorePaths,
    container: &str,
    wanted: super::Mode,
) -> Result<Option<u32>, OtherShape> {
    let Some(first) = live(paths).into_iter().find(|s| s.container == container) else {
        return Ok(None);
    };
    if first.mode != wanted {
        return Err(OtherShape {
            container: container.to_owned(),
            live: first.mode,
            pid: first.pid,
            wanted,
        });
    }
    Ok(Some(first.pid))
}

/// Live sessions, oldest first; records of dead ones are removed.
pub fn live(paths: &StorePaths) -> Vec<SessionRecord> {
    let Ok(entries) = std::fs::read_dir(paths.sessions_dir()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(f) = File::open(&path) else { continue };
        if f.try_lock_shared().is_ok() {
            // Nobody holds it: the session's applet is gone.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if let Ok(r) = serde_json::from_reader::<_, SessionRecord>(f) {
            out.push(r);
        }
    }
    out.sort_by_key(|r| (r.started, r.pid));
    out
}

/// The mount namespace of `pid`, unless it is our own: a session still
/// setting up has not left the host's namespace yet, and "everything in
/// the host's namespace" must never be taken for a session's processes.
fn session_ns(pid: u32) -> Option<PathBuf> {
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    (ns != ours).then_some(ns)
}

/// Processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    all_pids().filter(|p| parent_of(*p) == Some(pid)).collect()
}

/// `pid` and everything below it.
pub fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .filter_map(|p| parent_of(p).map(|pp| (p, pp)))
        .collect();
    let mut out: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    out
}

fn all_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every process in the mount namespace `ns`, found through /proc/*/ns/mnt.
fn processes_in(ns: &std::path::Path) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/mnt")).is_ok_and(|n| n == ns))
        .filter(|p| !zombie(*p))
        .collect()
}

/// SIGTERM to every process of the sessions, SIGKILL after `grace` to what
/// is left. The namespaces are scanned again until they are empty, so a
/// process forked between a scan and its signal is caught by the next one.
/// Returns how many processes were signalled.
pub fn stop(sessions: &[SessionRecord], grace: std::time::Duration) -> usize {
    use std::collections::BTreeSet;
    let namespaces: Vec<PathBuf> = sessions.iter().filter_map(|s| session_ns(s.pid)).collect();
    // Held open, the namespaces live until we are done, so their inode
    // numbers (our names for them) cannot be reused by a new namespace
    // while we rescan.
    let _pins: Vec<File> = sessions
        .iter()
        .filter_map(|s| File::open(format!("/proc/{}/ns/mnt", s.pid)).ok())
        .collect();
    let mut signalled: BTreeSet<u32> = BTreeSet::new();
    let send = |sig: rustix::process::Signal, pid: u32| {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    };
    // Sessions still in setup: only their own process.
    for s in sessions.iter().filter(|s| session_ns(s.pid).is_none()) {
        if !zombie(s.pid) {
            send(rustix::process::Signal::TERM, s.pid);
            signalled.insert(s.pid);
        }
    }
    let deadline = std::time::Instant::now() + grace;
    let holders: Vec<u32> = sessions.iter().map(|s| s.pid).collect();
    loop {
        // Commands with binds of their own live in child namespaces: they
        // are found as descendants of their holder (a subreaper).
        let mut alive: Vec<u32> = namespaces.iter().flat_map(|ns| processes_in(ns)).collect();
        alive.extend(
            with_descendants(&holders)
                .into_iter()
                .filter(|p| !zombie(*p)),
        );
        alive.extend(
            sessions
                .iter()
                .map(|s| s.pid)
                .filter(|p| signalled.contains(p) && !zombie(*p)),
        );
        alive.sort_unstable();
        alive.dedup();
        if alive.is_empty() {
            break;
        }
        let late = std::time::Instant::now() >= deadline;
        for p in alive {
            if late {
                send(rustix::process::Signal::KILL, p);
            } else if signalled.insert(p) {
                send(rustix::process::Signal::TERM, p);
            }
        }
        if late && std::time::Instant::now() >= deadline + std::time::Duration::from_secs(2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    signalled.len()
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_live_while_held_and_vanish_after() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::at(dir.path().join("d"), dir.path().join("c"));
        let rec = SessionRecord {
            pid: std::process::id(),
            container: "bb".into(),
            kind: "login".into(),
            user: "root".into(),
            started: 1,
            command: vec!["/bin/sh".into(), "-l".into()],
            mode: Default::default(),
            applet: std::process::id(),
            log: None,
        };
        let reg = register(&paths, &rec).unwrap();
        assert_eq!(live(&paths), vec![rec.clone()]);
        drop(reg);
        assert!(live(&paths).is_empty());
        // A crashed applet leaves its file unheld: it is swept.
        std::fs::create_dir_all(paths.sessions_dir()).unwrap();
        std::fs::write(
            paths.sessions_dir().join("999999.json"),
            serde_json::to_vec(&rec).unwrap(),
        )
        .unwrap();
        assert!(live(&paths).is_empty());
        assert!(!paths.sessions_dir().join("999999.json").exists());
    }
}
