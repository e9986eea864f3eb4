//! The differential test (issue 15): every scenario of
//! tests/differential/table.rs runs against the real Python chroot-distro
//! 3.2.0 (installed by the rig, `CD_RIG_PY_CHROOT_DISTRO`) and against
//! ours, as root, each tool with its own empty store (both read
//! `XDG_DATA_HOME`/`XDG_CACHE_HOME`), against the rig's registry (both
//! trust its CA through the system store the rig adds it to: Python's
//! `ssl.create_default_context`, our platform verifier). What a user sees
//! is compared: exit status, and per scenario stdout, the resulting rootfs
//! tree, the manifest and the installed names.
//!
//! `CD_DIFF_ONLY=TEXT` runs only the scenarios whose name contains TEXT.

mod common;
#[path = "differential/table.rs"]
mod table;

use common::tree::{differences, digest};
use common::{rig, TestStore};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use table::{Aspect, Expect, Scenario, Start, DIFFERENCES, SCENARIOS};

/// Longer than any scenario takes (3.2 retries a dead registry for ~20 s).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// One of the two tools.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Python,
    Ours,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Python => "3.2",
            Tool::Ours => "ours",
        }
    }

    fn program(self) -> PathBuf {
        match self {
            Tool::Python => PathBuf::from(rig().get("CD_RIG_PY_CHROOT_DISTRO")),
            Tool::Ours => common::bin(),
        }
    }
}

/// What one command did.
#[derive(Debug)]
struct Seen {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `tool ARGS` on `store` with a clean environment, stdin from
/// /dev/null, and a deadline.
fn run(tool: Tool, store: &TestStore, args: &[String], env: &[(&str, &str)]) -> Seen {
    let mut cmd = store.cmd_with(&tool.program());
    cmd.args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{} {}", tool.label(), args.join(" "));
    let seen = run_with_deadline(&mut cmd, &what);
    let root = store.root().to_string_lossy().into_owned();
    Seen {
        stdout: seen.stdout.replace(&root, "{store}"),
        stderr: seen.stderr.replace(&root, "{store}"),
        ..seen
    }
}

fn run_with_deadline(cmd: &mut Command, what: &str) -> Seen {
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    Seen {
        // Like a shell: a command killed by signal N reads as 128+N.
        code: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The fixed words a scenario may use.
struct Words {
    /// Under /tmp itself, so `--shared-tmp` shows it at the same path.
    hostdir: tempfile::TempDir,
    layer_url: String,
    /// A build context: `Dockerfile` and variants beside it.
    ctx: tempfile::TempDir,
}

/// The build context's files (`{busybox}` expanded when written).
const CONTEXT: &[(&str, &str)] = &[
    (
        "Dockerfile",
        "FROM {busybox}\nENV GREETING=hello\nWORKDIR /app\nCOPY hello.txt /app/\n\
         RUN echo \"$GREETING\" > /app/greeting && chmod 0640 /app/greeting\n\
         CMD [\"cat\", \"/app/greeting\"]\n",
    ),
    (
        "stages.Dockerfile",
        "FROM {busybox} AS tools\nRUN echo built > /made\n\
         FROM {busybox}\nCOPY --from=tools /made /made\nRUN rm /bin/ls\n",
    ),
    (
        "fail.Dockerfile",
        "FROM {busybox}\nRUN echo step >&2; exit 3\n",
    ),
    ("unknown.Dockerfile", "FROM {busybox}\nFROBNICATE now\n"),
    ("hello.txt", "hello from the context\n"),
];

impl Words {
    fn new() -> Self {
        let hostdir = tempfile::tempdir_in("/tmp").unwrap();
        std::fs::write(hostdir.path().join("file"), "hello from the host\n").unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let busybox = rig().get("CD_RIG_FIXTURE_BUSYBOX");
        for (name, text) in CONTEXT {
            std::fs::write(ctx.path().join(name), text.replace("{busybox}", busybox)).unwrap();
        }
        Words {
            hostdir,
            layer_url: first_layer_url(),
            ctx,
        }
    }

    fn expand(&self, word: &str) -> String {
        let rig = rig();
        let mut w = word.to_owned();
        for (key, value) in [
            ("{busybox}", rig.get("CD_RIG_FIXTURE_BUSYBOX")),
            ("{zstd}", rig.get("CD_RIG_FIXTURE_BUSYBOX_ZSTD")),
            ("{multi}", rig.get("CD_RIG_FIXTURE_MULTI")),
            ("{rootfs_tar}", rig.get("CD_RIG_FIXTURE_ROOTFS_TAR")),
            ("{oci_archive}", rig.get("CD_RIG_FIXTURE_OCI_ARCHIVE")),
            ("{docker_archive}", rig.get("CD_RIG_FIXTURE_DOCKER_ARCHIVE")),
            ("{debian}", rig.get("CD_RIG_FIXTURE_DEBIAN")),
            ("{layer_url}", &self.layer_url),
            ("{foreign_arch}", FOREIGN.0),
            ("{foreign_platform}", FOREIGN.1),
            ("{long}", &"x".repeat(100_000)),
            ("{hostdir}", &self.hostdir.path().to_string_lossy()),
            ("{ctx}", &self.ctx.path().to_string_lossy()),
        ] {
            w = w.replace(key, value);
        }
        w
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        args.iter().map(|a| self.expand(a)).collect()
    }
}

/// The multi-arch fixture's image for the other architecture: the native
/// name and the Docker platform's.
const FOREIGN: (&str, &str) = if cfg!(target_arch = "aarch64") {
    ("x86_64", "amd64")
} else {
    ("aarch64", "arm64")
};

/// The registry URL of the busybox image's first layer, a gzip'd rootfs
/// tarball that both tools can install as a URL.
fn first_layer_url() -> String {
    let rig = rig();
    let layout = Path::new(rig.get("CD_RIG_FIXTURE_BUSYBOX_OCI_LAYOUT"));
    let json = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };
    let blob = |digest: &serde_json::Value| {
        let hex = digest.as_str().unwrap().trim_start_matches("sha256:");
        layout.join("blobs/sha256").join(hex)
    };
    let index = json(layout.join("index.json"));
    let manifest = json(blob(&index["manifests"][0]["digest"]));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let registry = rig.get("CD_RIG_REGISTRY");
    format!("https://{registry}/v2/cd/busybox/blobs/{layer}")
}

/// A pair of stores, one per tool.
struct Stores {
    python: TestStore,
    ours: TestStore,
}

impl Stores {
    fn empty() -> Self {
        Stores {
            python: TestStore::new(),
            ours: TestStore::new(),
        }
    }

    /// Both stores with `bb` installed from the rig's registry.
    fn with_busybox(words: &Words) -> Self {
        let stores = Stores::empty();
        let install = words.args(&["install", "{busybox}", "-n", "bb", "-q"]);
        for tool in [Tool::Python, Tool::Ours] {
            let seen = run(tool, stores.of(tool), &install, &[]);
            assert_eq!(
                seen.code,
                0,
                "{} could not install bb: {seen:#?}",
                tool.label()
            );
        }
        stores
    }

    fn of(&self, tool: Tool) -> &TestStore {
        match tool {
            Tool::Python => &self.python,
            Tool::Ours => &self.ours,
        }
    }

    /// Releases whatever sessions left mounted, then refuses to delete a
    /// store that still has a mount below it (that would delete host files
    /// through it): such a store is kept and named instead.
    fn close(self) {
        for tool in [Tool::Python, Tool::Ours] {
            let store = self.of(tool);
            for name in installed(tool, store) {
                let _ = run(tool, store, &["unmount".into(), name], &[]);
            }
        }
        for store in [self.python, self.ours] {
            let root = store.root().to_owned();
            if mounts_below(&root) {
                let kept = store.dir.keep();
                panic!("mounts remain below {}: store kept", kept.display());
            }
        }
    }
}

fn installed(tool: Tool, store: &TestStore) -> Vec<String> {
    let seen = run(tool, store, &["list".into(), "-q".into()], &[]);
    seen.stdout.lines().map(str::to_owned).collect()
}

fn mounts_below(root: &Path) -> bool {
    let prefix = format!("{}/", root.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m.starts_with(&prefix))
}

fn manifest(store: &TestStore, name: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(store.container_dir(name).join("manifest.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs a scenario's `before` steps on both sides; a failure is reported.
fn run_before(scenario: &Scenario, stores: &Stores, words: &Words) -> Result<(), String> {
    for step in scenario.before {
        let args = words.args(step);
        for tool in [Tool::Python, Tool::Ours] {
            let seen = run(tool, stores.of(tool), &args, &[]);
            if seen.code != 0 {
                return Err(format!(
                    "step {step:?} failed for {}: {seen:#?}",
                    tool.label()
                ));
            }
        }
    }
    Ok(())
}

/// What differed between the two sides, and how.
#[derive(Default)]
struct Comparison {
    differing: Vec<Aspect>,
    tree_paths: Vec<String>,
    details: Vec<String>,
}

impl Comparison {
    fn of(scenario: &Scenario, stores: &Stores, py: &Seen, ours: &Seen) -> Self {
        let mut c = Comparison::default();
        if py.code != ours.code {
            c.differ(
                Aspect::Code,
                format!("exit status: 3.2 {} / ours {}", py.code, ours.code),
            );
        }
        for &aspect in scenario.check {
            c.compare(aspect, stores, py, ours);
        }
        c
    }

    fn differ(&mut self, aspect: Aspect, detail: String) {
        if !self.differing.contains(&aspect) {
            self.differing.push(aspect);
        }
        self.details.push(detail);
    }

    fn compare(&mut self, aspect: Aspect, stores: &Stores, py: &Seen, ours: &Seen) {
        match aspect {
            Aspect::Code => {}
            Aspect::Stdout if py.stdout != ours.stdout => self.differ(
                aspect,
                format!(
                    "stdout:\n  3.2:  {:?}\n  ours: {:?}",
                    py.stdout, ours.stdout
                ),
            ),
            Aspect::Stdout => {}
            Aspect::Tree(name) => {
                let a = digest(&stores.python.container_dir(name).join("rootfs"));
                let b = digest(&stores.ours.container_dir(name).join("rootfs"));
                for (path, left, right) in differences(&a, &b) {
                    self.differ(
                        aspect,
                        format!("tree {path}:\n  3.2:  {left}\n  ours: {right}"),
                    );
                    self.tree_paths.push(path);
                }
            }
            Aspect::Manifest(name) => {
                let (a, b) = (manifest(&stores.python, name), manifest(&stores.ours, name));
                // Neither having one counts too: the scenario expected one.
                if a.is_none() || a != b {
                    self.differ(
                        aspect,
                        format!("manifest.json of {name}:\n  3.2:  {a:?}\n  ours: {b:?}"),
                    );
                }
            }
            Aspect::Names => {
                let a = installed(Tool::Python, &stores.python);
                let b = installed(Tool::Ours, &stores.ours);
                if a != b {
                    self.differ(aspect, format!("installed: 3.2 {a:?} / ours {b:?}"));
                }
            }
        }
    }

    /// Exactly the expected aspects differ, and in a tree exactly the
    /// expected paths: a vanished difference fails as a new one does.
    fn is_as(&self, expect: &Expect) -> bool {
        let (on, paths): (&[Aspect], &[&str]) = match expect {
            Expect::Same => (&[], &[]),
            Expect::Differs { on, paths, .. } => (on, paths),
        };
        let same_set =
            |seen: &[Aspect]| seen.len() == on.len() && on.iter().all(|a| seen.contains(a));
        same_set(&self.differing)
            && self.tree_paths.len() == paths.len()
            && paths.iter().all(|p| self.tree_paths.iter().any(|t| t == p))
    }
}

fn describe(expect: &Expect) -> String {
    match expect {
        Expect::Same => "the same".to_owned(),
        Expect::Differs { because, on, paths } => {
            let keys: Vec<&str> = because.iter().map(|d| d.key).collect();
            format!("differences on {on:?} {paths:?} ({})", keys.join(", "))
        }
    }
}

/// Runs one scenario; returns a report of what did not go as the table
/// says, or None.
fn check(scenario: &Scenario, stores: &Stores, words: &Words) -> Option<String> {
    if let Err(report) = run_before(scenario, stores, words) {
        return Some(report);
    }
    let args = words.args(scenario.args);
    let py = run(Tool::Python, &stores.python, &args, scenario.env);
    let ours = run(Tool::Ours, &stores.ours, &args, scenario.env);
    let c = Comparison::of(scenario, stores, &py, &ours);
    if c.is_as(&scenario.expect) {
        return None;
    }
    Some(format!(
        "expected {}, saw differences on {:?}\n{}\n--- 3.2 stderr:\n{}\n--- ours stderr:\n{}",
        describe(&scenario.expect),
        c.differing,
        c.details.join("\n"),
        py.stderr.trim_end(),
        ours.stderr.trim_end()
    ))
}

#[test]
fn both_tools_agree_except_where_the_table_says() {
    if !common::require_root("the differential test (the Python tool is root-only)") {
        return;
    }
    if !rig().vars.contains_key("CD_RIG_PY_CHROOT_DISTRO") {
        common::skip::skip("the rig has no Python chroot-distro (its pip install failed)");
        return;
    }
    let only = std::env::var("CD_DIFF_ONLY").unwrap_or_default();
    let words = Words::new();
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| s.name.contains(only.as_str()))
        .collect();
    let shared = scenarios
        .iter()
        .any(|s| s.start == Start::Shared)
        .then(|| Stores::with_busybox(&words));
    let mut failures = Vec::new();
    let started = Instant::now();
    for scenario in &scenarios {
        let t = Instant::now();
        let own = match scenario.start {
            Start::Empty => Some(Stores::empty()),
            Start::Fresh => Some(Stores::with_busybox(&words)),
            Start::Shared => None,
        };
        let stores = own.as_ref().or(shared.as_ref()).unwrap();
        let report = check(scenario, stores, &words);
        eprintln!(
            "{} {} ({} ms)",
            if report.is_none() { "ok  " } else { "FAIL" },
            scenario.name,
            t.elapsed().as_millis()
        );
        if let Some(report) = report {
            failures.push(format!("--- {}: {report}", scenario.name));
        }
        if let Some(own) = own {
            own.close();
        }
    }
    if let Some(shared) = shared {
        shared.close();
    }
    eprintln!(
        "{} scenarios in {:.1} s",
        scenarios.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios did not go as tests/differential/table.rs says:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}

/// The table and the README's "Differences from the Python tool" agree:
/// every deliberate difference has its line there and nothing else does;
/// every difference is shown by a scenario, and every scenario's is listed.
#[test]
fn every_deliberate_difference_is_in_the_readme() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Differences from the Python tool\n")
        .nth(1)
        .expect("README.md has a '## Differences from the Python tool' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    for d in DIFFERENCES.iter().filter(|d| d.deliberate) {
        assert!(
            section.contains(&format!("`{}`", d.key)),
            "README's 'Differences from the Python tool' lacks `{}` ({})",
            d.key,
            d.why
        );
    }
    // And the other way: every key the README lists is a deliberate one.
    for line in section.lines().filter(|l| l.starts_with("- `")) {
        let key = line[3..].split('`').next().unwrap_or_default();
        assert!(
            DIFFERENCES.iter().any(|d| d.deliberate && d.key == key),
            "README lists `{key}`, which the table has no deliberate difference for"
        );
    }
    let used = |key: &str| {
        SCENARIOS.iter().any(|s| match &s.expect {
            Expect::Differs { because, .. } => because.iter().any(|d| d.key == key),
            Expect::Same => false,
        })
    };
    for d in DIFFERENCES {
        assert!(used(d.key), "no scenario shows `{}`", d.key);
    }
    for s in SCENARIOS {
        if let Expect::Differs { because, on, .. } = &s.expect {
            assert!(
                !because.is_empty() && !on.is_empty(),
                "{}: says why and where",
                s.name
            );
            for d in *because {
                assert!(
                    DIFFERENCES.iter().any(|x| x.key == d.key),
                    "{}: {} is not in DIFFERENCES",
                    s.name,
                    d.key
                );
            }
        }
    }
}

/// The tree digest tells a hard link from a copy, and sees modes and
/// link targets.
#[test]
fn the_tree_digest_sees_what_the_comparison_relies_on() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [a.path(), b.path()] {
        std::fs::write(dir.join("f"), "x").unwrap();
        std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
    }
    assert!(differences(&digest(a.path()), &digest(b.path())).is_empty());

    std::fs::hard_link(a.path().join("f"), a.path().join("g")).unwrap();
    std::fs::copy(b.path().join("f"), b.path().join("g")).unwrap();
    let d = differences(&digest(a.path()), &digest(b.path()));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "g");

    std::fs::remove_file(b.path().join("g")).unwrap();
    std::fs::hard_link(b.path().join("f"), b.path().join("g")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.path().join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(b.path().join("l")).unwrap();
    std::os::unix::fs::symlink("g", b.path().join("l")).unwrap();
    let paths: Vec<String> = differences(&digest(a.path()), &digest(b.path()))
        .into_iter()
        .map(|d| d.0)
        .collect();
    // g is f's inode, so its mode changed too.
    assert_eq!(paths, ["f", "g", "l"]);
}
