//! Architecture names: the reference's set (`x86_64`, `aarch64`, `arm`,
//! `i686`, `riscv64`) and how uname, OCI and QEMU spell them.

/// Every architecture the reference can install.
pub const KNOWN: [&str; 5] = ["x86_64", "aarch64", "arm", "i686", "riscv64"];

/// Maps any common spelling (uname `machine`, OCI/Docker `architecture`) to
/// the reference's name; unknown names pass through unchanged.
pub fn normalise(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    let mapped = match n.as_str() {
        "x86_64" | "amd64" | "x86-64" => "x86_64",
        "aarch64" | "arm64" | "arm64v8" | "armv8" => "aarch64",
        "i386" | "i486" | "i586" | "i686" | "x86" | "386" => "i686",
        "riscv64" => "riscv64",
        _ if n.starts_with("armv") || n == "arm" || n == "armhf" || n == "armel" => "arm",
        _ => return n,
    };
    mapped.to_owned()
}

/// The architecture name in QEMU's user-mode binaries (`qemu-<name>`).
pub fn qemu_name(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        "arm" => "arm",
        "i686" => "i386",
        "riscv64" => "riscv64",
        _ => return None,
    })
}

/// The 32-bit architecture a 64-bit host may run natively in compat mode.
pub fn compat_companion(host: &str) -> Option<&'static str> {
    match host {
        "x86_64" => Some("i686"),
        "aarch64" => Some("arm"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_map_to_reference_names() {
        for (raw, want) in [
            ("x86_64", "x86_64"),
            ("amd64", "x86_64"),
            ("arm64", "aarch64"),
            ("aarch64", "aarch64"),
            ("armv7l", "arm"),
            ("armv8l", "arm"),
            ("i686", "i686"),
            ("386", "i686"),
            ("riscv64", "riscv64"),
            ("s390x", "s390x"),
        ] {
            assert_eq!(normalise(raw), want, "{raw}");
        }
        assert_eq!(qemu_name("i686"), Some("i386"));
        assert_eq!(qemu_name("s390x"), None);
    }
}
