//! Host resources shared into a non-minimal, non-isolated session: the
//! display, audio and session-bus sockets (`--shared-display`), GPU device
//! nodes (always, when present), Android's system paths on Termux, and the
//! host home and tmp (`--shared-home`, `--shared-tmp`).
//!
//! Pure planning: every function looks at an [`EnvSnapshot`] and at the
//! host tree below `host_root` (`/` in real use, a fake tree in tests) and
//! returns binds plus guest variables. Only the specific sockets are
//! shared, never the host's whole `/run` or runtime dir, so the guest does
//! not see the user's other services (keyrings, gpg agents, ssh agents).
//!
//! The sources named by environment variables come from the invoking user:
//! whoever mounts them must open them with that user's credentials (the
//! helper does), or a variable like `XAUTHORITY=/etc/shadow` would carry a
//! root-only file into the guest. As a first line, file sources from the
//! environment must be owned by the invoking user here.
//!
//! Display sockets land in the guest's `/run/user/<guest uid>`; the
//! launcher creates that directory (mode 0700, owned by the guest user)
//! before binding into it, as a login manager would.

use crate::env::EnvSnapshot;
use crate::termux::Termux;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    Dir,
    File,
    Socket,
    /// A character device; its mount must not carry `nodev`.
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The source on the host (below `host_root`).
    pub host: PathBuf,
    /// The absolute target in the guest.
    pub guest: PathBuf,
    pub kind: BindKind,
    /// A failure to bind it is a warning, not an error.
    pub optional: bool,
}

/// Binds, guest variables, and notes on what was left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    pub binds: Vec<Bind>,
    pub env: Vec<(String, String)>,
    pub notes: Vec<String>,
}

impl Shared {
    fn bind(&mut self, host: PathBuf, guest: impl Into<PathBuf>, kind: BindKind) {
        self.binds.push(Bind {
            host,
            guest: guest.into(),
            kind,
            optional: true,
        });
    }

    fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.push((key.to_owned(), value.into()));
    }
}

/// `host_root` joined with an absolute host path.
fn under(host_root: &Path, abs: &Path) -> PathBuf {
    host_root.join(abs.strip_prefix("/").unwrap_or(abs))
}

fn kind_of(p: &Path) -> Option<BindKind> {
    let ft = std::fs::metadata(p).ok()?.file_type();
    Some(if ft.is_dir() {
        BindKind::Dir
    } else if ft.is_socket() {
        BindKind::Socket
    } else if ft.is_char_device() {
        BindKind::Device
    } else if ft.is_file() {
        BindKind::File
    } else {
        return None;
    })
}

fn is_socket(p: &Path) -> bool {
    kind_of(p) == Some(BindKind::Socket)
}

/// Who is sharing, and who they are in the guest.
#[derive(Debug, Clone)]
pub struct DisplayInputs<'a> {
    pub env: &'a EnvSnapshot,
    pub host_root: &'a Path,
    /// The invoking user on the host (before any elevation).
    pub host_uid: u32,
    /// The uid the session runs as in the guest.
    pub guest_uid: u32,
}

/// `--shared-display` / `--shared-x11`.
pub fn shared_display(inp: &DisplayInputs) -> Shared {
    let mut out = Shared::default();
    let env = inp.env;
    let host_run = env
        .get_abs_path("XDG_RUNTIME_DIR")
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", inp.host_uid)));
    let guest_run = PathBuf::from(format!("/run/user/{}", inp.guest_uid));
    out.set("XDG_RUNTIME_DIR", guest_run.to_string_lossy());
    x11(inp, &host_run, &guest_run, &mut out);
    wayland(inp, &host_run, &guest_run, &mut out);
    for key in ["XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION"] {
        if let Some(v) = env.get(key) {
            out.set(key, v);
        }
    }
    audio(inp, &host_run, &guest_run, &mut out);
    dbus(inp, &host_run, &guest_run, &mut out);
    out
}

/// The display number of a local `DISPLAY` (`:0`, `:1.0`, `unix:2`);
/// `None` for a remote one (`host:10.0`) or garbage.
fn local_display_number(display: &str) -> Option<u32> {
    let (host, rest) = display.rsplit_once(':')?;
    if !(host.is_empty() || host == "unix") {
        return None;
    }
    rest.split('.').next()?.parse().ok()
}

fn x11(inp: &DisplayInputs, host_run: &Path, guest_run: &Path, out: &mut Shared) {
    let display = inp.env.get("DISPLAY").unwrap_or_else(|| ":0".into());
    out.set("DISPLAY", &display);
    let sock_dir = under(inp.host_root, Path::new("/tmp/.X11-unix"));
    match local_display_number(&display) {
        Some(n) => {
            let sock = sock_dir.join(format!("X{n}"));
            if is_socket(&sock) {
                out.bind(sock, format!("/tmp/.X11-unix/X{n}"), BindKind::Socket);
            } else {
                out.notes.push(format!(
                    "X11: no socket {} for DISPLAY={display}",
                    sock.display()
                ));
            }
        }
        None if display.contains(':') && !display.starts_with(':') => out.notes.push(format!(
            "X11: DISPLAY={display} is a network display; the shared network reaches it"
        )),
        None if sock_dir.is_dir() => out.bind(sock_dir, "/tmp/.X11-unix", BindKind::Dir),
        None => out
            .notes
            .push(format!("X11: cannot tell the socket of DISPLAY={display}")),
    }
    let home = inp.env.get_abs_path("HOME");
    let candidates = inp
        .env
        .get_abs_path("XAUTHORITY")
        .into_iter()
        .chain(home.map(|h| h.join(".Xauthority")))
        .map(|p| under(inp.host_root, &p))
        .chain(xwayland_auth(&under(inp.host_root, host_run)));
    let mut found = false;
    for path in candidates {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.uid() != inp.host_uid {
            out.notes.push(format!(
                "X11: {} is not owned by uid {}; not shared",
                path.display(),
                inp.host_uid
            ));
            continue;
        }
        let guest = guest_run.join("Xauthority");
        out.set("XAUTHORITY", guest.to_string_lossy());
        out.bind(path, guest, BindKind::File);
        found = true;
        break;
    }
    if !found {
        out.notes
            .push("X11: no Xauthority file found; clients may be refused".into());
    }
}

/// Xwayland's auth file in the runtime dir (mutter and others name it
/// `.mutter-Xwaylandauth.*` or `xauth_*`); the first by name.
fn xwayland_auth(run: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(run)
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(".mutter-Xwaylandauth.") || n.starts_with("xauth_")
        })
        .map(|e| e.path())
        .collect();
    names.sort();
    names.into_iter().next()
}

fn wayland(inp: &DisplayInputs, host_run: &Path, guest_run: &Path, out: &mut Shared) {
    let host_run = under(inp.host_root, host_run);
    let (sock, name) = match inp.env.get("WAYLAND_DISPLAY") {
        // The protocol allows an absolute socket path.
        Some(w) if w.starts_with('/') => {
            let p = under(inp.host_root, Path::new(&w));
            let name = p
                .file_name()
                .map_or_else(|| "wayland-0".into(), |n| n.to_string_lossy().into_owned());
            (p, name)
        }
        Some(w) => (host_run.join(&w), w),
        None => {
            let p = host_run.join("wayland-0");
            if !is_socket(&p) {
                return;
            }
            (p, "wayland-0".to_owned())
        }
    };
    if name.contains('/') || !is_socket(&sock) {
        out.notes
            .push(format!("Wayland: no socket at {}", sock.display()));
        return;
    }
    out.bind(sock, guest_run.join(&name), BindKind::Socket);
    out.set("WAYLAND_DISPLAY", name);
}

fn audio(inp: &DisplayInputs, host_run: &Path, guest_run: &Path, out: &mut Shared) {
    let run = under(inp.host_root, host_run);
    let guest_pulse = guest_run.join("pulse/native");
    match inp.env.get("PULSE_SERVER") {
        Some(s) => match s.strip_prefix("unix:") {
            Some(path) if is_socket(&under(inp.host_root, Path::new(path))) => {
                out.bind(
                    under(inp.host_root, Path::new(path)),
                    &guest_pulse,
                    BindKind::Socket,
                );
                out.set("PULSE_SERVER", format!("unix:{}", guest_pulse.display()));
            }
            Some(path) => out.notes.push(format!("PulseAudio: no socket at {path}")),
            // tcp:host:port and the like: the network is shared.
            None => out.set("PULSE_SERVER", s),
        },
        None => {
            let sock = run.join("pulse/native");
            if is_socket(&sock) {
                out.bind(sock, &guest_pulse, BindKind::Socket);
                out.set("PULSE_SERVER", format!("unix:{}", guest_pulse.display()));
            }
        }
    }
    let pw = run.join("pipewire-0");
    if is_socket(&pw) {
        out.bind(pw, guest_run.join("pipewire-0"), BindKind::Socket);
    }
}

/// D-Bus address values escape bytes as `%xx`.
fn dbus_unescape(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn dbus(inp: &DisplayInputs, host_run: &Path, guest_run: &Path, out: &mut Shared) {
    let guest_bus = guest_run.join("bus");
    let guest_addr = format!("unix:path={}", guest_bus.display());
    let Some(addr) = inp.env.get("DBUS_SESSION_BUS_ADDRESS") else {
        let sock = under(inp.host_root, &host_run.join("bus"));
        if is_socket(&sock) {
            out.bind(sock, &guest_bus, BindKind::Socket);
            out.set("DBUS_SESSION_BUS_ADDRESS", guest_addr);
        }
        return;
    };
    // A list of alternatives; the first usable one wins.
    for alt in addr.split(';') {
        let Some((transport, params)) = alt.split_once(':') else {
            continue;
        };
        let get = |key: &str| {
            params
                .split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(dbus_unescape)
        };
        match transport {
            "unix" => {
                if let Some(path) = get("path") {
                    let sock = under(inp.host_root, Path::new(&path));
                    if is_socket(&sock) {
                        out.bind(sock, &guest_bus, BindKind::Socket);
                        out.set("DBUS_SESSION_BUS_ADDRESS", guest_addr);
                        return;
                    }
                    out.notes.push(format!("D-Bus: no socket at {path}"));
                } else if get("abstract").is_some() {
                    // Abstract sockets live in the network namespace, which
                    // the guest shares; there is no file to bind.
                    out.notes.push(
                        "D-Bus: abstract socket, reachable through the shared network namespace; nothing to bind"
                            .into(),
                    );
                    out.set("DBUS_SESSION_BUS_ADDRESS", alt);
                    return;
                }
            }
            "tcp" | "nonce-tcp" => {
                out.set("DBUS_SESSION_BUS_ADDRESS", alt);
                return;
            }
            _ => {}
        }
    }
    out.notes
        .push(format!("D-Bus: no usable address in {addr}; not shared"));
}

/// GPU device nodes and driver files, as the reference auto-detects them
/// (never on Termux).
pub fn gpu(host_root: &Path, termux: bool) -> Shared {
    let mut out = Shared::default();
    if termux {
        return out;
    }
    let dev = under(host_root, Path::new("/dev"));
    if dev.join("dri").is_dir() {
        out.bind(dev.join("dri"), "/dev/dri", BindKind::Dir);
    }
    let mut nvidia: Vec<(String, BindKind)> = std::fs::read_dir(&dev)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            if !name.starts_with("nvidia") {
                return None;
            }
            // nvidia0.., nvidiactl, nvidia-uvm(-tools), nvidia-modeset
            // are devices; nvidia-caps is a directory of them.
            match kind_of(&e.path())? {
                k @ (BindKind::Device | BindKind::Dir) => Some((name, k)),
                _ => None,
            }
        })
        .collect();
    nvidia.sort_by(|a, b| a.0.cmp(&b.0));
    let has_nvidia = nvidia.iter().any(|(n, _)| n == "nvidiactl");
    for (name, kind) in nvidia {
        out.bind(dev.join(&name), format!("/dev/{name}"), kind);
    }
    let dxg = dev.join("dxg");
    let wsl = kind_of(&dxg) == Some(BindKind::Device);
    if wsl {
        // WSL2: every GPU is reached through /dev/dxg and the Windows
        // driver's user-space files in /usr/lib/wsl.
        out.bind(dxg, "/dev/dxg", BindKind::Device);
        let lib = under(host_root, Path::new("/usr/lib/wsl"));
        if lib.is_dir() {
            out.bind(lib.clone(), "/usr/lib/wsl", BindKind::Dir);
        }
        if wsl_nvidia(&lib.join("lib")) {
            out.set("GALLIUM_DRIVER", "d3d12");
            out.set("MESA_D3D12_DEFAULT_DEVICE_TYPE", "GPU");
            out.set("LIBGL_ALWAYS_SOFTWARE", "0");
        }
    } else if has_nvidia {
        out.set("__NV_PRIME_RENDER_OFFLOAD", "1");
        out.set("__GLX_VENDOR_LIBRARY_NAME", "nvidia");
    }
    out
}

/// NVIDIA's Windows driver drops its CUDA and NVML libraries here; other
/// vendors do not.
fn wsl_nvidia(lib: &Path) -> bool {
    std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("libcuda.so") || n.starts_with("libnvidia-ml.so") || n == "nvidia-smi"
        })
}

/// Android paths bound on Termux (default mode), from the reference.
/// `{pkg}` is the Termux app package.
pub const ANDROID_PATHS: [&str; 17] = [
    "/apex",
    "/data/app",
    "/data/dalvik-cache",
    "/data/misc/apexdata/com.android.art/dalvik-cache",
    "/data/data/{pkg}",
    "/linkerconfig/com.android.art/ld.config.txt",
    "/linkerconfig/ld.config.txt",
    "/odm",
    "/plat_property_contexts",
    "/product",
    "/property_contexts",
    "/sdcard",
    "/storage/emulated/0",
    "/storage/self/primary",
    "/system",
    "/system_ext",
    "/vendor",
];

fn readable(p: &Path) -> bool {
    rustix::fs::access(p, rustix::fs::Access::READ_OK).is_ok()
}

/// Termux's Android binds at their own paths, those present and readable,
/// plus `$PREFIX` (normal containers) where not already inside one.
pub fn termux_binds(termux: &Termux, host_root: &Path, with_prefix: bool) -> Shared {
    let mut out = Shared::default();
    let mut guests: Vec<PathBuf> = ANDROID_PATHS
        .iter()
        .map(|p| PathBuf::from(p.replace("{pkg}", &termux.package)))
        .collect();
    if with_prefix && !guests.iter().any(|g| termux.prefix.starts_with(g)) {
        guests.push(termux.prefix.clone());
    }
    for guest in guests {
        let host = under(host_root, &guest);
        match kind_of(&host) {
            Some(kind) if readable(&host) => out.bind(host, guest, kind),
            Some(_) => out
                .notes
                .push(format!("{}: not readable; not bound", guest.display())),
            None => {}
        }
    }
    out
}

/// `--shared-home`: the host home to bind onto the guest user's home.
/// Termux binds its own home (`TERMUX__HOME`); elsewhere `$HOME`.
pub fn shared_home(
    env: &EnvSnapshot,
    termux: Option<&Termux>,
    host_root: &Path,
    guest_home: &Path,
) -> Option<Bind> {
    let home = match termux {
        Some(t) => t.home.clone(),
        None => env.get_abs_path("HOME")?,
    };
    let host = under(host_root, &home);
    (kind_of(&host) == Some(BindKind::Dir)).then(|| Bind {
        host,
        guest: guest_home.to_owned(),
        kind: BindKind::Dir,
        optional: false,
    })
}

/// `--shared-tmp`: `/tmp`, or `$PREFIX/tmp` on Termux, onto the guest's /tmp.
pub fn shared_tmp(termux: Option<&Termux>, host_root: &Path) -> Option<Bind> {
    let tmp = termux.map_or_else(|| PathBuf::from("/tmp"), |t| t.prefix.join("tmp"));
    let host = under(host_root, &tmp);
    (kind_of(&host) == Some(BindKind::Dir)).then(|| Bind {
        host,
        guest: PathBuf::from("/tmp"),
        kind: BindKind::Dir,
        optional: false,
    })
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
