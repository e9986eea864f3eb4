//! cd-mount-helper: the only privileged program of chroot-distro. It runs
//! one kind of request — a real-root session in a container of the caller's
//! own store — for members of the groups its policy names, and refuses
//! everything else with one line naming the rule (DESIGN.md, "cd-mount-helper
//! rules"). The request, the policy's format and checks, the account-file
//! parsers and the exit codes are the session contract's, shared with the
//! main binary. Read in this order: harden (what happens first), policy,
//! store, session, mounts, idmap, enter, init; the in-root resolver, the
//! stdio check and the command are the contract's (`resolve`, `stdio`,
//! `command`).

pub mod enter;
pub mod harden;
pub mod idmap;
pub mod init;
pub mod mounts;
pub mod net;
pub mod policy;
pub mod session;
pub mod store;
pub use session_contract::{ids, refusal, request, resolve};

use policy::Caller;
use refusal::Refusal;
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
    harden::first()?;
    let action = request::decode_os(std::env::args_os().skip(1))?;
    // The real ids harden::first checked are the ones it keeps acting as.
    let caller = Caller::current();
    let (check_only, req) = match action {
        Action::Version => {
            println!("cd-mount-helper {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Action::Help => {
            print!("{}", request::USAGE);
            return Ok(0);
        }
        Action::CheckPolicy => (true, Box::default()),
        Action::Run(req) => (false, req),
    };
    let policy = policy::load_policy()?;
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    policy::authorize(&policy, &caller, &groups, &req)?;
    harden::check_caps()?;
    if check_only {
        // One line and the exit code: `info` explains the policy itself,
        // with the contract's parser.
        println!("cd-mount-helper: real-root sessions granted by {}", policy::POLICY_PATH);
        return Ok(0);
    }
    session::run(&req, &caller, &policy)
}
