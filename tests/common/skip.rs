//! How a test that cannot run here says so. One source for the library's
//! unit tests, the integration tests and the helper's tests (each includes
//! this file by path), and one protocol with `tests/run`: a line
//! `TEST: WHY` appended to `$CD_TEST_SKIP_LOG`, which the closing line
//! counts, so a skipped test is never mistaken for a passed one. Under
//! `CI=true` (`tests/run` sets it when run as root, as CI does) nothing may
//! be skipped: the test fails instead.

use std::io::Write;

/// Reports the skip (or fails, under CI) and returns false, for
/// `if !condition { return skip(...) }`-style early returns.
pub fn skip(why: &str) -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_owned();
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} could not run: {why}; CI must run it"
    );
    eprintln!("\n*** NOT RUN: {test}: {why} ***\n");
    if let Some(log) = std::env::var_os("CD_TEST_SKIP_LOG") {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log);
        if let Ok(mut f) = file {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
    false
}
