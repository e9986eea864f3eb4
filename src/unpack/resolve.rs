//! Path resolution confined beneath a root directory fd, for archive
//! names: `..`, absolute names and symlinks planted by earlier entries
//! never reach outside the rootfs. Names are normalised lexically, then
//! resolved by the session contract's one in-root resolver (openat2 with
//! RESOLVE_IN_ROOT, or its O_PATH walk), which `info`, sessions and
//! cd-mount-helper use too.

pub use session_contract::resolve::{
    normalize, open_in_root, resolve_parent, split, ResolveMode, Resolver, MAX_PATH,
};
