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
    let current = std::thread::current();
    let test = current.name().unwrap_or("(unnamed test)");
    let ci = std::env::var_os("CI").is_some();
    assert!(!ci, "{test} could not run: {why}; CI must run it");
    eprintln!("\n*** NOT RUN: {test}: {why} ***\n");
    if let Some(log) = std::env::var_os("CD_TEST_SKIP_LOG") {
        let mut options = std::fs::OpenOptions::new();
        if let Ok(mut f) = options.append(true).create(true).open(log) {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
    false
}
