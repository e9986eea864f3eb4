//! Confinement of the processes that handle untrusted data: the one
//! confined-child protocol (re-exec, socket, user-namespace handshake),
//! user namespaces with subordinate ids, capability dropping,
//! no_new_privs and Landlock.

pub mod child;
pub mod confine;
pub mod idmap;
pub mod seccomp;

pub use idmap::{IdMap, Privilege};
