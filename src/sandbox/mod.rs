//! Confinement of the processes that handle untrusted data: user
//! namespaces with subordinate ids, capability dropping, no_new_privs and
//! Landlock.

pub mod confine;
pub mod idmap;
pub mod seccomp;

pub use idmap::{IdMap, Privilege};
