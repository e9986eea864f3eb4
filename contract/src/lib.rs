//! The session contract shared by cd-mount-helper and the main binary, as
//! data: the request one sends and the other decodes, the helper's policy
//! and the account files it reads, the mount plan's fixed paths, the
//! capabilities and the seccomp deny-list of container root, the
//! restrictions a bind may carry, and the exit codes of refusals. Written
//! once, so the two programs that start real-root sessions cannot drift
//! apart. Each caller makes its own mounts; the one exception is
//! `resolve`, the in-root path resolver both put every mount target through,
//! and `stdio`, the check of what descriptors may reach real root.

#![forbid(unsafe_code)]

pub mod bind;
pub mod caps;
pub mod command;
pub mod ids;
pub mod mounts;
pub mod policy;
pub mod refusal;
pub mod request;
pub mod resolve;
pub mod seccomp;
pub mod stdio;
