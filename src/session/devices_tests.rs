//! Tests of `devices`.

use super::*;
use std::os::unix::net::UnixListener;

struct Tree {
    dir: tempfile::TempDir,
    _socks: Vec<UnixListener>,
}

impl Tree {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            _socks: Vec::new(),
        }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn p(&self, abs: &str) -> PathBuf {
        under(self.root(), Path::new(abs))
    }
    fn sock(&mut self, abs: &str) {
        let p = self.p(abs);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        self._socks.push(UnixListener::bind(&p).unwrap());
    }
    fn file(&self, abs: &str) {
        let p = self.p(abs);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    fn dir(&self, abs: &str) {
        std::fs::create_dir_all(self.p(abs)).unwrap();
    }
}

fn me() -> u32 {
    rustix::process::getuid().as_raw()
}

fn display(t: &Tree, pairs: &[(&str, &str)]) -> Shared {
    let env = EnvSnapshot::from_pairs(pairs.iter().copied());
    shared_display(&DisplayInputs {
        env: &env,
        host_root: t.root(),
        host_uid: me(),
        guest_uid: 1000,
    })
}

fn env_of<'a>(s: &'a Shared, k: &str) -> Option<&'a str> {
    s.env
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
}

fn guest_of(s: &Shared, host: &Path) -> Option<PathBuf> {
    s.binds
        .iter()
        .find(|b| b.host == host)
        .map(|b| b.guest.clone())
}

#[test]
fn full_desktop_binds_only_the_session_sockets() {
    let mut t = Tree::new();
    t.sock("/tmp/.X11-unix/X1");
    t.sock("/tmp/.X11-unix/X0");
    t.file("/home/u/.Xauthority");
    t.sock("/run/user/7/wayland-1");
    t.sock("/run/user/7/pulse/native");
    t.sock("/run/user/7/pipewire-0");
    t.sock("/run/user/7/bus");
    t.sock("/run/user/7/gnupg/S.gpg-agent");
    let s = display(
        &t,
        &[
            ("DISPLAY", ":1.0"),
            ("HOME", "/home/u"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
            ("WAYLAND_DISPLAY", "wayland-1"),
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/run/user/7/bus,guid=abc",
            ),
            ("XDG_SESSION_TYPE", "wayland"),
        ],
    );
    let g = |abs: &str| guest_of(&s, &t.p(abs));
    assert_eq!(g("/tmp/.X11-unix/X1"), Some("/tmp/.X11-unix/X1".into()));
    assert_eq!(g("/tmp/.X11-unix/X0"), None);
    assert_eq!(
        g("/home/u/.Xauthority"),
        Some("/run/user/1000/Xauthority".into())
    );
    assert_eq!(
        g("/run/user/7/wayland-1"),
        Some("/run/user/1000/wayland-1".into())
    );
    assert_eq!(
        g("/run/user/7/pulse/native"),
        Some("/run/user/1000/pulse/native".into())
    );
    assert_eq!(
        g("/run/user/7/pipewire-0"),
        Some("/run/user/1000/pipewire-0".into())
    );
    assert_eq!(g("/run/user/7/bus"), Some("/run/user/1000/bus".into()));
    // Nothing broader than a socket, and no other agent.
    assert_eq!(s.binds.len(), 6, "{:#?}", s.binds);
    assert!(s.binds.iter().all(|b| b.kind != BindKind::Dir));
    for (k, v) in [
        ("DISPLAY", ":1.0"),
        ("XAUTHORITY", "/run/user/1000/Xauthority"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("WAYLAND_DISPLAY", "wayland-1"),
        ("PULSE_SERVER", "unix:/run/user/1000/pulse/native"),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
        ("XDG_SESSION_TYPE", "wayland"),
    ] {
        assert_eq!(env_of(&s, k), Some(v), "{k}");
    }
}

#[test]
fn fallbacks_when_variables_are_unset() {
    let mut t = Tree::new();
    let uid = me();
    t.sock("/tmp/.X11-unix/X0");
    t.sock(&format!("/run/user/{uid}/wayland-0"));
    t.sock(&format!("/run/user/{uid}/pulse/native"));
    t.sock(&format!("/run/user/{uid}/bus"));
    t.file(&format!("/run/user/{uid}/.mutter-Xwaylandauth.X1Y2"));
    let s = display(&t, &[]);
    assert_eq!(env_of(&s, "DISPLAY"), Some(":0"));
    assert_eq!(env_of(&s, "WAYLAND_DISPLAY"), Some("wayland-0"));
    assert_eq!(
        env_of(&s, "PULSE_SERVER"),
        Some("unix:/run/user/1000/pulse/native")
    );
    assert_eq!(
        env_of(&s, "DBUS_SESSION_BUS_ADDRESS"),
        Some("unix:path=/run/user/1000/bus")
    );
    let xauth = t.p(&format!("/run/user/{uid}/.mutter-Xwaylandauth.X1Y2"));
    assert!(guest_of(&s, &xauth).is_some());
    // No desktop at all: variables with fallbacks, no binds, notes.
    let t = Tree::new();
    let s = display(&t, &[]);
    assert!(s.binds.is_empty());
    assert_eq!(env_of(&s, "WAYLAND_DISPLAY"), None);
    assert_eq!(env_of(&s, "PULSE_SERVER"), None);
    assert!(s.notes.iter().any(|n| n.contains("X11")));
}

#[test]
fn remote_and_abstract_endpoints_pass_through_without_binds() {
    let t = Tree::new();
    let s = display(
        &t,
        &[
            ("DISPLAY", "localhost:10.0"),
            ("PULSE_SERVER", "tcp:127.0.0.1:4713"),
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:abstract=/tmp/dbus-XYZ,guid=1",
            ),
        ],
    );
    assert!(s.binds.is_empty());
    assert_eq!(env_of(&s, "DISPLAY"), Some("localhost:10.0"));
    assert_eq!(env_of(&s, "PULSE_SERVER"), Some("tcp:127.0.0.1:4713"));
    assert_eq!(
        env_of(&s, "DBUS_SESSION_BUS_ADDRESS"),
        Some("unix:abstract=/tmp/dbus-XYZ,guid=1")
    );
    assert!(s.notes.iter().any(|n| n.contains("abstract")));
    assert!(s.notes.iter().any(|n| n.contains("network display")));
}

#[test]
fn dbus_paths_are_unescaped_and_alternatives_tried() {
    let mut t = Tree::new();
    t.sock("/run/my bus");
    let s = display(
        &t,
        &[(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent;unix:path=/run/my%20bus",
        )],
    );
    assert_eq!(
        guest_of(&s, &t.p("/run/my bus")),
        Some("/run/user/1000/bus".into())
    );
    assert!(dbus_unescape("%zz").is_none());
    assert!(dbus_unescape("%4").is_none());
}

#[test]
fn xauthority_of_someone_else_is_not_shared() {
    let t = Tree::new();
    t.file("/etc/secret");
    let env = EnvSnapshot::from_pairs([("XAUTHORITY", "/etc/secret")]);
    let s = shared_display(&DisplayInputs {
        env: &env,
        host_root: t.root(),
        host_uid: me().wrapping_add(1),
        guest_uid: 0,
    });
    assert!(s.binds.is_empty());
    assert_eq!(env_of(&s, "XAUTHORITY"), None);
    assert!(s.notes.iter().any(|n| n.contains("not owned")));
}

#[test]
fn display_numbers() {
    assert_eq!(local_display_number(":0"), Some(0));
    assert_eq!(local_display_number(":12.1"), Some(12));
    assert_eq!(local_display_number("unix:3"), Some(3));
    assert_eq!(local_display_number("host:0"), None);
    assert_eq!(local_display_number("garbage"), None);
}

/// A character device; without root to mknod, a link to the real
/// /dev/null stands in (kinds are checked through symlinks).
fn chardev(t: &Tree, abs: &str) {
    let p = t.p(abs);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    if nix::sys::stat::mknod(
        &p,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .is_err()
    {
        std::os::unix::fs::symlink("/dev/null", &p).unwrap();
    }
}

#[test]
fn gpu_native_nvidia_and_dri() {
    let t = Tree::new();
    t.dir("/dev/dri");
    for n in ["nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-modeset"] {
        chardev(&t, &format!("/dev/{n}"));
    }
    t.dir("/dev/nvidia-caps");
    t.file("/dev/nvidia-notadevice");
    let s = gpu(t.root(), false);
    let guests: Vec<_> = s.binds.iter().map(|b| b.guest.clone()).collect();
    for want in [
        "/dev/dri",
        "/dev/nvidia0",
        "/dev/nvidiactl",
        "/dev/nvidia-uvm",
        "/dev/nvidia-modeset",
        "/dev/nvidia-caps",
    ] {
        assert!(guests.contains(&PathBuf::from(want)), "{want}");
    }
    assert!(!guests.contains(&PathBuf::from("/dev/nvidia-notadevice")));
    // Every one is a GPU path of the session contract, which both root
    // paths bind (cd-mount-helper refuses any other --gpu).
    for g in &guests {
        assert!(session_contract::mounts::is_gpu_path(g), "{}", g.display());
    }
    assert_eq!(env_of(&s, "__NV_PRIME_RENDER_OFFLOAD"), Some("1"));
    assert_eq!(env_of(&s, "__GLX_VENDOR_LIBRARY_NAME"), Some("nvidia"));
    assert_eq!(env_of(&s, "GALLIUM_DRIVER"), None);
    // Termux: nothing, whatever is there.
    assert_eq!(gpu(t.root(), true), Shared::default());
    // Intel/AMD only: binds, no variables.
    let t = Tree::new();
    t.dir("/dev/dri");
    let s = gpu(t.root(), false);
    assert_eq!(s.binds.len(), 1);
    assert!(s.env.is_empty());
}

#[test]
fn gpu_wsl2() {
    let t = Tree::new();
    chardev(&t, "/dev/dxg");
    t.file("/usr/lib/wsl/lib/libd3d12.so");
    let s = gpu(t.root(), false);
    let guests: Vec<_> = s.binds.iter().map(|b| b.guest.clone()).collect();
    assert_eq!(guests, [PathBuf::from("/dev/dxg"), "/usr/lib/wsl".into()]);
    assert!(guests
        .iter()
        .all(|g| session_contract::mounts::is_gpu_path(g)));
    assert!(s.env.is_empty(), "not NVIDIA: {:?}", s.env);
    t.file("/usr/lib/wsl/lib/libcuda.so.1");
    let s = gpu(t.root(), false);
    assert_eq!(env_of(&s, "GALLIUM_DRIVER"), Some("d3d12"));
    assert_eq!(env_of(&s, "MESA_D3D12_DEFAULT_DEVICE_TYPE"), Some("GPU"));
    assert_eq!(env_of(&s, "LIBGL_ALWAYS_SOFTWARE"), Some("0"));
    assert_eq!(env_of(&s, "__NV_PRIME_RENDER_OFFLOAD"), None);
}

fn termux(pairs: &[(&str, &str)]) -> Termux {
    Termux::detect(&EnvSnapshot::from_pairs(pairs.iter().copied())).unwrap()
}

#[test]
fn termux_binds_present_and_readable_paths() {
    let t = Tree::new();
    for d in [
        "/system",
        "/vendor",
        "/apex",
        "/data/data/com.termux.x/files/usr",
    ] {
        t.dir(d);
    }
    t.file("/linkerconfig/ld.config.txt");
    t.file("/property_contexts");
    t.dir("/storage/emulated/0");
    std::os::unix::fs::symlink(t.p("/storage/emulated/0"), t.p("/sdcard")).unwrap();
    // Present but unusable: a dangling link is skipped.
    std::os::unix::fs::symlink("/nonexistent", t.p("/odm")).unwrap();
    let tx = termux(&[
        ("TERMUX_VERSION", "0.118"),
        ("TERMUX_APP__PACKAGE_NAME", "com.termux.x"),
        ("TERMUX__PREFIX", "/data/data/com.termux.x/files/usr"),
    ]);
    let s = termux_binds(&tx, t.root(), true);
    let got: Vec<(String, BindKind)> = s
        .binds
        .iter()
        .map(|b| (b.guest.display().to_string(), b.kind))
        .collect();
    let want = [
        ("/apex", BindKind::Dir),
        ("/data/data/com.termux.x", BindKind::Dir),
        ("/linkerconfig/ld.config.txt", BindKind::File),
        ("/property_contexts", BindKind::File),
        ("/sdcard", BindKind::Dir),
        ("/storage/emulated/0", BindKind::Dir),
        ("/system", BindKind::Dir),
        ("/vendor", BindKind::Dir),
    ];
    let want: Vec<(String, BindKind)> = want.iter().map(|(g, k)| (g.to_string(), *k)).collect();
    // The prefix lies inside the package dir: not bound twice.
    assert_eq!(got, want);
    assert!(s.binds.iter().all(|b| b.optional));

    // A prefix elsewhere is bound on its own, only for normal containers.
    t.dir("/opt/prefix");
    let tx = termux(&[("TERMUX__PREFIX", "/opt/prefix")]);
    let with = termux_binds(&tx, t.root(), true);
    assert!(with
        .binds
        .iter()
        .any(|b| b.guest == Path::new("/opt/prefix")));
    let without = termux_binds(&tx, t.root(), false);
    assert!(!without
        .binds
        .iter()
        .any(|b| b.guest == Path::new("/opt/prefix")));
}

#[test]
fn shared_home_and_tmp() {
    let t = Tree::new();
    t.dir("/home/alice");
    t.dir("/tmp");
    t.dir("/tx/home");
    t.dir("/tx/usr/tmp");
    let env = EnvSnapshot::from_pairs([("HOME", "/home/alice")]);
    let b = shared_home(&env, None, t.root(), Path::new("/root")).unwrap();
    assert_eq!((b.host, b.guest), (t.p("/home/alice"), "/root".into()));
    let tx = termux(&[("TERMUX__PREFIX", "/tx/usr"), ("TERMUX__HOME", "/tx/home")]);
    let b = shared_home(&env, Some(&tx), t.root(), Path::new("/home/u")).unwrap();
    assert_eq!(b.host, t.p("/tx/home"));
    assert_eq!(shared_tmp(None, t.root()).unwrap().host, t.p("/tmp"));
    assert_eq!(
        shared_tmp(Some(&tx), t.root()).unwrap().host,
        t.p("/tx/usr/tmp")
    );
    let env = EnvSnapshot::from_pairs([("HOME", "/home/nobody")]);
    assert!(shared_home(&env, None, t.root(), Path::new("/root")).is_none());
}
