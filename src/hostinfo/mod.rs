//! Host diagnostics for `info`.
