//! `logs`: the output of a container's `run -d` sessions, kept under
//! `containers/NAME/logs/run-<ms>.log` by [`super::detach`]. Following a log
//! stops when no live session writes to it any more, as `docker logs -f`
//! stops with its container.

use super::running;
use crate::store::{ContainerName, StorePaths};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How often a followed log is read again.
const POLL: Duration = Duration::from_millis(200);

/// The container's `run -d` logs, oldest first.
pub fn all(paths: &StorePaths, name: &ContainerName) -> Vec<PathBuf> {
    let dir = paths.container_dir(name).join("logs");
    let mut logs: Vec<(u128, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let stamp = file
                .to_str()?
                .strip_prefix("run-")?
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((stamp, e.path()))
        })
        .collect();
    logs.sort();
    logs.into_iter().map(|(_, p)| p).collect()
}

/// Whether a live session still writes to `log`.
pub fn is_live(paths: &StorePaths, log: &std::path::Path) -> bool {
    running::live(paths)
        .iter()
        .any(|s| s.log.as_deref() == Some(log))
}

/// Copies `log` to `out`; with `follow`, goes on copying what is appended
/// until no live session writes to it, or `stop` says so (Ctrl-C).
pub fn copy(
    paths: &StorePaths,
    log: &std::path::Path,
    follow: bool,
    stop: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(log)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Whether the writer is gone is read before the last copy, so
        // whatever it wrote before it ended is still printed.
        let live = follow && is_live(paths, log);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
        }
        out.flush()?;
        if !live || stop() {
            return Ok(());
        }
        std::thread::sleep(POLL);
        // A truncated log (someone emptied it) is read from its new end.
        let len = file.metadata()?.len();
        if file.stream_position()? > len {
            file.seek(SeekFrom::Start(len))?;
        }
    }
}
