//! Host section: distribution, kernel, libc, Termux/Android, CPU.

use super::android::{self, Android};
use super::{arch, child, executables, os_release, Probe};
use crate::env::EnvSnapshot;
use crate::termux::Termux;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Distribution name (os-release `PRETTY_NAME`), or "Android N" on Termux.
    pub os: Probe<String>,
    pub kernel: String,
    /// The C library this binary runs on, e.g. "glibc 2.36", "musl".
    pub libc: String,
    /// Present only inside Termux.
    pub termux: Option<TermuxHost>,
    /// uname's machine, as the kernel spells it.
    pub machine: String,
    /// The reference's name for it (`x86_64`, `aarch64`, `arm`, `i686`, `riscv64`).
    pub arch: String,
    /// Whether 32-bit programs of the companion architecture run natively.
    pub compat_32bit: Support,
}

#[derive(Debug, Clone, Serialize)]
pub struct TermuxHost {
    pub version: Option<String>,
    pub prefix: PathBuf,
    pub android: Probe<Android>,
}

/// A yes/no/unknown answer and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Support {
    /// None: unknown.
    pub supported: Option<bool>,
    pub reason: String,
}

impl Support {
    fn new(supported: Option<bool>, reason: impl Into<String>) -> Self {
        Self {
            supported,
            reason: reason.into(),
        }
    }
}

impl Host {
    pub fn gather(env: &EnvSnapshot) -> Self {
        let uname = rustix::system::uname();
        let machine = uname.machine().to_string_lossy().into_owned();
        let arch = arch::normalise(&machine);
        let termux = Termux::detect(env).map(|t| TermuxHost {
            android: android::read(&executables::search_dirs(env)).into(),
            version: t.version,
            prefix: t.prefix,
        });
        let os = match &termux {
            Some(t) => t.android.clone().map(|a| match (a.release, a.sdk) {
                (Some(r), Some(s)) => format!("Android {r} (SDK {s})"),
                (Some(r), None) => format!("Android {r}"),
                (None, _) => "Android".into(),
            }),
            None => {
                let files: Vec<&Path> = os_release::LOCATIONS.iter().map(Path::new).collect();
                os_release::pretty_name(&files).into()
            }
        };
        Self {
            os,
            kernel: uname.release().to_string_lossy().into_owned(),
            libc: libc_name(),
            termux,
            compat_32bit: compat_32bit(&arch),
            machine,
            arch,
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn libc_name() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    format!("glibc {}", v.to_string_lossy())
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn libc_name() -> String {
    if cfg!(target_env = "musl") {
        "musl".into()
    } else if cfg!(target_os = "android") {
        "bionic".into()
    } else {
        "unknown".into()
    }
}

fn compat_32bit(arch: &str) -> Support {
    match arch {
        "i686" | "arm" => Support::new(Some(true), "native 32-bit host"),
        "x86_64" => x86_64_compat(
            &std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
            Path::new("/proc/sys/abi/vsyscall32").exists(),
        ),
        "aarch64" => match child::accepts_linux32() {
            Ok(true) => Support::new(Some(true), "kernel accepts the 32-bit personality"),
            Ok(false) => Support::new(Some(false), "CPU or kernel lacks AArch32 at EL0"),
            Err(e) => cpuinfo_compat(
                &std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default(),
                &e,
            ),
        },
        _ => Support::new(None, "no known 32-bit companion architecture"),
    }
}

/// `ia32_emulation=` on the command line decides (Linux 6.7+); otherwise
/// the `abi.vsyscall32` sysctl exists only with IA32 emulation built in.
fn x86_64_compat(cmdline: &str, vsyscall32: bool) -> Support {
    for word in cmdline.split_whitespace() {
        match word {
            "ia32_emulation=0" | "ia32_emulation=false" | "ia32_emulation=n" => {
                return Support::new(Some(false), "ia32_emulation=0 on the kernel command line")
            }
            "ia32_emulation=1" | "ia32_emulation=true" | "ia32_emulation=y" => {
                return Support::new(Some(true), "ia32_emulation=1 on the kernel command line")
            }
            _ => {}
        }
    }
    if vsyscall32 {
        Support::new(Some(true), "kernel has IA32 emulation")
    } else {
        Support::new(Some(false), "kernel built without IA32 emulation")
    }
}

/// Fallback when the personality probe cannot run: CPU 0's features as a
/// 32-bit reader would see them (`thumb`, `half`, ... appear only there).
fn cpuinfo_compat(cpuinfo: &str, probe_error: &str) -> Support {
    let cpu0 = cpuinfo.split("\n\n").next().unwrap_or_default();
    let features = cpu0
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == "Features"))
        .map(|(_, v)| v)
        .unwrap_or_default();
    if features
        .split_whitespace()
        .any(|f| f == "thumb" || f == "half")
    {
        Support::new(Some(true), "CPU 0 lists 32-bit features")
    } else {
        Support::new(None, format!("unknown: {probe_error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_command_line_decides() {
        let off = x86_64_compat("quiet ia32_emulation=0 root=/dev/sda", true);
        assert_eq!(off.supported, Some(false));
        let on = x86_64_compat("ia32_emulation=1", false);
        assert_eq!(on.supported, Some(true));
        assert_eq!(x86_64_compat("quiet", true).supported, Some(true));
        assert_eq!(x86_64_compat("quiet", false).supported, Some(false));
    }

    #[test]
    fn cpuinfo_fallback_reads_cpu0_only() {
        let compat = "processor\t: 0\nFeatures\t: half thumb fastmult vfp\n\nprocessor\t: 1\n";
        assert_eq!(cpuinfo_compat(compat, "x").supported, Some(true));
        let plain = "processor\t: 0\nFeatures\t: fp asimd evtstrm\n\nFeatures\t: thumb\n";
        let s = cpuinfo_compat(plain, "blocked");
        assert_eq!(s.supported, None);
        assert!(s.reason.contains("blocked"));
    }

    #[test]
    fn this_host_is_described() {
        let h = Host::gather(&EnvSnapshot::default());
        assert!(!h.kernel.is_empty());
        assert!(h.termux.is_none());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(h.arch, "x86_64");
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(h.libc.starts_with("glibc 2."), "{}", h.libc);
    }
}
