//! Progress on an 80-column terminal (issue 14): extraction is a phase of
//! its own after the download, no line is longer than the terminal, and
//! Ctrl-C leaves no bar behind. Runs `install` under `script` on a pty
//! sized with `stty`, and replays what it drew on a small screen model.

mod common;

use common::{bin, require_root, rig, TestStore};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const COLS: usize = 80;

/// What a terminal of `COLS` columns shows after `bytes`: enough of VT100
/// for what indicatif and console write (CR, LF, cursor up/down/column,
/// erase line/below, SGR and private modes ignored), with the deferred
/// wrap of real terminals: a line of exactly `COLS` characters followed by
/// the next one without a newline is how indicatif draws full-width lines.
/// A line longer than the terminal shows as a wrap whose continuation is
/// not the start of one of our lines; `overflow` collects those.
struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    overflow: Vec<String>,
    /// After a wrap, the first characters of what follows it.
    continuation: Option<String>,
}

/// How every line we print starts (bars, steps, the result, errors, the
/// terminal's own echo of Ctrl-C).
const LINE_STARTS: [&str; 5] = ["  ", ":: ", "Installed", "chroot-distro", "^C"];

impl Screen {
    fn replay(bytes: &[u8]) -> Self {
        let mut s = Screen {
            rows: vec![Vec::new()],
            row: 0,
            col: 0,
            overflow: Vec::new(),
            continuation: None,
        };
        let text = String::from_utf8_lossy(bytes);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    s.end_continuation();
                    s.col = 0
                }
                '\n' => {
                    s.end_continuation();
                    s.down(1)
                }
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut fin = ' ';
                    for p in chars.by_ref() {
                        if p.is_ascii_alphabetic() || p == '@' || p == '~' {
                            fin = p;
                            break;
                        }
                        params.push(p);
                    }
                    if fin != 'm' {
                        s.end_continuation();
                    }
                    s.csi(&params, fin);
                }
                '\x1b' => {
                    chars.next();
                }
                c if c.is_control() => {}
                c => s.put(c),
            }
        }
        s.end_continuation();
        s
    }

    fn end_continuation(&mut self) {
        if let Some(text) = self.continuation.take() {
            if !LINE_STARTS
                .iter()
                .any(|start| text.starts_with(start) || start.starts_with(&text))
            {
                self.overflow.push(text);
            }
        }
    }

    fn down(&mut self, n: usize) {
        self.row += n;
        while self.rows.len() <= self.row {
            self.rows.push(Vec::new());
        }
    }

    fn put(&mut self, c: char) {
        if self.col >= COLS {
            self.end_continuation();
            self.continuation = Some(String::new());
            self.col = 0;
            self.down(1);
        }
        if let Some(text) = self.continuation.as_mut() {
            text.push(c);
            if text.chars().count() >= 12 {
                self.end_continuation();
            }
        }
        let line = &mut self.rows[self.row];
        while line.len() <= self.col {
            line.push(' ');
        }
        line[self.col] = c;
        self.col += 1;
    }

    fn csi(&mut self, params: &str, fin: char) {
        if params.starts_with('?') {
            return;
        }
        let n = params
            .split(';')
            .next()
            .and_then(|p| p.parse::<usize>().ok());
        match fin {
            'A' => self.row = self.row.saturating_sub(n.unwrap_or(1).max(1)),
            'B' => self.down(n.unwrap_or(1).max(1)),
            'G' => self.col = n.unwrap_or(1).max(1) - 1,
            'C' => self.col += n.unwrap_or(1).max(1),
            'D' => self.col = self.col.saturating_sub(n.unwrap_or(1).max(1)),
            'K' => {
                let line = &mut self.rows[self.row];
                match n.unwrap_or(0) {
                    0 => line.truncate(self.col),
                    1 => line.iter_mut().take(self.col + 1).for_each(|c| *c = ' '),
                    _ => line.clear(),
                }
            }
            'J' => {
                self.rows[self.row].truncate(self.col);
                self.rows.truncate(self.row + 1);
            }
            _ => {}
        }
    }

    /// The non-empty lines on screen, trailing blanks removed.
    fn lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// `install IMAGE -n NAME` under `script` on an 80-column pty.
fn spawn_install(store: &TestStore, image: &str, name: &str) -> Child {
    let command = format!(
        "stty cols {COLS} rows 40; exec {} install {image} -n {name}",
        bin().display()
    );
    store
        .cmd_with(std::path::Path::new("script"))
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", COLS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's output on a thread; returns a handle to what is read.
fn collect(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    out
}

fn wait(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "install did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn extraction_is_its_own_phase_within_80_columns_and_ctrl_c_leaves_no_bar() {
    if !require_root("real ownership of the debian fixture") {
        return;
    }
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("util-linux 'script' is required for the TTY tests");
    }
    // Many files in one big layer: extraction outlasts the local download.
    let image = rig().get("CD_RIG_FIXTURE_DEBIAN").to_owned();
    let store = TestStore::new();

    let mut child = spawn_install(&store, &image, "whole");
    let out = collect(&mut child);
    wait(&mut child);
    let bytes = out.lock().unwrap().clone();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(child.wait().unwrap().success(), "{raw}");
    assert!(
        raw.contains("extracting layer 1/1: "),
        "no extraction phase: {raw:?}"
    );
    let screen = Screen::replay(&bytes);
    assert!(
        screen.overflow.is_empty(),
        "lines past {COLS} columns, continued with: {:#?}",
        screen.overflow
    );
    let lines = screen.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("Installed 'whole'")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("extracting layer") || l.contains(" eta ")),
        "{lines:#?}"
    );

    // Ctrl-C while the extraction line shows: the bar goes, the message stays.
    store.run(&["clear-cache"]).ok();
    let mut child = spawn_install(&store, &image, "stopped");
    let out = collect(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&out.lock().unwrap()).contains("extracting layer") {
        assert!(
            Instant::now() < deadline,
            "no extraction phase before the interrupt"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the interrupt"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    wait(&mut child);
    let bytes = out.lock().unwrap().clone();
    let screen = Screen::replay(&bytes);
    assert!(
        screen.overflow.is_empty(),
        "lines past {COLS} columns, continued with: {:#?}",
        screen.overflow
    );
    let lines = screen.lines();
    let last = lines.last().cloned().unwrap_or_default();
    assert!(
        last.contains("interrupted"),
        "last line {last:?} of {lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("extracting layer") || l.contains(" eta ")),
        "a bar is left on screen: {lines:#?}"
    );
    assert!(!store.container_dir("stopped").exists());
}
