//! Rule 10, tried as an attacker in the helper's group would: real root in
//! the container must not reach the host through the caller's descriptors,
//! host processes, a dumpable helper process, or new user namespaces. Each
//! attack has a positive control beside it, so a refusal is never the only
//! thing a test can see.

mod support;
use std::process::{Command, Stdio};
use support::*;

fn prepare() -> bool {
    if !require_root("running the setcap'd helper as the rig user") {
        return false;
    }
    set_policy(REAL_ROOT);
    true
}

/// Opens `path` as `how` onto descriptor `fd`, then execs the rest of argv:
/// the attacker's launcher, run as the rig user.
const LAUNCH: &str = r#"
import os, sys
fd, how, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
flags = {"dir": os.O_RDONLY | os.O_DIRECTORY, "path": os.O_PATH, "ro": os.O_RDONLY,
         "wo": os.O_WRONLY | os.O_CREAT | os.O_APPEND}[how]
new = os.open(path, flags, 0o600)
os.dup2(new, fd, inheritable=True)
os.execv(sys.argv[4], sys.argv[4:])
"#;

fn attack(fd: &str, how: &str, path: &str, cmd: &[&str]) -> Out {
    let rig = rig();
    let helper = helper_bin();
    let mut args = vec!["-c", LAUNCH, fd, how, path, helper.to_str().unwrap()];
    let session = session_args(rig, "helper-attack", &[], cmd);
    args.extend(session.iter().map(String::as_str));
    run_as_user(std::path::Path::new("/usr/bin/python3"), Groups::Init, &args)
}

#[test]
fn host_objects_on_stdin_stdout_or_stderr_never_reach_container_root() {
    if !prepare() {
        return;
    }
    let rootfs = busybox("helper-attack");
    let out_file = std::path::Path::new(rig().get("CD_RIG_HOME")).join("attack-out");
    let _ = std::fs::remove_file(&out_file);
    let marker = rootfs.join("ran");
    // What container root would do with each descriptor it was handed.
    let walk = "cat /proc/self/fd/$0/etc/shadow; touch /ran";
    let out_path = out_file.to_str().unwrap();
    for (fd, how, path) in [
        ("0", "dir", "/"),
        ("1", "dir", "/"),
        ("2", "dir", "/"),
        ("0", "path", "/"),
        ("0", "path", "/etc/shadow"),
        ("1", "path", "/etc"),
        ("0", "ro", "/etc/passwd"),
        ("2", "ro", "/etc/passwd"),
        ("1", "wo", out_path),
        ("0", "path", "/dev/null"),
    ] {
        let _ = std::fs::remove_file(&marker);
        let out = attack(fd, how, path, &["sh", "-c", walk, fd]);
        assert_eq!(out.code, 90, "fd {fd} {how} {path}: {out:#?}");
        if fd != "2" {
            let names = ["stdin", "stdout", "stderr"][fd.parse::<usize>().unwrap()];
            out.refused(10, names);
        }
        assert!(!out.stdout.contains("root:"), "{out:#?}");
        assert!(!marker.exists(), "fd {fd} {how} {path}: the command ran");
    }
    assert_eq!(std::fs::read(&out_file).unwrap_or_default(), b"", "nothing was written there");
    // Positive control: /dev/null (the helper's own) and pipes run.
    let _ = std::fs::remove_file(&marker);
    session("helper-attack", &[], &["sh", "-c", "touch /ran"]).ok();
    assert!(marker.exists());
}

#[test]
fn pipes_sockets_and_the_callers_own_terminal_are_passed() {
    if !prepare() {
        return;
    }
    busybox("helper-attack");
    let rig = rig();
    let args = session_args(rig, "helper-attack", &[], &["sh", "-c", "cat; echo done >&2"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A pipe.
    let mut child = user_command(&helper_bin(), Groups::Init, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"through a pipe\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through a pipe\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "done\n");
    // A socket, and the caller's own pty, through a launcher run as the user.
    let launcher = r#"
import os, pty, socket, sys
kind = sys.argv[1]
if kind == "socket":
    a, b = socket.socketpair()
    a.sendall(b"through a socket\n"); a.shutdown(socket.SHUT_WR)
    os.dup2(b.fileno(), 0)
    os.execv(sys.argv[2], sys.argv[2:])
pid, master = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
while True:
    try: data = os.read(master, 4096)
    except OSError: break
    if not data: break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let helper = helper_bin();
    for (kind, cmd, want) in [
        ("socket", "cat", "through a socket"),
        ("pty", "test -t 0 && test -t 1 && test -t 2 && echo on a terminal", "on a terminal"),
    ] {
        let session = session_args(rig, "helper-attack", &[], &["sh", "-c", cmd]);
        let mut a = vec!["-c", launcher, kind, helper.to_str().unwrap()];
        a.extend(session.iter().map(String::as_str));
        let out = run_as_user(std::path::Path::new("/usr/bin/python3"), Groups::Init, &a);
        assert!(out.ok().stdout.contains(want), "{kind}: {out:#?}");
    }
}

#[test]
fn a_terminal_the_caller_does_not_own_is_refused() {
    if !prepare() {
        return;
    }
    busybox("helper-attack");
    // A pty opened by root: the rig user inherits it but does not own it.
    // SAFETY: plain libc calls on fds we own.
    let slave = unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master)).to_owned();
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0);
        std::fs::File::from(<std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave))
    };
    let args = session_args(rig(), "helper-attack", &[], &["sh", "-c", "echo ran"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = user_command(&helper_bin(), Groups::Init, &args).stdin(slave).output().unwrap();
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    out.refused(10, "terminal");
    assert!(!out.stdout.contains("ran"));
}

#[test]
fn sessions_see_only_their_own_processes_and_ipc() {
    if !prepare() {
        return;
    }
    busybox("helper-attack");
    let rig = rig();
    // A process of the caller's on the host: its /proc/PID/root is the host.
    let mut host = Command::new("/usr/bin/setpriv")
        .args(["--reuid", rig.get("CD_RIG_UID"), "--regid", rig.get("CD_RIG_GID")])
        .args(["--clear-groups", "--", "/bin/sleep", "60"])
        .spawn()
        .unwrap();
    let pid = host.id().to_string();
    let script = "ls /proc/$0/root/ >/dev/null 2>&1 && echo HOST-ROOT-REACHED; \
                  ls -d /proc/[0-9]* | wc -l; cat /proc/1/comm; readlink /proc/self/ns/ipc";
    let out = session("helper-attack", &[], &["sh", "-c", script, &pid]);
    let _ = host.kill();
    let _ = host.wait();
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert!(!out.stdout.contains("HOST-ROOT-REACHED"), "{out:#?}");
    let count: usize = lines[0].trim().parse().unwrap();
    assert!(count <= 5, "only the session's own processes: {out:#?}");
    assert_eq!(lines[1], "cd-mount-helper", "PID 1 is the session's init");
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_ne!(lines[2], host_ipc.to_str().unwrap(), "its own IPC namespace");
    // Positive control: the same script on the host does see the process.
    let seen = Command::new("sh").args(["-c", "ls -d /proc/[0-9]* | wc -l"]).output().unwrap();
    assert!(String::from_utf8_lossy(&seen.stdout).trim().parse::<usize>().unwrap() > 5);
}

/// Watches /proc as uid 0 without capabilities (what container root is,
/// seen from the host) for helper processes whose root it can open.
const RACER: &str = r#"
import os, sys, time
seen = opened = 0
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            if open(f"/proc/{p}/comm").read().strip() != "cd-mount-helper": continue
        except OSError: continue
        seen += 1
        try:
            os.listdir(f"/proc/{p}/root/")
            opened += 1
        except OSError: pass
print(seen, opened)
"#;

#[test]
fn no_helper_process_is_open_to_a_same_uid_racer() {
    if !prepare() {
        return;
    }
    busybox("helper-attack");
    let racer = Command::new("/usr/bin/setpriv")
        .args(["--reuid", "0", "--regid", "0", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--", "/usr/bin/python3", "-c", RACER])
        .arg("6")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(5) {
        session("helper-attack", &[], &["true"]).ok();
    }
    let out = racer.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(v[0] > 0, "the racer saw no helper process, so it proved nothing: {text}");
    assert_eq!(v[1], 0, "a helper process's root was open to uid 0 without capabilities");
}

#[test]
fn container_root_cannot_make_user_namespaces() {
    if !prepare() {
        return;
    }
    debian("helper-deb");
    let script = "unshare -U true && echo USERNS; unshare -r true && echo USERNS2; echo checked";
    let out = session("helper-deb", &[], &["sh", "-c", script]);
    assert_eq!(out.ok().stdout, "checked\n", "{out:#?}");
    assert!(out.stderr.contains("Operation not permitted"), "{out:#?}");
}

/// The same deny-list on the i386 ABI, and i386 programs still run: a static
/// 32-bit program (assembled here with binutils' `--32`, so no multilib is
/// needed) asks for a user namespace through `int 0x80` and must get EPERM,
/// then prints and exits 0. A filter that killed foreign ABIs would end it
/// with SIGSYS; one that forgot the i386 column would let `unshare` through.
#[test]
fn i386_programs_run_under_the_same_deny_list() {
    if !prepare() {
        return;
    }
    if std::env::consts::ARCH != "x86_64" {
        support::skip::skip("i386 programs exist only on x86_64 hosts");
        return;
    }
    let rootfs = busybox("helper-i386");
    // Source and object beside the rootfs, in the test's own container dir.
    let dir = rootfs.parent().unwrap();
    let src = dir.join("probe.s");
    std::fs::write(
        &src,
        r#"
        .globl _start
        .text
_start: mov $310, %eax          # unshare (i386 number)
        mov $0x10000000, %ebx   # CLONE_NEWUSER
        int $0x80
        cmp $-1, %eax           # -EPERM
        jne 1f
        mov $4, %eax            # write(1, msg, len)
        mov $1, %ebx
        mov $msg, %ecx
        mov $len, %edx
        int $0x80
        mov $1, %eax            # exit(0)
        xor %ebx, %ebx
        int $0x80
1:      mov $1, %eax            # exit(3): unshare was not refused with EPERM
        mov $3, %ebx
        int $0x80
        .data
msg:    .ascii "i386 ok\n"
        len = . - msg
"#,
    )
    .unwrap();
    let obj = dir.join("probe.o");
    let bin = rootfs.join("i386-probe");
    let ok = |c: &mut std::process::Command| {
        let s = c.status().unwrap();
        assert!(s.success(), "{c:?}: {s}");
    };
    ok(std::process::Command::new("as").arg("--32").arg(&src).arg("-o").arg(&obj));
    ok(std::process::Command::new("ld")
        .args(["-m", "elf_i386", "-static"])
        .arg(&obj)
        .arg("-o")
        .arg(&bin));
    let out = session("helper-i386", &[], &["/i386-probe"]);
    assert_eq!(out.ok().stdout, "i386 ok\n", "{out:#?}");
}
