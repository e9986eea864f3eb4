//! The policy file and the subordinate-id files: never a panic, and no
//! accepted range that overflows or contains the caller's id.
#![no_main]

use cd_mount_helper::{ids, policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = policy::parse(&text);
    if let Ok(Some(r)) = ids::sub_range(&text, "u", 1001) {
        let end = u64::from(r.start) + u64::from(r.count);
        assert!(r.start > 0 && end <= u64::from(u32::MAX) && !(r.start..=end as u32).contains(&1001));
    }
});
