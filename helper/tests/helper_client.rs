//! The main binary's side: `login --root` for a non-root caller goes
//! through the setcap'd helper when the policy grants it, and falls back
//! to elevation when it does not.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{
    debian, remove_policy, require_root, rig, run_as_user, set_policy, Groups, REAL_ROOT,
};

/// The main binary, built if needed, copied where the rig user can run it.
fn main_bin() -> PathBuf {
    let ws = support::workspace();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--locked", "-p", "chroot-distro", "--bin", "chroot-distro"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    let src = target.join("debug/chroot-distro");
    let dir = Path::new(rig().get("CD_RIG_BIN_DIR")).join("helper-client");
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join("chroot-distro");
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::copy(&src, &tmp).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
    dst
}

fn login(args: &[&str]) -> support::Out {
    let bin = main_bin();
    let helper = support::helper_bin();
    let mut all: Vec<String> = vec![format!("CD_MOUNT_HELPER={}", helper.display())];
    all.push(format!("HOME={}", rig().get("CD_RIG_HOME")));
    all.push(bin.display().to_string());
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run_as_user(Path::new("/usr/bin/env"), Groups::Init, &all)
}

#[test]
fn login_root_goes_through_the_helper_when_the_policy_allows_it() {
    if !require_root("setcap'd helper and the rig user") {
        return;
    }
    debian("client-deb");
    set_policy(REAL_ROOT);
    let out = login(&["login", "client-deb", "--root", "--", "id -u; stat -c %U:%G /etc/shadow"]);
    out.ok().no_leak();
    assert_eq!(out.stdout, "0\nroot:shadow\n", "{out:?}");
    // Exit codes pass through the helper.
    assert_eq!(login(&["login", "client-deb", "--root", "--", "exit 5"]).code, 5);
    // info says what the policy grants (the helper found through PATH).
    let helper_dir = support::helper_bin().parent().unwrap().display().to_string();
    let bin = main_bin();
    let path = format!("PATH={helper_dir}:/usr/bin:/bin");
    let info = run_as_user(
        Path::new("/usr/bin/env"),
        Groups::Init,
        &[&path, &format!("HOME={}", rig().get("CD_RIG_HOME")), bin.to_str().unwrap(), "info"],
    );
    assert!(info.stdout.contains("real-root sessions granted to you"), "{info:?}");
    // Without a grant, --root falls back to elevation, here turned off.
    remove_policy();
    let out = login(&["login", "client-deb", "--root", "--no-elevate", "--", "true"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("elevation is turned off"), "{out:?}");
    set_policy(REAL_ROOT);
}
