//! The command's environment: built from scratch out of the image's
//! `Env`, the user's `--env`/`CD_ENV`, and what the host shares.

use super::{Error, Options};
use crate::env::EnvSnapshot;
use crate::session::{build_env, parse_env_arg, EnvInputs, GuestUser};
use crate::store::RuntimeConfig;
use crate::termux::Termux;

pub(super) struct Inputs<'a> {
    pub host: &'a EnvSnapshot,
    pub termux: Option<&'a Termux>,
    pub config: Option<&'a RuntimeConfig>,
    pub opts: &'a Options,
    pub user: &'a GuestUser,
    pub hostname: &'a str,
    /// What a shared display needs (`DISPLAY`, `WAYLAND_DISPLAY`, …).
    pub display: Vec<(String, String)>,
    /// What the host's GPU needs.
    pub gpu: Vec<(String, String)>,
}

pub(super) fn build(inp: &Inputs) -> Result<Vec<(String, String)>, Error> {
    let user_env = inp
        .opts
        .env
        .iter()
        .map(|e| parse_env_arg(e))
        .collect::<Result<Vec<_>, _>>()?;
    let image_env = inp.config.and_then(|c| c.env.clone()).unwrap_or_default();
    Ok(build_env(&EnvInputs {
        host: inp.host,
        termux: inp.termux,
        image_env: &image_env,
        user_env: &user_env,
        user: inp.user,
        hostname: inp.hostname,
        isolated: inp.opts.isolated,
        minimal: inp.opts.minimal,
        display: inp.display.clone(),
        gpu: inp.gpu.clone(),
    }))
}
