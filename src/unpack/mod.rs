//! Turning untrusted tar streams into a rootfs, confined beneath a
//! directory fd.

pub mod decompress;
