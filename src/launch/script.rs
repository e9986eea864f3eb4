//! `--get-chroot-cmd`: the same session as a command line of standard
//! tools (util-linux `unshare`, `mount`, `setpriv`, coreutils `chroot`,
//! `env`), runnable by `sh`, for users who want to see or reuse it.

use super::mounts::{plan, Mount, DEV_LINKS};
use super::target::Kind;
use super::LaunchSpec;
use crate::shell::quote;

fn flags_text(flags: nix::mount::MsFlags) -> Vec<&'static str> {
    use nix::mount::MsFlags as F;
    [
        (F::MS_RDONLY, "ro"),
        (F::MS_NOSUID, "nosuid"),
        (F::MS_NODEV, "nodev"),
        (F::MS_NOEXEC, "noexec"),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, t)| t)
    .collect()
}

/// The shell script of the session's setup, ending in the exec.
fn script(spec: &LaunchSpec) -> Vec<String> {
    let r = |rel: &str| format!("\"$R\"/{}", quote(rel));
    let mut lines = vec![format!("R={}", quote(&spec.rootfs.display().to_string()))];
    lines.push("mount --make-rslave /".into());
    if spec.network == super::Network::None {
        lines.push("ip link set lo up".into());
    }
    if let (true, Some(h)) = (spec.namespaces, &spec.hostname) {
        lines.push(format!("hostname {}", quote(h)));
    }
    let plan = plan(spec);
    // `unshare --pid --fork` makes this shell PID 1 of the new namespace,
    // so the order of the three stages needs no special care here.
    for m in plan.all().cloned() {
        match m {
            Mount::Fresh {
                fstype,
                target,
                flags,
                data,
            } => {
                let mut opts = flags_text(flags);
                if !data.is_empty() {
                    opts.push(data);
                }
                lines.push(format!("mkdir -p {}", r(target)));
                lines.push(format!(
                    "mount -t {fstype} -o {} {fstype} {}",
                    quote(&opts.join(",")),
                    r(target)
                ));
            }
            Mount::DevLinks => {
                for (name, target) in DEV_LINKS {
                    lines.push(format!("ln -s {target} {}", r(&format!("dev/{name}"))));
                }
            }
            Mount::Bind {
                source,
                target,
                kind,
                flags,
            } => {
                let t = r(&target.display().to_string());
                let make = if kind == Kind::Dir {
                    format!("mkdir -p {t}")
                } else {
                    format!("touch {t}")
                };
                lines.push(make);
                lines.push(format!(
                    "mount --rbind {} {t}",
                    quote(&source.display().to_string())
                ));
                let mut opts = vec!["remount", "bind"];
                opts.extend(flags_text(flags));
                lines.push(format!("mount -o {} {t}", opts.join(",")));
            }
            Mount::Mask { target } => {
                let t = r(target);
                lines.push(format!(
                    "if [ -d {t} ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec,size=0 tmpfs {t}; elif [ -e {t} ]; then mount --bind /dev/null {t} && mount -o remount,bind,ro,nosuid,noexec {t}; fi"
                ));
            }
            Mount::ReadOnly { target } => {
                let t = r(target);
                lines.push(format!(
                    "if [ -e {t} ]; then mount --rbind {t} {t} && mount -o remount,bind,ro,nosuid,nodev,noexec {t}; fi"
                ));
            }
        }
    }
    let mut exec = vec!["exec".to_owned()];
    if !spec.privileged {
        lines.push(
            "# not reproduced: the seccomp deny-list (kernel modules, kexec, reboot, bpf, ...)"
                .into(),
        );
        let caps: Vec<String> = session_contract::caps::DOCKER
            .iter()
            .map(|(_, name)| format!("+{}", name.to_lowercase().trim_start_matches("cap_")))
            .collect();
        exec.push(format!("setpriv --bounding-set -all,{} --", caps.join(",")));
    }
    if spec.no_new_privs {
        exec.push("setpriv --no-new-privs --".into());
    }
    let g: Vec<String> = spec.groups.iter().map(u32::to_string).collect();
    let groups = format!(" --groups={}", g.join(","));
    exec.push(format!(
        "chroot --userspec={}:{}{groups} \"$R\" env -i",
        spec.uid, spec.gid
    ));
    for (k, v) in &spec.env {
        exec.push(quote(&format!("{k}={v}")));
    }
    // A tiny shell only to change directory; it leaves no trace (OLDPWD,
    // one more SHLVL) in what it executes.
    exec.push(
        "/bin/sh -c 'cd \"$0\" 2>/dev/null || cd /; unset OLDPWD; export SHLVL=0; exec \"$@\"'"
            .into(),
    );
    exec.push(quote(&spec.cwd.display().to_string()));
    exec.extend(spec.argv.iter().map(|a| quote(a)));
    lines.push(exec.join(" "));
    lines
}

/// The whole command line: `unshare` around an `sh -ec` script. `idmap`
/// (rootless) adds the user namespace with the store's id map.
pub fn command_line(spec: &LaunchSpec, idmap: Option<&crate::sandbox::idmap::IdMap>) -> String {
    let mut ns: Vec<String> = vec!["unshare".into()];
    if idmap.is_some() {
        // util-linux keeps only the last --map-users; --map-auto maps the
        // caller's first subordinate range after 0 → caller, as we do
        // (one id shorter: it stops at 65535).
        ns.push("--map-auto --map-user=0 --map-group=0".into());
    }
    ns.push("--mount --propagation slave".into());
    if spec.network == super::Network::None {
        ns.push("--net".into());
    }
    if spec.namespaces {
        ns.push("--uts --ipc --pid --fork".into());
    }
    format!(
        "{} -- sh -ec {}",
        ns.join(" "),
        quote(&script(spec).join("\n"))
    )
}
