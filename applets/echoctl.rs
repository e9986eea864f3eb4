//! While bars are drawn, the terminal must not echo Ctrl-C as `^C`: a bar
//! line fills the terminal's width, so those two characters wrap onto a new
//! row, and clearing the bars afterwards leaves the old bar line behind.

use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, LocalModes, OptionalActions, Termios};

/// Turns ECHOCTL off on stderr's terminal until dropped.
pub struct EchoCtlOff {
    saved: Termios,
}

impl EchoCtlOff {
    /// None when stderr is no terminal, we are not its foreground process
    /// group (changing it would stop us with SIGTTOU), or it echoes no
    /// control characters anyway.
    pub fn new() -> Option<Self> {
        let err = std::io::stderr();
        if tcgetpgrp(&err).ok()? != rustix::process::getpgrp() {
            return None;
        }
        let saved = tcgetattr(&err).ok()?;
        if !saved.local_modes.contains(LocalModes::ECHOCTL) {
            return None;
        }
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHOCTL);
        tcsetattr(&err, OptionalActions::Now, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for EchoCtlOff {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stderr(), OptionalActions::Now, &self.saved);
    }
}
