//! Who runs what, where: the guest user, the command (`login`'s shell or
//! words, `run`'s Entrypoint and Cmd), the working directory, and the
//! emulator a foreign-architecture command needs.

use super::{Container, Error, Options};
use crate::launch::Kind;
use crate::session::arch::{self, Execution};
use crate::session::GuestUser;
use crate::session::{login_command, resolve_user, run_command, shell_exists_in, work_dir};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The user and command of a session.
pub(super) struct Guest {
    pub user: GuestUser,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The binfmt_misc emulator to bind in, when the kernel opens it from
    /// inside the root.
    pub interpreter: Option<PathBuf>,
}

pub(super) fn resolve(container: &Container, opts: &Options) -> Result<Guest, Error> {
    let root = container.root.as_fd();
    // A foreign-architecture image needs a registered emulator; without
    // one every exec would fail with a bare ENOEXEC.
    let guest = arch::guest_run(root, Path::new(arch::BINFMT_DIR))?;
    // Without the F flag the kernel opens the interpreter at exec time,
    // from inside the chroot.
    let interpreter = match guest.execution {
        Execution::Emulated {
            interpreter,
            fix_binary: false,
            ..
        } => Some(interpreter),
        _ => None,
    };
    let user = resolve_user(opts.user.as_deref(), root)?;
    let config = container.config();
    let argv = match opts.kind {
        Kind::Run => run_command(config, &opts.words)?,
        Kind::Login => login_command(&user, &opts.words, &shell_exists_in(root)),
    };
    let cwd = work_dir(
        &user,
        config,
        opts.work_dir.as_deref(),
        opts.kind == Kind::Run,
    )?;
    Ok(Guest {
        user,
        argv,
        cwd,
        interpreter,
    })
}

/// As initgroups(3): the primary group is also a supplementary one.
pub(super) fn groups(user: &GuestUser) -> Vec<u32> {
    std::iter::once(user.gid)
        .chain(user.groups.iter().copied().filter(|g| *g != user.gid))
        .collect()
}
