//! COPY and ADD beyond context files: here-documents, local archives
//! unpacked by ADD, downloads by URL, and COPY --from an image. Each
//! builds on the rig's busybox and is checked in the installed rootfs.

mod common;

use common::{rig, Outcome, TestStore};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A context directory with a Dockerfile `FROM busybox` + `body`.
fn context(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_dockerfile(dir.path(), body);
    dir
}

fn write_dockerfile(dir: &Path, body: &str) {
    let text = format!("FROM {}\n{body}", rig().get("CD_RIG_FIXTURE_BUSYBOX"));
    std::fs::write(dir.join("Dockerfile"), text).unwrap();
}

/// `build --install-as NAME CTX`; the container's rootfs.
fn build_as(store: &TestStore, ctx: &Path, name: &str) -> (Outcome, PathBuf) {
    let out = store.run(&["build", "--install-as", name, ctx.to_str().unwrap()]);
    (out, store.container_dir(name).join("rootfs"))
}

/// (mode, uid, gid, content) of a file in a rootfs.
fn file(rootfs: &Path, rel: &str) -> (u32, u32, u32, String) {
    let path = rootfs.join(rel);
    let m = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    (m.mode() & 0o7777, m.uid(), m.gid(), text)
}

fn counts(out: &Outcome) -> (usize, usize) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("step(s) run"))
        .unwrap_or_else(|| panic!("no step count: {out:?}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[nums.len() - 2], nums[nums.len() - 1])
}

#[test]
fn here_documents_become_files_with_dockers_modes_and_owners() {
    let store = TestStore::new();
    let ctx = context(
        "COPY <<EOF /etc/greeting\nhello\nEOF\n\
         COPY --chown=1000:1001 --chmod=0600 <<one <<two /opt/docs/\nfirst\none\nsecond\ntwo\n\
         ADD <<-EOF /added\n\tadded by ADD\n\tEOF\n",
    );
    let (out, rootfs) = build_as(&store, ctx.path(), "docs");
    out.ok();
    assert_eq!(
        file(&rootfs, "etc/greeting"),
        (0o644, 0, 0, "hello\n".into())
    );
    assert_eq!(
        file(&rootfs, "opt/docs/one"),
        (0o600, 1000, 1001, "first\n".into())
    );
    assert_eq!(
        file(&rootfs, "opt/docs/two"),
        (0o600, 1000, 1001, "second\n".into())
    );
    assert_eq!(
        file(&rootfs, "added"),
        (0o644, 0, 0, "added by ADD\n".into())
    );

    // Unchanged: every step from the cache. A body changed: that step
    // (and the ones after it) run again, with the new text.
    let again = store.run(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(counts(again.ok()), (0, 3), "{again:?}");
    write_dockerfile(
        ctx.path(),
        "COPY <<EOF /etc/greeting\nhello\nEOF\n\
         COPY --chown=1000:1001 --chmod=0600 <<one <<two /opt/docs/\nfirst\none\nSECOND\ntwo\n\
         ADD <<-EOF /added\n\tadded by ADD\n\tEOF\n",
    );
    let (changed, rootfs) = build_as(&store, ctx.path(), "docs2");
    assert_eq!(counts(changed.ok()), (2, 1), "{changed:?}");
    assert_eq!(file(&rootfs, "opt/docs/two").3, "SECOND\n");
}

/// A tar archive: `dir/` (0750, 1234:5), `dir/file`, a symlink and a hard
/// link to it, and `../escape`, which must stay inside the destination.
fn sample_tar(text: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1234);
    h.set_gid(5);
    h.set_size(0);
    b.append_data(&mut h, "dir/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_uid(1234);
    h.set_gid(5);
    h.set_size(text.len() as u64);
    b.append_data(&mut h, "dir/file", text.as_bytes()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "dir/link", "file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o640);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "dir/hard", "dir/file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(3);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    // The tar crate refuses to write `..`: put it in the raw name.
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    b.append(&h, &b"out"[..]).unwrap();
    b.into_inner().unwrap()
}

fn compress(kind: &str, tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match kind {
        "tar" => tar.to_vec(),
        "tar.gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "tar.bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "tar.xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "tar.zst" => zstd::encode_all(tar, 1).unwrap(),
        _ => unreachable!(),
    }
}

const KINDS: [&str; 5] = ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"];

#[test]
fn add_unpacks_local_archives_of_every_compression_and_copy_does_not() {
    let store = TestStore::new();
    let mut body = String::new();
    for kind in KINDS {
        body.push_str(&format!("ADD a.{kind} /x/{kind}\n"));
    }
    body.push_str("ADD --chown=7:8 a.tar.gz notes.txt /owned/\nCOPY a.tar.gz /copied/\n");
    let ctx = context(&body);
    let tar = sample_tar("in the archive\n");
    for kind in KINDS {
        std::fs::write(ctx.path().join(format!("a.{kind}")), compress(kind, &tar)).unwrap();
    }
    std::fs::write(ctx.path().join("notes.txt"), "notes\n").unwrap();
    let (out, rootfs) = build_as(&store, ctx.path(), "unpacked");
    out.ok();
    for kind in KINDS {
        let dir = format!("x/{kind}/dir");
        assert_eq!(
            file(&rootfs, &format!("{dir}/file")),
            (0o640, 1234, 5, "in the archive\n".into()),
            "{kind}"
        );
        let d = std::fs::metadata(rootfs.join(&dir)).unwrap();
        assert_eq!((d.mode() & 0o7777, d.uid()), (0o750, 1234), "{kind}");
        let link = rootfs.join(format!("{dir}/link"));
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("file"));
        let (a, b) = (
            std::fs::metadata(rootfs.join(format!("{dir}/file"))).unwrap(),
            std::fs::metadata(rootfs.join(format!("{dir}/hard"))).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "{kind}: the hard link joins the file");
        assert_eq!(file(&rootfs, &format!("x/{kind}/escape")).3, "out");
    }
    assert!(!rootfs.join("escape").exists() && !rootfs.join("x/escape").exists());
    // --chown owns every unpacked entry; the plain file joins them.
    assert_eq!(file(&rootfs, "owned/dir/file").1, 7);
    assert_eq!(file(&rootfs, "owned/dir/file").2, 8);
    assert_eq!(
        file(&rootfs, "owned/notes.txt"),
        (0o644, 7, 8, "notes\n".into())
    );
    // COPY copies the archive as it is.
    assert_eq!(
        std::fs::read(rootfs.join("copied/a.tar.gz")).unwrap(),
        std::fs::read(ctx.path().join("a.tar.gz")).unwrap()
    );

    // The archive's content is part of the step's key.
    let again = store.run(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(counts(again.ok()), (0, 7), "{again:?}");
    let changed = sample_tar("changed\n");
    std::fs::write(ctx.path().join("a.tar.zst"), compress("tar.zst", &changed)).unwrap();
    let (out, rootfs) = build_as(&store, ctx.path(), "unpacked2");
    assert_eq!(counts(out.ok()), (3, 4), "{out:?}");
    assert_eq!(file(&rootfs, "x/tar.zst/dir/file").3, "changed\n");

    // An archive unpacks into a directory, never over a file.
    write_dockerfile(ctx.path(), "ADD a.tar /bin/busybox\n");
    let out = store.run(&["build", "-q", ctx.path().to_str().unwrap()]);
    out.fails_with(
        1,
        "Dockerfile:2:1: ADD unpacks an archive into '/bin/busybox'",
    );
}

/// An HTTP server on loopback for the test's life: `files` by path, each
/// dated Sun, 06 Nov 1994 08:49:37 GMT; it counts the requests it gets.
struct Server {
    base: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const LAST_MODIFIED: u64 = 784111777;

impl Server {
    fn start(files: Vec<(&'static str, Vec<u8>)>) -> Self {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                // The rest of the request head.
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let path = path.split('?').next().unwrap_or("");
                let head = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(head.as_bytes());
                        let _ = s.write_all(body);
                        continue;
                    }
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    }
                };
                let _ = s.write_all(head.as_bytes());
            }
        });
        Self { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn add_downloads_a_url_as_docker_does_and_checks_its_checksum() {
    let store = TestStore::new();
    let script = b"#!/bin/sh\necho tool\n".to_vec();
    let archive = compress("tar.gz", &sample_tar("x\n"));
    let server = Server::start(vec![
        ("/files/tool.sh", script.clone()),
        ("/files/a.tar.gz", archive.clone()),
    ]);
    let base = &server.base;
    let sum = sha256_hex(&script);
    let ctx = context(&format!(
        "ADD {base}/files/tool.sh?v=1 /opt/\n\
         ADD --chmod=0755 --chown=3:4 {base}/files/tool.sh /usr/local/bin/tool\n\
         ADD --checksum=sha256:{sum} {base}/files/tool.sh /checked\n\
         ADD {base}/files/a.tar.gz /dl/\n"
    ));
    let (out, rootfs) = build_as(&store, ctx.path(), "fetched");
    out.ok();
    let text = String::from_utf8(script.clone()).unwrap();
    // Named from the URL's path, 0600, dated by Last-Modified.
    assert_eq!(file(&rootfs, "opt/tool.sh"), (0o600, 0, 0, text.clone()));
    let m = std::fs::metadata(rootfs.join("opt/tool.sh")).unwrap();
    assert_eq!(m.mtime() as u64, LAST_MODIFIED);
    assert_eq!(
        file(&rootfs, "usr/local/bin/tool"),
        (0o755, 3, 4, text.clone())
    );
    assert_eq!(file(&rootfs, "checked").3, text);
    // A downloaded archive stays an archive.
    assert_eq!(std::fs::read(rootfs.join("dl/a.tar.gz")).unwrap(), archive);
    assert!(!rootfs.join("dl/dir").exists());
    // Three URLs (`?v=1` makes one its own), each fetched once.
    assert_eq!(server.hits(), 3, "each URL is downloaded once per build");

    // A rebuild: the URLs without --checksum are fetched again to be
    // hashed, the one with it is not; every step hits the cache.
    let again = store.run(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(counts(again.ok()), (0, 4), "{again:?}");
    assert_eq!(server.hits(), 6, "{again:?}");

    // A wrong checksum names both digests and installs nothing.
    let wrong = "0".repeat(64);
    write_dockerfile(
        ctx.path(),
        &format!("ADD --checksum=sha256:{wrong} {base}/files/tool.sh /bad\n"),
    );
    let dir = ctx.path().to_str().unwrap();
    let out = store.run(&["build", "-q", "--install-as", "bad", dir]);
    out.fails_with(1, &format!("sha256:{wrong}"));
    assert!(out.stderr.contains(&format!("sha256:{sum}")), "{out:?}");
    assert!(out.stderr.contains("Dockerfile:2"), "{out:?}");
    assert!(!store.container_dir("bad").exists());

    // A missing file is a clear error.
    write_dockerfile(ctx.path(), &format!("ADD {base}/nope /x\n"));
    let out = store.run(&["build", "-q", ctx.path().to_str().unwrap()]);
    out.fails_with(1, "404");
    let dl = store.cache_dir().join("downloads");
    let left = std::fs::read_dir(&dl).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "downloads are removed when the build ends");
}

#[test]
fn copy_from_an_image_pulls_it_like_from_and_copies_from_its_rootfs() {
    let store = TestStore::new();
    let busybox = rig().get("CD_RIG_FIXTURE_BUSYBOX");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY --from={busybox} /bin/busybox /bin/\n\
             COPY --from={busybox} --chown=5:6 /bin /tools/\n"
        ),
    )
    .unwrap();
    let (out, rootfs) = build_as(&store, ctx.path(), "picked");
    out.ok();
    let bin = std::fs::metadata(rootfs.join("bin/busybox")).unwrap();
    assert!(bin.is_file() && bin.len() > 100_000 && bin.mode() & 0o111 != 0);
    let tools = std::fs::symlink_metadata(rootfs.join("tools/busybox")).unwrap();
    assert_eq!((tools.uid(), tools.gid(), tools.len()), (5, 6, bin.len()));
    // Only what was copied: the stage is scratch.
    assert!(!rootfs.join("etc").exists());
    let again = store.run(&["build", ctx.path().to_str().unwrap()]);
    assert_eq!(counts(again.ok()), (0, 2), "{again:?}");

    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY --from=127.0.0.1:1/cd/nope:1 /x /x\n",
    )
    .unwrap();
    let out = store.run(&["build", "-q", ctx.path().to_str().unwrap()]);
    out.fails_with(1, "Dockerfile:2:1: COPY --from 127.0.0.1:1/cd/nope:1");
}

#[test]
fn a_rootless_add_unpacks_and_owns_entries_on_subordinate_ids() {
    use common::As;
    let store = TestStore::for_who(As::User);
    let ctx = store.root().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    write_dockerfile(
        &ctx,
        "ADD a.tar.xz /x/\nADD --chown=7:8 a.tar.xz /owned/\nCOPY <<EOF /doc\nrootless\nEOF\n",
    );
    std::fs::write(ctx.join("a.tar.xz"), compress("tar.xz", &sample_tar("t\n"))).unwrap();
    let uid: u32 = rig().get("CD_RIG_UID").parse().unwrap();
    for entry in ["ctx", "ctx/Dockerfile", "ctx/a.tar.xz"] {
        std::os::unix::fs::chown(store.root().join(entry), Some(uid), Some(uid)).unwrap();
    }
    let out = store.run_as(
        As::User,
        &["build", "--install-as", "mine", ctx.to_str().unwrap()],
    );
    out.ok();
    // Container ids n > 0 are the user's subordinate id start + n - 1;
    // container root is the user.
    let start: u32 = rig().get("CD_RIG_SUBUID_START").parse().unwrap();
    let rootfs = store.container_dir("mine").join("rootfs");
    assert_eq!(file(&rootfs, "x/dir/file").1, start + 1234 - 1);
    assert_eq!(file(&rootfs, "owned/dir/file").1, start + 7 - 1);
    assert_eq!(file(&rootfs, "doc"), (0o644, uid, uid, "rootless\n".into()));
}
