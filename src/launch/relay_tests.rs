//! The relay works on this process's fds 0-2, which a test cannot own in
//! the shared test process. So each test re-enters this test binary
//! (`relay_child`, ignored in ordinary runs) with the fds of its scenario
//! at 3, 4, 5; that child installs them as 0-2 and runs a session shell
//! through the relay. The shell records what its fds are in files the
//! test then checks.

use super::*;
use rustix::termios::SpecialCodeIndex;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FDS: &str = "CD_RELAY_TEST_FDS";
const SCRIPT: &str = "CD_RELAY_TEST_SCRIPT";
const DIR: &str = "CD_RELAY_TEST_DIR";
/// Bound on each scenario; they take well under a second.
const DEADLINE: Duration = Duration::from_secs(30);

/// Session prelude: for fds 0-2 of the shell, "N LINK FSTYPE" into $DIR/fds.
/// Through /proc/$$ ($$ is the shell even in a subshell), and collected
/// before redirecting: the loop's own redirection would replace fd 1.
const FACTS: &str = r#"facts=$(for n in 0 1 2; do echo "$n $(readlink /proc/$$/fd/$n) $(stat -L -f -c %t /proc/$$/fd/$n)"; done)
echo "$facts" > "$DIR/fds"
"#;
const PIPEFS: &str = "50495045";
const SOCKFS: &str = "534f434b";
const DEVPTS: &str = "1cd1";

/// Runs in the re-entered child: fds 0-2 from `FDS` ("3,4,-": take fd 3,
/// fd 4, leave closed), the session `SCRIPT` through a Relay, the outcome
/// into $DIR/outcome.
#[test]
#[ignore = "entered in a child process by the other relay tests"]
fn relay_child() {
    let (Ok(fds), Ok(script), Ok(dir)) = (
        std::env::var(FDS),
        std::env::var(SCRIPT),
        std::env::var(DIR),
    ) else {
        return;
    };
    let installed = Stdio3::install(&fds);
    let before = settings(0);
    let mut relay = Relay::prepare().expect("prepare the relay");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(&script).env("DIR", &dir);
    relay.configure(&mut cmd);
    let mut child = cmd.spawn().expect("spawn the session");
    relay.start().expect("start the relay");
    let status = child.wait().expect("wait for the session");
    relay.finish();
    // What reached a regular file on fd 1 by the time `finish` returned.
    if let Some(st) = stdio(1).and_then(|fd| rustix::fs::fstat(fd).ok()) {
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile {
            let size = st.st_size.to_string();
            fs::write(Path::new(&dir).join("stdout-size"), size).expect("write the size");
        }
    }
    let restored = match (before, settings(0)) {
        (Some(a), Some(b)) => same_settings(&a, &b).to_string(),
        _ => "no terminal".into(),
    };
    drop(installed);
    let code = status.code().map_or("signal".into(), |c| c.to_string());
    fs::write(
        Path::new(&dir).join("outcome"),
        format!("status {code}\nrestored {restored}\n"),
    )
    .expect("write the outcome");
}

/// This process's fds 0-2 replaced for one scenario, put back on drop.
struct Stdio3 {
    saved: Vec<OwnedFd>,
}

impl Stdio3 {
    fn install(spec: &str) -> Self {
        // SAFETY: fds 0-2 of the test harness are open (null or a log file).
        let saved = (0..3)
            .map(|n| dup(unsafe { BorrowedFd::borrow_raw(n) }).expect("save stdio"))
            .collect();
        for (n, from) in (0..).zip(spec.split(',')) {
            // SAFETY: plain fd-number syscalls on fds this child owns.
            unsafe {
                match from.parse::<i32>() {
                    Ok(fd) => {
                        assert!(libc::dup2(fd, n) == n, "install fd {fd} as {n}");
                        libc::close(fd);
                    }
                    Err(_) => {
                        libc::close(n);
                    }
                }
            }
        }
        Self { saved }
    }
}

impl Drop for Stdio3 {
    fn drop(&mut self) {
        for (n, fd) in (0..).zip(&self.saved) {
            // SAFETY: dup2 onto a stdio number this child owns.
            unsafe { libc::dup2(fd.as_raw_fd(), n) };
        }
    }
}

/// Fd `n` of this process, if open.
fn stdio(n: i32) -> Option<BorrowedFd<'static>> {
    // SAFETY: F_GETFD only asks; an fd that answers is open, and the
    // scenario's fds stay open until Stdio3 is dropped.
    (unsafe { libc::fcntl(n, libc::F_GETFD) } >= 0).then(|| unsafe { BorrowedFd::borrow_raw(n) })
}

fn settings(n: i32) -> Option<Termios> {
    stdio(n).and_then(|fd| termios::tcgetattr(fd).ok())
}

/// Raw mode changes all four mode sets and VMIN/VTIME.
fn same_settings(a: &Termios, b: &Termios) -> bool {
    a.input_modes == b.input_modes
        && a.output_modes == b.output_modes
        && a.control_modes == b.control_modes
        && a.local_modes == b.local_modes
        && [
            SpecialCodeIndex::VMIN,
            SpecialCodeIndex::VTIME,
            SpecialCodeIndex::VINTR,
        ]
        .into_iter()
        .all(|i| a.special_codes[i] == b.special_codes[i])
}

/// One scenario's directory: the session's reports, the harness log.
struct Scenario {
    dir: tempfile::TempDir,
}

/// The outcome of a session with no terminal that exited 0.
const PLAIN: &str = "status 0\nrestored no terminal\n";

impl Scenario {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_else(|e| format!("<{name}: {e}>"))
    }

    /// `enter` and `settle`.
    fn run(&self, fds: [Option<BorrowedFd>; 3], script: &str) -> String {
        self.settle(self.enter(fds, script))
    }

    /// Starts `relay_child` with `fds` as its 0-2 (None: closed) and
    /// `script` as the session.
    fn enter(&self, fds: [Option<BorrowedFd>; 3], script: &str) -> Child {
        let sources = fds.map(|fd| fd.map(|fd| fd.as_raw_fd()));
        let spec: Vec<String> = (3..)
            .zip(sources)
            .map(|(at, fd)| fd.map_or("-".into(), |_| at.to_string()))
            .collect();
        let log = fs::File::create(self.path("harness.log")).expect("create the log");
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        let filter = "launch::relay::tests::relay_child";
        cmd.args([filter, "--exact", "--ignored", "--test-threads=1"])
            .env(FDS, spec.join(","))
            .env(SCRIPT, format!("{FACTS}{script}"))
            .env(DIR, self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log);
        // SAFETY: fcntl and dup2 only. Copies at 10 and up first, so placing
        // one at 3-5 never overwrites another's source; they close on exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut high = [-1; 3];
                for (slot, fd) in high.iter_mut().zip(sources) {
                    if let Some(fd) = fd {
                        *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                        if *slot < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                }
                for (at, fd) in (3..).zip(high) {
                    if fd >= 0 && libc::dup2(fd, at) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd.spawn().expect("re-enter the test binary")
    }

    /// Waits (bounded) for the child, checks it passed, returns its outcome.
    fn settle(&self, mut child: Child) -> String {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("relay child timed out; log:\n{}", self.read("harness.log"));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let log = self.read("harness.log");
        assert!(status.success(), "relay child failed; log:\n{log}");
        self.read("outcome")
    }

    /// The session's fds 0-2 as (link, fstatfs type).
    fn session_fds(&self) -> Vec<(String, String)> {
        let text = self.read("fds");
        let fds: Vec<_> = text
            .lines()
            .map(|l| {
                let mut words = l.split(' ').skip(1).map(str::to_string);
                (
                    words.next().unwrap_or_default(),
                    words.next().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(fds.len(), 3, "fds report: {text}");
        fds
    }

    fn assert_all_pipes(&self) {
        self.session_fds().iter().for_each(assert_pipe);
    }
}

fn assert_pipe(fd: &(String, String)) {
    let (link, kind) = fd;
    assert!(
        link.starts_with("pipe:[") && kind == PIPEFS,
        "not a pipe: {fd:?}"
    );
}

fn open(path: impl AsRef<Path>, flags: OFlags) -> OwnedFd {
    let flags = flags | OFlags::CLOEXEC;
    rustix::fs::open(path.as_ref(), flags, rustix::fs::Mode::empty()).expect("open")
}

/// A new empty file at `path`, opened with `flags`.
fn create(path: impl AsRef<Path>, flags: OFlags) -> OwnedFd {
    fs::write(path.as_ref(), "").expect("create");
    open(path, flags)
}

fn mkfifo(path: &Path) {
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, mode, 0)
        .expect("mkfifo");
}

fn inode(fd: impl AsFd) -> u64 {
    rustix::fs::fstat(fd).expect("fstat").st_ino
}

#[test]
fn regular_files_and_dev_null_are_relayed_through_pipes_completely() {
    let s = Scenario::new();
    let input: String = (0..30_000).map(|i| format!("line {i}\n")).collect();
    fs::write(s.path("in"), &input).expect("write the input");
    let stdin = open(s.path("in"), OFlags::RDONLY);
    let stdout = create(s.path("out"), OFlags::WRONLY);
    let null = open("/dev/null", OFlags::WRONLY);
    let script = "cat; head -c 300000 /dev/zero | tr '\\0' x; echo; echo end; echo lost >&2";
    let fds = [stdin.as_fd(), stdout.as_fd(), null.as_fd()].map(Some);
    assert_eq!(s.run(fds, script), PLAIN);
    s.assert_all_pipes();
    let expected = format!("{input}{}\nend\n", "x".repeat(300_000));
    let size = s.read("stdout-size");
    assert_eq!(
        size,
        expected.len().to_string(),
        "incomplete when finish returned"
    );
    assert_eq!(s.read("out"), expected);
}

#[test]
fn a_directory_and_o_path_fds_never_reach_the_session() {
    let s = Scenario::new();
    let tree = open(s.dir.path(), OFlags::RDONLY | OFlags::DIRECTORY);
    let sink = create(s.path("sink"), OFlags::PATH);
    let root = open("/", OFlags::PATH);
    let script = r#"cat > "$DIR/read"; echo out && echo err >&2 && echo ok > "$DIR/writes""#;
    let fds = [tree.as_fd(), sink.as_fd(), root.as_fd()].map(Some);
    assert_eq!(s.run(fds, script), PLAIN);
    s.assert_all_pipes();
    assert_eq!(s.read("read"), "", "a directory reads as empty input");
    assert_eq!(
        s.read("writes"),
        "ok\n",
        "output to O_PATH is discarded, not refused"
    );
    assert_eq!(s.read("sink"), "");
}

#[test]
fn closed_fds_read_empty_and_discard_output() {
    let s = Scenario::new();
    let script = r#"cat > "$DIR/read"; echo out && echo err >&2 && echo ok > "$DIR/writes""#;
    assert_eq!(s.run([None, None, None], script), PLAIN);
    s.assert_all_pipes();
    assert_eq!(s.read("read"), "");
    assert_eq!(s.read("writes"), "ok\n");
}

#[test]
fn a_named_fifo_is_relayed_and_its_blocked_pump_is_not_waited_for() {
    let s = Scenario::new();
    mkfifo(&s.path("fifo"));
    // Read-write: the open does not wait for a writer, and the pump's
    // read never sees EOF, as with a terminal nobody types on.
    let stdin = open(s.path("fifo"), OFlags::RDWR);
    rustix::io::write(&stdin, b"via fifo\n").expect("fill the fifo");
    let stdout = create(s.path("out"), OFlags::WRONLY);
    let fds = [stdin.as_fd(), stdout.as_fd(), stdout.as_fd()].map(Some);
    assert_eq!(s.run(fds, "head -n 1"), PLAIN);
    s.assert_all_pipes();
    assert_eq!(s.read("out"), "via fifo\n");
}

#[test]
fn output_to_a_slow_reader_is_complete_when_finish_returns() {
    let s = Scenario::new();
    mkfifo(&s.path("fifo"));
    let reader = open(s.path("fifo"), OFlags::RDONLY | OFlags::NONBLOCK);
    let writer = open(s.path("fifo"), OFlags::WRONLY);
    rustix::fs::fcntl_setfl(&reader, OFlags::empty()).expect("blocking reads");
    // Slower than the session writes: when it exits, its last 64 KiB are
    // still in the relay's pipe, and only `finish` waiting delivers them.
    let slow = std::thread::spawn(move || {
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = rustix::io::read(&reader, &mut buf[..]) {
            got.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(1));
        }
        got
    });
    let script = "head -c 200000 /dev/zero | tr '\\0' y";
    assert_eq!(s.run([None, Some(writer.as_fd()), None], script), PLAIN);
    drop(writer);
    let got = slow.join().expect("slow reader");
    assert_eq!(got.len(), 200_000, "output lost");
    assert!(got.iter().all(|b| *b == b'y'));
}

#[test]
fn stdout_and_stderr_on_one_file_share_one_pipe_in_order() {
    let s = Scenario::new();
    let log = create(s.path("log"), OFlags::WRONLY);
    let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done";
    assert_eq!(
        s.run([None, Some(log.as_fd()), Some(log.as_fd())], script),
        PLAIN
    );
    let fds = s.session_fds();
    assert_pipe(&fds[1]);
    assert_eq!(fds[1], fds[2]);
    let expected: String = (1..=5).map(|i| format!("out{i}\nerr{i}\n")).collect();
    assert_eq!(s.read("log"), expected);
}

#[test]
fn pipes_and_sockets_pass_as_the_same_objects() {
    let s = Scenario::new();
    let (input, feed) = std::io::pipe().expect("pipe");
    let input: OwnedFd = input.into();
    rustix::io::write(&feed, b"through a pipe\n").expect("feed");
    drop(feed);
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let (errors, error_end) = std::io::pipe().expect("pipe");
    let error_end: OwnedFd = error_end.into();
    let fds = [input.as_fd(), theirs.as_fd(), error_end.as_fd()].map(Some);
    let child = s.enter(fds, "cat; echo err >&2");
    let expected = [
        (format!("pipe:[{}]", inode(&input)), PIPEFS.to_string()),
        (format!("socket:[{}]", inode(&theirs)), SOCKFS.to_string()),
        (format!("pipe:[{}]", inode(&error_end)), PIPEFS.to_string()),
    ];
    // The session's copies only: the reads below end at its EOF.
    drop((input, theirs, error_end));
    assert_eq!(s.settle(child), PLAIN);
    assert_eq!(s.session_fds(), expected);
    let socket = std::io::read_to_string(&ours).expect("read the socket");
    assert_eq!(socket, "through a pipe\n");
    assert_eq!(
        std::io::read_to_string(errors).expect("read the pipe"),
        "err\n"
    );
}

#[test]
fn passable_accepts_only_anonymous_pipes_and_sockets() {
    let s = Scenario::new();
    let (r, w) = std::io::pipe().expect("pipe");
    let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let path_to_pipe = open(format!("/proc/self/fd/{}", r.as_raw_fd()), OFlags::PATH);
    mkfifo(&s.path("fifo"));
    let (master, slave) = outer_pty();
    assert!(passable(r.as_fd()) && passable(w.as_fd()) && passable(a.as_fd()));
    for refused in [
        create(s.path("file"), OFlags::RDWR),
        open(s.dir.path(), OFlags::RDONLY | OFlags::DIRECTORY),
        open("/dev/null", OFlags::RDWR),
        open(s.path("fifo"), OFlags::RDWR),
        path_to_pipe,
        master,
        slave,
    ] {
        assert!(!passable(refused.as_fd()), "passable: {refused:?}");
    }
}

/// A pty like the user's terminal, 40x100: (master, slave).
fn outer_pty() -> (OwnedFd, OwnedFd) {
    use rustix::pty::{self, OpenptFlags};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = pty::openpt(flags).expect("openpt");
    pty::grantpt(&master).expect("grantpt");
    pty::unlockpt(&master).expect("unlockpt");
    let name = pty::ptsname(&master, Vec::new()).expect("ptsname");
    let slave = open(
        name.to_str().expect("pty name"),
        OFlags::RDWR | OFlags::NOCTTY,
    );
    termios::tcsetwinsize(&master, winsize(40, 100)).expect("TIOCSWINSZ");
    (master, slave)
}

fn winsize(ws_row: u16, ws_col: u16) -> termios::Winsize {
    termios::Winsize {
        ws_row,
        ws_col,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn pts_number(link: &str) -> u32 {
    let number = link.strip_prefix("/dev/pts/").and_then(|n| n.parse().ok());
    number.unwrap_or_else(|| panic!("not a pty slave: {link}"))
}

fn outer_number(master: &OwnedFd) -> u32 {
    let name = rustix::pty::ptsname(master, Vec::new()).expect("ptsname");
    pts_number(&name.to_string_lossy())
}

/// Everything the terminal shows, read by a thread until the pty closes.
struct Screen {
    text: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Screen {
    fn watch(master: &OwnedFd) -> Self {
        let master = dup(master).expect("dup the master");
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = rustix::io::read(&master, &mut buf[..]) {
                sink.lock()
                    .expect("screen lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Self { text, reader }
    }

    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().expect("screen lock")).into_owned()
    }

    /// Everything shown, once the pty's last slave has closed.
    fn close(self) -> String {
        self.reader.join().expect("screen reader");
        let text = self.text.lock().expect("screen lock");
        String::from_utf8_lossy(&text).into_owned()
    }

    fn wait_for(&self, what: &str) {
        let why = || format!("{what:?} not shown; screen: {:?}", self.shown());
        wait_until(|| self.shown().contains(what), why);
    }
}

fn wait_until(done: impl Fn() -> bool, why: impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "{}", why());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_terminal_becomes_a_fresh_pty_that_controls_the_session() {
    let s = Scenario::new();
    let (master, slave) = outer_pty();
    let outer_before = termios::tcgetattr(&slave).expect("tcgetattr");
    let screen = Screen::watch(&master);
    let script = r#"stty size > "$DIR/size"
stat -L -c '%t %T' /proc/$$/fd/0 > "$DIR/device"
cat /proc/self/stat > "$DIR/stat"
echo ready-for-input
read line; echo "$line" > "$DIR/typed"
trap 'stty size > "$DIR/resized"' WINCH
trap 'echo interrupted > "$DIR/interrupted"; exit 7' INT
echo ready-for-signals
i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 3"#;
    let child = s.enter([Some(slave.as_fd()); 3], script);
    screen.wait_for("ready-for-input");
    // Enter sends CR; the session's own line discipline turns it into NL.
    rustix::io::write(&master, b"typed here\r").expect("type");
    screen.wait_for("ready-for-signals");
    termios::tcsetwinsize(&master, winsize(50, 120)).expect("resize");
    let resized = || s.read("resized") == "50 120\n";
    wait_until(resized, || "the session never saw the resize".into());
    rustix::io::write(&master, b"\x03").expect("type Ctrl-C");
    assert_eq!(s.settle(child), "status 7\nrestored true\n");
    let outer_after = termios::tcgetattr(&slave).expect("tcgetattr");
    assert!(same_settings(&outer_before, &outer_after));
    drop(slave);
    screen.close();

    let fds = s.session_fds();
    assert!(
        fds.iter().all(|fd| fd.0 == fds[0].0 && fd.1 == DEVPTS),
        "{fds:?}"
    );
    let inner = pts_number(&fds[0].0);
    assert_ne!(
        inner,
        outer_number(&master),
        "the session got the caller's terminal"
    );
    assert_eq!(s.read("size"), "40 100\n");
    assert_eq!(s.read("typed"), "typed here\n");
    assert_eq!(s.read("interrupted"), "interrupted\n");
    // tty_nr (proc(5) field 7) of the session is the new pty's device.
    let device = s.read("device");
    let numbers = device
        .split_whitespace()
        .map(|n| u32::from_str_radix(n, 16));
    let [Ok(major), Ok(minor)] = numbers.collect::<Vec<_>>()[..] else {
        panic!("device numbers: {device}");
    };
    assert_eq!(minor, inner);
    let stat = s.read("stat");
    let fields = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace());
    let tty_nr: u32 = fields
        .and_then(|mut f| f.nth(4)?.parse().ok())
        .expect("tty_nr");
    let expected = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    assert_eq!(tty_nr, expected, "controlling terminal");
}

#[test]
fn a_terminal_on_stdout_alone_gets_the_pty_and_files_stay_relayed() {
    let s = Scenario::new();
    let (master, slave) = outer_pty();
    let before = termios::tcgetattr(&slave).expect("tcgetattr");
    let screen = Screen::watch(&master);
    let null = open("/dev/null", OFlags::RDONLY);
    let errors = create(s.path("errors"), OFlags::WRONLY);
    let script = r#"stty size < /dev/tty > "$DIR/size"; cat > "$DIR/read"
echo to-terminal; echo to-file >&2"#;
    let fds = [null.as_fd(), slave.as_fd(), errors.as_fd()].map(Some);
    assert_eq!(s.run(fds, script), PLAIN);
    let after = termios::tcgetattr(&slave).expect("tcgetattr");
    assert!(
        same_settings(&before, &after),
        "fd 0 is no terminal: no raw mode"
    );
    drop(slave);
    let shown = screen.close();
    let fds = s.session_fds();
    assert_pipe(&fds[0]);
    assert_pipe(&fds[2]);
    assert_eq!(fds[1].1, DEVPTS);
    assert_ne!(pts_number(&fds[1].0), outer_number(&master));
    assert_eq!(s.read("size"), "40 100\n");
    assert_eq!(s.read("read"), "");
    assert_eq!(s.read("errors"), "to-file\n");
    assert!(shown.contains("to-terminal"), "screen: {shown:?}");
}
