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
