//! `build`: images from Dockerfiles, without a daemon.

pub mod dockerfile;
