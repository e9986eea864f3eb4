use super::*;
use crate::env::EnvSnapshot;
use crate::hostinfo::binfmt::parse_handler;
use crate::hostinfo::helper::Policy;
use crate::hostinfo::images::{GuestArch, Layout};
use crate::store::Source;
use std::collections::BTreeMap;

/// This host's real sections, to be bent into the case under test.
fn sections() -> (Program, Host, Capabilities) {
    let env = EnvSnapshot::from_pairs([("PATH", "/usr/bin:/bin")]);
    let program = Program::gather(Err("no store in this test".into()));
    let host = Host::gather(&env);
    let caps = Capabilities::gather(&env, &host, &program, None);
    (program, host, caps)
}

fn image(name: &str, arch: Option<&str>, source: Source, layout: Layout) -> Image {
    Image {
        name: name.into(),
        rootfs: format!("/store/containers/{name}/rootfs").into(),
        size_bytes: Some(4096),
        size_complete: true,
        arch: match arch {
            Some(a) => Probe::Known(GuestArch {
                arch: a.into(),
                bits: 64,
                file: "bin/sh".into(),
            }),
            None => Probe::unknown("none of bin/sh exists"),
        },
        source,
        status: "idle",
        pids: Vec::new(),
        manifest_type: None,
        labels: BTreeMap::new(),
        layout: Probe::Known(layout),
    }
}

const FINE: Layout = Layout {
    empty: false,
    has_shell: true,
    has_etc: true,
};

fn messages(f: &[Finding], severity: Severity) -> Vec<String> {
    f.iter()
        .filter(|x| x.severity == severity)
        .map(|x| x.message.clone())
        .collect()
}

#[test]
fn foreign_architectures_need_qemu_or_compat() {
    let (_, mut host, mut caps) = sections();
    host.arch = "x86_64".into();
    caps.binfmt.mounted = true;
    caps.binfmt.enabled = Some(true);
    caps.binfmt.qemu_handlers = vec![parse_handler(
        "qemu-aarch64",
        "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n",
    )];
    assert_eq!(arch_verdict("x86_64", &host, &caps).0, Severity::Ok);
    let (s, m) = arch_verdict("aarch64", &host, &caps);
    assert_eq!(s, Severity::Note, "{m}");
    assert!(m.contains("qemu-aarch64"), "{m}");
    let (s, m) = arch_verdict("riscv64", &host, &caps);
    assert_eq!(s, Severity::Warn);
    assert!(m.contains("no enabled qemu-riscv64"), "{m}");
    caps.binfmt.qemu_handlers[0].flags.clear();
    caps.binfmt.qemu_handlers[0].fix_binary = false;
    let (_, m) = arch_verdict("aarch64", &host, &caps);
    assert!(m.contains("lacks the F flag"), "{m}");
    caps.binfmt.mounted = false;
    caps.binfmt.enabled = None;
    let (s, m) = arch_verdict("aarch64", &host, &caps);
    assert_eq!(s, Severity::Warn);
    assert!(m.contains("binfmt_misc is not mounted"), "{m}");
    host.compat_32bit.supported = Some(true);
    assert_eq!(arch_verdict("i686", &host, &caps).0, Severity::Ok);
    host.compat_32bit.supported = Some(false);
    assert_eq!(arch_verdict("i686", &host, &caps).0, Severity::Warn);
}

#[test]
fn rootless_without_user_namespaces_warns() {
    let (mut program, _, mut caps) = sections();
    program.is_root = false;
    caps.user_namespaces.usable = Probe::Known(false);
    caps.user_namespaces.failure = Some("unshare(CLONE_NEWUSER): Operation not permitted".into());
    let warns = messages(&host_findings(&program, &caps), Severity::Warn);
    assert!(
        warns
            .iter()
            .any(|m| m.contains("rootless installs will squash ownership")
                && m.contains("Operation not permitted")),
        "{warns:?}"
    );
    program.is_root = true;
    let f = host_findings(&program, &caps);
    assert!(!messages(&f, Severity::Warn)
        .iter()
        .any(|m| m.contains("squash")));
    assert!(messages(&f, Severity::Ok)
        .iter()
        .any(|m| m.contains("root")));
}

#[test]
fn unsafe_helper_policy_and_nosuid_store_warn() {
    let (mut program, _, mut caps) = sections();
    program.is_root = false;
    caps.helper.policy = Policy::Unsafe {
        reason: "owned by uid 1000, not root".into(),
    };
    caps.store_mount = Probe::Known(crate::hostinfo::mounts::Mount {
        mount_point: "/data".into(),
        fs_type: "f2fs".into(),
        read_only: false,
        nosuid: true,
        noexec: false,
        nodev: true,
    });
    let warns = messages(&host_findings(&program, &caps), Severity::Warn);
    assert!(
        warns.iter().any(|m| m.contains("denies everything")),
        "{warns:?}"
    );
    assert!(
        warns.iter().any(|m| m.contains("/data is mounted nosuid")),
        "{warns:?}"
    );
    // Root needs no helper, so its policy is no finding for root.
    program.is_root = true;
    let warns = messages(&host_findings(&program, &caps), Severity::Warn);
    assert!(
        !warns.iter().any(|m| m.contains("denies everything")),
        "{warns:?}"
    );
}

#[test]
fn image_findings_cover_manifest_and_layout() {
    let (_, host, caps) = sections();
    let harch = host.arch.clone();
    let plain = image("plain", Some(&harch), Source::LocalArchive, FINE);
    let f = image_findings(&plain, &host, &caps);
    assert!(messages(&f, Severity::Ok)
        .iter()
        .any(|m| m.contains("matches the host")));
    assert!(messages(&f, Severity::Note)
        .iter()
        .any(|m| m.contains("'reset' and 'run'")));
    assert!(f.iter().all(|x| x.subject == "plain"));

    let bad = Source::Unreadable {
        error: "expected value at line 1".into(),
    };
    let odd = Layout {
        empty: false,
        has_shell: false,
        has_etc: false,
    };
    let f = image_findings(&image("odd", None, bad, odd), &host, &caps);
    let warns = messages(&f, Severity::Warn);
    assert!(
        warns.iter().any(|m| m.contains("unreadable manifest")),
        "{warns:?}"
    );
    assert_eq!(warns.iter().filter(|m| m.contains("unusual")).count(), 2);
    assert!(messages(&f, Severity::Note)
        .iter()
        .any(|m| m.contains("architecture not detected")));

    let empty = Layout {
        empty: true,
        has_shell: false,
        has_etc: false,
    };
    let declared = Source::Image {
        image_ref: "debian:12".into(),
        arch: "amd64".into(),
    };
    let f = image_findings(&image("void", None, declared, empty), &host, &caps);
    assert_eq!(messages(&f, Severity::Warn), ["rootfs is empty"]);
    assert!(messages(&f, Severity::Note).is_empty(), "{f:?}");
}

#[test]
fn declared_architecture_mismatch_is_noted() {
    let (_, host, caps) = sections();
    let src = Source::Image {
        image_ref: "debian:12".into(),
        arch: "arm64".into(),
    };
    let img = image("deb", Some("x86_64"), src, FINE);
    let notes = messages(&image_findings(&img, &host, &caps), Severity::Note);
    assert!(
        notes
            .iter()
            .any(|m| m.contains("manifest says arm64 but /bin/sh is x86_64")),
        "{notes:?}"
    );
}
