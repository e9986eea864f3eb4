//! COPY end to end below the Dockerfile: the context's tar stream applied
//! to a real rootfs by the unpacker.

mod common;

use chroot_distro::build::apply::apply;
use chroot_distro::build::context::{Context, CopyOptions, Rootfs};
use chroot_distro::build::Error;
use chroot_distro::env::EnvSnapshot;
use chroot_distro::sandbox::idmap::Privilege;
use common::{bin, require_root};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn copy(
    ctx: &Path,
    rootfs: &Path,
    words: &[&str],
    dest: &str,
    opts: CopyOptions,
) -> Result<(), Error> {
    let context = Context::open(ctx, None)?;
    let image = Rootfs::open(rootfs)?;
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let dest = dest.to_owned();
    let env = EnvSnapshot::from_pairs(Vec::<(String, String)>::new());
    apply(
        &bin(),
        &Privilege::Root,
        &env,
        rootfs,
        "COPY",
        false,
        move |w| {
            context
                .copy(&words, &dest, &opts, &image, w)
                .map(|_| ())
                .map_err(Error::from)
        },
    )?;
    Ok(())
}

#[test]
fn copied_files_land_in_the_rootfs_with_their_owners() {
    if !require_root("a root build's unpacker") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::create_dir(ctx.path().join("app")).unwrap();
    std::fs::write(ctx.path().join("app/main.sh"), "echo main\n").unwrap();
    std::fs::write(ctx.path().join("conf"), "x=1\n").unwrap();
    copy(
        ctx.path(),
        &rootfs,
        &["app"],
        "/srv/app/",
        CopyOptions::default(),
    )
    .unwrap();
    let main = rootfs.join("srv/app/main.sh");
    assert_eq!(std::fs::read_to_string(&main).unwrap(), "echo main\n");
    assert_eq!(
        (
            main.metadata().unwrap().uid(),
            main.metadata().unwrap().gid()
        ),
        (0, 0)
    );
    let opts = CopyOptions {
        owner: Some((1000, 1001)),
        mode: Some(0o600),
        ..Default::default()
    };
    // /etc exists: the file goes inside it.
    copy(ctx.path(), &rootfs, &["conf"], "/etc", opts).unwrap();
    let m = rootfs.join("etc/conf").metadata().unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o600));
}

#[test]
fn a_failed_copy_reports_the_source_and_changes_nothing() {
    if !require_root("a root build's unpacker") {
        return;
    }
    let store = common::store_with_busybox();
    let rootfs = store.container_dir("bb").join("rootfs");
    let ctx = tempfile::tempdir().unwrap();
    let err = copy(ctx.path(), &rootfs, &["nope"], "/x", CopyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("'nope'"), "{err}");
    assert!(!rootfs.join("x").exists());
}
