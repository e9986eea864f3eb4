//! The request decoder as data: what the client encodes decodes to the same
//! request, and everything odd is refused under rule 1 before the helper
//! takes a single privileged step.

use session_contract::bind;
use session_contract::refusal::{Refusal, Rule};
use session_contract::request::{
    decode, encode, is_clean_absolute, valid_name, Action, Bind, Network, Request,
};

fn p(args: &[&str]) -> Result<Action, Refusal> {
    decode(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

const BASE: &[&str] =
    &["--store", "/home/u/.local/share/chroot-distro", "--name", "deb", "--uid", "0", "--gid", "0"];

fn run(extra: &[&str]) -> Result<Action, Refusal> {
    let mut v = BASE.to_vec();
    v.extend_from_slice(extra);
    p(&v)
}

fn request(extra: &[&str]) -> Request {
    match run(extra) {
        Ok(Action::Run(r)) => *r,
        other => panic!("{extra:?}: {other:?}"),
    }
}

#[test]
fn a_full_request_decodes() {
    let r = request(&[
        "--group",
        "5",
        "--group",
        "27",
        "--cwd",
        "/root",
        "--env",
        "A=b=c",
        "--bind",
        "/srv/x:/mnt/x",
        "--bind",
        "/srv/y:/y:9",
        "--shared-tmp",
        "--",
        "/bin/sh",
        "-c",
        "--uid",
    ]);
    assert_eq!(r.groups, [5, 27]);
    assert_eq!(r.env, [("A".to_string(), "b=c".to_string())]);
    let b = |src: &str, at: &str, attrs| Bind { src: src.into(), at: at.into(), attrs };
    assert_eq!(
        r.binds,
        [b("/srv/x", "mnt/x", 0), b("/srv/y", "y", bind::READ_ONLY | bind::NOEXEC)]
    );
    assert_eq!(r.argv, ["/bin/sh", "-c", "--uid"]);
    assert!(r.shared_tmp && !r.privileged);
    assert_eq!(r.network, Network::New);
}

#[test]
fn odd_requests_are_refused_under_rule_1() {
    for bad in [
        &["--bind", "x", "--", "sh"][..],
        &["--name", "../x", "--", "sh"],
        &["--bind", "/a:relative", "--", "sh"],
        &["--bind", "/a:/", "--", "sh"],
        &["--bind", "/a/../etc:/x", "--", "sh"],
        // Only the four restrictions, as a number: no other mount flag.
        &["--bind", "/a:/b:16", "--", "sh"],
        &["--bind", "/a:/b:ro", "--", "sh"],
        &["--bind", "/a:/b:", "--", "sh"],
        &["--bind", "/a:/b:1:2", "--", "sh"],
        &["--env", "=x", "--", "sh"],
        &["--hostname", "h", "--", "sh"],
        &["--cwd", "rel", "--", "sh"],
        &["--isolated", "--bind", "/a:/b", "--", "sh"],
        &["--isolated", "--gpu", "/dev/dri", "--", "sh"],
        // Only the host's GPU paths, by name: nothing else binds unchecked.
        &["--gpu", "/etc", "--", "sh"],
        &["--gpu", "/dev/sda", "--", "sh"],
        &["--gpu", "/dev/nvidia/../sda", "--", "sh"],
        &["--gpu", "/dev/nvidia0/x", "--", "sh"],
        &["--gpu", "dev/dri", "--", "sh"],
        &["--interpreter", "/", "--", "sh"],
        &["--interpreter", "qemu", "--", "sh"],
        &["--use-ns", "--hostname", "a b", "--", "sh"],
        &["--uid", "4294967295", "--", "sh"],
        &["--netns-pid", "0", "--", "sh"],
        &["--netns-pid", "7", "--host-network", "--", "sh"],
        &["--minimal", "--minimal", "--", "sh"],
        &["--frobnicate", "--", "sh"],
        &[],
    ] {
        let e = run(bad).expect_err(&format!("{bad:?}"));
        assert_eq!(e.rule, Rule::Request, "{bad:?}");
    }
    // --store, --name, --uid and --gid are each given once.
    assert_eq!(run(&["--uid", "1", "--", "sh"]).unwrap_err().rule, Rule::Request);
    assert!(p(&["--check-policy", "--name", "x"]).is_err());
    assert!(p(&["--", "sh"]).is_err());
    assert_eq!(p(&["--check-policy"]), Ok(Action::CheckPolicy));
    assert_eq!(p(&["--help"]), Ok(Action::Help));
    assert_eq!(p(&["--version"]), Ok(Action::Version));
}

/// Every field survives encode → decode: the client and the helper share
/// one type and cannot disagree on a spelling.
#[test]
fn what_the_client_encodes_the_helper_decodes() {
    let req = Request {
        store: "/home/u/.local/share/chroot-distro".into(),
        name: "deb".into(),
        uid: 1000,
        gid: 1000,
        groups: vec![1000, 27],
        cwd: "/home/u".into(),
        env: vec![("PATH".into(), "/bin".into()), ("EMPTY".into(), String::new())],
        binds: vec![Bind { src: "/home/u/src".into(), at: "src".into(), attrs: 9 }],
        minimal: true,
        isolated: false,
        use_ns: true,
        hostname: Some("deb".into()),
        gpu: vec!["/dev/dri".into(), "/dev/nvidia0".into(), "/dev/nvidia-caps".into()],
        interpreter: Some("/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into()),
        shared_tmp: true,
        privileged: true,
        network: Network::Of(4242),
        argv: vec!["/bin/sh".into(), "--".into(), "--privileged".into()],
    };
    let args: Vec<String> = encode(&req).into_iter().map(|a| a.into_string().unwrap()).collect();
    assert_eq!(decode(&args), Ok(Action::Run(Box::new(req.clone()))));
    let isolated = Request {
        isolated: true,
        use_ns: false,
        hostname: Some("box".into()),
        binds: Vec::new(),
        gpu: Vec::new(),
        interpreter: None,
        network: Network::Host,
        ..req
    };
    let args: Vec<String> =
        encode(&isolated).into_iter().map(|a| a.into_string().unwrap()).collect();
    assert_eq!(decode(&args), Ok(Action::Run(Box::new(isolated))));
}

#[test]
fn names() {
    for ok in ["debian", "a", "x_1.2-3", "9"] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["", ".x", "-x", "a/b", "a..b", "..", "a b", "ü"] {
        assert!(!valid_name(bad), "{bad}");
    }
}

/// Deterministic pseudo-random argument vectors: decoding never panics
/// and whatever it accepts satisfies the invariants the helper relies on.
/// (The cargo-fuzz target in contract/fuzz does the same, unbounded.)
#[test]
fn decoding_survives_random_vectors() {
    const WORDS: &[&str] = &[
        "--store",
        "--name",
        "--uid",
        "--gid",
        "--group",
        "--cwd",
        "--env",
        "--bind",
        "--minimal",
        "--isolated",
        "--hostname",
        "--shared-tmp",
        "--privileged",
        "--use-ns",
        "--gpu",
        "--interpreter",
        "/dev/dri",
        "/dev/nvidia0",
        "--netns-pid",
        "--host-network",
        "--",
        "--check-policy",
        "--version",
        "--help",
        "/",
        "/a",
        "/a/../b",
        "a",
        "..",
        "0",
        "4294967295",
        "-1",
        "x=y",
        "=",
        ":",
        "/a:/b",
        "/a:/b:8",
        "/a:/b:31",
        "/a:",
        "h.example",
        "",
        "\u{fffd}",
        "sh",
        "-c",
    ];
    let mut seed: u64 = 0x5eed_cafe_f00d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..20000 {
        let n = (next() % 16) as usize;
        // Half of them start well-formed, so that the checks after the
        // mandatory options are reached too.
        let start = if next() % 2 == 0 { BASE } else { &[][..] };
        let mut v: Vec<String> = start.iter().map(|s| s.to_string()).collect();
        v.extend((0..n).map(|_| WORDS[(next() % WORDS.len() as u64) as usize].to_string()));
        if let Ok(Action::Run(r)) = decode(&v) {
            accepted += 1;
            assert!(valid_name(&r.name) && is_clean_absolute(&r.store), "{v:?}");
            assert!(!r.argv.is_empty() && r.cwd.is_absolute(), "{v:?}");
            assert!(r.uid != u32::MAX && r.gid != u32::MAX, "{v:?}");
            assert!(r.gpu.iter().all(|p| session_contract::mounts::is_gpu_path(p)), "{v:?}");
            assert!(!r.isolated || (r.binds.is_empty() && r.gpu.is_empty()), "{v:?}");
            assert!(r.hostname.is_none() || r.isolated || r.use_ns, "{v:?}");
            assert!(r.binds.iter().all(|b| is_clean_absolute(&b.src)
                && b.at.is_relative()
                && !b.at.as_os_str().is_empty()
                && b.attrs & !bind::ALL == 0));
        }
    }
    // Some vectors must get through, or the invariants were never tested.
    assert!(accepted > 100, "{accepted}");
}
