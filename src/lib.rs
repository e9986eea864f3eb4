//! Core library of chroot-distro.
//!
//! Everything here is usable without root and without process-global state:
//! callers hand in an [`env::EnvSnapshot`] instead of the library reading the
//! process environment, so tests can describe any host.

pub mod archive;
pub mod build;
pub mod elevate;
pub mod env;
pub mod fsops;
pub mod helper_client;
pub mod hostinfo;
pub mod install;
pub mod interrupt;
pub mod ioerr;
pub mod launch;
pub mod oci;
pub mod registry;
pub mod sandbox;
pub mod session;
pub mod shell;
pub mod store;
pub mod termux;
pub mod tls;
pub mod ui;
pub mod unpack;
pub mod users;

#[cfg(test)]
#[path = "../tests/common/skip.rs"]
mod testskip;

/// Version of the program, shared by the applets and `info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
