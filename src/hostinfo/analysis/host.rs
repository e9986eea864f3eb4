//! Findings about the host: privilege, namespaces, helper, mounts, kernel.

use super::{finding, Finding, Severity};
use crate::hostinfo::capabilities::{Capabilities, Feature};
use crate::hostinfo::helper::{Policy, POLICY};
use crate::hostinfo::program::Program;
use crate::hostinfo::userns::UserNamespaces;
use crate::hostinfo::Probe;
use crate::ui::human_size;

use Severity::{Note, Ok, Warn};

/// Below this much free space an install of a distro image may not fit.
const LOW_SPACE: u64 = 1 << 30;

/// Collects findings whose subject is the host.
struct Out(Vec<Finding>);

impl Out {
    fn add(&mut self, severity: Severity, message: impl Into<String>) {
        self.0.push(finding(severity, "host", message));
    }
}

pub fn host_findings(program: &Program, caps: &Capabilities) -> Vec<Finding> {
    let mut out = Out(Vec::new());
    if program.is_root {
        out.add(Ok, "running as root: installs keep real file ownership");
    } else {
        rootless(&mut out, caps);
    }
    // Root sets sessions up itself: the helper's state does not matter.
    if !program.is_root {
        helper(&mut out, caps);
    }
    mounts(&mut out, caps);
    kernel(
        &mut out,
        "Landlock",
        &caps.landlock,
        "unpacking runs without file-system confinement",
    );
    kernel(
        &mut out,
        "openat2",
        &caps.openat2,
        "rootfs paths are resolved by the fd-by-fd fallback",
    );
    if let Probe::Known(s) = &caps.disk_space {
        if s.free_bytes < LOW_SPACE {
            let free = human_size(s.free_bytes);
            out.add(Warn, format!("only {free} free on {}", s.path.display()));
        }
    }
    out.0
}

fn rootless(out: &mut Out, caps: &Capabilities) {
    let ns = &caps.user_namespaces;
    match &ns.usable {
        Probe::Known(true) => {
            out.add(Ok, "user namespaces work: rootless installs and sessions");
            let ids = &caps.id_mapping;
            if ids.subuid.is_empty() || ids.subgid.is_empty() {
                out.add(
                    Note,
                    "no /etc/subuid or /etc/subgid range for you: rootless containers map \
                     only your own uid, other owners are squashed",
                );
            } else if !ids.helpers_privileged() {
                out.add(
                    Warn,
                    "newuidmap/newgidmap missing or without privilege: subordinate ids \
                     cannot be mapped (install the uidmap package)",
                );
            }
        }
        Probe::Known(false) => out.add(
            Warn,
            format!(
                "user namespaces unavailable ({}) and not root: rootless installs will \
                 squash ownership",
                why_no_userns(ns)
            ),
        ),
        Probe::Unknown { unknown } => {
            out.add(Note, format!("user namespace probe failed: {unknown}"))
        }
    }
    if caps.escalation_tools.is_empty() {
        out.add(
            Note,
            "no sudo, doas, pkexec or su found: --root sessions cannot elevate",
        );
    }
}

fn why_no_userns(ns: &UserNamespaces) -> String {
    let mut why: Vec<&str> = ns.failure.as_deref().into_iter().collect();
    if ns.max_user_namespaces == Some(0) {
        why.push("user.max_user_namespaces is 0");
    }
    if ns.unprivileged_userns_clone == Some(false) {
        why.push("kernel.unprivileged_userns_clone is 0");
    }
    if ns.apparmor_restrict_unprivileged_userns == Some(true) {
        why.push("AppArmor restricts unprivileged user namespaces");
    }
    why.join("; ")
}

fn helper(out: &mut Out, caps: &Capabilities) {
    let helper = &caps.helper;
    match &helper.policy {
        Policy::Unsafe { reason } => out.add(
            Warn,
            format!("{POLICY} {reason}: unsafe, cd-mount-helper denies everything"),
        ),
        Policy::Missing if helper.executable.is_some() => out.add(
            Note,
            format!(
                "cd-mount-helper is installed but {POLICY} is missing: it refuses every request"
            ),
        ),
        Policy::Unreadable { reason } => out.add(
            Note,
            format!(
                "cannot read {POLICY} ({reason}): cd-mount-helper cannot either, it denies you"
            ),
        ),
        Policy::Malformed { reason } => out.add(
            Warn,
            format!("{POLICY}: {reason}; cd-mount-helper denies everything"),
        ),
        Policy::Missing | Policy::Present => {}
    }
    if let Some(Probe::Known(x)) = &helper.executable {
        if !x.setuid_root() && x.caps().is_none() {
            let at = x.path.display();
            out.add(
                Note,
                format!(
                    "{at} has neither setuid root nor file capabilities: it cannot mount for you"
                ),
            );
        }
    }
}

fn mounts(out: &mut Out, caps: &Capabilities) {
    let mut seen = Vec::new();
    let all = std::iter::once(&caps.store_mount).chain(caps.termux_data_mount.as_ref());
    for m in all.filter_map(Probe::known) {
        if seen.contains(&&m.mount_point) {
            continue;
        }
        seen.push(&m.mount_point);
        let at = m.mount_point.display();
        if m.noexec {
            out.add(
                Warn,
                format!("{at} is mounted noexec: nothing in a container there can run"),
            );
        }
        if m.nosuid {
            out.add(
                Warn,
                format!(
                    "{at} is mounted nosuid: setuid programs (sudo, su, ping) fail in containers"
                ),
            );
        }
    }
}

fn kernel(out: &mut Out, name: &str, feature: &Probe<Feature>, consequence: &str) {
    if let Probe::Known(f) = feature {
        if !f.available {
            let why = f.reason.as_deref().unwrap_or("unknown");
            out.add(Note, format!("{name} unavailable ({why}): {consequence}"));
        }
    }
}
