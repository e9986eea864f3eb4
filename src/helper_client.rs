//! Asking `cd-mount-helper` for a real-root session: where the helper is
//! installed, and the request it accepts (the session contract's type and
//! encoder, which the helper decodes). The helper trusts none of this and
//! validates everything again; this side only finds it and fills the
//! request in.

pub use session_contract::request::{Bind, Network, Request};
use std::path::Path;
use std::process::Command;

pub mod search;

pub const HELPER_NAME: &str = "cd-mount-helper";

/// The request for the session `spec` resolved (unprivileged) for the
/// container `name` of the store at `store`; its network is a new, empty
/// one until the caller says otherwise.
pub fn request_for(spec: &crate::launch::LaunchSpec, store: &Path, name: &str) -> Request {
    Request {
        store: store.to_path_buf(),
        name: name.to_owned(),
        ..spec.contract()
    }
}

/// The helper's command line for `req`, with an empty environment (the
/// command's environment travels as `--env`).
pub fn command(helper: &Path, req: &Request) -> Command {
    let mut cmd = Command::new(helper);
    cmd.env_clear().args(session_contract::request::encode(req));
    cmd
}

/// `cd-mount-helper --check-policy`: what the policy grants the caller.
pub fn check_policy_command(helper: &Path) -> Command {
    let mut cmd = Command::new(helper);
    cmd.env_clear().arg("--check-policy");
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_decodes_what_the_client_encodes() {
        let req = Request {
            store: "/home/u/.local/share/chroot-distro".into(),
            name: "deb".into(),
            uid: 0,
            gid: 0,
            groups: vec![5, 27],
            cwd: "/root".into(),
            argv: vec!["/bin/sh".into(), "--privileged".into()],
            env: vec![("PATH".into(), "/bin".into()), ("A".into(), "b=c".into())],
            binds: vec![
                Bind {
                    src: "/home/u/src".into(),
                    at: "src".into(),
                    attrs: 0,
                },
                Bind {
                    src: "/home/u/ro".into(),
                    at: "ro".into(),
                    attrs: "/x:/y:ro,noexec"
                        .parse::<crate::launch::bind::BindSpec>()
                        .unwrap()
                        .flags
                        .bits(),
                },
            ],
            shared_tmp: true,
            ..Request::default()
        };
        let cmd = command(Path::new("/usr/lib/chroot-distro/cd-mount-helper"), &req);
        assert_eq!(cmd.get_envs().count(), 0);
        // What the helper decodes is what was asked, the user's option
        // names arriving as the contract's bits (ro 1 + noexec 8).
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"/home/u/ro:/ro:9".to_string()), "{args:?}");
        let decoded = session_contract::request::decode(&args).unwrap();
        assert_eq!(
            decoded,
            session_contract::request::Action::Run(Box::new(req))
        );
    }
}
