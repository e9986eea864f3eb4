//! cd-mount-helper: the only privileged program of chroot-distro. It runs
//! one kind of request — a real-root session in a container of the caller's
//! own store — for members of the groups its policy names, and refuses
//! everything else with one line naming the rule (DESIGN.md, "cd-mount-helper
//! rules"). Read in this order: harden (what happens first), request,
//! policy, store, stdio, session, mounts, resolve, idmap, enter, init.

pub mod enter;
pub mod harden;
pub mod idmap;
pub mod ids;
pub mod init;
pub mod mounts;
pub mod net;
pub mod policy;
pub mod refusal;
pub mod request;
pub mod resolve;
pub mod seccomp;
pub mod session;
pub mod stdio;
pub mod store;

use policy::{Caller, Policy};
use refusal::{refuse, Refusal, Rule};
use request::Action;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.rule.exit_code())
        }
    }
}

fn run() -> Result<u8, Refusal> {
    let ids = harden::first()?;
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().map_err(|_| refuse(Rule::Request, "an argument is not UTF-8")))
        .collect::<Result<Vec<_>, _>>()?;
    let action = request::parse_request(&args)?;
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mut groups = rustix::process::getgroups()
        .map(|g| g.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| Vec::new());
    groups.push(ids.gid);
    let caller = Caller {
        uid: ids.uid,
        gid: ids.gid,
        groups,
        account: ids::account(&read("/etc/passwd"), ids.uid),
    };
    match action {
        Action::Version => println!("cd-mount-helper {}", env!("CARGO_PKG_VERSION")),
        Action::Help(text) => print!("{text}"),
        Action::CheckPolicy => return Ok(check_policy(&caller, &read("/etc/group"))),
        Action::Run(req) => {
            let policy = policy::load()?;
            policy::authorize(&policy, &caller, &read("/etc/group"), &req)?;
            return session::run(&req, &caller, &policy);
        }
    }
    Ok(0)
}

/// `--check-policy`: what the policy grants this caller and why. Exits 0
/// when sessions would be allowed, else with the code of the refusing rule.
fn check_policy(caller: &Caller, group_file: &str) -> u8 {
    println!("policy file: {}", policy::POLICY_PATH);
    println!("caller: uid {} gid {} groups {:?}", caller.uid, caller.gid, caller.groups);
    let policy: Policy = match policy::load() {
        Ok(p) => p,
        Err(e) => {
            println!("{e}");
            return e.rule.exit_code();
        }
    };
    let yes = |b: bool| if b { "granted" } else { "not granted (no policy line)" };
    match policy::membership(&policy, caller, group_file) {
        Some(g) => println!("use: granted (member of {g})"),
        None => println!("use: not granted (in none of: {})", policy.groups.join(", ")),
    }
    println!("real-root sessions: {}", yes(policy.real_root));
    println!("--privileged: {}", yes(policy.privileged));
    println!("--host-network: {}", yes(policy.host_network));
    println!("ports below 1024 on the host network: {}", yes(policy.privileged_ports));
    let home = caller
        .home()
        .map(|h| h.display().to_string())
        .unwrap_or_else(|| "(no usable home in /etc/passwd)".into());
    let list = |v: &[std::path::PathBuf]| {
        v.iter().map(|p| format!(", {}", p.display())).collect::<String>()
    };
    println!("stores under: {home}{}", list(&policy.store_roots));
    println!("bind sources under: {home}{}", list(&policy.bind_sources));
    let missing = harden::missing_caps();
    if !missing.is_empty() {
        println!("capabilities missing from this binary: {missing:?}");
    }
    match policy::authorize(&policy, caller, group_file, &Default::default()) {
        Ok(()) if missing.is_empty() => 0,
        Ok(()) => Rule::SelfProtection.exit_code(),
        Err(e) => {
            println!("{e}");
            e.rule.exit_code()
        }
    }
}
