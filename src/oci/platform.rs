//! Platforms: the host's, the user's `-a/--architecture`, and matching
//! them against image indexes with variants taken into account.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown architecture '{0}'")]
pub struct UnknownArch(pub String);

impl Platform {
    pub fn linux(arch: &str, variant: Option<&str>) -> Self {
        Self {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
        }
    }

    /// The platform the running kernel executes natively.
    pub fn host() -> Self {
        let machine = rustix::system::uname()
            .machine()
            .to_string_lossy()
            .into_owned();
        Self::parse(&machine).unwrap_or_else(|_| Self::linux(&machine, None))
    }

    /// Accepts the reference's native names (`aarch64`, `arm`, `i686`,
    /// `riscv64`, `x86_64`), Docker's (`arm64`, `amd64`, `386`, ...) and
    /// platform strings (`linux/arm64`, `linux/arm/v7`).
    pub fn parse(text: &str) -> Result<Self, UnknownArch> {
        let t = text.trim().to_ascii_lowercase();
        let mut parts = t.split('/');
        let (os, arch, variant) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), None, None, None) => ("linux", a, None),
            (Some(os), Some(a), v, None) => (os, a, v),
            _ => return Err(UnknownArch(text.to_owned())),
        };
        if os != "linux" {
            return Err(UnknownArch(text.to_owned()));
        }
        let (arch, default_variant) = match arch {
            "x86_64" | "amd64" | "x64" => ("amd64", None),
            "aarch64" | "arm64" | "armv8" | "armv8l" => ("arm64", Some("v8")),
            "arm" | "armhf" | "armv7" | "armv7l" | "armv7hl" => ("arm", Some("v7")),
            "armel" | "armv6" | "armv6l" => ("arm", Some("v6")),
            "armv5" | "armv5l" | "armv5tel" => ("arm", Some("v5")),
            "i386" | "i486" | "i586" | "i686" | "386" | "x86" => ("386", None),
            "riscv64" => ("riscv64", None),
            "ppc64le" | "ppc64el" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "loong64" | "loongarch64" => ("loong64", None),
            "mips64le" | "mips64el" => ("mips64le", None),
            _ => return Err(UnknownArch(text.to_owned())),
        };
        let variant = variant.filter(|v| !v.is_empty()).or(default_variant);
        Ok(Self::linux(arch, variant))
    }

    /// The reference's native name (`x86_64`, `aarch64`, `arm`, `i686`, ...),
    /// as written to manifest.json's `arch`.
    pub fn native_name(&self) -> &str {
        match self.architecture.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            "386" => "i686",
            other => other,
        }
    }

    /// Whether an image built for `candidate` suits a request for `self`.
    /// A missing variant on the candidate matches (many arm64 indexes omit
    /// `v8`); a present one must agree, so `arm/v6` never answers `arm/v7`.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let os_ok = candidate.os.is_empty() || candidate.os == self.os;
        let arch_ok = Self::parse(&candidate.architecture)
            .map(|c| c.architecture == self.architecture)
            .unwrap_or(candidate.architecture == self.architecture);
        let variant_ok = match (&self.variant, &candidate.variant) {
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            _ => true,
        };
        os_ok && arch_ok && variant_ok
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_names() {
        for (input, want) in [
            ("aarch64", "linux/arm64/v8"),
            ("arm", "linux/arm/v7"),
            ("i686", "linux/386"),
            ("riscv64", "linux/riscv64"),
            ("x86_64", "linux/amd64"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm/v7", "linux/arm/v7"),
            ("linux/arm/v6", "linux/arm/v6"),
            ("linux/386", "linux/386"),
            ("AMD64", "linux/amd64"),
        ] {
            assert_eq!(Platform::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in ["sparc", "windows/amd64", "linux/arm/v7/x", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variant_aware_matching() {
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches(&Platform::linux("arm", Some("v7"))));
        assert!(!v7.matches(&Platform::linux("arm", Some("v6"))));
        assert!(!v7.matches(&Platform::linux("arm64", Some("v8"))));
        assert!(v7.matches(&Platform::linux("arm", None)));
        let arm64 = Platform::parse("aarch64").unwrap();
        assert!(arm64.matches(&Platform::linux("arm64", None)));
        assert!(arm64.matches(&Platform::linux("arm64", Some("v8"))));
        assert!(!arm64.matches(&Platform::linux("amd64", None)));
        assert_eq!(arm64.native_name(), "aarch64");
    }

    #[test]
    fn host_is_known() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!h.architecture.is_empty());
    }
}
