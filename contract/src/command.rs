//! The command of a session, as both programs exec it: argv[0] searched in
//! the guest's PATH, argv and environment as C strings, and the exit codes
//! of a command that cannot start (127 not found, 126 not executable, as a
//! shell and `docker run` have them).

use crate::refusal::{refuse, Refusal, Rule};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The PATH searched when the session's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What execve takes, found inside the session's root.
#[derive(Debug)]
pub struct Command {
    pub program: PathBuf,
    pub prog: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

/// argv[0] as given when it has a slash, else searched in the guest PATH.
pub fn find_program(argv: &[String], env: &[(String, String)]) -> Option<PathBuf> {
    let first = argv.first()?;
    if first.contains('/') {
        return Some(first.into());
    }
    let path = env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str());
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(first))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

/// The command to exec, run in the session's root: refused when argv[0]
/// is nowhere (rule `NotFound`) or a word holds a NUL byte.
pub fn prepare(argv: &[String], env: &[(String, String)]) -> Result<Command, Refusal> {
    let first = argv.first().map_or("", String::as_str);
    let program = find_program(argv, env).ok_or_else(|| {
        refuse(Rule::NotFound, format!("command not found in the container: {first}"))
    })?;
    let cstr =
        |s: &[u8]| CString::new(s).map_err(|_| refuse(Rule::Request, "NUL byte in the command"));
    Ok(Command {
        prog: cstr(program.as_os_str().as_bytes())?,
        argv: argv.iter().map(|a| cstr(a.as_bytes())).collect::<Result<_, _>>()?,
        envp: env
            .iter()
            .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
            .collect::<Result<_, _>>()?,
        program,
    })
}

/// Why execve failed: a path that names nothing is "not found" (127); an
/// existing file that cannot run (no x bit, a missing #! interpreter) 126.
pub fn exec_failed(program: &Path, err: std::io::Error) -> Refusal {
    let missing =
        err.raw_os_error() == Some(libc::ENOENT) && std::fs::symlink_metadata(program).is_err();
    let rule = if missing { Rule::NotFound } else { Rule::NotExecutable };
    Refusal::new(rule, format!("cannot execute {}: {err}", program.display()))
}

/// The exit code a waiting parent passes on: the command's own, or 128 +
/// the signal that ended it.
pub fn exit_code(status: libc::c_int) -> u8 {
    match libc::WIFEXITED(status) {
        true => libc::WEXITSTATUS(status) as u8,
        false => 128u8.wrapping_add(libc::WTERMSIG(status) as u8),
    }
}
