//! Decoding the command line into a typed request. Strict on purpose:
//! anything odd is refused before a single privileged step (rule 1).
//! `parse_request` is pure, so it is fuzzed and unit-tested as it is.

use crate::net::Network;
use crate::refusal::{refuse, Refusal, Rule};
use argh::FromArgs;
use rustix::mount::MountAttrFlags;
use std::path::{Component, Path, PathBuf};

/// Runs a chroot-distro session as real root in the container, for members
/// of the groups named in /etc/chroot-distro/helper.conf. Usage:
/// cd-mount-helper --store DIR --name NAME --uid N --gid N [options] -- CMD...
#[derive(FromArgs, Debug)]
struct Args {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// print what the policy grants the caller, and why, then exit
    #[argh(switch)]
    check_policy: bool,
    /// the caller's store: $XDG_DATA_HOME/chroot-distro
    #[argh(option)]
    store: Option<String>,
    /// container name (its rootfs is STORE/containers/NAME/rootfs)
    #[argh(option)]
    name: Option<String>,
    /// user id to run the command as, inside the container
    #[argh(option)]
    uid: Option<u32>,
    /// group id to run the command as
    #[argh(option)]
    gid: Option<u32>,
    /// a supplementary group id (repeatable)
    #[argh(option)]
    group: Vec<u32>,
    /// working directory inside the container (default /)
    #[argh(option)]
    cwd: Option<String>,
    /// KEY=VALUE for the command's environment (repeatable; nothing else is passed)
    #[argh(option)]
    env: Vec<String>,
    /// HOST:GUEST[:BITS] bind mount, both absolute; BITS adds ro 1, nosuid 2,
    /// nodev 4, noexec 8 to nosuid,nodev (repeatable)
    #[argh(option)]
    bind: Vec<String>,
    /// only /dev, /proc, /sys and /run (masked as usual): no /tmp, no binds
    #[argh(switch)]
    minimal: bool,
    /// new PID, UTS and IPC namespaces, and no binds
    #[argh(switch)]
    isolated: bool,
    /// host name in the new UTS namespace (needs --isolated)
    #[argh(option)]
    hostname: Option<String>,
    /// bind the host's /tmp instead of a private one
    #[argh(switch)]
    shared_tmp: bool,
    /// full root: every capability the helper holds, writable /sys, no masks
    #[argh(switch)]
    privileged: bool,
    /// join the network namespace of this process of the caller's (its user
    /// namespace must be the caller's); default: a new one, nothing up
    #[argh(option)]
    netns_pid: Option<u32>,
    /// the host's network (policy key host_network), without raw sockets
    #[argh(switch)]
    host_network: bool,
    /// the command and its arguments (after --)
    #[argh(positional, greedy)]
    argv: Vec<String>,
}

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Version,
    /// `--help`: the text to print.
    Help(String),
    CheckPolicy,
    Run(Request),
}

/// A session request, every field validated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    pub store: PathBuf,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    pub minimal: bool,
    pub isolated: bool,
    pub hostname: Option<String>,
    pub shared_tmp: bool,
    pub privileged: bool,
    pub network: Network,
    pub argv: Vec<String>,
}

/// A host path to bind onto a guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub src: PathBuf,
    /// Relative to the rootfs (no leading slash), never empty.
    pub at: PathBuf,
    /// Restrictions the caller adds; rule 6's nosuid,nodev apply anyway.
    pub attrs: MountAttrFlags,
}

/// Generous bounds: a request beyond them is a bug or an attack.
const MAX_ITEMS: usize = 4096;
const MAX_GROUPS: usize = 256;
const MAX_ARG: usize = 128 * 1024;

/// Decodes `args` (without argv[0]).
pub fn parse_request(args: &[String]) -> Result<Action, Refusal> {
    let bad = |m: String| refuse(Rule::Request, m);
    if args.iter().any(|a| a.len() > MAX_ARG || a.contains('\0')) {
        return Err(bad("an argument is too long or holds a NUL byte".into()));
    }
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = match Args::from_args(&["cd-mount-helper"], &strs) {
        Ok(a) => a,
        Err(e) if e.status.is_ok() => return Ok(Action::Help(e.output)),
        Err(e) => return Err(bad(e.output.trim().replace('\n', "; "))),
    };
    let session_args = a.store.is_some() || a.name.is_some() || !a.argv.is_empty();
    if a.version || a.check_policy {
        if session_args || (a.version && a.check_policy) {
            return Err(bad("--version and --check-policy take no other argument".into()));
        }
        return Ok(if a.version { Action::Version } else { Action::CheckPolicy });
    }
    let need = |o: Option<String>, what: &str| o.ok_or_else(|| bad(format!("missing --{what}")));
    let store = PathBuf::from(need(a.store, "store")?);
    if !is_clean_absolute(&store) {
        return Err(bad("--store must be an absolute path without . or ..".into()));
    }
    let name = need(a.name, "name")?;
    if !valid_name(&name) {
        return Err(bad(format!(
            "bad container name {name:?}: [A-Za-z0-9][A-Za-z0-9._-]*, no '..'"
        )));
    }
    let (uid, gid) = match (a.uid, a.gid) {
        (Some(u), Some(g)) => (u, g),
        _ => return Err(bad("missing --uid or --gid".into())),
    };
    // (uid_t)-1 means "unchanged" to the set*id calls.
    if uid == u32::MAX || gid == u32::MAX || a.group.contains(&u32::MAX) {
        return Err(bad("id 4294967295 is not a valid id".into()));
    }
    if a.group.len() > MAX_GROUPS {
        return Err(bad(format!("more than {MAX_GROUPS} groups")));
    }
    let cwd = PathBuf::from(a.cwd.unwrap_or_else(|| "/".into()));
    if !cwd.is_absolute() {
        return Err(bad("--cwd must be absolute".into()));
    }
    if a.env.len() > MAX_ITEMS || a.bind.len() > MAX_ITEMS || a.argv.len() > MAX_ITEMS {
        return Err(bad(format!("more than {MAX_ITEMS} items")));
    }
    let env = a
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(bad(format!("--env {kv:?} is not KEY=VALUE"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let binds = a
        .bind
        .iter()
        .map(|b| {
            parse_bind(b).ok_or_else(|| bad(format!("--bind {b:?} is not /HOST:/GUEST[:BITS<16]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if a.isolated && !binds.is_empty() {
        return Err(bad("--isolated sessions take no binds".into()));
    }
    if let Some(h) = &a.hostname {
        if !a.isolated || !valid_hostname(h) {
            return Err(bad(format!(
                "--hostname {h:?}: needs --isolated and [A-Za-z0-9.-], at most 64"
            )));
        }
    }
    if a.argv.is_empty() {
        return Err(bad("no command given (put it after --)".into()));
    }
    let network = match (a.netns_pid, a.host_network) {
        (None, false) => Network::New,
        (Some(pid), false) if pid > 0 => Network::Of(pid),
        (None, true) => Network::Host,
        _ => return Err(bad("--netns-pid takes a process id, and not with --host-network".into())),
    };
    Ok(Action::Run(Request {
        store,
        name,
        uid,
        gid,
        groups: a.group,
        cwd,
        env,
        binds,
        minimal: a.minimal,
        isolated: a.isolated,
        hostname: a.hostname,
        shared_tmp: a.shared_tmp,
        privileged: a.privileged,
        network,
        argv: a.argv,
    }))
}

/// `[A-Za-z0-9][A-Za-z0-9._-]*` without `..`: one plain path component.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !name.contains("..")
        && name.len() <= 255
}

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 64
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Absolute, and made only of normal components: what you see is what the
/// kernel walks (symlinks aside, which the resolvers handle).
pub fn is_clean_absolute(p: &Path) -> bool {
    let mut c = p.components();
    c.next() == Some(Component::RootDir) && c.all(|c| matches!(c, Component::Normal(_)))
}

/// `/host:/guest[:BITS]`, split at the first two colons; the guest path
/// becomes relative to the rootfs and may not be the rootfs itself. BITS
/// (session_contract::bind, in decimal) may hold no unknown bit.
fn parse_bind(b: &str) -> Option<Bind> {
    let mut fields = b.splitn(3, ':');
    let (src, dst) = (PathBuf::from(fields.next()?), PathBuf::from(fields.next()?));
    let bits = fields.next().map_or(Some(0), session_contract::bind::decode)?;
    if !is_clean_absolute(&src) || !is_clean_absolute(&dst) || dst.parent().is_none() {
        return None;
    }
    let at = dst.strip_prefix("/").ok()?.to_path_buf();
    Some(Bind { src, at, attrs: MountAttrFlags::from_bits(bits)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Action, Refusal> {
        parse_request(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    const BASE: &[&str] = &[
        "--store",
        "/home/u/.local/share/chroot-distro",
        "--name",
        "deb",
        "--uid",
        "0",
        "--gid",
        "0",
    ];

    fn run(extra: &[&str]) -> Result<Action, Refusal> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        p(&v)
    }

    #[test]
    fn a_full_request_decodes() {
        let Ok(Action::Run(r)) = run(&[
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
        ]) else {
            panic!()
        };
        assert_eq!(r.groups, [5, 27]);
        assert_eq!(r.env, [("A".to_string(), "b=c".to_string())]);
        let bind = |src: &str, at: &str, attrs| Bind { src: src.into(), at: at.into(), attrs };
        let ro_noexec = MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NOEXEC;
        assert_eq!(
            r.binds,
            [bind("/srv/x", "mnt/x", MountAttrFlags::empty()), bind("/srv/y", "y", ro_noexec)]
        );
        assert_eq!(r.argv, ["/bin/sh", "-c", "--uid"]);
        assert!(r.shared_tmp && !r.privileged);
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
            &["--uid", "4294967295", "--", "sh"],
            &["--frobnicate", "--", "sh"],
            &[],
        ] {
            let e = run(bad).expect_err(&format!("{bad:?}"));
            assert_eq!(e.rule, Rule::Request, "{bad:?}");
        }
        assert!(p(&["--check-policy", "--name", "x"]).is_err());
        assert!(p(&["--", "sh"]).is_err());
        assert_eq!(p(&["--check-policy"]), Ok(Action::CheckPolicy));
        assert!(matches!(p(&["--help"]), Ok(Action::Help(_))));
    }

    /// The exact line src/helper_client.rs's test builds: the contract.
    #[test]
    fn the_clients_command_line_decodes() {
        let line = "--store /home/u/.local/share/chroot-distro --name deb --uid 0 --gid 0 \
                    --group 5 --group 27 --cwd /root --env PATH=/bin --env A=b=c \
                    --bind /home/u/src:/src:0 --bind /home/u/ro:/ro:9 --shared-tmp \
                    -- /bin/sh --privileged";
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        let Ok(Action::Run(r)) = parse_request(&args) else { panic!() };
        assert_eq!(r.argv, ["/bin/sh", "--privileged"]);
        assert!(r.shared_tmp && !r.privileged);
        assert_eq!(r.binds[1].attrs.bits(), 9);
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
    /// and whatever it accepts satisfies the invariants the rest relies on.
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
        for _ in 0..5000 {
            let n = (next() % 14) as usize;
            let v: Vec<String> =
                (0..n).map(|_| WORDS[(next() % WORDS.len() as u64) as usize].to_string()).collect();
            if let Ok(Action::Run(r)) = parse_request(&v) {
                assert!(valid_name(&r.name) && is_clean_absolute(&r.store), "{v:?}");
                assert!(!r.argv.is_empty() && r.cwd.is_absolute(), "{v:?}");
                assert!(r.binds.iter().all(|b| b.src.is_absolute()
                    && b.at.is_relative()
                    && !b.at.as_os_str().is_empty()
                    && b.attrs.bits() & !session_contract::bind::ALL == 0));
            }
        }
    }
}
