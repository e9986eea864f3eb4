//! Which namespaces a session gets beyond its mount namespace: PID, UTS
//! and IPC with `--isolated` or `CD_USE_NS`, all or none.

use super::Options;
use std::path::Path;

/// Whether the session gets its own PID, UTS and IPC namespaces; warns
/// when the kernel lacks one, or when a host name cannot be set.
pub(super) fn choose(opts: &Options, warnings: &mut Vec<String>) -> bool {
    let mut namespaces = opts.isolated || opts.use_ns;
    if namespaces {
        let missing = missing_namespaces(Path::new("/proc/self/ns"));
        if !missing.is_empty() {
            // All or nothing: a PID namespace without its own proc, or
            // UTS without PID, would be a confusing half-isolation.
            warnings.push(format!(
                "this kernel has no {} namespaces; running without PID, UTS and IPC isolation",
                missing.join(", ")
            ));
            namespaces = false;
        }
    }
    if opts.hostname.is_some() && !namespaces {
        warnings.push(
            "--hostname sets only $HOSTNAME here: the host name itself needs a UTS namespace \
             (--isolated or CD_USE_NS=1)"
                .into(),
        );
    }
    namespaces
}

/// Which of the namespaces isolation needs the kernel lacks (`ns_dir` is
/// normally /proc/self/ns).
pub fn missing_namespaces(ns_dir: &Path) -> Vec<&'static str> {
    ["pid", "uts", "ipc"]
        .into_iter()
        .filter(|n| !ns_dir.join(n).exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_needs_every_namespace() {
        assert!(missing_namespaces(Path::new("/proc/self/ns")).is_empty());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("uts"), b"").unwrap();
        assert_eq!(missing_namespaces(dir.path()), ["pid", "ipc"]);
    }

    #[test]
    fn a_host_name_without_namespaces_is_explained() {
        let opts = Options {
            hostname: Some("h".into()),
            ..Options::default()
        };
        let mut warnings = Vec::new();
        assert!(!choose(&opts, &mut warnings));
        assert!(
            warnings[0].contains("needs a UTS namespace"),
            "{warnings:?}"
        );
        let opts = Options {
            use_ns: true,
            ..opts
        };
        let mut warnings = Vec::new();
        assert!(choose(&opts, &mut warnings));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
