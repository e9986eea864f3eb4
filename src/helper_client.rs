//! Asking `cd-mount-helper` for a real-root session: where the helper is
//! installed, and the exact command line it accepts (helper/README.md).
//! The helper trusts none of this and validates everything again; this side
//! only finds it and spells the request.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod search;

pub const HELPER_NAME: &str = "cd-mount-helper";

/// One session, mirroring `launch::LaunchSpec`, except that the helper is
/// given the store and container name and computes the rootfs itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The caller's store (`$XDG_DATA_HOME/chroot-distro`).
    pub store: PathBuf,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Absolute, inside the container.
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    /// The command's whole environment: nothing else reaches it.
    pub env: Vec<(String, String)>,
    /// Host path → absolute guest path, with the user's restrictions.
    pub binds: Vec<crate::launch::bind::UserBind>,
    pub minimal: bool,
    pub isolated: bool,
    /// Only with `isolated`.
    pub hostname: Option<String>,
    pub shared_tmp: bool,
    pub privileged: bool,
    /// The process whose network namespace the session joins (made by
    /// `launch::netns`); none: a new, empty one.
    pub netns_pid: Option<u32>,
    /// The host's network instead (the policy must grant it).
    pub host_network: bool,
}

impl Request {
    /// The request for the session `spec` resolved (unprivileged) for the
    /// container `name` of the store at `store`.
    pub fn for_spec(spec: &crate::launch::LaunchSpec, store: &Path, name: &str) -> Self {
        Self {
            store: store.to_path_buf(),
            name: name.to_owned(),
            uid: spec.uid,
            gid: spec.gid,
            groups: spec.groups.clone(),
            cwd: spec.cwd.clone(),
            argv: spec.argv.clone(),
            env: spec.env.clone(),
            // The helper takes no binds with --isolated, nor a host name
            // without it.
            binds: if spec.isolated {
                Vec::new()
            } else {
                spec.binds.clone()
            },
            minimal: spec.minimal,
            isolated: spec.isolated,
            hostname: spec.isolated.then(|| spec.hostname.clone()).flatten(),
            shared_tmp: spec.shared_tmp,
            privileged: spec.privileged,
            netns_pid: None,
            host_network: false,
        }
    }
}

/// The helper's command line for `req`, with an empty environment (the
/// command's environment travels as `--env`).
pub fn command(helper: &Path, req: &Request) -> Command {
    let mut cmd = Command::new(helper);
    cmd.env_clear();
    cmd.arg("--store")
        .arg(&req.store)
        .args(["--name", &req.name]);
    cmd.args(["--uid", &req.uid.to_string(), "--gid", &req.gid.to_string()]);
    for g in &req.groups {
        cmd.args(["--group", &g.to_string()]);
    }
    cmd.arg("--cwd").arg(&req.cwd);
    for (k, v) in &req.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    for b in &req.binds {
        // HOST:GUEST:BITS, the bits of session_contract::bind in decimal.
        let mut spec = b.source.as_os_str().to_owned();
        spec.push(":");
        spec.push(&b.target);
        spec.push(format!(":{}", b.flags.bits()));
        cmd.arg("--bind").arg(spec);
    }
    let switches = [
        (req.minimal, "--minimal"),
        (req.isolated, "--isolated"),
        (req.shared_tmp, "--shared-tmp"),
        (req.privileged, "--privileged"),
        (req.host_network, "--host-network"),
    ];
    cmd.args(switches.iter().filter(|(on, _)| *on).map(|(_, flag)| flag));
    if let Some(h) = &req.hostname {
        cmd.args(["--hostname", h]);
    }
    if let Some(pid) = req.netns_pid {
        cmd.args(["--netns-pid", &pid.to_string()]);
    }
    cmd.arg("--").args(&req.argv);
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
    fn the_command_line_is_the_helpers_interface() {
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
                crate::launch::bind::UserBind {
                    source: "/home/u/src".into(),
                    target: "/src".into(),
                    flags: Default::default(),
                },
                crate::launch::bind::UserBind {
                    source: "/home/u/ro".into(),
                    target: "/ro".into(),
                    flags: "/x:/y:ro,noexec"
                        .parse::<crate::launch::bind::BindSpec>()
                        .unwrap()
                        .flags,
                },
            ],
            shared_tmp: true,
            ..Request::default()
        };
        let cmd = command(Path::new("/usr/lib/chroot-distro/cd-mount-helper"), &req);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let want = "--store /home/u/.local/share/chroot-distro --name deb --uid 0 --gid 0 \
                    --group 5 --group 27 --cwd /root --env PATH=/bin --env A=b=c \
                    --bind /home/u/src:/src:0 --bind /home/u/ro:/ro:9 --shared-tmp \
                    -- /bin/sh --privileged";
        assert_eq!(args.join(" "), want);
        assert_eq!(cmd.get_envs().count(), 0);
    }
}
