//! `RUN --mount` of every type, as root and rootless, through the CLI on
//! the rig's busybox: what each step sees, and what never reaches a layer,
//! the cache or the output.

mod common;

use common::{require_root, rig, As, Outcome, TestStore};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SECRET: &str = "s3cr3t-Value-9d1f";

/// A context in the store's directory (readable by whoever builds).
fn context(store: &TestStore, who: As, files: &[(&str, &str)]) -> PathBuf {
    let ctx = store.root().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    for (name, text) in files {
        std::fs::write(ctx.join(name), text).unwrap();
    }
    give(store.root(), who);
    ctx
}

/// Everything under `dir` to the rig user when they build.
fn give(dir: &Path, who: As) {
    if who == As::Root {
        return;
    }
    let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
    let gid: u32 = rig().get("CD_RIG_GID").parse().unwrap();
    for entry in walk(dir) {
        std::os::unix::fs::lchown(&entry, Some(uid), Some(gid)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() && !dir.is_symlink() {
        for e in std::fs::read_dir(dir).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

fn build(store: &TestStore, who: As, ctx: &Path, args: &[&str]) -> Outcome {
    let mut all = vec!["build", "-q"];
    all.extend_from_slice(args);
    all.push(ctx.to_str().unwrap());
    store.run_as(who, &all)
}

fn ready(who: As) -> bool {
    require_root(match who {
        As::Root => "root-mode RUN steps",
        As::User => "switching to the rig user",
    })
}

fn read(rootfs: &Path, rel: &str) -> String {
    std::fs::read_to_string(rootfs.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A stage to bind from, then one step per mount type; each leaves what
/// it saw in a file of the image.
fn every_type(who: As) {
    let store = TestStore::for_who(who);
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let dockerfile = format!(
        r#"FROM {bb} AS src
RUN mkdir /stagedata && echo from-stage > /stagedata/f
FROM {bb}
RUN --mount=type=bind,target=/ctx cat /ctx/hello.txt > /bind-ro.out; (echo x > /ctx/new) 2>/dev/null && echo writable >> /bind-ro.out || echo readonly >> /bind-ro.out
RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/hello.txt && cat /ctx/hello.txt > /bind-rw.out
RUN --mount=type=bind,target=/ctx cat /ctx/hello.txt > /bind-after.out
RUN --mount=type=bind,from=src,source=/stagedata,target=/s cat /s/f > /from-stage.out
RUN --mount=type=tmpfs,target=/scratch,size=1m echo t > /scratch/t && grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /tmpfs.out
RUN test ! -e /scratch/t && echo gone > /tmpfs-after.out
RUN --mount=type=cache,target=/var/cache/demo,mode=0750 stat -c %a /var/cache/demo > /cache.out
RUN --mount=type=secret,id=tok,required cat /run/secrets/tok | wc -c > /secret.out && stat -c %a:%u /run/secrets/tok >> /secret.out
RUN --mount=type=secret,id=tok,env=TOKEN,uid=7,mode=0440,target=/etc/tok test "$TOKEN" = "$(cat /etc/tok)" && stat -c %a:%u /etc/tok > /secret-env.out
RUN --mount=type=ssh,target=/dev/log test -S "$SSH_AUTH_SOCK" && logger -t probe hello-agent && echo "$SSH_AUTH_SOCK" > /ssh.out
"#
    );
    let ctx = context(
        &store,
        who,
        &[("Dockerfile", &dockerfile), ("hello.txt", "hello\n")],
    );
    let secret = store.root().join("tok");
    std::fs::write(&secret, SECRET).unwrap();
    // The test's own agent: a socket that records what it is sent.
    let agent = store.root().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&agent).unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o666)).unwrap();
    give(store.root(), who);
    let heard = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    let out_tar = store.root().join("out.oci.tar");
    let ssh = format!("default={}", agent.display());
    let sec = format!("id=tok,src={}", secret.display());
    build(
        &store,
        who,
        &ctx,
        &[
            "--secret",
            &sec,
            "--ssh",
            &ssh,
            "-t",
            "mounts:1",
            "--install-as",
            "m",
            "-o",
            out_tar.to_str().unwrap(),
        ],
    )
    .ok();
    let rootfs = store.container_dir("m").join("rootfs");
    assert_eq!(read(&rootfs, "bind-ro.out"), "hello\nreadonly\n");
    assert_eq!(read(&rootfs, "bind-rw.out"), "scribble\n");
    // rw writes went to a copy: the context and the next step see the original.
    assert_eq!(read(&rootfs, "bind-after.out"), "hello\n");
    assert_eq!(
        std::fs::read_to_string(ctx.join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert!(!ctx.join("new").exists());
    assert_eq!(read(&rootfs, "from-stage.out"), "from-stage\n");
    assert_eq!(read(&rootfs, "tmpfs.out"), "tmpfs\n");
    assert_eq!(read(&rootfs, "tmpfs-after.out"), "gone\n");
    assert_eq!(read(&rootfs, "cache.out"), "750\n");
    assert_eq!(
        read(&rootfs, "secret.out"),
        format!("{}\n400:0\n", SECRET.len())
    );
    assert_eq!(read(&rootfs, "secret-env.out"), "440:7\n");
    assert_eq!(read(&rootfs, "ssh.out"), "/dev/log\n");
    assert!(heard.join().unwrap().contains("hello-agent"));
    // Mount points made for a step are not left in the image.
    for gone in ["ctx", "s", "scratch", "var/cache/demo", "etc/tok"] {
        assert!(!rootfs.join(gone).exists(), "/{gone} left in the image");
    }
    assert_nowhere(&store, &out_tar, SECRET);
}

/// `needle` in no blob of the OCI archive (decompressed), no file of the
/// store's cache and no file of the installed container.
fn assert_nowhere(store: &TestStore, archive: &Path, needle: &str) {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut blobs = 0;
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw).unwrap();
        blobs += 1;
        let name = entry.path().unwrap().display().to_string();
        assert!(
            !contains(&raw, needle.as_bytes()),
            "{name} holds the secret"
        );
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut plain)
            .is_ok()
        {
            assert!(
                !contains(&plain, needle.as_bytes()),
                "{name} holds the secret"
            );
        }
    }
    assert!(blobs > 3, "the archive has its blobs");
    for dir in [store.cache_dir(), store.runtime_dir()] {
        for path in walk(&dir) {
            if path.is_file() && !path.is_symlink() {
                let mut bytes = std::fs::read(&path).unwrap_or_default();
                let mut plain = Vec::new();
                if flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .is_ok()
                {
                    bytes.extend(plain);
                }
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{} holds the secret",
                    path.display()
                );
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_mount_type_as_root() {
    if ready(As::Root) {
        every_type(As::Root);
    }
}

#[test]
fn every_mount_type_rootless() {
    if ready(As::User) {
        every_type(As::User);
    }
}

/// A cache mount's contents outlive the build, never enter the image,
/// and `clear-cache --build-cache` drops them.
fn cache_persists(who: As) {
    let store = TestStore::for_who(who);
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    // A non-root owner too, so a rootless cache holds subordinate ids.
    let dockerfile = format!(
        "FROM {bb}\nRUN --mount=type=cache,target=/c,id=demo,sharing=locked echo run >> /c/log && mkdir -p /c/d && touch /c/d/f && chown -R 1000:1000 /c/d && chmod 700 /c/d && wc -l < /c/log > /count\n"
    );
    let ctx = context(&store, who, &[("Dockerfile", &dockerfile)]);
    let count = |name: &str| {
        build(&store, who, &ctx, &["--no-cache", "--install-as", name]).ok();
        let rootfs = store.container_dir(name).join("rootfs");
        assert!(!rootfs.join("c").exists(), "the cache's mount point stayed");
        read(&rootfs, "count").trim().to_owned()
    };
    assert_eq!(count("one"), "1");
    assert_eq!(count("two"), "2");
    let cleared = store.run_as(who, &["clear-cache", "--build-cache"]);
    assert!(
        cleared
            .ok()
            .stdout
            .contains("Dropped the RUN --mount=type=cache directories."),
        "{cleared:?}"
    );
    // What the caller could not delete at once goes with the next build.
    assert_eq!(count("three"), "1");
    let left: Vec<_> = std::fs::read_dir(store.runtime_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dropped"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_cache_mount_persists_between_builds_as_root() {
    if ready(As::Root) {
        cache_persists(As::Root);
    }
}

#[test]
fn a_cache_mount_persists_between_builds_rootless() {
    if ready(As::User) {
        cache_persists(As::User);
    }
}

#[test]
fn a_missing_required_secret_is_a_clear_error() {
    if !ready(As::Root) {
        return;
    }
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[(
            "Dockerfile",
            &format!("FROM {bb}\nRUN --mount=type=secret,id=nope,required true\n"),
        )],
    );
    let out = build(&store, As::Root, &ctx, &[]);
    out.fails_with(1, "Dockerfile:2:1: the secret 'nope' is required");
    assert!(
        out.stderr.contains("hint: give it with --secret id=nope"),
        "{out:?}"
    );
    // Not required: the step runs without it.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {bb}\nRUN --mount=type=secret,id=nope test ! -e /run/secrets/nope\n"),
    )
    .unwrap();
    build(&store, As::Root, &ctx, &[]).ok();
}

#[test]
fn the_cache_key_covers_a_bind_mounts_content_but_not_a_secret() {
    if !ready(As::Root) {
        return;
    }
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {bb}\nRUN --mount=type=bind,source=in,target=/in cat /in/a > /a\nRUN --mount=type=secret,id=tok true\n"
                ),
            ),
        ],
    );
    std::fs::create_dir(ctx.join("in")).unwrap();
    std::fs::write(ctx.join("in/a"), "1").unwrap();
    let cached = |secret: &str| {
        let mut cmd = store.cmd();
        cmd.env(format!("V{secret}"), secret)
            .args(["build", "--secret", &format!("id=tok,env=V{secret}")])
            .arg(&ctx);
        let out = Outcome::of(&mut cmd);
        out.ok();
        out.stderr.matches("(cached)").count()
    };
    cached("a");
    // Another secret value: both steps cached.
    assert_eq!(cached("b"), 2);
    // Another bind source content: the bind step and the next run again.
    std::fs::write(ctx.join("in/a"), "2").unwrap();
    assert_eq!(cached("b"), 0);
}

#[test]
fn a_bind_through_a_context_symlink_to_the_host_reads_the_contexts_own_file() {
    if !ready(As::Root) {
        return;
    }
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[(
            "Dockerfile",
            &format!(
                "FROM {bb}\nRUN --mount=type=bind,source=out/passwd,target=/p cat /p > /ro\nRUN --mount=type=bind,source=out/passwd,target=/p,rw cat /p > /rw\n"
            ),
        )],
    );
    std::fs::create_dir(ctx.join("etc")).unwrap();
    std::fs::write(ctx.join("etc/passwd"), "ctx-own\n").unwrap();
    std::os::unix::fs::symlink("/etc", ctx.join("out")).unwrap();
    build(&store, As::Root, &ctx, &["--install-as", "h"]).ok();
    let rootfs = store.container_dir("h").join("rootfs");
    assert_eq!(read(&rootfs, "ro"), "ctx-own\n");
    assert_eq!(read(&rootfs, "rw"), "ctx-own\n");
}

/// The lock file of the store's one cache mount.
fn cache_lock(store: &TestStore) -> std::fs::File {
    let home = store.runtime_dir().join("build_cache_mounts");
    let locks: Vec<PathBuf> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    std::fs::File::open(&locks[0]).unwrap()
}

#[test]
fn a_private_cache_in_use_gives_the_step_an_empty_one_of_its_own() {
    if !ready(As::Root) {
        return;
    }
    use rustix::fs::{flock, FlockOperation as Op};
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[(
            "Dockerfile",
            &format!(
                "FROM {bb}\nRUN --mount=type=cache,target=/c,id=p,sharing=private \
                 sh -c 'ls /c | wc -l > /count; touch /c/mark'\n"
            ),
        )],
    );
    let count = |name: &str| {
        build(
            &store,
            As::Root,
            &ctx,
            &["--no-cache", "--install-as", name],
        )
        .ok();
        read(&store.container_dir(name).join("rootfs"), "count")
            .trim()
            .to_owned()
    };
    assert_eq!(count("first"), "0");
    assert_eq!(count("second"), "1", "the cache kept the mark");
    // Another user holds it (exclusively, then shared as a `shared` user
    // would): the private step gets a fresh, empty directory.
    for op in [Op::LockExclusive, Op::LockShared] {
        let lock = cache_lock(&store);
        flock(&lock, op).unwrap();
        let name = format!("busy{}", matches!(op, Op::LockShared) as u8);
        assert_eq!(count(&name), "0", "{op:?}");
        drop(lock);
    }
    // That private directory was thrown away; the shared one is intact.
    assert_eq!(count("after"), "1");
}

#[test]
fn a_cache_mount_starts_as_a_copy_of_its_from_source() {
    if !ready(As::Root) {
        return;
    }
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[(
            "Dockerfile",
            &format!(
                "FROM {bb} AS seed\nRUN mkdir /seed && echo seeded > /seed/f\n\
                 FROM {bb}\nRUN --mount=type=cache,target=/c,id=s,from=seed,source=/seed \
                 sh -c 'cat /c/f > /got; echo more >> /c/f'\n"
            ),
        )],
    );
    build(&store, As::Root, &ctx, &["--install-as", "one"]).ok();
    assert_eq!(
        read(&store.container_dir("one").join("rootfs"), "got"),
        "seeded\n"
    );
    // Seeded once: later builds see what the steps left, not the seed again.
    build(
        &store,
        As::Root,
        &ctx,
        &["--no-cache", "--install-as", "two"],
    )
    .ok();
    assert_eq!(
        read(&store.container_dir("two").join("rootfs"), "got"),
        "seeded\nmore\n"
    );
}

#[test]
fn step_mounts_apply_under_cd_use_isolation() {
    if !ready(As::Root) {
        return;
    }
    let store = TestStore::new();
    let bb = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = context(
        &store,
        As::Root,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {bb}\nRUN --mount=type=bind,source=in.txt,target=/in \
                     --mount=type=tmpfs,target=/scratch --mount=type=secret,id=tok \
                     sh -c 'cat /in > /seen; grep -c \" /scratch tmpfs\" /proc/mounts >> /seen; \
                     wc -c < /run/secrets/tok >> /seen'\n"
                ),
            ),
            ("in.txt", "from the context\n"),
        ],
    );
    let secret = store.root().join("tok");
    std::fs::write(&secret, SECRET).unwrap();
    let out = Outcome::of(store.cmd().env("CD_USE_ISOLATION", "1").args([
        "build",
        "-q",
        "--secret",
        &format!("id=tok,src={}", secret.display()),
        "--install-as",
        "iso",
        ctx.to_str().unwrap(),
    ]));
    out.ok();
    let seen = read(&store.container_dir("iso").join("rootfs"), "seen");
    assert_eq!(seen, format!("from the context\n1\n{}\n", SECRET.len()));
}
