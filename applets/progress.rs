//! Progress for long operations: bars on a terminal, one line per step
//! otherwise, nothing with -q.

use chroot_distro::install::Reporter;
use chroot_distro::ui::{human_size, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    debug: bool,
    quiet: bool,
    tty: bool,
    style: Style,
    bar: Option<ProgressBar>,
    bar_kind: Kind,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    None,
    Bytes,
    Entries,
}

impl Progress {
    pub fn new(quiet: bool, debug: bool, style: Style) -> Self {
        Self {
            debug,
            quiet,
            tty: std::io::stderr().is_terminal(),
            style,
            bar: None,
            bar_kind: Kind::None,
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.bar_kind = Kind::None;
    }

    fn bar(&mut self, kind: Kind, total: Option<u64>) -> Option<&ProgressBar> {
        if self.quiet || !self.tty {
            return None;
        }
        if self.bar_kind != kind {
            self.clear();
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = match (kind, total) {
                (Kind::Bytes, Some(_)) => {
                    "  {bar:30.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
                }
                (Kind::Bytes, None) => "  {spinner} {bytes} {bytes_per_sec}",
                _ => "  {spinner} {msg}",
            };
            if let Ok(st) = ProgressStyle::with_template(template) {
                bar.set_style(st.progress_chars("=> "));
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            self.bar = Some(bar);
            self.bar_kind = kind;
        }
        self.bar.as_ref()
    }

    pub fn finish(&mut self) {
        self.clear();
    }
}

impl Reporter for Progress {
    fn step(&mut self, message: &str) {
        if self.quiet {
            return;
        }
        let line = format!("{} {message}", self.style.bold("::"));
        // A running bar stays; the step prints above it.
        match &self.bar {
            Some(bar) if !bar.is_finished() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    fn bytes(&mut self, done: u64, total: Option<u64>) {
        if let Some(bar) = self.bar(Kind::Bytes, total) {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        }
    }

    fn download_sink(&mut self, total: u64) -> std::sync::Arc<dyn Fn(u64) + Send + Sync> {
        match self.bar(Kind::Bytes, Some(total)) {
            Some(bar) => {
                let bar = bar.clone();
                std::sync::Arc::new(move |n| bar.inc(n))
            }
            None => std::sync::Arc::new(|_| {}),
        }
    }

    fn extract(&mut self, layer: usize, layers: usize, entries: u64, bytes: u64) {
        // While downloads run, extraction shows on the download bar.
        let kind = if self.bar_kind == Kind::Bytes {
            Kind::Bytes
        } else {
            Kind::Entries
        };
        if let Some(bar) = self.bar(kind, None) {
            bar.set_message(format!(
                "layer {}/{layers}: {entries} entries, {}",
                layer + 1,
                human_size(bytes)
            ));
        }
    }

    fn debug(&mut self, message: &str) {
        if self.debug {
            eprintln!("chroot-distro: debug: {message}");
        }
    }

    fn warn(&mut self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| crate::report::warn(self.style, message)),
            None => crate::report::warn(self.style, message),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
