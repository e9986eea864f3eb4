//! The policy file and the account files, as data.

use session_contract::ids::{
    account, group_id, id_map, sub_range, sub_ranges, SubRange, MAX_MAPPED,
};
use session_contract::policy::{authorize, parse, under, Caller};
use session_contract::refusal::Rule;
use session_contract::request::{Network, Request};
use std::path::{Path, PathBuf};

fn caller(groups: Vec<u32>) -> Caller {
    Caller { uid: 1001, gid: 1001, groups, account: None }
}

#[test]
fn parses_the_documented_format() {
    let p = parse("# c\ngroups = cdhelper, 27\nreal_root = yes\nprivileged=no\nstore_roots = /srv/a /srv/b # x\nbind_sources=\n").unwrap();
    assert_eq!(p.groups, ["cdhelper", "27"]);
    assert!(p.real_root && !p.privileged);
    assert_eq!(p.store_roots, [PathBuf::from("/srv/a"), PathBuf::from("/srv/b")]);
    assert!(p.bind_sources.is_empty());
    for bad in [
        "real_root = maybe",
        "groups = a\ngroups = b",
        "colour = red",
        "store_roots = rel",
        "store_roots = /a/../b",
        "just words",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn authorization_follows_the_keys() {
    let gr = "cdhelper:x:1002:cdtest\n";
    let plain = Request::default();
    let privileged = Request { privileged: true, ..Default::default() };
    let host = Request { network: Network::Host, ..Default::default() };
    let p = parse("groups = cdhelper\nreal_root = yes\n").unwrap();
    assert!(authorize(&p, &caller(vec![1001, 1002]), gr, &plain).is_ok());
    let rule = |r: Result<(), session_contract::refusal::Refusal>| r.unwrap_err().rule;
    assert_eq!(rule(authorize(&p, &caller(vec![1001, 1002]), gr, &privileged)), Rule::RootGrant);
    assert_eq!(rule(authorize(&p, &caller(vec![1001]), gr, &plain)), Rule::Policy);
    let root = Caller { uid: 0, ..caller(vec![1002]) };
    assert_eq!(rule(authorize(&p, &root, gr, &plain)), Rule::Policy);
    let none = parse("groups = cdhelper\n").unwrap();
    assert_eq!(rule(authorize(&none, &caller(vec![1002]), gr, &plain)), Rule::RootGrant);
    assert_eq!(rule(authorize(&p, &caller(vec![1002]), gr, &host)), Rule::RootGrant);
    let net = parse("groups = cdhelper\nreal_root = yes\nhost_network = yes\n").unwrap();
    assert!(authorize(&net, &caller(vec![1002]), gr, &host).is_ok());
    assert!(under(Path::new("/srv/a/b"), &[Path::new("/srv/a")]));
    assert!(!under(Path::new("/srv/ab"), &[Path::new("/srv/a")]));
}

#[test]
fn passwd_and_group() {
    let pw = "root:x:0:0:root:/root:/bin/bash\ncdtest:x:1001:1001::/home/cdtest:/bin/sh\nbad:x:7\n";
    assert_eq!(account(pw, 1001).unwrap().home, PathBuf::from("/home/cdtest"));
    assert_eq!(account(pw, 7), None);
    let gr = "root:x:0:\ncdhelper:x:1002:cdtest\n";
    assert_eq!(group_id(gr, "cdhelper"), Some(1002));
    assert_eq!(group_id(gr, "44"), Some(44));
    assert_eq!(group_id(gr, "nope"), None);
}

#[test]
fn sub_ranges_are_checked() {
    let t = "other:1:5\ncdtest:100000:65536\ncdtest:300000:10\n";
    assert_eq!(sub_range(t, "cdtest", 1001), Ok(Some(SubRange { start: 100000, count: 65536 })));
    assert_eq!(sub_range("1001:200000:99999\n", "x", 1001).unwrap().unwrap().count, MAX_MAPPED);
    assert_eq!(sub_range(t, "nobody", 9), Ok(None));
    for bad in ["u:4294967295:2", "u:0:10", "u:5:0", "u:x:1", "u:1000:10"] {
        assert!(sub_range(bad, "u", 1001).is_err(), "{bad}");
    }
    let m = id_map(1001, Some(SubRange { start: 100000, count: 65536 }));
    assert_eq!(m, "1001 0 1\n100000 1 65536\n");
}

/// What the main binary reads for `info` and rootless id maps: every
/// well-formed range of the user, by name or uid, in file order. A range
/// reaching 4294967295 does not fit: that id is (uid_t)-1, "unchanged" to
/// the set*id calls.
#[test]
fn every_range_of_the_user_in_order() {
    let t = "u:100000:65536\n1001:300000:10\nv:5:5\nu:4294967295:1\nu:4294967295:2\nu:1:2:3\n";
    let ok: Vec<SubRange> = sub_ranges(t, "u", 1001).filter_map(Result::ok).collect();
    assert_eq!(
        ok,
        [SubRange { start: 100000, count: 65536 }, SubRange { start: 300000, count: 10 },]
    );
    let bad = sub_ranges(t, "u", 1001).filter(Result::is_err).count();
    assert_eq!(bad, 2, "u:4294967295:1 and u:4294967295:2");
}

/// A fresh directory for policy files: under the target dir (root's alone
/// on the test machines) or, with `shared`, under the world-writable /tmp.
fn policy_dir(name: &str, shared: bool) -> PathBuf {
    let base =
        if shared { std::env::temp_dir() } else { PathBuf::from(env!("CARGO_TARGET_TMPDIR")) };
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Every way `load` grants nothing is its own error, each told apart by
/// the helper's refusal and by `info`.
#[test]
fn load_says_why_nothing_is_granted() {
    use session_contract::policy::{load, LoadError};
    use std::os::unix::fs::PermissionsExt;
    let shared = policy_dir("policy-shared", true);
    std::fs::write(shared.join("helper.conf"), "groups = a\n").unwrap();
    let e = load(&shared.join("helper.conf")).unwrap_err();
    assert!(matches!(&e, LoadError::UnsafeDir(d) if d == &std::env::temp_dir()), "{e:?}");
    std::fs::remove_dir_all(&shared).unwrap();

    let dir = policy_dir("policy-safe", false);
    let safe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).ancestors().all(|d| {
        std::fs::metadata(d).is_ok_and(|m| {
            std::os::unix::fs::MetadataExt::uid(&m) == 0 && m.permissions().mode() & 0o022 == 0
        })
    });
    if !rustix::process::geteuid().is_root() || !safe {
        eprintln!("skipped: needs root and a target dir only root can write");
        return;
    }
    let file = dir.join("helper.conf");
    assert!(matches!(load(&file), Err(LoadError::Missing)));
    std::fs::write(&file, "groups = a\nreal_root = yes\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(load(&file).unwrap().real_root);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = load(&file).unwrap_err();
    assert!(matches!(&e, LoadError::Unsafe(_)) && e.to_string().contains("mode 0664"), "{e}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&file, Some(1001), None).unwrap();
    assert!(load(&file).unwrap_err().to_string().contains("owned by uid 1001"));
    std::os::unix::fs::chown(&file, Some(0), None).unwrap();
    let link = dir.join("link.conf");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    assert!(matches!(load(&link), Err(LoadError::Unsafe(_))));
    std::fs::write(&file, "real_root = perhaps\n").unwrap();
    assert!(matches!(load(&file), Err(LoadError::Malformed(m)) if m.contains("yes or no")));
    std::fs::remove_dir_all(&dir).unwrap();
}
