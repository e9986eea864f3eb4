//! The helper's argument decoding: NUL-separated arguments in, and whatever
//! is accepted must hold the invariants the privileged code relies on.
#![no_main]

use cd_mount_helper::request::{is_clean_absolute, parse_request, valid_name, Action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> =
        data.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if let Ok(Action::Run(r)) = parse_request(&args) {
        assert!(valid_name(&r.name) && is_clean_absolute(&r.store));
        assert!(!r.argv.is_empty() && r.cwd.is_absolute());
        assert!(r.binds.iter().all(|b| is_clean_absolute(&b.src) && b.at.is_relative()));
        // Only the four restrictions a bind may carry, never another mount flag.
        assert!(r.binds.iter().all(|b| b.attrs.bits() & !0xf == 0));
        assert!(r.uid != u32::MAX && r.gid != u32::MAX);
    }
});
