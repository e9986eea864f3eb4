//! Progress for long operations: bars on a terminal, one line per step
//! otherwise, nothing with -q.

use chroot_distro::install::Reporter;
use chroot_distro::ui::{human_size, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// The widest text beside the bar on the total download line: indent,
/// sizes ("1023.99 MiB" twice), speed and "eta 59m".
const TOTAL_FIXED: usize = 2 + 1 + 11 + 1 + 11 + 1 + 13 + 4 + 3;
/// The same for a layer's line.
const LAYER_FIXED: usize = 4 + 6 + 2 + 1 + 1 + 11 + 1 + 11 + 1 + 13;
/// Indent, spinner and elapsed time ("59m") around the extraction text.
const EXTRACT_FIXED: usize = 2 + 1 + 1 + 1 + 3;

pub struct Progress {
    debug: bool,
    quiet: bool,
    tty: bool,
    /// Terminal columns: every bar line is made one shorter, so none wraps.
    width: usize,
    style: Style,
    bar: Option<ProgressBar>,
    bar_kind: Kind,
    /// Per-layer download bars live here while downloads run.
    multi: Option<MultiProgress>,
    /// Those bars, so that clearing also silences a download thread that
    /// still holds one (after Ctrl-C it would redraw a stale line).
    layer_bars: Vec<ProgressBar>,
    /// The layer being unpacked, for its own counts on the extraction line.
    extracting: Option<LayerStart>,
    /// Held while a bar is on screen.
    echoctl_off: Option<crate::echoctl::EchoCtlOff>,
}

/// A layer and the unpacker's running totals when it began.
#[derive(Clone, Copy)]
struct LayerStart {
    layer: usize,
    entries: u64,
    bytes: u64,
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
            width: terminal_size::terminal_size_of(std::io::stderr())
                .map_or(80, |(w, _)| usize::from(w.0)),
            style,
            bar: None,
            bar_kind: Kind::None,
            multi: None,
            layer_bars: Vec::new(),
            extracting: None,
            echoctl_off: None,
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        for bar in self.layer_bars.drain(..) {
            bar.finish_and_clear();
        }
        if let Some(multi) = self.multi.take() {
            let _ = multi.clear();
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        self.bar_kind = Kind::None;
        // Only now, with the bars gone, may a Ctrl-C echo again.
        self.echoctl_off = None;
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
            // Bars sized to the terminal, with room for the widest numbers
            // and one column spare, so a line never wraps (a wrapped bar
            // line is redrawn as two and leaves stale copies).
            let template = match (kind, total) {
                (Kind::Bytes, Some(_)) => format!(
                    "  {{bar:{}.cyan/blue}} {{bytes:>10}}/{{total_bytes:<10}} {{bytes_per_sec:>12}} eta {{eta}}",
                    self.bar_width(TOTAL_FIXED)
                ),
                (Kind::Bytes, None) => "  {spinner} {bytes} {bytes_per_sec}".to_owned(),
                _ => "  {spinner} {msg} {elapsed}".to_owned(),
            };
            if let Ok(st) = ProgressStyle::with_template(&template) {
                bar.set_style(st.progress_chars("=> "));
            }
            if self.echoctl_off.is_none() {
                self.echoctl_off = crate::echoctl::EchoCtlOff::new();
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            self.bar = Some(bar);
            self.bar_kind = kind;
        }
        self.bar.as_ref()
    }

    /// Columns left for a bar beside `fixed` columns of text.
    fn bar_width(&self, fixed: usize) -> usize {
        self.width.saturating_sub(fixed + 1).clamp(5, 60)
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
            if let Ok(st) = ProgressStyle::with_template(&format!(
                "    layer {{prefix:>2}} {{bar:{}.green/white}} {{bytes:>10}}/{{total_bytes:<10}} {{bytes_per_sec:>12}}",
                self.bar_width(LAYER_FIXED)
            )) {
                bar.set_style(st.progress_chars("=> "));
            }
            bar.set_prefix((i + 1).to_string());
            self.layer_bars.push(bar.clone());
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

    /// Extraction is a phase of its own once the downloads are done: the
    /// download bar would otherwise sit at 100 % while its speed decays.
    /// Until then the download bars stay and extraction follows them.
    fn extract(&mut self, layer: usize, layers: usize, entries: u64, bytes: u64) {
        let downloading = self.bar_kind == Kind::Bytes
            && self
                .bar
                .as_ref()
                .is_some_and(|b| b.length().is_none_or(|len| b.position() < len));
        let start = match self.extracting {
            Some(s) if s.layer == layer => s,
            _ => *self.extracting.insert(LayerStart {
                layer,
                entries,
                bytes,
            }),
        };
        if downloading {
            return;
        }
        let room = self.width.saturating_sub(EXTRACT_FIXED + 1);
        if let Some(bar) = self.bar(Kind::Entries, None) {
            let text = format!(
                "extracting layer {}/{layers}: {} entries, {}",
                layer + 1,
                entries.saturating_sub(start.entries),
                human_size(bytes.saturating_sub(start.bytes))
            );
            bar.set_message(text.chars().take(room).collect::<String>());
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
