//! The helper's request decoding: NUL-separated arguments in; whatever is
//! accepted must hold the invariants the privileged code relies on, and
//! must encode back to the very same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_contract::mounts::is_gpu_path;
use session_contract::request::{decode, encode, is_clean_absolute, valid_name, Action};

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> =
        data.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let Ok(Action::Run(r)) = decode(&args) else {
        return;
    };
    assert!(valid_name(&r.name) && is_clean_absolute(&r.store));
    assert!(!r.argv.is_empty() && r.cwd.is_absolute());
    assert!(r.binds.iter().all(|b| is_clean_absolute(&b.src) && b.at.is_relative()));
    // Only the four restrictions a bind may carry, never another mount flag.
    assert!(r.binds.iter().all(|b| b.attrs & !session_contract::bind::ALL == 0));
    assert!(r.gpu.iter().all(|p| is_gpu_path(p)));
    assert!(!r.isolated || (r.binds.is_empty() && r.gpu.is_empty()));
    assert!(r.hostname.is_none() || r.isolated || r.use_ns);
    assert!(r.uid != u32::MAX && r.gid != u32::MAX);
    // One type, one spelling: the client's encoding decodes to the same.
    let again: Vec<String> =
        encode(&r).into_iter().map(|a| a.into_string().expect("UTF-8 in, UTF-8 out")).collect();
    assert_eq!(decode(&again), Ok(Action::Run(r)));
});
