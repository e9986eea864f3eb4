//! The main binary's side: `login --root` for a non-root caller goes
//! through the setcap'd helper when the policy grants it, and falls back
//! to elevation when it does not.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use support::decoy::Decoy;
use support::{
    debian, main_bin, remove_policy, require_root, rig, run_as_user, set_policy, user_command,
    Groups, REAL_ROOT,
};

fn login_args(args: &[&str]) -> Vec<String> {
    let bin = main_bin();
    let helper = support::helper_bin();
    let mut all: Vec<String> = vec![format!("CD_MOUNT_HELPER={}", helper.display())];
    all.push(format!("HOME={}", rig().get("CD_RIG_HOME")));
    all.push(bin.display().to_string());
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn login(args: &[&str]) -> support::Out {
    let all = login_args(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run_as_user(Path::new("/usr/bin/env"), Groups::Init, &all)
}

/// `login args` as the rig user with the given stdin, stdout and stderr.
fn login_with(args: &[&str], stdio: [Stdio; 3]) -> support::Out {
    let all = login_args(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut cmd = user_command(Path::new("/usr/bin/env"), Groups::Init, &all);
    let [stdin, stdout, stderr] = stdio;
    let mut child = cmd.stdin(stdin).stdout(stdout).stderr(stderr).spawn().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut out).unwrap();
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    support::Out { code, stdout: out, stderr: err }
}

/// `info`'s lines about the helper, run as the rig user with `env`.
fn info_line(env: &[&str]) -> String {
    let home = format!("HOME={}", rig().get("CD_RIG_HOME"));
    let bin = main_bin();
    let mut args: Vec<&str> = env.to_vec();
    args.extend([home.as_str(), bin.to_str().unwrap(), "info"]);
    let out = run_as_user(Path::new("/usr/bin/env"), Groups::Init, &args);
    let lines = out.stdout.lines().filter(|l| l.contains("helper"));
    lines.collect::<Vec<_>>().join("\n")
}

/// With a decoy installed where packaging/install.sh puts the helper, the
/// pinned helper (CD_MOUNT_HELPER) is the one used.
#[test]
fn login_root_goes_through_the_helper_when_the_policy_allows_it() {
    if !require_root("setcap'd helper and the rig user") {
        return;
    }
    let decoy = Decoy::install();
    debian("client-deb");
    set_policy(REAL_ROOT);
    let script = format!("id -u; stat -c %U:%G /etc/shadow; {}", support::REAL_ROOT_PROBE);
    let out = login(&["login", "client-deb", "--root", "--", "sh", "-c", &script]);
    out.ok().no_leak();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "root:shadow"], "{out:?}");
    // A rootless session (the fallback) prints the two lines above too.
    support::assert_real_root(&lines[2..]);
    // Exit codes pass through the helper.
    assert_eq!(login(&["login", "client-deb", "--root", "--", "sh", "-c", "exit 5"]).code, 5);
    // info names the helper a session would use and the rule that found
    // it: the pinned one, else the decoy, which comes before PATH.
    let helper = support::helper_bin();
    let helper_dir = helper.parent().unwrap().display().to_string();
    let path = format!("PATH={helper_dir}:/usr/bin:/bin");
    let pin = format!("CD_MOUNT_HELPER={}", helper.display());
    let info = info_line(&[&pin, &path]);
    assert!(info.contains(&format!("{}, set by CD_MOUNT_HELPER", helper.display())), "{info}");
    assert!(info.contains("real-root sessions granted to you"), "{info}");
    let info = info_line(&[&path]);
    let want = format!("{}, in a package directory", decoy.path.display());
    assert!(info.contains(&want), "{info}");
    assert!(info.contains("no real-root sessions for you (DECOY"), "{info}");
    // Without a grant, --root falls back to elevation, here turned off.
    remove_policy();
    let out = login(&["login", "client-deb", "--root", "--no-elevate", "--", "true"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("elevation is turned off"), "{out:?}");
    set_policy(REAL_ROOT);
}

/// Through the client, container root never receives a caller's fd that
/// leads back to the host: a directory or a file on stdin, a file on
/// stdout/stderr are replaced by pipes the client pumps (the helper would
/// refuse them), so redirections behave and `/proc/self/fd/N` leads nowhere.
#[test]
fn the_client_relays_files_and_directories_instead_of_passing_them() {
    if !require_root("setcap'd helper and the rig user") {
        return;
    }
    let _decoy = Decoy::install();
    debian("client-deb");
    set_policy(REAL_ROOT);
    let piped = || [Stdio::null(), Stdio::piped(), Stdio::piped()];
    let probe =
        "readlink /proc/self/fd/0 /proc/self/fd/1; cat /proc/self/fd/0/etc/shadow; echo done";

    // A directory on stdin: the session reads a pipe that ends at once.
    let [_, out, err] = piped();
    let root = std::fs::File::open("/").unwrap();
    let o = login_with(
        &["login", "client-deb", "--root", "--", "sh", "-c", probe],
        [root.into(), out, err],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines.len() == 3 && lines[0].starts_with("pipe:") && lines[2] == "done", "{o:?}");
    assert!(!o.stdout.contains("root:"), "{o:?}");

    // A host file on stdin arrives as its content, through a pipe.
    let [_, out, err] = piped();
    let file = std::fs::File::open("/etc/hostname").unwrap();
    let o = login_with(&["login", "client-deb", "--root", "--", "cat"], [file.into(), out, err]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, std::fs::read_to_string("/etc/hostname").unwrap(), "{o:?}");

    // stdout and stderr on one file (`> log 2>&1`): the writes keep their order.
    let dir = Path::new(rig().get("CD_RIG_HOME")).join("relay-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let file = std::fs::File::create(&log).unwrap();
    let copy = file.try_clone().unwrap();
    let o = login_with(
        &[
            "login",
            "client-deb",
            "--root",
            "--",
            "sh",
            "-c",
            "echo 1; echo 2 >&2; readlink /proc/self/fd/1; echo 3",
        ],
        [Stdio::null(), file.into(), copy.into()],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() == 4 && lines[2].starts_with("pipe:"), "{text:?}");
    assert_eq!([lines[0], lines[1], lines[3]], ["1", "2", "3"], "{text:?}");

    // A pipe passes as it is: `echo x | login --root NAME -- cat`.
    let mut cmd =
        user_command(Path::new("/bin/sh"), Groups::Init, &["-c", "echo x | \"$@\"", "sh"]);
    let args = login_args(&["login", "client-deb", "--root", "--", "cat"]);
    let out = cmd.args(["/usr/bin/env"]).args(&args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n");
}

/// A free TCP port on the host's loopback (free when asked; the test that
/// uses it binds it within the second).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Processes of the rig user's running `name` (pasta, the namespace holder).
fn user_processes(name: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-a", "-u", rig().get("CD_RIG_UID"), name]).output();
    String::from_utf8_lossy(&out.unwrap().stdout).lines().map(str::to_owned).collect()
}

/// Helper sessions through the client get a network namespace of the
/// caller's own with pasta attached: not the host's, an interface besides
/// loopback, and a `run -d` service reachable through `-p HOST:GUEST`.
/// When the session ends, pasta and the namespace's holder go with it.
#[test]
fn a_run_d_service_in_a_helper_session_is_reached_through_its_forwarded_port() {
    if !require_root("setcap'd helper and the rig user") {
        return;
    }
    assert!(
        Path::new("/usr/bin/pasta").exists(),
        "pasta is missing: tests/rig/setup installs Debian's passt"
    );
    let _decoy = Decoy::install();
    let rootfs = debian("client-net");
    // `run` takes its command from the image config.
    let manifest = rootfs.parent().unwrap().join("manifest.json");
    std::fs::write(
        &manifest,
        r#"{"image_ref":"rig/debian","image_config":{"config":{"Cmd":["/bin/bash"]}}}"#,
    )
    .unwrap();
    std::os::unix::fs::chown(&manifest, Some(rig().uid()), Some(rig().gid())).unwrap();
    set_policy(REAL_ROOT);
    let host = std::fs::read_link("/proc/self/ns/net").unwrap().display().to_string();
    let o = login(&[
        "login",
        "client-net",
        "--root",
        "--",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; ls /sys/class/net",
    ]);
    let lines: Vec<&str> = o.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("net:[") && lines[0] != host, "{o:?}");
    assert!(lines.len() == 3 && lines.contains(&"lo"), "lo and pasta's interface: {o:?}");
    assert!(user_processes("pasta").is_empty(), "pasta outlived its session");
    // Without pasta: loopback only, said once; -p is an error naming the package.
    let no_pasta = |args: &[&str]| {
        let mut all = vec!["PATH=/var/empty".to_owned()];
        all.extend(login_args(args));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_as_user(Path::new("/usr/bin/env"), Groups::Init, &all)
    };
    let o = no_pasta(&["login", "client-net", "--root", "--", "ls", "/sys/class/net"]);
    assert_eq!(o.ok().stdout, "lo\n", "{o:?}");
    assert!(o.stderr.contains("pasta is not installed"), "{o:?}");
    let o = no_pasta(&["login", "client-net", "--root", "-p", "8080:80", "--", "true"]);
    assert!(o.code == 1 && o.stderr.contains("apt install passt"), "{o:?}");

    let port = free_port();
    let server = "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 80, Listen => 5, ReuseAddr => 1) or die \"listen: $!\"; while (my $c = $s->accept) { print $c \"hello from port 80\\n\"; close $c }";
    let publish = format!("{port}:80");
    let o =
        login(&["run", "-d", "client-net", "--root", "-p", &publish, "--", "perl", "-e", server]);
    o.ok();
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            answer.clear();
            let _ = c.read_to_string(&mut answer);
            if !answer.is_empty() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stopped = login(&["kill", "client-net"]);
    assert_eq!(answer, "hello from port 80\n", "run -d: {o:?}; kill: {stopped:?}");
    stopped.ok();
    for _ in 0..100 {
        if user_processes("pasta").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        user_processes("pasta").is_empty(),
        "pasta outlived its session: {:?}",
        user_processes("pasta")
    );
}

/// `-b SRC:DEST:OPTIONS` and `--isolated` as chroot-distro 3.2 has them,
/// through the helper: the options reach the bind (ro, noexec, and always
/// nosuid,nodev); isolation binds nothing from the host, says so in one
/// line, and hides other users' processes (hidepid=2), which a session
/// without --isolated does not.
#[test]
fn bind_options_and_isolation_reach_helper_sessions() {
    if !require_root("setcap'd helper and the rig user") {
        return;
    }
    debian("client-deb");
    set_policy(REAL_ROOT);
    let src = Path::new(rig().get("CD_RIG_HOME")).join("client-bind-options");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    let script = src.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    for p in [&src, &script] {
        std::os::unix::fs::chown(p, Some(rig().uid()), Some(rig().gid())).unwrap();
    }
    let (ro, nx) =
        (format!("{}:/mnt/ro:ro", src.display()), format!("{}:/mnt/nx:noexec", src.display()));
    let probe = "touch /mnt/ro/f 2>/dev/null || echo ro-refused; /mnt/nx/run.sh 2>/dev/null; \
                 echo noexec=$?; for m in ro nx; do \
                 awk -v m=/mnt/$m '$5 == m { print $6 }' /proc/self/mountinfo; done";
    let out =
        login(&["login", "client-deb", "--root", "-b", &ro, "-b", &nx, "--", "sh", "-c", probe]);
    let lines: Vec<&str> = out.ok().stdout.lines().collect();
    assert_eq!(lines[..2], ["ro-refused", "noexec=126"], "{out:?}");
    assert!(lines[2].starts_with("ro,nosuid,nodev"), "{out:?}");
    assert!(lines[3].starts_with("rw,nosuid,nodev,noexec"), "{out:?}");
    // A bad option stops the client before the helper runs.
    let out = login(&["login", "client-deb", "--root", "-b", "/tmp:/x:sync", "--", "true"]);
    assert!(out.code == 2 && out.stderr.contains("unknown bind option 'sync'"), "{out:?}");

    let hidden = "grep ' /proc ' /proc/self/mountinfo | grep -q -e hidepid=2 -e hidepid=invisible && echo hidepid || echo no-hidepid; \
                  sleep 30 & p=$!; su nobody -s /bin/sh -c \"test -e /proc/$p && echo seen || echo hidden\"; \
                  kill $p; test -e /mnt/ro/run.sh && echo bound || echo nobind";
    let out = login(&[
        "login",
        "client-deb",
        "--root",
        "--isolated",
        "--shared-tmp",
        "-b",
        &ro,
        "--",
        "sh",
        "-c",
        hidden,
    ]);
    assert_eq!(out.ok().stdout, "hidepid\nhidden\nnobind\n", "{out:?}");
    let warned: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ignored")).collect();
    assert!(warned.len() == 1 && warned[0].contains("--shared-tmp, --bind are ignored"), "{out:?}");
    let out = login(&["login", "client-deb", "--root", "--", "sh", "-c", hidden]);
    assert_eq!(out.ok().stdout, "no-hidepid\nseen\nnobind\n", "{out:?}");
    // With CAP_SYS_CHROOT, a chroot into a subdirectory and `..` past the
    // old root would reach the host, were the session only chrooted.
    let climb =
        "mkdir '/climb'; chroot '/climb' or die $!; chdir '..' for 1..64; chroot '.' or die $!; \
                 print -d '/var/lib/cd-test-rig' ? \"escaped\\n\" : \"inside\\n\"";
    let out = login(&["login", "client-deb", "--root", "--isolated", "--", "perl", "-e", climb]);
    assert_eq!(out.ok().stdout, "inside\n", "{out:?}");
}
