//! Looking at a running unpacker from outside, through `/proc`: what the
//! kernel says it holds, not what it reports about itself.

use super::Outcome;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One process as `/proc` showed it.
#[derive(Debug)]
pub struct Proc {
    pub pid: u32,
    pub status: String,
    pub uid_map: String,
    pub user_ns: PathBuf,
}

impl Proc {
    fn read(pid: u32) -> Option<Self> {
        Some(Self {
            pid,
            status: std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
            uid_map: std::fs::read_to_string(format!("/proc/{pid}/uid_map")).ok()?,
            user_ns: std::fs::read_link(format!("/proc/{pid}/ns/user")).ok()?,
        })
    }

    /// A `Key:\tvalue` line of the status file.
    pub fn field(&self, key: &str) -> &str {
        self.status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {key} in {}", self.status))
            .trim()
    }

    /// A capability set as its bit mask (`CapEff`, `CapBnd`, ...).
    pub fn caps(&self, set: &str) -> u64 {
        u64::from_str_radix(self.field(set), 16).unwrap()
    }
}

/// What a root unpacker holds: six capabilities, in every set that an
/// exec could widen from (bounding) and none to pass on. Written out
/// here, not taken from the library, so that a change there shows up.
pub const UNPACKER_CAPS: &[caps::Capability] = {
    use caps::Capability as C;
    &[
        C::CAP_CHOWN,
        C::CAP_DAC_OVERRIDE,
        C::CAP_FOWNER,
        C::CAP_FSETID,
        C::CAP_MKNOD,
        C::CAP_SETFCAP,
    ]
};

/// The bit mask of `caps`, for comparing with [`Proc::caps`].
pub fn mask(caps: &[caps::Capability]) -> u64 {
    caps.iter().fold(0, |m, c| m | c.bitmask())
}

/// Runs `cmd` (an install) and, while it runs, reads its unpacker child
/// (`__unpack`) and that child's parent, the applet, from `/proc`, once the
/// unpacker has set `no_new_privs` (which follows its capability and user
/// namespace changes, right before Landlock). The archive must keep the
/// unpacker busy for more than a few milliseconds.
pub fn install_watching_unpacker(cmd: &mut Command) -> (Outcome, Proc, Proc) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let mut seen = None;
    while seen.is_none() && start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        seen = super::descendants(child.id())
            .into_iter()
            .filter(|&pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                cmdline.split(|&b| b == 0).nth(1) == Some(b"__unpack")
            })
            .filter_map(Proc::read)
            .find(|p| p.field("NoNewPrivs") == "1")
            .and_then(|unpacker| {
                let parent = unpacker.field("PPid").parse().unwrap();
                Some((Proc::read(parent)?, unpacker))
            });
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = child.wait().unwrap();
    let outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    let (applet, unpacker) =
        seen.unwrap_or_else(|| panic!("never saw a confined unpacker: {outcome:#?}"));
    (outcome, applet, unpacker)
}
