//! Progress for long operations: bars on a terminal, one line per step
//! otherwise, nothing with -q.

use chroot_distro::install::Reporter;
use chroot_distro::ui::{human_size, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    debug: bool,
    quiet: bool,
    tty: bool,
    style: Style,
    bar: Option<ProgressBar>,
    bar_kind: Kind,
    /// Per-layer download bars live here while downloads run.
    multi: Option<MultiProgress>,
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
            multi: None,
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(multi) = self.multi.take() {
            let _ = multi.clear();
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

    fn download_sink(&mut self, missing: &[(usize, u64)]) -> chroot_distro::registry::ByteSink {
        let total: u64 = missing.iter().map(|(_, s)| s).sum();
        let Some(total_bar) = self.bar(Kind::Bytes, Some(total)).cloned() else {
            return std::sync::Arc::new(|_, _| {});
        };
        // One bar per layer being fetched, under the total.
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total_bar = multi.add(total_bar);
        let mut per_layer = std::collections::HashMap::new();
        for (i, size) in missing {
            let bar = multi.add(ProgressBar::new(*size));
            if let Ok(st) = ProgressStyle::with_template(
                "    layer {prefix:>2} {bar:24.green/white} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}",
            ) {
                bar.set_style(st.progress_chars("=> "));
            }
            bar.set_prefix((i + 1).to_string());
            per_layer.insert(*i, bar);
        }
        self.multi = Some(multi);
        std::sync::Arc::new(move |i, n| {
            total_bar.inc(n);
            if let Some(bar) = per_layer.get(&i) {
                bar.inc(n);
                if bar.position() >= bar.length().unwrap_or(u64::MAX) {
                    bar.finish_and_clear();
                }
            }
        })
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
