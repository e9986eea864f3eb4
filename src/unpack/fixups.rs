//! Small edits every fresh rootfs gets when it has an `/etc`: name
//! resolution that works, and on Termux the Android ids. Written through
//! the same confined resolution as layers, so a planted
//! `etc/resolv.conf -> /etc/shadow` is replaced, never followed.

use super::resolve::{open_in_root, resolve_parent, ResolveMode};
use rustix::fs::{openat, unlinkat, AtFlags, Mode, OFlags};
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;

pub const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const FALLBACK_DNS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fixups {
    pub hosts: String,
    pub resolv_conf: String,
    /// Termux: lines to append to etc/passwd and etc/group when missing.
    #[serde(default)]
    pub passwd_extra: Vec<String>,
    #[serde(default)]
    pub group_extra: Vec<String>,
}

impl Fixups {
    /// Computed on the host side (the unpacker cannot read host files).
    pub fn for_host(termux_user: Option<(&str, u32, u32)>) -> Self {
        let mut f = Fixups {
            hosts: HOSTS.to_owned(),
            resolv_conf: resolv_conf_from(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                &std::fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or_default(),
            ),
            ..Default::default()
        };
        if let Some((name, uid, gid)) = termux_user {
            f.passwd_extra.push(format!(
                "aid_{name}:x:{uid}:{gid}:Android user:/:/sbin/nologin"
            ));
            f.group_extra.push(format!("aid_{name}:x:{gid}:"));
            for (group, id) in [
                ("aid_inet", 3003),
                ("aid_net_raw", 3004),
                ("aid_everybody", 9997),
            ] {
                f.group_extra.push(format!("{group}:x:{id}:"));
            }
        }
        f
    }
}

/// The host's upstream nameservers: its own resolv.conf, or systemd-resolved's
/// upstream list when the host only points at the 127.0.0.53 stub; Google's
/// public resolvers when neither names one.
pub fn resolv_conf_from(host: &str, resolved_upstream: &str) -> String {
    let servers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let search = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("search ") || l.starts_with("domain "))
            .map(str::to_owned)
            .collect()
    };
    let host_servers = servers(host);
    let only_stub =
        !host_servers.is_empty() && host_servers.iter().all(|s| s.starts_with("127.0.0.53"));
    let (source, list) = if only_stub {
        (resolved_upstream, servers(resolved_upstream))
    } else {
        (host, host_servers)
    };
    let list: Vec<String> = list
        .into_iter()
        .filter(|s| !s.starts_with("127.0.0.53"))
        .collect();
    if list.is_empty() {
        return FALLBACK_DNS.to_owned();
    }
    let mut out = String::new();
    for line in search(source) {
        out.push_str(&line);
        out.push('\n');
    }
    for s in list {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

/// Applies the fixups when the rootfs has an `etc` directory.
pub fn apply(root: BorrowedFd, fixups: &Fixups, mode: ResolveMode) -> io::Result<bool> {
    let is_dir = open_in_root(root, Path::new("etc"), mode)
        .ok()
        .and_then(|fd| rustix::fs::fstat(&fd).ok())
        .is_some_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
    if !is_dir {
        return Ok(false);
    }
    replace_file(root, "etc/hosts", fixups.hosts.as_bytes(), mode)?;
    replace_file(root, "etc/resolv.conf", fixups.resolv_conf.as_bytes(), mode)?;
    append_missing(root, "etc/passwd", &fixups.passwd_extra, mode)?;
    append_missing(root, "etc/group", &fixups.group_extra, mode)?;
    Ok(true)
}

/// Replaces whatever is at `rel` (a symlink included, never followed) with
/// a new 0644 file.
pub fn replace_file(
    root: BorrowedFd,
    rel: &str,
    content: &[u8],
    mode: ResolveMode,
) -> io::Result<()> {
    let (dir, name) = resolve_parent(root, Path::new(rel), mode)?;
    match unlinkat(&dir, name.as_os_str(), AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = openat(
        &dir,
        name.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(content)?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(0o644))?;
    Ok(())
}

fn append_missing(
    root: BorrowedFd,
    rel: &str,
    lines: &[String],
    mode: ResolveMode,
) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let (dir, name) = resolve_parent(root, Path::new(rel), mode)?;
    let existing = match openat(
        &dir,
        name.as_os_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => {
            let mut s = String::new();
            io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s)?;
            s
        }
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::LOOP) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = existing.clone();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in lines {
        let key = line.split(':').next().unwrap_or_default();
        if !existing.lines().any(|l| l.split(':').next() == Some(key)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out != existing {
        replace_file(root, rel, out.as_bytes(), mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_choices() {
        assert_eq!(
            resolv_conf_from("nameserver 10.0.0.2\nsearch lan\n", ""),
            "search lan\nnameserver 10.0.0.2\n"
        );
        assert_eq!(
            resolv_conf_from(
                "nameserver 127.0.0.53\noptions edns0\n",
                "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
            ),
            "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
        );
        assert_eq!(
            resolv_conf_from("nameserver 127.0.0.53\n", ""),
            FALLBACK_DNS
        );
        assert_eq!(resolv_conf_from("", ""), FALLBACK_DNS);
        assert_eq!(resolv_conf_from("# nothing\n", ""), FALLBACK_DNS);
    }

    #[test]
    fn planted_symlinks_are_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("shadow");
        std::fs::write(&outside, "secret\n").unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("etc/resolv.conf")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/hosts")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh").unwrap();
        let rootfd = std::fs::File::open(&root).unwrap();
        let fixups = Fixups {
            hosts: HOSTS.into(),
            resolv_conf: "nameserver 192.0.2.9\n".into(),
            passwd_extra: vec!["aid_u0_a1:x:10001:10001:Android user:/:/sbin/nologin".into()],
            group_extra: vec![],
        };
        for mode in [ResolveMode::Auto, ResolveMode::Walk] {
            use std::os::fd::AsFd;
            assert!(apply(rootfd.as_fd(), &fixups, mode).unwrap());
        }
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
        assert!(!std::fs::symlink_metadata(root.join("etc/resolv.conf"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap(),
            "nameserver 192.0.2.9\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
            HOSTS
        );
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert_eq!(passwd.matches("aid_u0_a1").count(), 1, "{passwd}");
        assert!(passwd.starts_with("root:x:0:0"));
    }

    #[test]
    fn no_etc_no_fixups() {
        let dir = tempfile::tempdir().unwrap();
        let rootfd = std::fs::File::open(dir.path()).unwrap();
        use std::os::fd::AsFd;
        assert!(!apply(rootfd.as_fd(), &Fixups::for_host(None), ResolveMode::Auto).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
