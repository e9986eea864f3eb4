//! The policy file and the subordinate-id files: never a panic, and no
//! accepted range that overflows or contains the caller's id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_contract::{ids, policy};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = policy::parse(&text) {
        let clean = |v: &[std::path::PathBuf]| v.iter().all(|p| policy_path_ok(p));
        assert!(clean(&p.store_roots) && clean(&p.bind_sources));
    }
    if let Ok(Some(r)) = ids::sub_range(&text, "u", 1001) {
        let end = u64::from(r.start) + u64::from(r.count);
        assert!(r.start > 0 && end <= u64::from(u32::MAX) && !(r.start..=end as u32).contains(&1001));
        assert!(r.count <= ids::MAX_MAPPED);
    }
    for r in ids::sub_ranges(&text, "u", 1001).flatten() {
        assert!(r.count > 0 && r.start.checked_add(r.count).is_some());
    }
});

fn policy_path_ok(p: &std::path::Path) -> bool {
    session_contract::request::is_clean_absolute(p)
}
