//! The request of a real-root session, as the main binary encodes it and
//! cd-mount-helper decodes it: one type, one encoder, one decoder. Decoding
//! is strict on purpose: anything odd is refused before a single privileged
//! step (DESIGN.md, cd-mount-helper rule 1). Both directions are pure, so
//! they are fuzzed and tested as data.

use crate::refusal::{refuse, Refusal, Rule};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// `--help`.
pub const USAGE: &str = "\
Usage: cd-mount-helper --store DIR --name NAME --uid N --gid N [options] -- CMD [ARG...]
       cd-mount-helper --check-policy | --version | --help

Runs a chroot-distro session as real root in the container NAME of the
caller's store DIR, for members of the groups its policy names.

  --group N          a supplementary group id (repeatable)
  --cwd DIR          working directory inside the container (default /)
  --env KEY=VALUE    the command's environment (repeatable; nothing else passes)
  --bind HOST:GUEST[:BITS]
                     bind mount, both absolute; BITS adds ro 1, nosuid 2,
                     nodev 4, noexec 8 to nosuid,nodev (repeatable)
  --minimal          only /dev, /proc, /sys and /run: no /tmp, no binds
  --isolated         new UTS and cgroup namespaces, and no binds
  --use-ns           new UTS and cgroup namespaces, binds kept (CD_USE_NS)
  --hostname NAME    host name in the new UTS namespace (needs one of those)
  --gpu PATH         bind a GPU path of the host's (/dev/dri, /dev/nvidia*,
                     /dev/dxg, /usr/lib/wsl) read-only at the same place
  --interpreter PATH bind the binfmt_misc emulator PATH read-only at the same
                     place (a foreign-architecture image)
  --shared-tmp       bind the host's /tmp instead of a private one
  --privileged       every capability the helper holds, writable /sys, no masks
  --netns-pid PID    join the network namespace of this process of the caller's
  --host-network     the host's network (policy key host_network), no raw sockets
  --check-policy     exit 0 if the policy lets the caller run sessions, else
                     with the refusing rule's code, after one line saying why
";

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Version,
    Help,
    CheckPolicy,
    /// Boxed: a request is large, the other actions are nothing.
    Run(Box<Request>),
}

/// Where the session's network comes from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A new, empty network namespace (no interface up).
    #[default]
    New,
    /// The network namespace of this process of the caller's.
    Of(u32),
    /// The host's (policy key `host_network`).
    Host,
}

/// A session request. The helper only ever sees one that [`decode`]
/// accepted, every field validated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// The caller's store (`$XDG_DATA_HOME/chroot-distro`); the helper
    /// computes the rootfs from it and `name` itself.
    pub store: PathBuf,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Absolute, inside the container.
    pub cwd: PathBuf,
    /// The command's whole environment: nothing else reaches it.
    pub env: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    pub minimal: bool,
    /// New UTS and cgroup namespaces and no binds at all (PID and IPC
    /// namespaces are a helper session's anyway, rule 10).
    pub isolated: bool,
    /// `CD_USE_NS`: new UTS and cgroup namespaces, binds kept.
    pub use_ns: bool,
    /// Only with `isolated` or `use_ns`.
    pub hostname: Option<String>,
    /// GPU paths of the host's ([`crate::mounts::is_gpu_path`]), bound at
    /// the same place; not with `isolated`.
    pub gpu: Vec<PathBuf>,
    /// The binfmt_misc emulator of a foreign-architecture image, bound at
    /// its own path (the kernel opens it from inside the root).
    pub interpreter: Option<PathBuf>,
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
    /// Restrictions the caller adds ([`crate::bind`] bits); rule 6's
    /// nosuid,nodev apply anyway.
    pub attrs: u32,
}

/// Generous bounds: a request beyond them is a bug or an attack.
const MAX_ITEMS: usize = 4096;
const MAX_GROUPS: usize = 256;
const MAX_ARG: usize = 128 * 1024;

/// The helper's command line for `req` (without argv[0]).
pub fn encode(req: &Request) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let mut opt = |name: &str, value: OsString| out.extend([name.into(), value]);
    opt("--store", req.store.clone().into());
    opt("--name", req.name.clone().into());
    opt("--uid", req.uid.to_string().into());
    opt("--gid", req.gid.to_string().into());
    req.groups.iter().for_each(|g| opt("--group", g.to_string().into()));
    opt("--cwd", req.cwd.clone().into());
    req.env.iter().for_each(|(k, v)| opt("--env", format!("{k}={v}").into()));
    for b in &req.binds {
        let mut spec = b.src.as_os_str().to_owned();
        spec.push(":/");
        spec.push(&b.at);
        spec.push(format!(":{}", b.attrs));
        opt("--bind", spec);
    }
    if let Some(h) = &req.hostname {
        opt("--hostname", h.into());
    }
    req.gpu.iter().for_each(|p| opt("--gpu", p.clone().into()));
    if let Some(p) = &req.interpreter {
        opt("--interpreter", p.clone().into());
    }
    if let Network::Of(pid) = req.network {
        opt("--netns-pid", pid.to_string().into());
    }
    let switches = [
        (req.minimal, "--minimal"),
        (req.isolated, "--isolated"),
        (req.use_ns, "--use-ns"),
        (req.shared_tmp, "--shared-tmp"),
        (req.privileged, "--privileged"),
        (req.network == Network::Host, "--host-network"),
    ];
    out.extend(switches.iter().filter(|(on, _)| *on).map(|(_, s)| OsString::from(s)));
    out.push("--".into());
    out.extend(req.argv.iter().map(OsString::from));
    out
}

/// The options as given, before their meaning is checked.
#[derive(Default)]
struct Raw<'a> {
    single: Vec<(&'a str, &'a str)>,
    group: Vec<&'a str>,
    env: Vec<&'a str>,
    bind: Vec<&'a str>,
    gpu: Vec<&'a str>,
    switches: Vec<&'a str>,
    argv: Vec<String>,
}

const SINGLE: [&str; 8] =
    ["--store", "--name", "--uid", "--gid", "--cwd", "--hostname", "--netns-pid", "--interpreter"];
const SWITCHES: [&str; 9] = [
    "--version",
    "--help",
    "--check-policy",
    "--minimal",
    "--isolated",
    "--use-ns",
    "--shared-tmp",
    "--privileged",
    "--host-network",
];

/// Splits `args` into options, each known and given once (the repeatable
/// ones aside), and the command after `--`.
fn split(args: &[String]) -> Result<Raw<'_>, String> {
    let mut raw = Raw::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let arg = arg.as_str();
        if arg == "--" {
            raw.argv = it.cloned().collect();
            break;
        }
        if SWITCHES.contains(&arg) {
            if raw.switches.contains(&arg) {
                return Err(format!("{arg} given twice"));
            }
            raw.switches.push(arg);
            continue;
        }
        let mut value =
            || it.next().map(String::as_str).ok_or_else(|| format!("{arg} needs a value"));
        match arg {
            "--group" => raw.group.push(value()?),
            "--env" => raw.env.push(value()?),
            "--bind" => raw.bind.push(value()?),
            "--gpu" => raw.gpu.push(value()?),
            _ if SINGLE.contains(&arg) => {
                if raw.single.iter().any(|(k, _)| *k == arg) {
                    return Err(format!("{arg} given twice"));
                }
                raw.single.push((arg, value()?));
            }
            _ => return Err(format!("unknown argument {arg:?} (the command goes after --)")),
        }
    }
    Ok(raw)
}

/// A decimal id, digits only (`parse` would take a sign).
fn number(what: &str, text: &str) -> Result<u32, String> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| format!("{what} {text:?} is not a number"))
}

/// Decodes `args` (without argv[0]).
/// The helper's own arguments (argv without argv[0]), each one UTF-8.
pub fn decode_os(args: impl Iterator<Item = std::ffi::OsString>) -> Result<Action, Refusal> {
    let not_utf8 = |_| refuse(Rule::Request, "an argument is not UTF-8");
    decode(&args.map(|a| a.into_string().map_err(not_utf8)).collect::<Result<Vec<_>, _>>()?)
}

pub fn decode(args: &[String]) -> Result<Action, Refusal> {
    decode_checked(args).map_err(|m| refuse(Rule::Request, m))
}

fn decode_checked(args: &[String]) -> Result<Action, String> {
    if args.iter().any(|a| a.len() > MAX_ARG || a.contains('\0')) {
        return Err("an argument is too long or holds a NUL byte".into());
    }
    let raw = split(args)?;
    let get = |k: &str| raw.single.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let on = |s: &str| raw.switches.contains(&s);
    let exclusive = ["--version", "--help", "--check-policy"];
    if let Some(only) = exclusive.into_iter().find(|s| on(s)) {
        if args.len() != 1 {
            return Err(format!("{only} takes no other argument"));
        }
        return Ok(match only {
            "--version" => Action::Version,
            "--help" => Action::Help,
            _ => Action::CheckPolicy,
        });
    }
    let store = PathBuf::from(get("--store").ok_or("missing --store")?);
    if !is_clean_absolute(&store) {
        return Err("--store must be an absolute path without . or ..".into());
    }
    let name = get("--name").ok_or("missing --name")?.to_owned();
    if !valid_name(&name) {
        return Err(format!("bad container name {name:?}: [A-Za-z0-9][A-Za-z0-9._-]*, no '..'"));
    }
    let (Some(uid), Some(gid)) = (get("--uid"), get("--gid")) else {
        return Err("missing --uid or --gid".into());
    };
    let (uid, gid) = (number("--uid", uid)?, number("--gid", gid)?);
    let groups = raw.group.iter().map(|g| number("--group", g)).collect::<Result<Vec<_>, _>>()?;
    // (uid_t)-1 means "unchanged" to the set*id calls.
    if uid == u32::MAX || gid == u32::MAX || groups.contains(&u32::MAX) {
        return Err("id 4294967295 is not a valid id".into());
    }
    if groups.len() > MAX_GROUPS {
        return Err(format!("more than {MAX_GROUPS} groups"));
    }
    let cwd = PathBuf::from(get("--cwd").unwrap_or("/"));
    if !cwd.is_absolute() {
        return Err("--cwd must be absolute".into());
    }
    if [raw.env.len(), raw.bind.len(), raw.gpu.len(), raw.argv.len()].iter().any(|n| *n > MAX_ITEMS)
    {
        return Err(format!("more than {MAX_ITEMS} items"));
    }
    let env = (raw.env.iter())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("--env {kv:?} is not KEY=VALUE")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let binds = (raw.bind.iter())
        .map(|b| parse_bind(b).ok_or_else(|| format!("--bind {b:?} is not /HOST:/GUEST[:BITS<16]")))
        .collect::<Result<Vec<_>, _>>()?;
    let gpu: Vec<PathBuf> = raw.gpu.iter().map(PathBuf::from).collect();
    if let Some(p) = gpu.iter().find(|p| !is_clean_absolute(p) || !crate::mounts::is_gpu_path(p)) {
        return Err(format!("--gpu {}: not a GPU path of the host's", p.display()));
    }
    let interpreter = get("--interpreter").map(PathBuf::from);
    if interpreter.as_ref().is_some_and(|p| !is_clean_absolute(p) || p.parent().is_none()) {
        return Err("--interpreter must be an absolute path without . or ..".into());
    }
    let (isolated, use_ns) = (on("--isolated"), on("--use-ns"));
    if isolated && (!binds.is_empty() || !gpu.is_empty()) {
        return Err("--isolated sessions take no binds".into());
    }
    let hostname = get("--hostname").map(str::to_owned);
    if let Some(h) = &hostname {
        if !(isolated || use_ns) || !valid_hostname(h) {
            return Err(format!(
                "--hostname {h:?}: needs --isolated or --use-ns and [A-Za-z0-9.-], at most 64"
            ));
        }
    }
    if raw.argv.is_empty() {
        return Err("no command given (put it after --)".into());
    }
    let pid = get("--netns-pid").map(|p| number("--netns-pid", p)).transpose()?;
    let network = match (pid, on("--host-network")) {
        (None, false) => Network::New,
        (Some(pid), false) if pid > 0 => Network::Of(pid),
        (None, true) => Network::Host,
        _ => return Err("--netns-pid takes a process id, and not with --host-network".into()),
    };
    Ok(Action::Run(Box::new(Request {
        store,
        name,
        uid,
        gid,
        groups,
        cwd,
        env,
        binds,
        minimal: on("--minimal"),
        isolated,
        use_ns,
        hostname,
        gpu,
        interpreter,
        shared_tmp: on("--shared-tmp"),
        privileged: on("--privileged"),
        network,
        argv: raw.argv,
    })))
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
/// ([`crate::bind`], in decimal) may hold no unknown bit.
fn parse_bind(b: &str) -> Option<Bind> {
    let mut fields = b.splitn(3, ':');
    let (src, dst) = (PathBuf::from(fields.next()?), PathBuf::from(fields.next()?));
    let attrs = fields.next().map_or(Some(0), crate::bind::decode)?;
    if !is_clean_absolute(&src) || !is_clean_absolute(&dst) || dst.parent().is_none() {
        return None;
    }
    let at = dst.strip_prefix("/").ok()?.to_path_buf();
    Some(Bind { src, at, attrs })
}
