//! `RUN --mount`: the host side of each mount, made before the step and
//! undone after it.
//!
//! - cache: a directory of the store (`$RUNTIME_DIR/build_cache_mounts/`,
//!   named by a hash of its `id`) bound read-write; it outlives the build
//!   and never enters a layer. `sharing=locked` holds an exclusive file lock
//!   for the step; `private` takes the directory only when no other step
//!   holds it, else a fresh empty one for this step alone; `shared` holds a
//!   shared lock (so a `private` user sees it busy). A new directory gets
//!   `mode`/`uid`/`gid`, and with `from=` starts as a copy of that source.
//!   `clear-cache --build-cache` drops them all.
//! - bind: the context (or a stage's or image's rootfs) path, resolved
//!   beneath it as COPY resolves its sources; read-only, the path it
//!   resolved to is bound and the session checks it is still the same
//!   inode (so nothing swapped in after the check gets mounted). `rw`, or a context with ignore
//!   rules, gets a copy made through the unpacker instead, discarded after
//!   the step: writes never reach the source, ignored files never the step.
//! - tmpfs: made by the session.
//! - secret: the value (from `--secret`) goes to the session through its
//!   spec pipe, which writes it into a tmpfs of its own mount namespace; no
//!   copy is ever written to a disk, a key, the image or the output.
//! - ssh: a socket in the build's scratch directory relaying each
//!   connection to the agent, so the guest owner and mode apply to our
//!   socket, not to the agent's.
//!
//! Mount points the session had to create are removed after the step
//! unless the step left something in them.

use super::context::{Context, CopyOptions, Rootfs};
use super::dockerfile::{Mount, MountType, Sharing};
use super::Error;
use crate::launch::step_mounts::{Owner, Secret, StepMount, StepMountKind};
use crate::sandbox::idmap::Privilege;
use crate::store::StorePaths;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A secret larger than this is a mistake (BuildKit's limit is 500 KiB).
const MAX_SECRET: u64 = 500 << 10;

/// `--secret id=ID[,src=FILE|,env=VAR]`: where a secret's value is read,
/// only when a step mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    pub id: String,
    pub from: SecretFrom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFrom {
    File(PathBuf),
    Env(String),
}

/// `--ssh ID=SOCKET`: an agent socket on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSource {
    pub id: String,
    pub socket: PathBuf,
}

/// Where a bind or cache `from=` reads.
pub enum Origin {
    Context,
    /// A stage's or an image's rootfs.
    Tree(PathBuf),
}

/// What preparing a step's mounts needs from the build.
pub struct Setup<'a> {
    pub req: &'a super::exec::Request<'a>,
    /// The build's private directory (sockets, copies, secret holders).
    pub scratch: &'a Path,
    /// `Dockerfile:line:col`, for errors.
    pub location: &'a str,
}

/// A step's mounts, ready for its session, and what to undo afterwards.
#[derive(Default)]
pub struct Prepared {
    pub mounts: Vec<StepMount>,
    /// Secrets given as `env=`, and SSH_AUTH_SOCK.
    pub env: Vec<(String, String)>,
    /// Cache locks, released when dropped.
    locks: Vec<std::fs::File>,
    /// Copies and holders, removed after the step.
    temps: Vec<PathBuf>,
    proxies: Vec<Proxy>,
    /// Mount points to remove if they are still empty: the target and the
    /// first of its ancestors that did not exist before.
    made: Vec<(PathBuf, PathBuf)>,
}

/// The cache mounts' home in the store.
pub fn cache_mounts_dir(paths: &StorePaths) -> PathBuf {
    paths.runtime_dir.join("build_cache_mounts")
}

/// Drops every cache mount (`clear-cache --build-cache`): the directory
/// is renamed away at once, so no later step sees it, then removed. Files
/// a rootless step left on subordinate ids are not the caller's to delete
/// from outside; those go with the next build ([`sweep_dropped`]).
/// Returns whether anything was dropped.
pub fn drop_all(paths: &StorePaths) -> Result<bool, Error> {
    let home = cache_mounts_dir(paths);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let aside = paths
        .runtime_dir
        .join(format!("{DROPPED}{}-{nanos}", std::process::id()));
    match std::fs::rename(&home, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(crate::ioerr::IoError::new("rename", &home, e).into()),
    }
    let _ = crate::fsops::remove_tree(&aside);
    Ok(true)
}

/// The prefix of cache mounts dropped but not yet removed.
const DROPPED: &str = "build_cache_mounts.dropped-";

/// Removes what [`drop_all`] could not, with the build's own rights
/// (inside the store's user namespace when rootless).
pub fn sweep_dropped(paths: &StorePaths, privilege: &Privilege, exe: &Path) {
    let Ok(entries) = std::fs::read_dir(&paths.runtime_dir) else {
        return;
    };
    let remove = crate::unpack::remover(privilege, exe);
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(DROPPED) {
            let _ = remove(&e.path());
        }
    }
}

impl Setup<'_> {
    fn fail(&self, message: String, hint: Option<&str>) -> Error {
        Error::Mount {
            location: self.location.to_owned(),
            message,
            hint: hint.map(str::to_owned),
        }
    }

    /// Prepares `mounts` for a step on `rootfs`; `origin` resolves a
    /// mount's `from=`.
    pub fn prepare(
        &self,
        rootfs: &Path,
        mounts: &[Mount],
        origin: &dyn Fn(&Mount) -> Result<Origin, Error>,
    ) -> Result<Prepared, Error> {
        let mut p = Prepared::default();
        for (n, m) in mounts.iter().enumerate() {
            let before = p.mounts.len();
            match m.kind {
                MountType::Tmpfs => p.mounts.push(StepMount {
                    target: target(m),
                    kind: StepMountKind::Tmpfs { size: m.size },
                }),
                MountType::Secret => self.secret(m, n, &mut p)?,
                MountType::Ssh => self.ssh(m, n, &mut p)?,
                MountType::Bind => self.bind(m, n, origin(m)?, &mut p)?,
                MountType::Cache => self.cache(m, n, origin, &mut p)?,
            }
            for sm in &p.mounts[before..] {
                if let Some(first) = first_missing(rootfs, &sm.target) {
                    p.made.push((sm.target.clone(), first));
                }
            }
        }
        Ok(p)
    }

    fn secret(&self, m: &Mount, n: usize, p: &mut Prepared) -> Result<(), Error> {
        let id = m.id.clone().unwrap_or_default();
        let Some(value) = self.secret_value(&id)? else {
            if m.required {
                return Err(self.fail(
                    format!("the secret '{id}' is required but the build was not given it"),
                    Some(&format!(
                        "give it with --secret id={id},src=FILE (or env=VARIABLE)"
                    )),
                ));
            }
            return Ok(());
        };
        if let Some(name) = &m.env {
            let text = String::from_utf8(value.clone()).map_err(|_| {
                self.fail(
                    format!("the secret '{id}' is not UTF-8 text, so env={name} cannot hold it"),
                    None,
                )
            })?;
            p.env.push((name.clone(), text));
        }
        if let Some(t) = &m.target {
            let holder = self.scratch_dir(&format!("secret-{n}"))?;
            p.temps.push(holder.clone());
            p.mounts.push(StepMount {
                target: PathBuf::from(t),
                kind: StepMountKind::File {
                    holder,
                    contents: Secret(value),
                    owner: owner(m, 0o400),
                },
            });
        }
        Ok(())
    }

    /// The value of `--secret id=ID`; without one, the variable named ID.
    fn secret_value(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let from = self
            .req
            .secrets
            .iter()
            .rev()
            .find(|s| s.id == id)
            .map(|s| s.from.clone());
        match from {
            Some(SecretFrom::File(path)) => {
                let f = std::fs::File::open(&path).map_err(|e| {
                    self.fail(
                        format!("cannot read the secret '{id}' from {}: {e}", path.display()),
                        None,
                    )
                })?;
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_SECRET + 1), &mut bytes)
                    .map_err(|e| self.fail(format!("cannot read the secret '{id}': {e}"), None))?;
                if bytes.len() as u64 > MAX_SECRET {
                    return Err(self.fail(
                        format!("the secret '{id}' is larger than {} KiB", MAX_SECRET >> 10),
                        None,
                    ));
                }
                Ok(Some(bytes))
            }
            Some(SecretFrom::Env(var)) => match self.req.env.get_os(&var) {
                Some(v) => Ok(Some(std::os::unix::ffi::OsStrExt::as_bytes(v).to_vec())),
                None => Err(self.fail(
                    format!("the secret '{id}' comes from ${var}, which is not set"),
                    None,
                )),
            },
            None => Ok(self
                .req
                .env
                .get_os(id)
                .map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v).to_vec())),
        }
    }

    fn ssh(&self, m: &Mount, n: usize, p: &mut Prepared) -> Result<(), Error> {
        let id = m.id.clone().unwrap_or_else(|| "default".into());
        let Some(agent) = self.req.ssh.iter().rev().find(|s| s.id == id) else {
            if m.required {
                return Err(self.fail(
                    format!("the ssh agent '{id}' is required but the build was not given it"),
                    Some(&format!(
                        "give it with --ssh {id}=SOCKET (or --ssh default for $SSH_AUTH_SOCK)"
                    )),
                ));
            }
            return Ok(());
        };
        let at = self.scratch.join(format!("ssh-{n}.sock"));
        let proxy = Proxy::start(agent.socket.clone(), at.clone())
            .map_err(|e| self.fail(format!("cannot make the ssh socket for '{id}': {e}"), None))?;
        p.proxies.push(proxy);
        let target = target(m);
        if !p.env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
            p.env
                .push(("SSH_AUTH_SOCK".into(), target.display().to_string()));
        }
        p.mounts.push(StepMount {
            target,
            kind: StepMountKind::Bind {
                source: at,
                readonly: false,
                owner: Some(owner(m, 0o600)),
                identity: None,
            },
        });
        Ok(())
    }

    fn bind(&self, m: &Mount, n: usize, origin: Origin, p: &mut Prepared) -> Result<(), Error> {
        let source = m.source.as_deref().unwrap_or("/");
        let (root, tree, ignores) = match &origin {
            Origin::Context => {
                let ctx = Context::open(self.req.context, self.req.dockerfile)?;
                let ignores = ctx.has_ignore_rules();
                (self.req.context.to_path_buf(), ctx, ignores)
            }
            Origin::Tree(dir) => (dir.clone(), Context::open_tree(dir)?, false),
        };
        let target = target(m);
        if m.readonly && !ignores {
            let (source, identity) = resolve_source(&root, source)
                .map_err(|e| self.fail(format!("bind source '{source}': {e}"), None))?;
            p.mounts.push(StepMount {
                target,
                kind: StepMountKind::Bind {
                    source,
                    readonly: true,
                    owner: None,
                    identity: Some(identity),
                },
            });
            return Ok(());
        }
        let copy = self.scratch_dir(&format!("bind-{n}"))?;
        p.temps.push(copy.clone());
        let made = self.copy_into(tree, source, &copy)?;
        p.mounts.push(StepMount {
            target,
            kind: StepMountKind::Bind {
                source: made,
                readonly: m.readonly,
                owner: None,
                identity: None,
            },
        });
        Ok(())
    }

    /// Copies `source` of `tree` into the empty directory `dir` through
    /// the unpacker; returns what to bind (`dir`, or the file in it).
    fn copy_into(&self, tree: Context, source: &str, dir: &Path) -> Result<PathBuf, Error> {
        let rel = crate::unpack::resolve::normalize(source.as_bytes())
            .map_err(|e| self.fail(format!("bind source '{source}': {e}"), None))?;
        let is_dir = match open_source(tree.dir(), source) {
            Ok(fd) => rustix::fs::fstat(&fd)
                .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir())
                .unwrap_or(false),
            Err(e) => return Err(self.fail(format!("bind source '{source}': {e}"), None)),
        };
        let image = Rootfs::open(dir)?;
        let word = if rel.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            rel.display().to_string()
        };
        let words = [word];
        let stream = move |w: std::io::PipeWriter| -> Result<(), Error> {
            tree.copy(&words, "/", &CopyOptions::default(), &image, w)?;
            Ok(())
        };
        super::apply::apply(
            self.req.exe,
            self.req.privilege,
            self.req.env,
            dir,
            "mount copy",
            false,
            stream,
        )?;
        Ok(match (is_dir, rel.file_name()) {
            (false, Some(name)) => dir.join(name),
            _ => dir.to_path_buf(),
        })
    }

    fn cache(
        &self,
        m: &Mount,
        n: usize,
        origin: &dyn Fn(&Mount) -> Result<Origin, Error>,
        p: &mut Prepared,
    ) -> Result<(), Error> {
        let id = m.id.clone().unwrap_or_default();
        let home = cache_mounts_dir(self.req.paths);
        crate::store::ensure_private_dir(&home)?;
        let name = {
            let mut h = super::cache::HashSink::default();
            let _ = std::io::Write::write_all(&mut h, id.as_bytes());
            h.finish()
        };
        let dir = home.join(&name);
        let lock_path = home.join(format!("{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| crate::ioerr::IoError::new("open", &lock_path, e))?;
        use rustix::fs::{flock, FlockOperation as Op};
        let (source, fresh) = match m.sharing {
            Sharing::Locked => {
                flock(&lock, Op::LockExclusive).map_err(|e| self.lock_failed(&id, e))?;
                (dir, false)
            }
            Sharing::Shared => {
                flock(&lock, Op::LockShared).map_err(|e| self.lock_failed(&id, e))?;
                (dir, false)
            }
            Sharing::Private => match flock(&lock, Op::NonBlockingLockExclusive) {
                Ok(()) => (dir, false),
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let own = self.scratch_dir(&format!("cache-{n}"))?;
                    p.temps.push(own.clone());
                    (own, true)
                }
                Err(e) => return Err(self.lock_failed(&id, e)),
            },
        };
        p.locks.push(lock);
        let mut set = None;
        if fresh || !source.exists() {
            let new = if fresh {
                source.clone()
            } else {
                home.join(format!("{name}.new-{}", std::process::id()))
            };
            if !fresh {
                std::fs::create_dir(&new)
                    .map_err(|e| crate::ioerr::IoError::new("create", &new, e))?;
            }
            if m.from.is_some() {
                let tree = match origin(m)? {
                    Origin::Context => Context::open(self.req.context, self.req.dockerfile)?,
                    Origin::Tree(t) => Context::open_tree(&t)?,
                };
                self.copy_into(tree, m.source.as_deref().unwrap_or("/"), &new)?;
            }
            if !fresh {
                // Another build may have made it meanwhile: theirs stays.
                if std::fs::rename(&new, &source).is_err() {
                    let _ = crate::unpack::remover(self.req.privilege, self.req.exe)(&new);
                }
            }
            set = Some(owner(m, 0o755));
        }
        p.mounts.push(StepMount {
            target: target(m),
            kind: StepMountKind::Bind {
                source,
                readonly: m.readonly,
                owner: set,
                identity: None,
            },
        });
        Ok(())
    }

    fn lock_failed(&self, id: &str, e: rustix::io::Errno) -> Error {
        self.fail(format!("cannot lock the cache mount '{id}': {e}"), None)
    }

    /// A new empty directory of the build's scratch space.
    fn scratch_dir(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = self.scratch.join(name);
        if dir.exists() {
            crate::unpack::remover(self.req.privilege, self.req.exe)(&dir)
                .map_err(|e| crate::ioerr::IoError::new("remove", &dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| crate::ioerr::IoError::new("create", &dir, e))?;
        Ok(dir)
    }
}

impl Prepared {
    /// After the step: the session is gone, so its mounts are; what the
    /// build made for them goes too.
    pub fn finish(mut self, rootfs: &Path, privilege: &Privilege, exe: &Path) {
        for proxy in self.proxies.drain(..) {
            proxy.stop();
        }
        for (target, first) in self.made.iter().rev() {
            remove_if_empty(rootfs, target, first);
        }
        let remove = crate::unpack::remover(privilege, exe);
        for t in &self.temps {
            let _ = remove(t);
        }
        drop(self.locks);
    }
}

/// A mount's target (the plan made it absolute).
fn target(m: &Mount) -> PathBuf {
    PathBuf::from(m.target.as_deref().unwrap_or("/"))
}

/// The guest owner the mount asks for, `mode` unless it names one.
fn owner(m: &Mount, mode: u32) -> Owner {
    Owner {
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
        mode: m.mode.unwrap_or(mode),
    }
}

/// `source` beneath `root` as COPY resolves it (`..` and symlinks stay
/// inside), held as an O_PATH fd.
fn open_source(root: &Path, source: &str) -> std::io::Result<OwnedFd> {
    let dir = std::fs::File::open(root)?;
    crate::unpack::resolve::open_in_root(
        dir.as_fd(),
        Path::new(source),
        crate::unpack::resolve::ResolveMode::Auto,
    )
}

/// The host path `source` resolves to beneath `root`, checked to lie
/// there, with its (device, inode) for the session to check again.
fn resolve_source(root: &Path, source: &str) -> std::io::Result<(PathBuf, (u64, u64))> {
    let fd = open_source(root, source)?;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let top = root.canonicalize()?;
    if !path.starts_with(&top) {
        return Err(std::io::Error::other("it resolves outside its tree"));
    }
    let st = rustix::fs::fstat(&fd)?;
    Ok((path, (st.st_dev, st.st_ino)))
}

/// The first component of `target` (absolute) missing in `rootfs`: what
/// the session will create for the mount.
fn first_missing(rootfs: &Path, target: &Path) -> Option<PathBuf> {
    let mut path = PathBuf::from("/");
    for c in target.components().skip(1) {
        path.push(c);
        let rel = path.strip_prefix("/").ok()?;
        let (dir, name) = super::run::in_root_parent(rootfs, rel).ok()?;
        match rustix::fs::statat(&dir, &name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => {}
            Err(rustix::io::Errno::NOENT) => return Some(path),
            Err(_) => return None,
        }
    }
    None
}

/// Removes `target` and its parents up to `first` while they are empty
/// directories (or, for `target`, an empty file the mount needed).
fn remove_if_empty(rootfs: &Path, target: &Path, first: &Path) {
    use rustix::fs::{statat, unlinkat, AtFlags, FileType};
    let mut path = target.to_path_buf();
    loop {
        let Some(rel) = path
            .strip_prefix("/")
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
        else {
            return;
        };
        let Ok((dir, name)) = super::run::in_root_parent(rootfs, rel) else {
            return;
        };
        let gone = match statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => unlinkat(&dir, &name, AtFlags::REMOVEDIR).is_ok(),
                FileType::RegularFile if st.st_size == 0 && path == target => {
                    unlinkat(&dir, &name, AtFlags::empty()).is_ok()
                }
                _ => false,
            },
            Err(_) => false,
        };
        if !gone || path == first {
            return;
        }
        if !path.pop() {
            return;
        }
    }
}

/// A socket relaying each connection to an ssh agent.
struct Proxy {
    at: PathBuf,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Proxy {
    fn start(agent: PathBuf, at: PathBuf) -> std::io::Result<Self> {
        let listener = UnixListener::bind(&at)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(guest) = conn else { continue };
                let Ok(upstream) = UnixStream::connect(&agent) else {
                    continue;
                };
                relay(guest, upstream);
            }
        });
        Ok(Self { at, stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = UnixStream::connect(&self.at);
        let _ = self.thread.join();
        let _ = std::fs::remove_file(&self.at);
    }
}

/// Copies both ways until either side closes.
fn relay(a: UnixStream, b: UnixStream) {
    let pump = |mut from: UnixStream, mut to: UnixStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    };
    if let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) {
        pump(a, b2);
        pump(b, a2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_made_for_a_step_go_unless_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("var")).unwrap();
        let t = Path::new("/var/cache/x/y");
        assert_eq!(first_missing(root, t), Some(PathBuf::from("/var/cache")));
        assert_eq!(first_missing(root, Path::new("/var")), None);
        std::fs::create_dir_all(root.join("var/cache/x/y")).unwrap();
        remove_if_empty(root, t, Path::new("/var/cache"));
        assert!(!root.join("var/cache").exists() && root.join("var").exists());
        // Something the step left keeps its directories.
        std::fs::create_dir_all(root.join("var/cache/x/y")).unwrap();
        std::fs::write(root.join("var/cache/kept"), b"").unwrap();
        remove_if_empty(root, t, Path::new("/var/cache"));
        assert!(!root.join("var/cache/x").exists() && root.join("var/cache/kept").exists());
        // An empty file made for a file mount goes; one with content stays.
        std::fs::create_dir_all(root.join("run/secrets")).unwrap();
        std::fs::write(root.join("run/secrets/a"), b"").unwrap();
        remove_if_empty(root, Path::new("/run/secrets/a"), Path::new("/run"));
        assert!(!root.join("run").exists());
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
