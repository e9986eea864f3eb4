//! See lib.rs: main() hardens the process before anything else.
fn main() -> std::process::ExitCode {
    cd_mount_helper::main()
}
