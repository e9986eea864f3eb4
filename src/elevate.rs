//! Re-running the current command with root privileges through `sudo`,
//! `doas`, `pkexec` or `su`, the reference's "First-run check" fallback for
//! when neither root nor the helper is available.
//!
//! Planning is pure apart from one file: the command line is built here,
//! with the variables the elevated process needs forwarded through `env
//! NAME=VALUE` (sudo and doas reset the environment; `-E` is often
//! refused). Secrets never go on a command line, where every local user
//! can read them in `/proc/<pid>/cmdline`: they are written to a fresh
//! 0600 file whose path is forwarded instead, and the elevated side takes
//! them back with [`take_secrets`].

use crate::env::EnvSnapshot;
use crate::termux::Termux;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Set in the elevated process: a second elevation would loop.
pub const ELEVATED_VAR: &str = "CD_ELEVATED";
/// The invoking user's uid, for checking the secrets file's owner.
pub const FROM_UID_VAR: &str = "CD_ELEVATE_FROM_UID";
/// Path of the secrets file.
pub const SECRETS_VAR: &str = "CD_ELEVATE_SECRETS";

const SECRETS_PREFIX: &str = "chroot-distro-secrets.";
const MAX_SECRETS: u64 = 1 << 20;
/// Where rooting tools put `su` on Android; Termux's PATH rarely has them.
pub const ANDROID_SU_DIRS: [&str; 5] = [
    "/system/bin",
    "/system/xbin",
    "/sbin",
    "/debug_ramdisk",
    "/su/bin",
];

/// Variables always considered for forwarding (the reference's
/// user-configurable set); more come from [`ElevateOptions::names`].
const KNOWN_NAMES: [&str; 20] = [
    "CD_DOCKER_AUTH",
    "CD_ENV",
    "CD_DOWNLOAD_WORKERS",
    "CD_DOWNLOAD_RATE_LIMIT",
    "CD_DOWNLOAD_MAX_RETRIES",
    "CD_USE_NS",
    "CD_FORCE_NO_COLORS",
    "CHROOT_DISTRO_USE_SUDO",
    "CHROOT_DISTRO_NO_ELEVATE",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "TERMUX__PREFIX",
    "TERMUX__HOME",
    "TERMUX_APP__PACKAGE_NAME",
    "TERMUX_APP__APP_VERSION_NAME",
    "TERMUX_VERSION",
    "NO_COLOR",
    "TERM",
    "COLORTERM",
    "COLUMNS",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Sudo,
    Doas,
    Pkexec,
    Su,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sudo => "sudo",
            Tool::Doas => "doas",
            Tool::Pkexec => "pkexec",
            Tool::Su => "su",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "this needs {need}, and elevation is turned off (--no-elevate or CHROOT_DISTRO_NO_ELEVATE)"
    )]
    Disabled { need: String },
    #[error("still without {need} after elevating ({ELEVATED_VAR} is set); not elevating again")]
    Loop { need: String },
    #[error("this needs {need}, and none of {tried} was found to get it")]
    NoTool { need: String, tried: String },
    #[error(
        "the program path {0} cannot be re-executed through env (not absolute, or contains '=')"
    )]
    BadExe(PathBuf),
    #[error("cannot write the secrets file in {dir}: {source}")]
    WriteSecrets {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing the secrets file {path}: {reason}")]
    BadSecrets { path: String, reason: String },
    #[error("cannot run {program}: {source}")]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Disabled { .. } => Some(
                "run it as root (e.g. sudo chroot-distro ...), or allow elevation by dropping --no-elevate"
                    .into(),
            ),
            Error::Loop { .. } => Some(
                "the elevation tool did not give root; check its configuration, or run as root directly"
                    .into(),
            ),
            Error::NoTool { .. } => Some(
                "install sudo (or doas), or run as root; on Android, root the device (Magisk, KernelSU) so su exists"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// What the caller knows and the snapshot does not.
#[derive(Debug, Clone, Default)]
pub struct ElevateOptions {
    /// `--use-sudo`.
    pub use_sudo: bool,
    /// `--no-elevate`.
    pub no_elevate: bool,
    /// The missing privilege in words, e.g. "root to mount and chroot".
    pub need: String,
    /// Names of the variables actually set (e.g. from
    /// `std::env::vars_os`), since a snapshot cannot be enumerated: those
    /// matching the forwarding rules join the known ones.
    pub names: Vec<String>,
    /// The applet's command name, inserted after the program when the user
    /// ran an applet link (`cd-login`): the elevated run starts from the
    /// real binary, whose argv[0] no longer names the applet.
    pub subcommand: Option<OsString>,
    /// The invoking user's uid.
    pub uid: u32,
    /// Where the secrets file goes; default `$XDG_RUNTIME_DIR`, `$TMPDIR`,
    /// Termux's `$PREFIX/tmp` or `/tmp`.
    pub secrets_dir: Option<PathBuf>,
}

/// How to re-run the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub tool: Tool,
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// The variables the elevated process gets (already on `args`, through
    /// `env`); secrets are not among them.
    pub env: Vec<(OsString, OsString)>,
    /// Holds the secrets until the elevated side takes them.
    pub secrets_file: Option<PathBuf>,
}

impl Plan {
    /// The line printed before the tool takes over the terminal, so that no
    /// password prompt comes out of nowhere: why, which program asks, and
    /// for whose password.
    pub fn notice(&self, need: &str) -> String {
        let whose = match self.tool {
            Tool::Sudo | Tool::Doas => "your own password",
            Tool::Pkexec => "an administrator's password (polkit)",
            Tool::Su => "root's password",
        };
        format!(
            "{need} needs privilege: running this command again through {}, which may ask for {whose} \
             (--no-elevate or CHROOT_DISTRO_NO_ELEVATE=1 turns this off)",
            self.tool.name()
        )
    }

    /// Removes the secrets file when the plan will not run after all.
    pub fn discard(&self) {
        if let Some(p) = &self.secrets_file {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn forwarded(name: &str) -> bool {
    ["CD_", "CHROOT_DISTRO_", "TERMUX_"]
        .iter()
        .any(|p| name.starts_with(p))
        || KNOWN_NAMES.contains(&name)
}

/// Names that look like credentials.
pub fn is_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    up == "CD_DOCKER_AUTH"
        || up == "CD_ENV"
        || up.ends_with("_PASSWORD")
        || up.ends_with("_TOKEN")
        || up.contains("AUTH")
}

/// Plans the re-execution of `argv` (argv[0] is dropped: `exe`, absolute,
/// runs instead) with tools found in the snapshot's `PATH`.
pub fn plan(
    env: &EnvSnapshot,
    argv: &[OsString],
    exe: &Path,
    opts: &ElevateOptions,
) -> Result<Plan, Error> {
    let termux = Termux::detect(env).is_some();
    let extra: &[&str] = if termux { &ANDROID_SU_DIRS } else { &[] };
    plan_with(env, argv, exe, opts, &|name| {
        let extra = if name == "su" { extra } else { &[] };
        env.find_program(name, extra)
    })
}

/// [`plan`] with the tool lookup given (tests).
pub fn plan_with(
    env: &EnvSnapshot,
    argv: &[OsString],
    exe: &Path,
    opts: &ElevateOptions,
    find: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Plan, Error> {
    let need = if opts.need.is_empty() {
        "root privileges".to_owned()
    } else {
        opts.need.clone()
    };
    if env.is_truthy(ELEVATED_VAR) {
        return Err(Error::Loop { need });
    }
    if opts.no_elevate || env.is_truthy("CHROOT_DISTRO_NO_ELEVATE") {
        return Err(Error::Disabled { need });
    }
    if !exe.is_absolute() || exe.as_os_str().as_bytes().contains(&b'=') {
        return Err(Error::BadExe(exe.to_owned()));
    }
    let mut order = if Termux::detect(env).is_some() {
        vec![Tool::Su, Tool::Sudo, Tool::Doas, Tool::Pkexec]
    } else {
        vec![Tool::Sudo, Tool::Doas, Tool::Pkexec, Tool::Su]
    };
    if opts.use_sudo || env.is_truthy("CHROOT_DISTRO_USE_SUDO") {
        order.retain(|t| *t != Tool::Sudo);
        order.insert(0, Tool::Sudo);
    }
    let (tool, program) = order
        .iter()
        .find_map(|t| Some((*t, find(t.name())?)))
        .ok_or_else(|| Error::NoTool {
            need,
            tried: order
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", "),
        })?;

    let mut names: Vec<&str> = KNOWN_NAMES.to_vec();
    names.extend(
        opts.names
            .iter()
            .map(String::as_str)
            .filter(|n| forwarded(n)),
    );
    names.sort_unstable();
    names.dedup();
    let (mut pass, mut secrets) = (Vec::new(), Vec::new());
    for name in names {
        // Our own protocol variables are never taken from the caller.
        if [ELEVATED_VAR, FROM_UID_VAR, SECRETS_VAR].contains(&name) {
            continue;
        }
        let Some(value) = env.get_os(name) else {
            continue;
        };
        let pair = (OsString::from(name), value.to_owned());
        if is_secret(name) {
            secrets.push(pair);
        } else {
            pass.push(pair);
        }
    }
    pass.push((ELEVATED_VAR.into(), "1".into()));
    pass.push((FROM_UID_VAR.into(), opts.uid.to_string().into()));
    let secrets_file = if secrets.is_empty() {
        None
    } else {
        let dir = opts
            .secrets_dir
            .clone()
            .unwrap_or_else(|| default_secrets_dir(env));
        let path =
            write_secrets(&dir, &secrets).map_err(|source| Error::WriteSecrets { dir, source })?;
        pass.push((SECRETS_VAR.into(), path.clone().into_os_string()));
        Some(path)
    };

    let env_prog = find("env").unwrap_or_else(|| PathBuf::from("/usr/bin/env"));
    let mut command: Vec<OsString> = vec![env_prog.into_os_string()];
    command.extend(pass.iter().map(|(k, v)| {
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        kv
    }));
    command.push(exe.as_os_str().to_owned());
    command.extend(opts.subcommand.iter().cloned());
    command.extend(argv.iter().skip(1).cloned());
    let args = match tool {
        Tool::Sudo | Tool::Doas => std::iter::once(OsString::from("--"))
            .chain(command)
            .collect(),
        Tool::Pkexec => command,
        Tool::Su => {
            let line = command
                .iter()
                .map(|w| crate::shell::quote_os(w))
                .collect::<Vec<_>>()
                .join(OsStr::new(" "));
            vec!["root".into(), "-c".into(), line]
        }
    };
    Ok(Plan {
        tool,
        program,
        args,
        env: pass,
        secrets_file,
    })
}

fn default_secrets_dir(env: &EnvSnapshot) -> PathBuf {
    env.get_abs_path("XDG_RUNTIME_DIR")
        .or_else(|| env.get_abs_path("TMPDIR"))
        .or_else(|| Termux::detect(env).map(|t| t.prefix.join("tmp")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn random_name() -> std::io::Result<String> {
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: writes at most the remaining length into our buffer.
        let n = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(format!("{SECRETS_PREFIX}{}", hex::encode(buf)))
}

/// `NAME=VALUE\0` records in a new 0600 file; O_EXCL and O_NOFOLLOW so a
/// planted file or link is never written through.
fn write_secrets(dir: &Path, pairs: &[(OsString, OsString)]) -> std::io::Result<PathBuf> {
    let path = dir.join(random_name()?);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)?;
    // The umask could only remove bits; make the mode exact anyway.
    rustix::fs::fchmod(f.as_fd(), rustix::fs::Mode::from_raw_mode(0o600))?;
    let mut data = Vec::new();
    for (k, v) in pairs {
        data.extend_from_slice(k.as_bytes());
        data.push(b'=');
        data.extend_from_slice(v.as_bytes());
        data.push(0);
    }
    if let Err(e) = f.write_all(&data).and_then(|_| f.sync_all()) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// On the elevated side: reads and deletes the secrets file named by
/// `CD_ELEVATE_SECRETS`, after checking it is what [`plan`] made: a
/// regular file (not a link), with one link, mode 0600, owned by the
/// invoking uid. Nothing to take gives an empty list.
///
/// The variables come from the user, so they are not trusted: a uid of 0
/// is refused (root never elevates), and where the elevation tool says who
/// called it (`SUDO_UID`, `PKEXEC_UID`) that must agree. Otherwise a user
/// allowed to sudo only this program could make it read and delete a
/// root-owned 0600 file such as an ssh host key.
pub fn take_secrets(env: &EnvSnapshot) -> Result<Vec<(String, String)>, Error> {
    let Some(path) = env.get_os(SECRETS_VAR).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let path = PathBuf::from(path);
    let shown = path.display().to_string();
    let bad = |reason: &str| Error::BadSecrets {
        path: shown.clone(),
        reason: reason.to_owned(),
    };
    let uid: u32 = env
        .get(FROM_UID_VAR)
        .and_then(|u| u.trim().parse().ok())
        .ok_or_else(|| bad("no valid CD_ELEVATE_FROM_UID"))?;
    if uid == 0 {
        return Err(bad("the invoking uid cannot be 0"));
    }
    for var in ["SUDO_UID", "PKEXEC_UID"] {
        if let Some(v) = env.get(var) {
            if v.trim().parse::<u32>().ok() != Some(uid) {
                return Err(bad(&format!("{var} disagrees with CD_ELEVATE_FROM_UID")));
            }
        }
    }
    let name = path
        .file_name()
        .and_then(OsStr::to_str)
        .filter(|n| n.starts_with(SECRETS_PREFIX))
        .ok_or_else(|| bad("not a name chroot-distro makes"))?;
    let parent = path
        .parent()
        .filter(|p| p.is_absolute())
        .ok_or_else(|| bad("not an absolute path"))?;
    let os_err = |e: std::io::Error| bad(&e.to_string());
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| os_err(e.into()))?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => bad("it is a symbolic link"),
        e => os_err(e.into()),
    })?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(os_err)?;
    if !meta.file_type().is_file() {
        return Err(bad("not a regular file"));
    }
    if meta.uid() != uid {
        return Err(bad(&format!("owned by uid {}, not {uid}", meta.uid())));
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(bad(&format!("mode {:o}, not 600", meta.mode() & 0o7777)));
    }
    if meta.nlink() != 1 {
        return Err(bad("it has other hard links"));
    }
    let mut data = Vec::new();
    file.take(MAX_SECRETS + 1)
        .read_to_end(&mut data)
        .map_err(os_err)?;
    if data.len() as u64 > MAX_SECRETS {
        return Err(bad("larger than 1 MiB"));
    }
    // Delete the very file checked: same inode under the name, else leave
    // it alone.
    let now = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| os_err(e.into()))?;
    if now.st_ino != meta.ino() || now.st_dev != meta.dev() {
        return Err(bad("replaced while being read"));
    }
    rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty()).map_err(|e| os_err(e.into()))?;
    data.split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let r = String::from_utf8_lossy(r);
            let (k, v) = r.split_once('=').ok_or_else(|| bad("malformed record"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Replaces the process with the plan. Returns only on failure, after
/// removing the secrets file.
pub fn exec(plan: &Plan) -> Error {
    use std::os::unix::process::CommandExt;
    let source = std::process::Command::new(&plan.program)
        .args(&plan.args)
        .exec();
    plan.discard();
    Error::Exec {
        program: plan.program.clone(),
        source,
    }
}

#[cfg(test)]
#[path = "elevate_tests.rs"]
mod tests;
