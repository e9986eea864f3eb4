//! The session contract shared by cd-mount-helper and the main binary, as
//! data: what a real-root session may not do, and which restrictions a
//! bind may carry, written once so the two programs that start such
//! sessions cannot drift apart. No system call is made here; each caller
//! installs what this crate builds.

#![forbid(unsafe_code)]

pub mod bind;
pub mod seccomp;
