//! `info`: host and container diagnostics for bug reports.

use crate::cli::{flag, json_flag, print_json, Ctx, RunResult};
use crate::report::Exit;
use chroot_distro::hostinfo::analysis::Severity;
use chroot_distro::hostinfo::android::Android;
use chroot_distro::hostinfo::binfmt::Handler;
use chroot_distro::hostinfo::capabilities::{Capabilities, Feature};
use chroot_distro::hostinfo::executables::{Executable, Found};
use chroot_distro::hostinfo::helper::{Helper, Policy};
use chroot_distro::hostinfo::host::Host;
use chroot_distro::hostinfo::images::{GuestArch, Image};
use chroot_distro::hostinfo::mounts::Mount;
use chroot_distro::hostinfo::program::Program;
use chroot_distro::hostinfo::storage::Space;
use chroot_distro::hostinfo::userns::UserNamespaces;
use chroot_distro::hostinfo::{self, Probe, Report};
use chroot_distro::ui::human_size;
use chroot_distro::users::SubIdRange;
use clap::{ArgMatches, Command};
use std::path::{Path, PathBuf};

pub fn command() -> Command {
    json_flag(Command::new("info").about("Print host and container diagnostics for bug reports"))
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let paths = ctx.store_paths();
    let store = match &paths {
        Ok(p) => Ok(p),
        Err(f) => Err(f.message.clone()),
    };
    let report = hostinfo::gather(&ctx.env, store);
    if flag(m, "json") {
        return print_json(&report);
    }
    print!("{}", render(&report, ctx));
    Ok(Exit::Ok)
}

/// The lines of one section: `key: value` pairs, indented below a heading
/// once one has been added.
#[derive(Default)]
struct Rows {
    lines: Vec<(Option<&'static str>, String)>,
    nested: bool,
}

impl Rows {
    fn kv(&mut self, key: &'static str, value: impl Into<String>) {
        self.lines.push((Some(key), value.into()));
    }
    fn heading(&mut self, text: &str) {
        self.nested = true;
        self.lines.push((None, text.to_owned()));
    }
}

fn render(r: &Report, ctx: &Ctx) -> String {
    let mut out = String::new();
    let sections = [
        ("Program", program_rows(&r.program)),
        ("Host", host_rows(&r.host)),
        (
            "Capabilities",
            capability_rows(&r.capabilities, r.program.euid == 0),
        ),
        ("Images", image_rows(&r.images)),
    ];
    for (title, rows) in sections {
        out.push_str(&format!("{}\n", ctx.out.bold(title)));
        let indent = if rows.nested { "    " } else { "  " };
        let keys = rows.lines.iter().filter_map(|(k, _)| k.map(str::len));
        let width = keys.max().unwrap_or(0) + 1;
        for (key, value) in rows.lines {
            match key {
                Some(key) => {
                    out.push_str(&format!("{indent}{:width$} {value}\n", format!("{key}:")))
                }
                None => out.push_str(&format!("  {}\n", ctx.out.bold(&value))),
            }
        }
        out.push('\n');
    }
    out.push_str(&ctx.out.bold("Analysis"));
    out.push('\n');
    for f in &r.analysis {
        let tag = match f.severity {
            Severity::Ok => ctx.out.green("ok  "),
            Severity::Note => ctx.out.dim("note"),
            Severity::Warn => ctx.out.yellow("warn"),
        };
        out.push_str(&format!("  {tag}  {}: {}\n", f.subject, f.message));
    }
    out
}

fn probe<T>(p: &Probe<T>, show: impl Fn(&T) -> String) -> String {
    match p {
        Probe::Known(v) => show(v),
        Probe::Unknown { unknown } => format!("unknown ({unknown})"),
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn program_rows(p: &Program) -> Rows {
    let who = p.user.clone().unwrap_or_else(|| "(no passwd entry)".into());
    let mut caller = format!("{who} (uid {}, gid {})", p.uid, p.gid);
    if p.euid != p.uid {
        caller.push_str(&format!(", effective uid {}", p.euid));
    }
    let mut r = Rows::default();
    r.kv("version", p.version);
    r.kv("executable", probe(&p.executable, |e| path(e)));
    r.kv("runtime dir", probe(&p.runtime_dir, |d| path(d)));
    r.kv("cache dir", probe(&p.cache_dir, |d| path(d)));
    r.kv("caller", caller);
    r.kv("root", yes_no(p.is_root));
    r
}

fn host_rows(h: &Host) -> Rows {
    let mut r = Rows::default();
    r.kv("system", probe(&h.os, String::clone));
    if let Some(t) = &h.termux {
        let version = t.version.as_deref().unwrap_or("unknown version");
        r.kv("termux", format!("{version} ({})", path(&t.prefix)));
        let device = |a: &Android| a.device.clone().unwrap_or_else(|| "unknown".into());
        r.kv("device", probe(&t.android, device));
    }
    r.kv("kernel", &h.kernel);
    r.kv("libc", &h.libc);
    match h.machine == h.arch {
        true => r.kv("architecture", &h.arch),
        false => r.kv("architecture", format!("{} (uname: {})", h.arch, h.machine)),
    }
    let c = &h.compat_32bit;
    let answer = c.supported.map_or_else(|| "unknown".into(), yes_no);
    r.kv("32-bit support", format!("{answer} ({})", c.reason));
    r
}

fn found_list(found: &[Found]) -> String {
    if found.is_empty() {
        return "none found".into();
    }
    let items: Vec<String> = found
        .iter()
        .map(|f| format!("{} ({})", f.name, path(&f.path)))
        .collect();
    items.join(", ")
}

fn ranges(r: &[SubIdRange]) -> String {
    let items: Vec<String> = r
        .iter()
        .map(|x| format!("{}:{}", x.start, x.count))
        .collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn executable(x: &Executable) -> String {
    format!("{} ({})", path(&x.path), x.describe())
}

fn found_path(p: &Option<PathBuf>) -> String {
    p.as_deref().map_or_else(|| "not found".into(), path)
}

/// Which helper `login --root` would use and which rule of the search
/// order found it; for root, that none is used.
fn helper_line(h: &Helper, root: bool) -> String {
    let found = match (&h.executable, h.found_by, &h.missing) {
        (Some(p), Some(rule), _) => probe(p, |x| {
            format!("{}, {} ({})", path(&x.path), rule.describe(), x.describe())
        }),
        (_, _, Some(missing)) => format!("none: {missing}"),
        _ => "none".into(),
    };
    if root {
        format!("not used: you are root, so sessions are set up directly (installed: {found})")
    } else {
        found
    }
}

fn capability_rows(c: &Capabilities, root: bool) -> Rows {
    let mut r = Rows::default();
    r.kv("elevation tools", found_list(&c.escalation_tools));
    r.kv("store mount", probe(&c.store_mount, Mount::describe));
    if let Some(m) = &c.termux_data_mount {
        r.kv("/data mount", probe(m, Mount::describe));
    }
    let b = &c.binfmt;
    r.kv(
        "binfmt_misc",
        match (b.mounted, b.enabled) {
            (false, _) => "not mounted",
            (true, Some(true)) => "mounted, enabled",
            (true, Some(false)) => "mounted, disabled",
            (true, None) => "mounted, status unreadable",
        },
    );
    if b.mounted {
        let mut handlers: Vec<String> = b.qemu_handlers.iter().map(handler).collect();
        handlers.extend(b.error.as_ref().map(|e| format!("[{e}]")));
        let none = handlers.is_empty();
        r.kv(
            "qemu handlers",
            if none {
                "none".into()
            } else {
                handlers.join(", ")
            },
        );
    }
    r.kv("qemu binaries", found_list(&b.qemu_binaries));
    r.kv("unshare", found_path(&c.unshare));
    r.kv("nsenter", found_path(&c.nsenter));
    r.kv("user namespaces", userns(&c.user_namespaces));
    let ids = &c.id_mapping;
    r.kv("subuid ranges", ranges(&ids.subuid));
    r.kv("subgid ranges", ranges(&ids.subgid));
    for (key, tool) in [("newuidmap", &ids.newuidmap), ("newgidmap", &ids.newgidmap)] {
        r.kv(
            key,
            tool.as_ref().map_or_else(|| "not found".into(), executable),
        );
    }
    r.kv("mount helper", helper_line(&c.helper, root));
    let policy = match &c.helper.policy {
        Policy::Missing => "missing (the helper refuses every request)".into(),
        Policy::Present => "present, root-owned, valid".into(),
        Policy::Unsafe { reason } => format!("unsafe: {reason}; the helper denies everything"),
        Policy::Unreadable { reason } => {
            format!("unreadable to you ({reason}): the helper reads it as you, so it denies you")
        }
        Policy::Malformed { reason } => format!("invalid: {reason}; the helper denies everything"),
    };
    r.kv(
        "helper policy",
        format!("{} {policy}", c.helper.policy_path),
    );
    // A root caller sets sessions up itself: what the policy would grant
    // others says nothing about it.
    if let Some(g) = c.helper.grants.as_ref().filter(|_| !root) {
        let verdict = if g.sessions {
            "real-root sessions granted to you"
        } else {
            "no real-root sessions for you"
        };
        let detail: Vec<&str> = g
            .report
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("policy file:") && !l.starts_with("caller:"))
            .collect();
        r.kv(
            "helper grants",
            format!("{verdict} ({})", detail.join("; ")),
        );
    }
    r.kv("landlock", probe(&c.landlock, Feature::describe));
    r.kv("openat2", probe(&c.openat2, Feature::describe));
    let space = |s: &Space| {
        let (free, total) = (human_size(s.free_bytes), human_size(s.total_bytes));
        format!("{free} free of {total} ({})", path(&s.path))
    };
    r.kv("disk space", probe(&c.disk_space, space));
    r.kv("download cache", probe(&c.cache_bytes, |b| human_size(*b)));
    r.kv("selinux", probe(&c.security.selinux, String::clone));
    let aa = &c.security.apparmor;
    let apparmor = |on: &bool| match (on, aa.profiles) {
        (true, Some(n)) => format!("enabled, {n} profiles loaded"),
        (true, None) => "enabled".into(),
        (false, _) => "disabled".into(),
    };
    r.kv("apparmor", probe(&aa.enabled, apparmor));
    r
}

fn handler(h: &Handler) -> String {
    let state = if h.enabled { "enabled" } else { "disabled" };
    format!("{} ({state}, flags {})", h.name, h.flags)
}

fn userns(ns: &UserNamespaces) -> String {
    let mut text = probe(&ns.usable, |ok| match (ok, &ns.failure) {
        (true, _) => "usable".into(),
        (false, Some(why)) => format!("not usable ({why})"),
        (false, None) => "not usable".into(),
    });
    if ns.probed_as_root {
        text.push_str(", probed as root");
    }
    if let Some(max) = ns.max_user_namespaces {
        text.push_str(&format!(", max {max}"));
    }
    if ns.apparmor_restrict_unprivileged_userns == Some(true) {
        text.push_str(", AppArmor-restricted");
    }
    text
}

/// Labels shown in the text report, by the key they are shown under.
const SHOWN_LABELS: [(&str, &str); 3] = [
    ("title", "org.opencontainers.image.title"),
    ("description", "org.opencontainers.image.description"),
    ("version", "org.opencontainers.image.version"),
];

fn image_rows(images: &Probe<Vec<Image>>) -> Rows {
    let mut r = Rows::default();
    let list = match images {
        Probe::Known(l) if !l.is_empty() => l,
        Probe::Known(_) => {
            r.kv("containers", "none installed");
            return r;
        }
        Probe::Unknown { unknown } => {
            r.kv("containers", format!("unknown ({unknown})"));
            return r;
        }
    };
    for img in list {
        r.heading(&img.name);
        let size = img.size_bytes.map(human_size);
        r.kv(
            "size",
            match size {
                Some(s) if img.size_complete => s,
                Some(s) => format!(">= {s}"),
                None => "unknown".into(),
            },
        );
        let arch = |g: &GuestArch| format!("{} ({}-bit ELF, /{})", g.arch, g.bits, g.file);
        r.kv("architecture", probe(&img.arch, arch));
        r.kv("source", img.source.describe());
        let pids: Vec<String> = img.pids.iter().map(u32::to_string).collect();
        match pids.is_empty() {
            true => r.kv("status", "idle"),
            false => r.kv("status", format!("in use ({})", pids.join(", "))),
        }
        if let Some(url) = img.source_url() {
            r.kv("source url", url);
        }
        for (key, label) in SHOWN_LABELS {
            if let Some(v) = img.labels.get(label) {
                r.kv(key, v);
            }
        }
        if let Some(t) = &img.manifest_type {
            r.kv("image type", t);
        }
    }
    r
}
