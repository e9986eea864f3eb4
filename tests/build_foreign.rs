//! `build -a ARCH` of an image foreign to this host: its RUN steps execute
//! through qemu-user (the rig registers a binfmt entry), as root and
//! rootless, and the result carries that architecture.

mod common;

use common::{require_root, rig, As, TestStore};
use std::path::Path;

/// The architecture of the rig's multi-arch image that this host is not.
fn foreign() -> (&'static str, &'static str) {
    if cfg!(target_arch = "aarch64") {
        ("x86_64", "amd64")
    } else {
        ("aarch64", "arm64")
    }
}

/// A context whose RUN records the machine the step saw, owned by `who`.
fn context(store: &TestStore, who: As) -> std::path::PathBuf {
    let ctx = store.root().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nRUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]\n",
            rig().get("CD_RIG_FIXTURE_MULTI")
        ),
    )
    .unwrap();
    if who == As::User {
        let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
        for entry in [ctx.as_path(), &ctx.join("Dockerfile")] {
            std::os::unix::fs::chown(entry, Some(uid), Some(uid)).unwrap();
        }
    }
    ctx
}

fn binfmt_registered() -> bool {
    let entry = rig().get("CD_RIG_BINFMT_ENTRY");
    std::fs::read_to_string(entry).is_ok_and(|s| s.starts_with("enabled"))
        || common::skip::skip(&format!(
            "no qemu binfmt entry at {entry} (the rig registers one)"
        ))
}

fn builds_and_runs_foreign(who: As) {
    let (arch, platform) = foreign();
    let store = TestStore::for_who(who);
    let ctx = context(&store, who);
    let archive = store.root().join("out.oci.tar");
    store
        .run_as(
            who,
            &[
                "build",
                "-q",
                "-a",
                arch,
                "--install-as",
                "foreign",
                "-o",
                archive.to_str().unwrap(),
                ctx.to_str().unwrap(),
            ],
        )
        .ok();
    // The step ran as the foreign machine (qemu), and so does the session.
    let run = store.run_as(who, &["run", "foreign"]);
    assert_eq!(run.ok().stdout, format!("{arch}\n"));
    assert_eq!(architecture_of(&archive), platform);
}

fn architecture_of(archive: &Path) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {out:?}");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    config["architecture"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_foreign_run_step_executes_through_qemu_as_root() {
    if !require_root("root-mode RUN steps") || !binfmt_registered() {
        return;
    }
    builds_and_runs_foreign(As::Root);
}

#[test]
fn a_foreign_run_step_executes_through_qemu_rootless() {
    if !require_root("switching to the rig user") || !binfmt_registered() {
        return;
    }
    builds_and_runs_foreign(As::User);
}
