//! Findings about one container: layout, architecture, manifest.

use super::{finding, Finding, Severity};
use crate::hostinfo::arch;
use crate::hostinfo::capabilities::Capabilities;
use crate::hostinfo::host::Host;
use crate::hostinfo::images::Image;
use crate::hostinfo::Probe;
use crate::store::Source;

pub fn image_findings(img: &Image, host: &Host, caps: &Capabilities) -> Vec<Finding> {
    use Severity::{Note, Warn};
    let mut out = Vec::new();
    let mut add = |s, m: String| out.push(finding(s, &img.name, m));
    let empty = match &img.layout {
        Probe::Known(l) if l.empty => {
            add(Warn, "rootfs is empty".into());
            true
        }
        Probe::Known(l) => {
            if !l.has_shell {
                add(Warn, "unusual rootfs: no /bin/sh or other shell".into());
            }
            if !l.has_etc {
                add(Warn, "unusual rootfs: no /etc directory".into());
            }
            false
        }
        Probe::Unknown { unknown } => {
            add(Warn, format!("rootfs unreadable: {unknown}"));
            true
        }
    };
    match &img.arch {
        Probe::Known(g) => {
            let (s, m) = arch_verdict(&g.arch, host, caps);
            add(s, m);
            if let Source::Image { arch: declared, .. } = &img.source {
                if !declared.is_empty() && arch::normalise(declared) != g.arch {
                    add(
                        Note,
                        format!("manifest says {declared} but /{} is {}", g.file, g.arch),
                    );
                }
            }
        }
        Probe::Unknown { unknown } if !empty => {
            add(Note, format!("architecture not detected: {unknown}"))
        }
        Probe::Unknown { .. } => {}
    }
    match &img.source {
        Source::LocalArchive => add(
            Note,
            "no manifest.json (local archive): 'reset' and 'run' have no image to start from"
                .into(),
        ),
        Source::Unreadable { error } => add(
            Warn,
            format!("unreadable manifest: {error}; 'reset' and 'run' cannot use it"),
        ),
        Source::Image { .. } => {}
    }
    if img.size_bytes.is_some() && !img.size_complete {
        add(
            Note,
            "some directories are unreadable: the size is a lower bound".into(),
        );
    }
    out
}

/// Whether a guest of `guest` architecture runs on this host, and how.
pub fn arch_verdict(guest: &str, host: &Host, caps: &Capabilities) -> (Severity, String) {
    let h = &host.arch;
    if guest == h {
        return (Severity::Ok, format!("{guest} matches the host"));
    }
    if arch::compat_companion(h) == Some(guest) && host.compat_32bit.supported == Some(true) {
        return (
            Severity::Ok,
            format!("{guest} runs natively on this {h} host (32-bit compat)"),
        );
    }
    if let Some(hd) = caps.binfmt.handler_for(guest) {
        let how = format!(
            "{guest} on an {h} host: runs through QEMU (binfmt_misc {}), slowly",
            hd.name
        );
        if hd.fix_binary {
            return (Severity::Note, how);
        }
        let interp = hd.interpreter.as_deref().unwrap_or("its interpreter");
        return (
            Severity::Note,
            format!(
                "{how}; the handler lacks the F flag, so {interp} must exist inside the container"
            ),
        );
    }
    let q = arch::qemu_name(guest).unwrap_or(guest);
    let mut why = if !caps.binfmt.mounted {
        "binfmt_misc is not mounted".to_owned()
    } else if caps.binfmt.enabled != Some(true) {
        "binfmt_misc is disabled".to_owned()
    } else {
        format!("no enabled qemu-{q} binfmt_misc handler")
    };
    let names = [format!("qemu-{q}"), format!("qemu-{q}-static")];
    if let Some(b) = caps
        .binfmt
        .qemu_binaries
        .iter()
        .find(|b| names.contains(&b.name))
    {
        why.push_str(&format!("; {} is installed but not registered", b.name));
    }
    (
        Severity::Warn,
        format!("{guest} on an {h} host cannot run: {why}"),
    )
}
