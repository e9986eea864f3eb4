//! What a session binds from the host: the GPU, Termux's shared paths, a
//! shared display or home, and the user's `--bind`s. `--isolated` binds
//! nothing; `--minimal` shares no device or display.

use super::{Error, Options};
use crate::env::EnvSnapshot;
use crate::launch::bind::UserBind;
use crate::session::{devices, GuestUser};
use crate::termux::Termux;
use std::path::{Path, PathBuf};

/// The host's share of a session.
#[derive(Default)]
pub(super) struct Shared {
    pub binds: Vec<UserBind>,
    /// GPU paths, each bound at its own path (the session contract's way).
    pub gpu: Vec<PathBuf>,
    pub gpu_env: Vec<(String, String)>,
    pub display_env: Vec<(String, String)>,
}

pub(super) fn from_host(
    host: &EnvSnapshot,
    termux: Option<&Termux>,
    user: &GuestUser,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Shared, Error> {
    let mut shared = Shared::default();
    if !opts.isolated && !opts.minimal {
        devices_and_display(&mut shared, host, termux, user, opts, warnings);
    }
    if opts.isolated {
        warnings.extend(ignored_by_isolation(opts));
        return Ok(shared);
    }
    for b in &opts.binds {
        let bind = b.resolve().map_err(|why| Error::Bind(b.to_string(), why))?;
        shared.binds.push(bind);
    }
    if opts.shared_home {
        let home = termux
            .map(|t| t.home.clone())
            .or_else(|| host.get_abs_path("HOME"));
        if let Some(h) = home {
            shared.binds.push(plain(h, user.home.clone()));
        }
    }
    Ok(shared)
}

/// The GPU, Termux's shared paths and (`--shared-display`) the display
/// sockets, all found on the host's root.
fn devices_and_display(
    shared: &mut Shared,
    host: &EnvSnapshot,
    termux: Option<&Termux>,
    user: &GuestUser,
    opts: &Options,
    warnings: &mut Vec<String>,
) {
    let gpu = devices::gpu(Path::new("/"), termux.is_some());
    shared.gpu.extend(gpu.binds.into_iter().map(|b| b.guest));
    shared.gpu_env = gpu.env;
    if let Some(t) = termux {
        let found = devices::termux_binds(t, Path::new("/"), true);
        shared
            .binds
            .extend(found.binds.into_iter().map(|b| plain(b.host, b.guest)));
    }
    if opts.shared_display {
        let display = devices::shared_display(&devices::DisplayInputs {
            env: host,
            host_root: Path::new("/"),
            host_uid: rustix::process::getuid().as_raw(),
            guest_uid: user.uid,
        });
        shared
            .binds
            .extend(display.binds.into_iter().map(|b| plain(b.host, b.guest)));
        shared.display_env = display.env;
        warnings.extend(display.notes);
    }
}

/// A bind with no restriction beyond the usual `nosuid,nodev`.
fn plain(source: PathBuf, target: PathBuf) -> UserBind {
    UserBind {
        source,
        target,
        flags: Default::default(),
    }
}

/// One line naming the sharing options `--isolated` ignores, if any were
/// given: isolation binds nothing from the host, as in chroot-distro 3.2.
fn ignored_by_isolation(opts: &Options) -> Option<String> {
    let given: Vec<&str> = [
        (opts.shared_home, "--shared-home"),
        (opts.shared_tmp, "--shared-tmp"),
        (opts.shared_display, "--shared-display"),
        (!opts.binds.is_empty(), "--bind"),
    ]
    .into_iter()
    .filter_map(|(set, what)| set.then_some(what))
    .collect();
    (!given.is_empty()).then(|| {
        format!(
            "--isolated binds nothing from the host, so {} {} ignored (CD_USE_NS=1 isolates namespaces and keeps them)",
            given.join(", "),
            if given.len() == 1 { "is" } else { "are" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_names_what_it_ignores_in_one_line() {
        let mut o = Options {
            isolated: true,
            ..Options::default()
        };
        assert_eq!(ignored_by_isolation(&o), None);
        o.shared_tmp = true;
        o.binds = vec!["/tmp:/x:ro".parse().unwrap()];
        let w = ignored_by_isolation(&o).unwrap();
        assert!(w.contains("--shared-tmp, --bind are ignored"), "{w}");
        assert!(!w.contains('\n'));
    }
}
