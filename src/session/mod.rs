//! Planning of `login` and `run` sessions, as pure data: who the guest user
//! is, which command runs, in which directory, with which environment, and
//! which host devices a session may share. `crate::launch` is the other
//! half, which uses these answers to start, mount, record and end sessions.
//!
//! Nothing here prints, reads the process environment or spawns anything.
//! The only I/O is reading the guest's `/etc/passwd` and `/etc/group`
//! through an fd confined to the rootfs ([`resolve_user`]).

pub mod arch;
mod command;
pub mod devices;
mod environment;
mod user;

pub use command::{
    login_command, run_command, shell_exists_in, usable_shell, work_dir, FALLBACK_SHELL,
};
pub use environment::{
    build_env, cd_env_entries, parse_env_arg, EnvInputs, ANDROID_VARS, DEFAULT_PATH, DISPLAY_VARS,
    GPU_VARS,
};
pub use user::{resolve_user, GuestUser, MAX_ACCOUNT_FILE};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid user '{0}': expected name, uid, name:group or uid:gid")]
    InvalidUser(String),
    #[error("no user '{0}' in the container's /etc/passwd")]
    UnknownUser(String),
    #[error("no group '{0}' in the container's /etc/group")]
    UnknownGroup(String),
    #[error("cannot read the container's /{file}: {reason}")]
    Read { file: &'static str, reason: String },
    #[error("the container's /{file} is larger than {} MiB", MAX_ACCOUNT_FILE >> 20)]
    TooLarge { file: &'static str },
    #[error("invalid --env '{0}': expected VAR=VALUE")]
    InvalidEnv(String),
    #[error("the image defines neither Entrypoint nor Cmd")]
    NothingToRun,
    #[error("work directory '{0}' is not an absolute path")]
    RelativeWorkDir(String),
}

impl Error {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidUser(_) => {
                Some("for example: -u root, -u 1000, -u alice:staff or -u 1000:1000".into())
            }
            Error::UnknownUser(_) => Some(
                "numeric ids need no passwd entry: -u 1000, or -u 1000:1000 to set the group too"
                    .into(),
            ),
            Error::UnknownGroup(_) => {
                Some("numeric gids need no group entry, e.g. -u alice:1000".into())
            }
            Error::Read { .. } | Error::TooLarge { .. } => {
                Some("the container's account files look damaged; check them from the host".into())
            }
            Error::InvalidEnv(_) => Some("for example: -e LANG=C.UTF-8".into()),
            Error::NothingToRun => {
                Some("give the command after --, e.g. chroot-distro run NAME -- /bin/sh".into())
            }
            Error::RelativeWorkDir(_) => Some("for example: -w /root".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_have_hints() {
        let all = [
            Error::InvalidUser("a:b:c".into()),
            Error::UnknownUser("bob".into()),
            Error::UnknownGroup("staff".into()),
            Error::Read {
                file: "etc/passwd",
                reason: "Permission denied".into(),
            },
            Error::TooLarge { file: "etc/group" },
            Error::InvalidEnv("X".into()),
            Error::NothingToRun,
            Error::RelativeWorkDir("tmp".into()),
        ];
        for e in all {
            assert!(!e.to_string().contains('\n'), "{e}");
            assert!(e.hint().is_some(), "{e}");
        }
        assert_eq!(
            Error::TooLarge { file: "etc/group" }.to_string(),
            "the container's /etc/group is larger than 4 MiB"
        );
    }
}
