//! RUN: one command in the stage's rootfs, through the session machinery.
//!
//! A RUN step is a session like `login`'s: root mode for a root caller, a
//! user namespace on the caller's subordinate ids otherwise, with the same
//! mounts, masks and seccomp policy. What differs: no input, the output is
//! captured (shown on failure, or live with `-v`), and the environment is
//! the Dockerfile's, not a login's. The host's name servers are bound over
//! `/etc/resolv.conf` and a plain `/etc/hosts` over `/etc/hosts` for the
//! step only, so package managers resolve names and neither file lands in
//! the layer unless the step itself writes the image's own.

use crate::launch::{self, LaunchSpec};
use crate::sandbox::idmap::IdMap;
use crate::session::{self, resolve_user};
use crate::unpack::fixups;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// What a step sees when the Dockerfile sets no PATH (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Lines of output kept to explain a failed step.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Session(#[from] session::Error),
    #[error(transparent)]
    Arch(#[from] session::arch::Error),
    #[error(transparent)]
    Launch(#[from] launch::Error),
    #[error("cannot {0}: {1}")]
    Io(&'static str, std::io::Error),
}

/// One RUN, fully expanded.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Exactly what runs: SHELL plus the command for the shell form.
    pub argv: Vec<String>,
    /// The image's Env with the step's ARG values beneath it.
    pub env: Vec<(String, String)>,
    /// USER (`name`, `uid`, `name:group`, `uid:gid`); root when `None`.
    pub user: Option<String>,
    /// WORKDIR, absolute.
    pub workdir: String,
    /// `RUN --mount`s, prepared (see [`super::run_mounts`]).
    pub mounts: Vec<launch::step_mounts::StepMount>,
    /// `RUN --network`: `none` is a fresh namespace with only loopback.
    pub network: launch::Network,
}

/// How steps are isolated (the session modes of `login`).
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Rootless: the caller's id map. `None`: the caller is root.
    pub idmap: Option<IdMap>,
    /// `CD_USE_ISOLATION`: no host paths, own PID/UTS/IPC namespaces.
    pub isolated: bool,
    /// `CD_USE_NS`: own PID/UTS/IPC namespaces.
    pub use_ns: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The command's exit code, or 128 + its signal.
    pub code: i32,
    /// Its last lines of output.
    pub tail: Vec<String>,
}

/// Runs `step` in `rootfs` and waits for it. `scratch` is a private
/// directory of the build for the step's resolv.conf and hosts; `echo`
/// receives every line of output as it comes (`-v`).
pub fn run(
    exe: &Path,
    rootfs: &Path,
    step: &Step,
    sandbox: &Sandbox,
    scratch: &Path,
    echo: &mut dyn FnMut(&str),
) -> Result<Outcome, Error> {
    let root = std::fs::File::open(rootfs).map_err(|e| Error::Io("open the stage's rootfs", e))?;
    let guest = session::arch::guest_run(root.as_fd(), Path::new(session::arch::BINFMT_DIR))?;
    // Without the F flag the kernel opens the interpreter at exec time,
    // from inside the chroot.
    let interpreter = match guest.execution {
        session::arch::Execution::Emulated {
            interpreter,
            fix_binary: false,
            ..
        } => Some(interpreter),
        _ => None,
    };
    let user = resolve_user(step.user.as_deref(), root.as_fd())?;
    let network_files = NetworkFiles::prepare(rootfs, scratch)?;
    let spec = LaunchSpec {
        rootfs: rootfs.to_path_buf(),
        minimal: false,
        isolated: sandbox.isolated,
        namespaces: sandbox.isolated || sandbox.use_ns,
        hostname: None,
        shared_tmp: false,
        privileged: false,
        no_new_privs: false,
        binds: network_files.binds(),
        uid: user.uid,
        gid: user.gid,
        groups: std::iter::once(user.gid)
            .chain(user.groups.iter().copied().filter(|g| *g != user.gid))
            .collect(),
        cwd: PathBuf::from(&step.workdir),
        argv: step.argv.clone(),
        env: environment(&step.env, &user.home),
        userns: sandbox.idmap.is_some(),
        join: None,
        gpu: Vec::new(),
        interpreter,
        step_mounts: step.mounts.clone(),
        network: step.network,
    };
    let (reader, writer) = std::io::pipe().map_err(|e| Error::Io("create a pipe", e))?;
    let collect = std::thread::spawn(move || {
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let mut lines = Vec::new();
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line).into_owned();
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.clone());
            lines.push(text);
        }
        (tail, lines)
    });
    let code = launch::run_unattended(exe, &spec, sandbox.idmap.as_ref(), writer.into());
    let (tail, lines) = collect.join().unwrap_or_default();
    network_files.clean_up(rootfs);
    for line in &lines {
        echo(line);
    }
    Ok(Outcome {
        code: code?,
        tail: tail.into(),
    })
}

/// The Dockerfile's environment, with Docker's defaults for what it
/// leaves unset.
fn environment(env: &[(String, String)], home: &Path) -> Vec<(String, String)> {
    let mut out = env.to_vec();
    let has = |k: &str| env.iter().any(|(n, _)| n == k);
    if !has("PATH") {
        out.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !has("HOME") {
        out.push(("HOME".into(), home.to_string_lossy().into_owned()));
    }
    out
}

/// `/etc/resolv.conf` and `/etc/hosts` for the duration of a step.
struct NetworkFiles {
    files: Vec<(PathBuf, &'static str, bool)>,
}

const NETWORK_FILES: [&str; 2] = ["etc/resolv.conf", "etc/hosts"];

impl NetworkFiles {
    /// Writes the host-derived files into `scratch`, and notes which
    /// targets the rootfs lacks (the mount creates those empty; they go
    /// again afterwards). A target that is a symlink is left alone: the
    /// session refuses to mount over symlinks, and the image meant it.
    fn prepare(rootfs: &Path, scratch: &Path) -> Result<Self, Error> {
        let contents = [
            fixups::resolv_conf_from(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                &std::fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or_default(),
            ),
            fixups::HOSTS.to_owned(),
        ];
        let mut files = Vec::new();
        for (rel, text) in NETWORK_FILES.iter().zip(contents) {
            let existed = match lstat_in(rootfs, rel) {
                Some(Ok(st)) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => true,
                Some(Ok(_)) => continue,
                Some(Err(rustix::io::Errno::NOENT)) => false,
                // No /etc (or not a directory): nothing to bind over.
                _ => continue,
            };
            let source = scratch.join(rel.replace('/', "-"));
            let mut f = std::fs::File::create(&source)
                .map_err(|e| Error::Io("write a step's network file", e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| Error::Io("write a step's network file", e))?;
            files.push((source, *rel, existed));
        }
        Ok(Self { files })
    }

    fn binds(&self) -> Vec<launch::bind::UserBind> {
        self.files
            .iter()
            .map(|(src, rel, _)| launch::bind::UserBind {
                source: src.clone(),
                target: Path::new("/").join(rel),
                flags: Default::default(),
            })
            .collect()
    }

    /// Removes the empty mount targets the session created. The step may
    /// have replaced `/etc` with a symlink meanwhile: everything here is
    /// resolved inside the rootfs, never through it to the host.
    fn clean_up(&self, rootfs: &Path) {
        for (_, rel, existed) in &self.files {
            if *existed {
                continue;
            }
            let Ok((dir, name)) = in_root_parent(rootfs, rel) else {
                continue;
            };
            let st = rustix::fs::statat(&dir, &name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
            let empty = st.is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() && st.st_size == 0
            });
            if empty {
                let _ = rustix::fs::unlinkat(&dir, &name, rustix::fs::AtFlags::empty());
            }
        }
    }
}

/// The directory holding `rel` inside `rootfs` (O_PATH) and the final name.
pub(super) fn in_root_parent(
    rootfs: &Path,
    rel: impl AsRef<Path>,
) -> std::io::Result<(std::os::fd::OwnedFd, std::ffi::OsString)> {
    let root = std::fs::File::open(rootfs)?;
    crate::unpack::resolve_parent(root.as_fd(), rel.as_ref(), crate::unpack::ResolveMode::Auto)
}

/// `lstat` of `rel` inside `rootfs`; `None` when its directory is missing.
fn lstat_in(rootfs: &Path, rel: &str) -> Option<Result<rustix::fs::Stat, rustix::io::Errno>> {
    let (dir, name) = in_root_parent(rootfs, rel).ok()?;
    Some(rustix::fs::statat(
        &dir,
        &name,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_fill_what_the_dockerfile_leaves_unset() {
        let env = environment(&[("A".into(), "1".into())], Path::new("/root"));
        assert_eq!(
            env,
            [
                ("A".into(), "1".into()),
                ("PATH".into(), DEFAULT_PATH.into()),
                ("HOME".into(), "/root".into())
            ]
        );
        let own = vec![("PATH".into(), "/x".into()), ("HOME".into(), "/h".into())];
        assert_eq!(environment(&own, Path::new("/root")), own);
    }
}
