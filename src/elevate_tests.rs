//! Tests of `elevate`.

use super::*;

fn tools<'a>(present: &'a [&'a str]) -> impl Fn(&str) -> Option<PathBuf> + 'a {
    move |n: &str| (present.contains(&n) || n == "env").then(|| PathBuf::from(format!("/bin/{n}")))
}

fn argv(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

fn opts(dir: &Path) -> ElevateOptions {
    ElevateOptions {
        need: "root to mount".into(),
        uid: 1000,
        secrets_dir: Some(dir.to_owned()),
        ..Default::default()
    }
}

fn go(pairs: &[(&str, &str)], present: &[&str], o: &ElevateOptions) -> Result<Plan, Error> {
    let env = EnvSnapshot::from_pairs(pairs.iter().copied());
    plan_with(
        &env,
        &argv(&["chroot-distro", "login", "deb"]),
        Path::new("/usr/bin/chroot-distro"),
        o,
        &tools(present),
    )
}

#[test]
fn linux_order_then_termux_order() {
    let t = tempfile::tempdir().unwrap();
    let o = opts(t.path());
    let all = &["sudo", "doas", "pkexec", "su"];
    assert_eq!(go(&[], all, &o).unwrap().tool, Tool::Sudo);
    assert_eq!(
        go(&[], &["doas", "pkexec", "su"], &o).unwrap().tool,
        Tool::Doas
    );
    assert_eq!(go(&[], &["pkexec", "su"], &o).unwrap().tool, Tool::Pkexec);
    assert_eq!(go(&[], &["su"], &o).unwrap().tool, Tool::Su);
    let termux = [("TERMUX_VERSION", "0.118")];
    assert_eq!(go(&termux, all, &o).unwrap().tool, Tool::Su);
    assert_eq!(go(&termux, &["sudo", "doas"], &o).unwrap().tool, Tool::Sudo);
    let e = go(&[], &[], &o).unwrap_err();
    assert!(matches!(e, Error::NoTool { .. }));
    assert!(e.to_string().contains("sudo, doas, pkexec, su"));
}

#[test]
fn use_sudo_moves_sudo_first() {
    let t = tempfile::tempdir().unwrap();
    let termux = ("TERMUX_VERSION", "0.118");
    let mut o = opts(t.path());
    o.use_sudo = true;
    assert_eq!(go(&[termux], &["sudo", "su"], &o).unwrap().tool, Tool::Sudo);
    let o = opts(t.path());
    let env = [termux, ("CHROOT_DISTRO_USE_SUDO", "yes")];
    assert_eq!(go(&env, &["sudo", "su"], &o).unwrap().tool, Tool::Sudo);
    assert_eq!(go(&[termux], &["sudo", "su"], &o).unwrap().tool, Tool::Su);
}

#[test]
fn never_elevates_twice_or_when_told_not_to() {
    let t = tempfile::tempdir().unwrap();
    let o = opts(t.path());
    let e = go(&[("CD_ELEVATED", "1")], &["sudo"], &o).unwrap_err();
    assert!(matches!(e, Error::Loop { .. }), "{e}");
    let e = go(&[("CHROOT_DISTRO_NO_ELEVATE", "on")], &["sudo"], &o).unwrap_err();
    assert!(matches!(e, Error::Disabled { .. }));
    assert!(e.to_string().contains("root to mount"));
    assert!(e.hint().unwrap().contains("sudo chroot-distro"));
    let mut o = opts(t.path());
    o.no_elevate = true;
    assert!(matches!(
        go(&[], &["sudo"], &o).unwrap_err(),
        Error::Disabled { .. }
    ));
    // The plan itself marks the elevated run.
    let p = go(&[], &["sudo"], &opts(t.path())).unwrap();
    assert!(p.args.contains(&"CD_ELEVATED=1".into()));
    assert!(p.args.contains(&"CD_ELEVATE_FROM_UID=1000".into()));
}

#[test]
fn sudo_command_line_forwards_through_env() {
    let t = tempfile::tempdir().unwrap();
    let mut o = opts(t.path());
    o.names = vec!["CD_CUSTOM".into(), "HOME".into(), "TERMUX__X".into()];
    o.subcommand = Some("login".into());
    let p = go(
        &[
            ("CD_USE_NS", "1"),
            ("CD_CUSTOM", "a b"),
            ("XDG_DATA_HOME", "/d"),
            ("TERM", "xterm"),
            ("HOME", "/home/u"),
            ("TERMUX__X", "y"),
            // A caller cannot preset our protocol variables.
            ("CD_ELEVATE_SECRETS", "/etc/shadow"),
        ],
        &["sudo"],
        &o,
    )
    .unwrap();
    assert_eq!(p.program, Path::new("/bin/sudo"));
    let args: Vec<String> = p
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(&args[..2], ["--", "/bin/env"]);
    for want in [
        "CD_USE_NS=1",
        "CD_CUSTOM=a b",
        "XDG_DATA_HOME=/d",
        "TERM=xterm",
        "TERMUX__X=y",
    ] {
        assert!(args.contains(&want.to_owned()), "{want}: {args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("HOME=")));
    assert!(!args.iter().any(|a| a.starts_with("CD_ELEVATE_SECRETS")));
    let exe = args
        .iter()
        .position(|a| a == "/usr/bin/chroot-distro")
        .unwrap();
    assert_eq!(&args[exe + 1..], ["login", "login", "deb"]);
    assert_eq!(p.secrets_file, None);
}

#[test]
fn secrets_go_to_a_private_file_never_argv() {
    let t = tempfile::tempdir().unwrap();
    let mut o = opts(t.path());
    o.names = vec!["CD_REGISTRY_TOKEN".into(), "MY_PASSWORD".into()];
    for present in [&["sudo"][..], &["pkexec"], &["su"]] {
        let p = go(
            &[
                ("CD_DOCKER_AUTH", "bob:hunter2"),
                ("CD_REGISTRY_TOKEN", "tok3n"),
                ("CD_USE_NS", "1"),
            ],
            present,
            &o,
        )
        .unwrap();
        let line = p
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            !line.contains("hunter2") && !line.contains("tok3n"),
            "{line}"
        );
        assert!(!p.env.iter().any(|(k, _)| k == "CD_DOCKER_AUTH"));
        let file = p.secrets_file.clone().unwrap();
        assert!(line.contains(&format!("CD_ELEVATE_SECRETS={}", file.display())));
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(meta.uid(), rustix::process::getuid().as_raw());
        let data = std::fs::read(&file).unwrap();
        assert_eq!(
            data,
            b"CD_DOCKER_AUTH=bob:hunter2\0CD_REGISTRY_TOKEN=tok3n\0".to_vec()
        );
        p.discard();
        assert!(!file.exists());
    }
    assert!(is_secret("GITHUB_TOKEN") && is_secret("CD_AUTHFILE") && is_secret("X_PASSWORD"));
    assert!(!is_secret("CD_USE_NS"));
}

#[test]
fn su_and_pkexec_shapes() {
    let t = tempfile::tempdir().unwrap();
    let env = EnvSnapshot::from_pairs([("TERM", "it's")]);
    let argv = argv(&["cd", "run", "x", "--", "sh", "-c", "echo $HOME; a b\nc"]);
    let p = plan_with(
        &env,
        &argv,
        Path::new("/opt/my dir/chroot-distro"),
        &opts(t.path()),
        &tools(&["su"]),
    )
    .unwrap();
    assert_eq!(&p.args[..2], [OsString::from("root"), "-c".into()]);
    let line = p.args[2].to_str().unwrap();
    assert_eq!(
        line,
        "/bin/env 'TERM=it'\\''s' CD_ELEVATED=1 CD_ELEVATE_FROM_UID=1000 \
         '/opt/my dir/chroot-distro' run x -- sh -c 'echo $HOME; a b\nc'"
    );
    // pkexec: absolute env, absolute program, no option parsing.
    let p = plan_with(
        &env,
        &argv,
        Path::new("/usr/bin/chroot-distro"),
        &opts(t.path()),
        &tools(&["pkexec"]),
    )
    .unwrap();
    assert_eq!(p.args[0], OsString::from("/bin/env"));
    assert!(p.args.contains(&"/usr/bin/chroot-distro".into()));
    // Relative programs (or '=' that env would take as a variable) are refused.
    for exe in ["chroot-distro", "/opt/a=b/chroot-distro"] {
        let e = plan_with(
            &env,
            &argv,
            Path::new(exe),
            &opts(t.path()),
            &tools(&["sudo"]),
        );
        assert!(matches!(e.unwrap_err(), Error::BadExe(_)));
    }
}

/// Runs `sh -c 'printf %s <quoted>'` and checks the word survives.
#[test]
fn su_quoting_round_trips_through_sh() {
    for word in [
        "plain",
        "two words",
        "it's",
        "'",
        "''",
        "$HOME `id` $(id)",
        "new\nline",
        "back\\slash",
        "\"dq\"",
        "",
        "*?[a]",
        "-n",
    ] {
        let q = crate::shell::quote_os(OsStr::new(word));
        let mut script = OsString::from("printf %s ");
        script.push(&q);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), word, "{q:?}");
    }
}

fn secrets_env(path: &Path, uid: u32) -> EnvSnapshot {
    EnvSnapshot::from_pairs([
        (SECRETS_VAR.to_owned(), path.display().to_string()),
        (FROM_UID_VAR.to_owned(), uid.to_string()),
    ])
}

fn made_secrets(dir: &Path) -> PathBuf {
    write_secrets(
        dir,
        &[
            ("CD_DOCKER_AUTH".into(), "u:p=w\nx".into()),
            ("A_TOKEN".into(), "".into()),
        ],
    )
    .unwrap()
}

fn me() -> u32 {
    rustix::process::getuid().as_raw()
}

#[test]
fn take_secrets_reads_once_and_deletes() {
    // The owner must be a non-root uid: as root, chown to one.
    let t = tempfile::tempdir().unwrap();
    let f = made_secrets(t.path());
    let uid = if me() == 0 {
        std::os::unix::fs::chown(&f, Some(4242), None).unwrap();
        4242
    } else {
        me()
    };
    let got = take_secrets(&secrets_env(&f, uid)).unwrap();
    assert_eq!(
        got,
        [
            ("CD_DOCKER_AUTH".to_owned(), "u:p=w\nx".to_owned()),
            ("A_TOKEN".to_owned(), String::new())
        ]
    );
    assert!(!f.exists());
    assert!(take_secrets(&EnvSnapshot::default()).unwrap().is_empty());
}

fn refused(env: &EnvSnapshot, what: &str) {
    match take_secrets(env) {
        Err(Error::BadSecrets { reason, .. }) => assert!(reason.contains(what), "{reason}"),
        other => panic!("expected refusal '{what}', got {other:?}"),
    }
}

#[test]
fn take_secrets_refuses_links_modes_owners_and_spoofed_uids() {
    let t = tempfile::tempdir().unwrap();
    let uid = if me() == 0 { 4242 } else { me() };
    let own = |p: &Path| {
        if me() == 0 {
            std::os::unix::fs::chown(p, Some(4242), None).unwrap();
        }
    };
    // A symlink with our name, pointing at a real secrets file.
    let real = made_secrets(t.path());
    own(&real);
    let link = t.path().join(format!("{SECRETS_PREFIX}link"));
    std::os::unix::fs::symlink(&real, &link).unwrap();
    refused(&secrets_env(&link, uid), "symbolic link");
    assert!(real.exists());
    // Wrong mode.
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    refused(&secrets_env(&real, uid), "mode 640");
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // Wrong owner.
    refused(&secrets_env(&real, uid + 1), "owned by");
    // uid 0 and disagreeing tool variables.
    refused(&secrets_env(&real, 0), "cannot be 0");
    let mut env = secrets_env(&real, uid);
    env.set("SUDO_UID", (uid + 1).to_string());
    refused(&env, "SUDO_UID");
    // A name we never make (e.g. a host key).
    let other = t.path().join("ssh_host_key");
    std::fs::copy(&real, &other).unwrap();
    refused(&secrets_env(&other, uid), "not a name");
    // Hard links.
    let hl = t.path().join(format!("{SECRETS_PREFIX}hl"));
    std::fs::hard_link(&real, &hl).unwrap();
    refused(&secrets_env(&hl, uid), "hard links");
    assert!(real.exists() && hl.exists() && other.exists());
}

#[test]
fn tools_are_found_in_the_snapshots_path_only_when_executable() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("doas"), "").unwrap();
    std::fs::set_permissions(a.join("doas"), PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(b.join("doas"), "").unwrap();
    std::fs::set_permissions(b.join("doas"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir(a.join("sudo")).unwrap();
    let path = format!("{}:relative:{}", a.display(), b.display());
    let env = EnvSnapshot::from_pairs([("PATH", path.as_str())]);
    // access(2) X_OK fails on a file without any x bit, even for root.
    assert_eq!(env.find_program("doas", &[]), Some(b.join("doas")));
    assert_eq!(env.find_program("sudo", &[]), None);
    let extra = b.display().to_string();
    std::fs::copy(b.join("doas"), b.join("su")).unwrap();
    let env = EnvSnapshot::from_pairs([("PATH", a.display().to_string())]);
    assert_eq!(
        env.find_program("su", &[extra.as_str()]),
        Some(b.join("su"))
    );
}
