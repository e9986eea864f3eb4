//! `run -d`: the same command line again, in the background and in a
//! terminal session of its own, its output going to a log under the
//! store. The background applet is an ordinary session parent; this side
//! only waits until it has registered its session.

use super::running;
use crate::store::{ContainerName, StorePaths};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Set for the background applet: where its output goes (and that it must
/// not detach again).
pub const LOG_VAR: &str = "CD_INTERNAL_DETACHED_LOG";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the background session ended at once ({status}): {why}")]
    Ended { status: String, why: String },
    #[error("the background session did not start within 10 s")]
    Slow,
}

/// Re-runs this process's command line detached; returns the PID of the
/// session it registers (of the background process, when the session
/// already ended with success) and the log's path.
pub fn start(paths: &StorePaths, name: &ContainerName) -> Result<(u32, PathBuf), (Error, PathBuf)> {
    let dir = paths.container_dir(name).join("logs");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let log = dir.join(format!("run-{stamp}.log"));
    let io = |what: &str, source| {
        (
            Error::Io {
                what: what.to_owned(),
                source,
            },
            log.clone(),
        )
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create the log directory", e))?;
    let out = std::fs::File::options()
        .create_new(true)
        .append(true)
        .open(&log)
        .map_err(|e| io("create the log", e))?;
    let err = out.try_clone().map_err(|e| io("open the log", e))?;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg0(arg0)
        .args(args)
        .env(LOG_VAR, &log)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe; it detaches from our terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| io("start the background session", e))?;
    let applet = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(s) = running::live(paths)
            .into_iter()
            .find(|s| s.applet == applet)
        {
            return Ok((s.pid, log));
        }
        if let Ok(Some(status)) = child.try_wait() {
            // A command that finished before we saw its session succeeded
            // all the same: whether we looked in time is no reason to
            // fail it (chroot-distro 3.2 reports it started, exit 0).
            if status.success() {
                return Ok((applet, log));
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("chroot-distro: error: "))
                .or_else(|| text.lines().last())
                .unwrap_or("no output")
                .to_owned();
            return Err((
                Error::Ended {
                    status: status.to_string(),
                    why,
                },
                log,
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err((Error::Slow, log))
}
