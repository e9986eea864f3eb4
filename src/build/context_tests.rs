//! COPY's source and destination rules, read back from the tar stream.

use super::context::{Context, CopyOptions, Destination, Error};
use super::ignore::Patterns;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// The image side: these directories exist, nothing else.
struct Image(Vec<&'static str>);

impl Destination for Image {
    fn is_dir(&self, path: &Path) -> bool {
        self.0.iter().any(|d| Path::new(d) == path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.is_dir(path)
    }
}

/// Name → (kind, mode, uid:gid, content or link target).
type Listing = BTreeMap<String, (char, u32, (u64, u64), String)>;

fn copy(
    ctx: &Path,
    words: &[&str],
    dest: &str,
    opts: &CopyOptions,
    image: &[&'static str],
) -> Result<Listing, Error> {
    let context = Context::open(ctx, None)?;
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let mut out = Vec::new();
    context.copy(&words, dest, opts, &Image(image.to_vec()), &mut out)?;
    let mut listing = Listing::new();
    let mut archive = tar::Archive::new(out.as_slice());
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let h = e.header().clone();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let (kind, body) = match h.entry_type() {
            tar::EntryType::Directory => ('d', String::new()),
            tar::EntryType::Symlink => (
                'l',
                e.link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            ),
            tar::EntryType::Fifo => ('p', String::new()),
            _ => {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                ('f', s)
            }
        };
        listing.insert(
            name,
            (
                kind,
                h.mode().unwrap(),
                (h.uid().unwrap(), h.gid().unwrap()),
                body,
            ),
        );
    }
    Ok(listing)
}

fn names(l: &Listing) -> Vec<&str> {
    l.keys().map(String::as_str).collect()
}

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("src/sub")).unwrap();
    std::fs::write(p.join("src/a.txt"), "a").unwrap();
    std::fs::write(p.join("src/b.log"), "b").unwrap();
    std::fs::write(p.join("src/sub/c.txt"), "c").unwrap();
    std::fs::write(p.join("top.txt"), "top").unwrap();
    std::fs::set_permissions(p.join("top.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink("a.txt", p.join("src/inner-link")).unwrap();
    dir
}

#[test]
fn a_directory_source_copies_its_contents() {
    let ctx = context();
    let l = copy(ctx.path(), &["src"], "/app", &CopyOptions::default(), &[]).unwrap();
    assert_eq!(
        names(&l),
        [
            "app",
            "app/a.txt",
            "app/b.log",
            "app/inner-link",
            "app/sub",
            "app/sub/c.txt"
        ]
    );
    // Deeper symlinks stay symlinks; owners are root unless --chown.
    assert_eq!(l["app/inner-link"].0, 'l');
    assert_eq!(l["app/inner-link"].3, "a.txt");
    assert_eq!(l["app/a.txt"].2, (0, 0));
}

#[test]
fn a_file_lands_as_named_or_inside_a_directory() {
    let ctx = context();
    let o = CopyOptions::default();
    // No trailing slash and nothing there: the file takes the name.
    assert_eq!(
        names(&copy(ctx.path(), &["top.txt"], "/etc/conf", &o, &["etc"]).unwrap()),
        ["etc/conf"]
    );
    // A trailing slash, or an existing directory: it goes inside.
    assert_eq!(
        names(&copy(ctx.path(), &["top.txt"], "/opt/", &o, &[]).unwrap()),
        ["opt", "opt/top.txt"]
    );
    assert_eq!(
        names(&copy(ctx.path(), &["top.txt"], "/etc", &o, &["etc"]).unwrap()),
        ["etc/top.txt"]
    );
    // Modes are kept.
    assert_eq!(
        copy(ctx.path(), &["top.txt"], "/x", &o, &[]).unwrap()["x"].1,
        0o640
    );
}

#[test]
fn several_sources_need_a_directory_destination() {
    let ctx = context();
    let err = copy(
        ctx.path(),
        &["top.txt", "src/a.txt"],
        "/file",
        &CopyOptions::default(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, Error::DestNotDir(_)), "{err}");
}

#[test]
fn wildcards_match_in_name_order_and_must_match_something() {
    let ctx = context();
    let o = CopyOptions::default();
    let l = copy(ctx.path(), &["src/*.txt", "*.txt"], "/w/", &o, &[]).unwrap();
    assert_eq!(names(&l), ["w", "w/a.txt", "w/top.txt"]);
    let err = copy(ctx.path(), &["*.nothing"], "/w/", &o, &[]).unwrap_err();
    assert!(matches!(err, Error::NoMatch(_)), "{err}");
}

#[test]
fn chown_and_chmod_apply_to_everything_copied_and_created() {
    let ctx = context();
    let o = CopyOptions {
        owner: Some((1000, 100)),
        mode: Some(0o700),
        ..Default::default()
    };
    let l = copy(ctx.path(), &["src/sub"], "/new/dir", &o, &[]).unwrap();
    for (name, (_, mode, owner, _)) in &l {
        assert_eq!((*mode, *owner), (0o700, (1000, 100)), "{name}");
    }
    assert_eq!(names(&l), ["new", "new/dir", "new/dir/c.txt"]);
}

#[test]
fn dockerignore_and_exclude_leave_files_out() {
    let ctx = context();
    std::fs::write(
        ctx.path().join(".dockerignore"),
        "# logs\n**/*.log\nsrc/sub\n!src/sub/c.txt\n",
    )
    .unwrap();
    let l = copy(
        ctx.path(),
        &["src"],
        "/app",
        &CopyOptions::default(),
        &["app"],
    )
    .unwrap();
    assert_eq!(names(&l), ["app/a.txt", "app/inner-link", "app/sub/c.txt"]);
    // An ignored file named on the line is not there at all.
    let err = copy(
        ctx.path(),
        &["src/b.log"],
        "/x",
        &CopyOptions::default(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let o = CopyOptions {
        exclude: Patterns::new(["*.txt"]).unwrap(),
        ..Default::default()
    };
    // `*` stays in one directory, `**` goes down.
    let l = copy(ctx.path(), &["src"], "/app", &o, &["app"]).unwrap();
    assert_eq!(names(&l), ["app/inner-link", "app/sub/c.txt"]);
    let o = CopyOptions {
        exclude: Patterns::new(["**/*.txt"]).unwrap(),
        ..Default::default()
    };
    let l = copy(ctx.path(), &["src"], "/app", &o, &["app"]).unwrap();
    assert_eq!(names(&l), ["app/inner-link"]);
}

#[test]
fn a_dockerfile_specific_ignore_file_wins() {
    let ctx = context();
    std::fs::write(ctx.path().join(".dockerignore"), "top.txt\n").unwrap();
    std::fs::write(ctx.path().join("Build.dockerfile.dockerignore"), "src\n").unwrap();
    let context = Context::open(ctx.path(), Some(&ctx.path().join("Build.dockerfile"))).unwrap();
    let mut out = Vec::new();
    context
        .copy(
            &["top.txt".into()],
            "/t",
            &CopyOptions::default(),
            &Image(vec![]),
            &mut out,
        )
        .unwrap();
    let err = context
        .copy(
            &["src".into()],
            "/s",
            &CopyOptions::default(),
            &Image(vec![]),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn parents_keep_the_source_path_below_a_pivot() {
    let ctx = context();
    let o = CopyOptions {
        parents: true,
        ..Default::default()
    };
    let l = copy(ctx.path(), &["src/sub/c.txt"], "/p/", &o, &[]).unwrap();
    assert_eq!(names(&l), ["p", "p/src", "p/src/sub", "p/src/sub/c.txt"]);
    let l = copy(ctx.path(), &["src/./sub/c.txt"], "/p/", &o, &[]).unwrap();
    assert_eq!(names(&l), ["p", "p/sub", "p/sub/c.txt"]);
}

#[test]
fn nothing_outside_the_context_is_ever_copied() {
    let ctx = context();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host secret").unwrap();
    // A top-level symlink pointing out is read inside the context; `..`
    // is clamped at the context's top.
    symlink(outside.path().join("secret"), ctx.path().join("abs-link")).unwrap();
    symlink("../../../../../../etc/passwd", ctx.path().join("rel-link")).unwrap();
    symlink(outside.path(), ctx.path().join("dir-link")).unwrap();
    let o = CopyOptions::default();
    for word in [
        "abs-link",
        "rel-link",
        "dir-link/secret",
        "../../etc/passwd",
    ] {
        let got = copy(ctx.path(), &[word], "/x", &o, &[]);
        assert!(matches!(got, Err(Error::NotFound(_))), "{word}: {got:?}");
    }
    // A top-level link inside the context is followed, by its own name.
    symlink("src/a.txt", ctx.path().join("good-link")).unwrap();
    let l = copy(ctx.path(), &["good-link"], "/d/", &o, &[]).unwrap();
    assert_eq!(
        l["d/good-link"],
        ('f', 0o644 & l["d/good-link"].1, (0, 0), "a".into())
    );
    // `..` in a source is clamped: `../top.txt` is the context's own.
    let l = copy(ctx.path(), &["../top.txt"], "/t", &o, &[]).unwrap();
    assert_eq!(l["t"].3, "top");
}

#[test]
fn unknown_sources_say_which() {
    let ctx = context();
    let err = copy(
        ctx.path(),
        &["missing.txt"],
        "/x",
        &CopyOptions::default(),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "COPY source 'missing.txt' is not in the build context (or is excluded by .dockerignore)"
    );
}
