//! cd-mount-helper: the only privileged program of chroot-distro.
//!
//! This build grants nothing: every request is refused until the validated
//! operations and their policy land. Keeping the binary and its interface in
//! place now lets packaging and `info` find it.

use argh::FromArgs;
use std::process::ExitCode;

/// Exit code of a refused request.
const REFUSED: u8 = 10;

/// Performs validated mount, chroot and unshare operations for chroot-distro.
#[derive(FromArgs)]
struct Args {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// print what the policy grants the caller and exit
    #[argh(switch)]
    check_policy: bool,
    /// the request (an operation name followed by its arguments)
    #[argh(positional, greedy)]
    request: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    if args.version {
        println!("cd-mount-helper {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if args.check_policy {
        println!(
            "policy: this build of cd-mount-helper grants nothing (no operations implemented)"
        );
        return ExitCode::SUCCESS;
    }
    let what = args.request.first().map(String::as_str).unwrap_or("(none)");
    eprintln!("cd-mount-helper: refused: request '{what}': this build implements no privileged operations");
    ExitCode::from(REFUSED)
}
