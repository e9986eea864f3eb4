//! `info` run as a real binary against stores laid out on disk.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_chroot-distro");
const SECTIONS: [&str; 5] = ["Program", "Host", "Capabilities", "Images", "Analysis"];
const PYTHON_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/container-manifest.python.json"
);

/// A home of its own: the store is `<tmp>/data/chroot-distro`.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn containers(&self) -> PathBuf {
        self.dir.path().join("data/chroot-distro/containers")
    }

    fn run(&self, exe: &Path, args: &[&str]) -> Output {
        self.run_with(exe, args, &[])
    }

    fn run_with(&self, exe: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .envs(env.iter().copied())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("NO_COLOR", "1");
        for var in [
            "TERMUX__PREFIX",
            "TERMUX_VERSION",
            "TERMUX_APP__APP_VERSION_NAME",
        ] {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    }

    fn info(&self, args: &[&str]) -> String {
        let out = self.run(Path::new(BIN), args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.info(args)).unwrap()
    }

    /// A rootfs the way the Python tool leaves one: a real ELF as bin/sh, etc/.
    fn add_container(&self, name: &str, manifest: bool) {
        let dir = self.containers().join(name);
        std::fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        let elf = ["/bin/busybox", "/bin/true", "/usr/bin/true"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("an ELF binary on the host");
        std::fs::copy(elf, dir.join("rootfs/bin/sh")).unwrap();
        if manifest {
            std::fs::copy(PYTHON_MANIFEST, dir.join("manifest.json")).unwrap();
        }
    }
}

fn headers(text: &str) -> Vec<&str> {
    text.lines().filter(|l| SECTIONS.contains(l)).collect()
}

/// The report minus what legitimately changes between two runs.
fn stable(mut v: Value) -> Value {
    if let Some(caps) = v.get_mut("capabilities").and_then(Value::as_object_mut) {
        caps.remove("disk_space");
    }
    v
}

#[test]
fn empty_store_has_all_sections_in_text_and_json() {
    let home = Home::new();
    let text = home.info(&["info"]);
    assert_eq!(headers(&text), SECTIONS, "{text}");
    assert!(text.contains("none installed"), "{text}");
    let json = home.json(&["info", "--json"]);
    let obj = json.as_object().unwrap();
    for key in ["program", "host", "capabilities", "images", "analysis"] {
        assert!(obj.contains_key(key), "missing {key}: {json}");
    }
    assert_eq!(json["program"]["version"], env!("CARGO_PKG_VERSION"));
    let runtime = home.dir.path().join("data/chroot-distro");
    assert_eq!(json["program"]["runtime_dir"], runtime.to_str().unwrap());
    assert_eq!(json["images"], Value::Array(Vec::new()));
    assert_eq!(json["capabilities"]["cache_bytes"], 0);
    assert!(json["analysis"].as_array().is_some());
}

#[test]
fn lists_python_store_containers_with_source_and_arch() {
    let home = Home::new();
    home.add_container("deb", true);
    home.add_container("plain", false);
    let json = home.json(&["info", "--json"]);
    let images = json["images"].as_array().unwrap();
    let names: Vec<&str> = images.iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["deb", "plain"]);
    let (deb, plain) = (&images[0], &images[1]);
    assert_eq!(deb["source"]["kind"], "image");
    assert_eq!(deb["source"]["image_ref"], "localhost:5443/debian:bookworm");
    assert_eq!(deb["arch"]["file"], "bin/sh");
    assert_eq!(deb["arch"]["arch"], json["host"]["arch"]);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(deb["arch"]["arch"], "x86_64");
    assert_eq!(deb["status"], "idle");
    assert_eq!(
        deb["manifest_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(plain["source"]["kind"], "local_archive");
    assert!(deb["size_bytes"].as_u64().unwrap() > 0);

    let findings = json["analysis"].as_array().unwrap();
    let about = |name: &str| -> Vec<(String, String)> {
        findings
            .iter()
            .filter(|f| f["subject"] == name)
            .map(|f| {
                let s = f["severity"].as_str().unwrap().to_owned();
                (s, f["message"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let plain_notes = about("plain");
    assert!(
        plain_notes
            .iter()
            .any(|(s, m)| s == "note" && m.contains("'reset' and 'run'")),
        "{plain_notes:?}"
    );
    let deb_findings = about("deb");
    assert!(
        deb_findings
            .iter()
            .any(|(s, m)| s == "ok" && m.contains("matches the host")),
        "{deb_findings:?}"
    );
    assert!(
        !deb_findings.iter().any(|(s, _)| s == "warn"),
        "{deb_findings:?}"
    );

    let text = home.info(&["info"]);
    assert_eq!(headers(&text), SECTIONS);
    assert!(text.contains("localhost:5443/debian:bookworm"), "{text}");
    assert!(text.contains("local archive"), "{text}");
    assert!(text.contains("note  plain: no manifest.json"), "{text}");
}

#[test]
fn damaged_manifest_and_empty_rootfs_are_findings_not_failures() {
    let home = Home::new();
    home.add_container("broken", false);
    std::fs::write(home.containers().join("broken/manifest.json"), "{oops").unwrap();
    std::fs::create_dir_all(home.containers().join("void/rootfs")).unwrap();
    let json = home.json(&["info", "--json"]);
    assert_eq!(json["images"][0]["source"]["kind"], "unreadable");
    let warns: Vec<String> = json["analysis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "warn")
        .map(|f| format!("{}: {}", f["subject"], f["message"]))
        .collect();
    assert!(
        warns
            .iter()
            .any(|w| w.contains("broken") && w.contains("unreadable manifest")),
        "{warns:?}"
    );
    assert!(
        warns
            .iter()
            .any(|w| w.contains("void") && w.contains("rootfs is empty")),
        "{warns:?}"
    );
}

#[test]
fn aliases_and_the_cd_info_link_run_the_same_report() {
    let home = Home::new();
    home.add_container("deb", true);
    let want = stable(home.json(&["info", "--json"]));
    for alias in ["nf", "version-info"] {
        assert_eq!(stable(home.json(&[alias, "--json"])), want, "{alias}");
    }
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("cd-info");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = home.run(&link, &["--json"]);
    assert!(out.status.success(), "{out:?}");
    let via_link: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stable(via_link), want);
    let out = home.run(&link, &[]);
    assert!(out.status.success());
    assert_eq!(headers(&String::from_utf8(out.stdout).unwrap()), SECTIONS);
}

/// The helper line names the helper and the rule of the search order that
/// found it; a pin that names nothing is said so; for root, the helper is
/// not used at all (it used to print both "granted" and "not for you").
#[test]
fn the_helper_line_names_the_rule_or_says_root_needs_none() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let fake = home.dir.path().join("my-helper");
    std::fs::write(&fake, "#!/bin/sh\necho nope\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_line = |pin: &Path| {
        let out = home.run_with(Path::new(BIN), &["info"], &[("CD_MOUNT_HELPER", pin)]);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("mount helper:"));
        (line.unwrap_or_default().to_owned(), text)
    };
    let (line, text) = helper_line(&fake);
    assert!(
        line.contains(&format!("{}, set by CD_MOUNT_HELPER", fake.display())),
        "{text}"
    );
    if rustix::process::geteuid().is_root() {
        assert!(line.contains("not used: you are root"), "{text}");
        assert!(!text.contains("helper grants:"), "{text}");
    } else {
        assert!(!line.contains("not used"), "{text}");
        assert!(
            text.contains("no real-root sessions for you (nope)"),
            "{text}"
        );
    }
    let missing = home.dir.path().join("no-such-helper");
    let (line, text) = helper_line(&missing);
    let want = format!(
        "none: CD_MOUNT_HELPER={} is not an executable file",
        missing.display()
    );
    assert!(line.contains(&want), "{text}");
}
