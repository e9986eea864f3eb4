//! The store through the CLI: list, rename, remove, clear-cache, locks,
//! staging leftovers, and bad input.

mod common;

use common::{require_root, Outcome, TestStore};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

/// Holds a flock on a container's lock file from another process, the way a
/// running session or install would.
struct Holder(Child);

impl Holder {
    fn new(store: &TestStore, name: &str, shared: bool) -> Self {
        let locks = store.runtime_dir().join("locks");
        std::fs::create_dir_all(&locks).unwrap();
        let file = locks.join(format!("{name}.lock"));
        let mut child = Command::new("flock")
            .arg(if shared { "-s" } else { "-x" })
            .arg("-o")
            .arg(&file)
            .args(["sh", "-c", "echo locked; exec sleep 60"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("flock(1)");
        // Wait until the lock is really held.
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn empty_store_suggests_install() {
    let store = TestStore::new();
    let out = store.run(&["list"]);
    out.ok();
    assert!(out.stdout.contains("No containers installed"), "{out:#?}");
    assert!(out.stdout.contains("chroot-distro install"), "{out:#?}");
    assert_eq!(store.run(&["list", "-q"]).ok().stdout, "");
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(json, serde_json::json!([]));
    // Listing creates nothing.
    assert!(!store.runtime_dir().exists());
}

#[test]
fn lists_a_store_laid_out_by_the_python_tool() {
    let store = TestStore::new();
    let deb = store.add_python_container("deb", true);
    store.add_python_container("plain", false);
    std::fs::write(deb.join("rootfs/usr/bin/big"), vec![1u8; 3 << 20]).unwrap();
    // Staging leftovers and strays are not containers.
    std::fs::create_dir_all(store.runtime_dir().join("containers/.staging-1-x/rootfs")).unwrap();
    std::fs::create_dir_all(store.runtime_dir().join("containers/norootfs")).unwrap();

    let out = store.run(&["list"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("NAME") && lines[0].contains("STATUS"));
    assert!(lines[1].starts_with("deb "), "{}", lines[1]);
    assert!(lines[1].contains("localhost:5443/debian:bookworm (x86_64)"));
    // 3 MiB of data and a few one-block files: still 3.0 MiB.
    assert!(lines[1].contains(" 3.0 MiB "), "{}", lines[1]);
    assert!(lines[1].ends_with("idle"));
    assert!(lines[2].starts_with("plain ") && lines[2].contains("local archive"));

    assert_eq!(store.run(&["ls", "-q"]).ok().stdout, "deb\nplain\n");

    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["list", "--json"]).stdout).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["name"], "deb");
    assert_eq!(arr[0]["source"]["kind"], "image");
    assert_eq!(
        arr[0]["source"]["image_ref"],
        "localhost:5443/debian:bookworm"
    );
    assert_eq!(arr[0]["source"]["arch"], "x86_64");
    assert_eq!(arr[0]["status"], "idle");
    assert!(arr[0]["size_bytes"].as_u64().unwrap() >= 3 << 20);
    assert_eq!(arr[0]["size_complete"], true);
    assert_eq!(arr[1]["source"]["kind"], "local_archive");
}

#[test]
fn list_counts_hard_links_once_and_stays_on_its_file_system() {
    if !require_root("mounting a file system inside the rootfs") {
        return;
    }
    let store = TestStore::new();
    let dir = store.add_python_container("c", false);
    let big = dir.join("rootfs/usr/bin/big");
    std::fs::write(&big, vec![1u8; 4 << 20]).unwrap();
    for i in 0..3 {
        std::fs::hard_link(&big, dir.join(format!("rootfs/usr/bin/link{i}"))).unwrap();
    }
    // 8 MiB on another file system inside the rootfs (a session's bind,
    // say): counting it would take the size past 12 MiB.
    let mnt = dir.join("rootfs/mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let _mount = TmpfsMount::new(&mnt);
    std::fs::write(mnt.join("other-fs"), vec![1u8; 8 << 20]).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["list", "--json"]).stdout).unwrap();
    let size = json[0]["size_bytes"].as_u64().unwrap();
    assert!((4 << 20..5 << 20).contains(&size), "size {size}");
}

/// A tmpfs mounted on a directory, unmounted (lazily) when dropped.
struct TmpfsMount(std::path::PathBuf);

impl TmpfsMount {
    fn new(at: &std::path::Path) -> Self {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", at.display());
        Self(at.to_path_buf())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_locked_container_shows_its_holder_and_refuses_mutation() {
    let store = TestStore::new();
    store.add_python_container("deb", true);
    let holder = Holder::new(&store, "deb", true);
    let pid = holder.pid().to_string();

    let out = store.run(&["list"]);
    out.ok();
    assert!(
        out.stdout.contains(&format!("in use ({pid})")),
        "{}",
        out.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&store.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(json[0]["status"], "in_use");
    assert_eq!(json[0]["pids"][0].as_u64().unwrap().to_string(), pid);

    store
        .run(&["rename", "deb", "deb2"])
        .fails_with(4, &format!("container 'deb' is in use by PID {pid}"));
    store
        .run(&["remove", "deb"])
        .fails_with(4, &format!("in use by PID {pid}"));
    assert!(store
        .container_dir("deb")
        .join("rootfs/etc/os-release")
        .exists());
    drop(holder);
    store.run(&["rename", "deb", "deb2"]).ok();
}

#[test]
fn invalid_names_are_usage_errors() {
    let store = TestStore::new();
    store.add_python_container("deb", false);
    for bad in ["../deb", "", ".hidden", "a/b", "-x", "deb two"] {
        let out = Outcome::of(store.cmd().args(["rename", "deb", "--", bad]));
        out.fails_with(2, "invalid container name");
        let out = Outcome::of(store.cmd().args(["remove", "--", bad]));
        out.fails_with(2, "invalid container name");
    }
    assert!(store.container_dir("deb").exists());
}

#[test]
fn rename_and_remove_end_to_end() {
    let store = TestStore::new();
    store.add_python_container("a", true);
    store.add_python_container("b", false);
    store
        .run(&["rename", "a", "b"])
        .fails_with(1, "container 'b' already exists");
    store
        .run(&["rename", "zz", "c"])
        .fails_with(1, "container 'zz' is not installed");
    // Not "in use" by our own lock.
    store
        .run(&["rename", "a", "a"])
        .fails_with(1, "'a' is already the container's name");
    let out = store.run(&["rename", "a", "c"]);
    out.ok();
    assert!(out.stdout.contains("Renamed 'a' to 'c'"));
    assert_eq!(store.run(&["list", "-q"]).stdout, "b\nc\n");
    assert!(store.container_dir("c").join("manifest.json").exists());
    assert_eq!(store.run(&["rename", "-q", "c", "a"]).ok().stdout, "");

    let out = store.run(&["remove", "-v", "a"]);
    out.ok();
    assert!(
        out.stdout.contains("rootfs/etc/os-release"),
        "{}",
        out.stdout
    );
    store.run(&["rm", "-q", "b"]).ok();
    assert_eq!(store.run(&["list", "-q"]).stdout, "");
    store.run(&["remove", "b"]).fails_with(1, "not installed");
    let mode = std::fs::metadata(store.runtime_dir().join("containers"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "containers/ must be private");
}

#[test]
fn remove_handles_chmod_000_trees() {
    if !require_root("removing without the capabilities root holds") {
        return;
    }
    let store = TestStore::new();
    let dir = store.add_python_container("locked", false);
    let deep = dir.join("rootfs/root/a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("f"), b"x").unwrap();
    std::fs::set_permissions(
        dir.join("rootfs/root/a"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    // Root's CAP_DAC_OVERRIDE would make the first removal succeed and
    // the fix-up of unreadable directories would never run: remove as root
    // without the capabilities that bypass permission bits. The unpacker
    // fallback cannot regain them either (they are out of the bounding set).
    let mut cmd = store.cmd_with(std::path::Path::new("/usr/bin/setpriv"));
    cmd.args([
        "--bounding-set",
        "-dac_override,-dac_read_search,-fowner",
        "--",
    ])
    .arg(common::bin())
    .args(["remove", "locked"]);
    Outcome::of(&mut cmd).ok();
    assert!(!dir.exists());
}

#[test]
fn stale_staging_dirs_are_cleaned_by_the_next_mutation() {
    let store = TestStore::new();
    store.add_python_container("a", false);
    let stale = store.runtime_dir().join("containers/.staging-0-crashed");
    std::fs::create_dir_all(stale.join("rootfs/etc")).unwrap();
    store.run(&["list"]).ok();
    assert!(stale.exists(), "list must not mutate");
    store.run(&["rename", "a", "b"]).ok();
    assert!(
        !stale.exists(),
        "stale staging dir survived a mutating command"
    );
}

#[test]
fn remove_never_descends_into_a_mount() {
    if !require_root("mounting inside a container") {
        return;
    }
    let store = TestStore::new();
    let dir = store.add_python_container("m", false);
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("canary"), b"precious").unwrap();
    std::fs::create_dir_all(dir.join("rootfs/mnt")).unwrap();
    // The mount lives in a private mount namespace that also runs the command.
    let script = format!(
        "mount --bind '{}' '{}' && exec \"$@\"",
        host.path().display(),
        dir.join("rootfs/mnt").display()
    );
    let mut cmd = store.cmd_with(std::path::Path::new("unshare"));
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(common::bin())
        .args(["remove", "m"]);
    Outcome::of(&mut cmd).fails_with(1, "active mount");
    assert_eq!(
        std::fs::read(host.path().join("canary")).unwrap(),
        b"precious"
    );
    assert!(dir.join("rootfs/etc/os-release").exists());
}

#[test]
fn clear_cache_reports_what_it_freed() {
    let store = TestStore::new();
    let out = store.run(&["clear-cache"]);
    out.ok();
    assert!(out.stdout.contains("Freed 0 B"), "{out:#?}");
    let layers = store.cache_dir().join("oci_layers");
    std::fs::create_dir_all(&layers).unwrap();
    std::fs::write(layers.join("sha256-aa"), vec![0u8; 2 << 20]).unwrap();
    std::fs::create_dir_all(store.cache_dir().join("oci_manifests")).unwrap();
    std::fs::write(store.cache_dir().join("build_cache_index.json"), b"{}").unwrap();
    let out = store.run(&["clear", "-v"]);
    out.ok();
    assert!(out.stdout.contains("sha256-aa"), "{out:#?}");
    assert!(out.stdout.contains("MiB"), "{out:#?}");
    assert_eq!(std::fs::read_dir(store.cache_dir()).unwrap().count(), 0);
}

#[test]
fn list_does_not_need_root() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let store = TestStore::for_rig_user();
    let out = store.run_as_user(&["list"]);
    out.ok();
    assert!(out.stdout.contains("No containers installed"), "{out:#?}");
    let out = store.run_as_user(&["info", "--json"]);
    out.ok();
}

#[test]
fn an_unreadable_store_is_a_one_line_error() {
    if !require_root("switching to the rig's unprivileged user") {
        return;
    }
    let store = TestStore::for_rig_user();
    store.run_as_user(&["clear-cache", "-q"]).ok();
    let containers = store.runtime_dir().join("containers");
    std::fs::create_dir_all(containers.join("deb/rootfs")).unwrap();
    let uid: u32 = common::rig().get("CD_RIG_UID").parse().unwrap();
    for p in [store.data_home(), store.runtime_dir(), containers.clone()] {
        std::os::unix::fs::chown(&p, Some(uid), None).unwrap();
    }
    std::fs::set_permissions(&containers, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = store.run_as_user(&["list"]);
    out.fails_with(1, "cannot read directory");
    assert!(out.stderr.contains("Permission denied"), "{out:#?}");
    assert!(
        out.stderr.contains("hint: check the permissions"),
        "{out:#?}"
    );
    store
        .run_as_user(&["rename", "deb", "x"])
        .fails_with(1, "Permission denied");
}

/// `remove a b c` removes each; one that fails is reported and the others
/// are still removed, with a non-zero exit.
#[test]
fn remove_takes_several_names() {
    let store = TestStore::new();
    for n in ["a", "b", "c"] {
        store.add_python_container(n, false);
    }
    let out = store.run(&["remove", "a", "b"]);
    out.ok();
    assert_eq!(
        out.stdout,
        "Removed container 'a'.\nRemoved container 'b'.\n"
    );
    assert!(!store.container_dir("a").exists() && !store.container_dir("b").exists());
    store.add_python_container("d", false);
    let out = store.run(&["remove", "c", "nope", "d"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("'nope'") && out.stderr.contains("not installed"),
        "{out:#?}"
    );
    assert!(!store.container_dir("c").exists() && !store.container_dir("d").exists());
    // A bad name anywhere removes nothing.
    store.add_python_container("e", false);
    store
        .run(&["remove", "e", "../x"])
        .fails_with(2, "invalid container name");
    assert!(store.container_dir("e").exists());
}

/// Name errors say the rule as it is (ASCII), and a name clash points at
/// the way each command takes a new name.
#[test]
fn name_errors_say_the_ascii_rule_and_how_to_pick_another() {
    let store = TestStore::new();
    let out = store.run(&["rename", "ünï", "x"]);
    out.fails_with(2, "it must start with an ASCII letter or digit");
    let out = store.run(&["rename", "aé", "x"]);
    out.fails_with(2, "only ASCII letters, digits");
    store.add_python_container("a", false);
    store.add_python_container("b", false);
    let out = store.run(&["rename", "a", "b"]);
    assert!(out.stderr.contains("rename OLD NEW"), "{out:#?}");
}

/// A bare archive name that is a file here is read as an image name, as in
/// the reference tool: say so and how to mean the file; a directory is no
/// archive.
#[test]
fn install_explains_a_local_file_named_like_an_image_and_a_directory() {
    let store = TestStore::new();
    let here = tempfile::tempdir().unwrap();
    std::fs::write(here.path().join("trunc.tar.gz"), b"").unwrap();
    std::fs::create_dir(here.path().join("tree")).unwrap();
    let run = |args: &[&str]| Outcome::of(store.cmd().current_dir(here.path()).args(args));
    let out = run(&["install", "trunc.tar.gz"]);
    out.fails_with(
        2,
        "'trunc.tar.gz' is read as an image name, but a file of that name is here",
    );
    assert!(
        out.stderr.contains("chroot-distro install ./trunc.tar.gz"),
        "{out:#?}"
    );
    let out = run(&["install", "./tree"]);
    out.fails_with(2, "./tree is a directory; install takes a rootfs archive");
}
