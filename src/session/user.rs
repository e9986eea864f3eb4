//! `-u/--user`: the guest account, looked up in the container's own
//! `/etc/passwd` and `/etc/group`.
//!
//! The rootfs is untrusted: both files are opened through
//! [`open_in_root`], so a symlink such as `etc/passwd -> /etc/passwd`
//! means the rootfs's file, never the host's; only regular files are read,
//! at most [`MAX_ACCOUNT_FILE`] bytes; comments, blank and malformed lines
//! are skipped.

use super::Error;
use crate::ioerr::os_reason;
use crate::unpack::{open_in_root, ResolveMode};
use rustix::fs::{fstat, FileType, Mode, OFlags};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Larger account files are refused rather than half read.
pub const MAX_ACCOUNT_FILE: u64 = 4 << 20;
/// The kernel's NGROUPS_MAX: `setgroups` refuses longer lists.
const MAX_GROUPS: usize = 65536;
/// `(uid_t)-1` means "unchanged" to the set*id calls, never a real id.
const INVALID_ID: u32 = u32::MAX;

const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";

/// The account a session runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
    /// The passwd login shell; `None` when absent, empty or not absolute.
    pub shell: Option<PathBuf>,
    /// Supplementary gids: groups whose member list names the user, in file
    /// order, without duplicates and without the primary `gid`.
    pub groups: Vec<u32>,
}

impl GuestUser {
    /// root as a rootfs without `/etc/passwd` gets it.
    pub fn root() -> Self {
        Self {
            uid: 0,
            gid: 0,
            name: "root".into(),
            home: PathBuf::from("/root"),
            shell: None,
            groups: Vec::new(),
        }
    }

    /// A bare numeric uid with no passwd entry. The gid defaults to 0, as
    /// `docker run -u 1234` does.
    fn numeric(uid: u32) -> Self {
        Self {
            uid,
            gid: 0,
            name: uid.to_string(),
            home: PathBuf::from("/"),
            shell: None,
            groups: Vec::new(),
        }
    }
}

/// Resolves `-u` (`None` meaning root) against the rootfs's account files.
///
/// Forms: `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`.
/// An all-digit part is an id, anything else a name. Without a passwd file,
/// or without a matching entry, numeric uids and `root` still work; unknown
/// names are an error.
pub fn resolve_user(spec: Option<&str>, rootfs: BorrowedFd) -> Result<GuestUser, Error> {
    resolve_user_with(spec, rootfs, ResolveMode::Auto)
}

fn resolve_user_with(
    spec: Option<&str>,
    rootfs: BorrowedFd,
    mode: ResolveMode,
) -> Result<GuestUser, Error> {
    let spec = Spec::parse(spec.unwrap_or("root"))?;
    let passwd = read_account_file(rootfs, PASSWD, mode)?.unwrap_or_default();
    // /etc/group is only needed for a group name or for membership lists.
    let group = read_account_file(rootfs, GROUP, mode)?.unwrap_or_default();
    resolve(&spec, &passwd, &group)
}

#[derive(Debug, PartialEq, Eq)]
enum Id<'a> {
    Num(u32),
    Name(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
struct Spec<'a> {
    user: Id<'a>,
    group: Option<Id<'a>>,
}

impl<'a> Spec<'a> {
    fn parse(raw: &'a str) -> Result<Self, Error> {
        let invalid = || Error::InvalidUser(raw.to_owned());
        let (user, group) = match raw.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (raw, None),
        };
        let id = |s: &'a str| -> Result<Id<'a>, Error> {
            if s.is_empty() || s.contains(':') || s.contains('\0') {
                return Err(invalid());
            }
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Id::Name(s));
            }
            match s.parse::<u32>() {
                Ok(n) if n != INVALID_ID => Ok(Id::Num(n)),
                _ => Err(invalid()),
            }
        };
        Ok(Self {
            user: id(user)?,
            group: group.map(id).transpose()?,
        })
    }
}

fn resolve(spec: &Spec, passwd: &str, group: &str) -> Result<GuestUser, Error> {
    let found = passwd_entries(passwd).find(|e| match spec.user {
        Id::Num(uid) => e.uid == uid,
        Id::Name(name) => e.name == name,
    });
    let mut user = match (found, &spec.user) {
        (Some(e), _) => GuestUser {
            uid: e.uid,
            gid: e.gid,
            name: e.name.to_owned(),
            home: e.home,
            shell: e.shell,
            groups: Vec::new(),
        },
        (None, Id::Num(uid)) if *uid == 0 => GuestUser::root(),
        (None, Id::Num(uid)) => GuestUser::numeric(*uid),
        (None, Id::Name("root")) => GuestUser::root(),
        (None, Id::Name(name)) => return Err(Error::UnknownUser((*name).to_owned())),
    };
    user.gid = match spec.group {
        None => user.gid,
        Some(Id::Num(gid)) => gid,
        Some(Id::Name(name)) => match group_entries(group).find(|g| g.name == name) {
            Some(g) => g.gid,
            None if name == "root" => 0,
            None => return Err(Error::UnknownGroup(name.to_owned())),
        },
    };
    user.groups = supplementary(group, &user.name, user.gid);
    Ok(user)
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: PathBuf,
    shell: Option<PathBuf>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    records(text).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let [name, _pw, uid, gid, _gecos, home, shell] = f[..] else {
            return None;
        };
        let home = Some(Path::new(home))
            .filter(|p| p.is_absolute())
            .unwrap_or(Path::new("/"));
        let shell = Some(Path::new(shell)).filter(|p| p.is_absolute());
        Some(PasswdEntry {
            name: valid_name(name)?,
            uid: parse_id(uid)?,
            gid: parse_id(gid)?,
            home: home.to_path_buf(),
            shell: shell.map(Path::to_path_buf),
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    records(text).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let [name, _pw, gid, members] = f[..] else {
            return None;
        };
        Some(GroupEntry {
            name: valid_name(name)?,
            gid: parse_id(gid)?,
            members,
        })
    })
}

fn supplementary(group: &str, name: &str, primary: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for g in group_entries(group) {
        if g.gid != primary
            && !out.contains(&g.gid)
            && g.members.split(',').any(|m| m.trim() == name)
        {
            out.push(g.gid);
            if out.len() == MAX_GROUPS {
                break;
            }
        }
    }
    out
}

/// Lines that are neither blank nor comments.
fn records(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// Skips NIS compat entries (`+`, `-name`) and empty names.
fn valid_name(name: &str) -> Option<&str> {
    (!name.is_empty() && !name.starts_with(['+', '-'])).then_some(name)
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n != INVALID_ID)
}

/// The text of `rel` inside the rootfs; `None` when it is missing or not a
/// regular file (a FIFO or device must not block or feed us).
fn read_account_file(
    rootfs: BorrowedFd,
    rel: &'static str,
    mode: ResolveMode,
) -> Result<Option<String>, Error> {
    let fail = |e: io::Error| Error::Read {
        file: rel,
        reason: os_reason(&e),
    };
    let fd = match open_in_root(rootfs, Path::new(rel), mode) {
        Ok(fd) => fd,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let st = fstat(&fd).map_err(|e| fail(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    if st.st_size as u64 > MAX_ACCOUNT_FILE {
        return Err(Error::TooLarge { file: rel });
    }
    // Reopen the inode just checked (an O_PATH fd cannot be read), not the
    // path, which the guest could swap meanwhile.
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let file =
        rustix::fs::open(proc_path.as_str(), flags, Mode::empty()).map_err(|e| fail(e.into()))?;
    let mut buf = Vec::new();
    std::fs::File::from(file)
        .take(MAX_ACCOUNT_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(fail)?;
    if buf.len() as u64 > MAX_ACCOUNT_FILE {
        return Err(Error::TooLarge { file: rel });
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::symlink;

    const PASSWD_TEXT: &str = "\
# comment line
root:x:0:0:root:/root:/bin/bash

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line without fields
bad:x:notanumber:1::/:/bin/sh
+nisuser::::::
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
noshell:x:1001:1001::relative/home:
";
    const GROUP_TEXT: &str = "\
root:x:0:
# comment
staff:x:50:alice
audio:x:29:bob, alice
alice:x:1000:
dup:x:50:alice
video:x:44:alice,carol
garbage
nogroup:x:65534:
";

    fn res(spec: &str) -> Result<GuestUser, Error> {
        resolve(&Spec::parse(spec)?, PASSWD_TEXT, GROUP_TEXT)
    }

    fn bare(spec: &str) -> Result<GuestUser, Error> {
        resolve(&Spec::parse(spec)?, "", "")
    }

    #[test]
    fn name_gives_the_passwd_entry_and_supplementary_groups() {
        let u = res("alice").unwrap();
        assert_eq!((u.uid, u.gid, u.name.as_str()), (1000, 1000, "alice"));
        assert_eq!(u.home, PathBuf::from("/home/alice"));
        assert_eq!(u.shell, Some(PathBuf::from("/bin/zsh")));
        // staff, audio (member list with a space), video; dup has staff's gid.
        assert_eq!(u.groups, vec![50, 29, 44]);
    }

    #[test]
    fn numeric_uid_in_passwd_gives_its_entry() {
        let u = res("1000").unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.home, PathBuf::from("/home/alice"));
        assert_eq!(u.groups, vec![50, 29, 44]);
    }

    #[test]
    fn numeric_uid_not_in_passwd_is_bare() {
        let u = res("4242").unwrap();
        assert_eq!(u, GuestUser::numeric(4242));
        assert_eq!((u.gid, u.name.as_str()), (0, "4242"));
        assert_eq!(u.home, PathBuf::from("/"));
        assert_eq!(u.shell, None);
    }

    #[test]
    fn name_colon_group_name() {
        let u = res("alice:video").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 44));
        // The primary group is not repeated among the supplementary ones.
        assert_eq!(u.groups, vec![50, 29]);
    }

    #[test]
    fn name_colon_gid() {
        let u = res("alice:7").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 7));
        assert_eq!(u.groups, vec![50, 29, 44]);
    }

    #[test]
    fn uid_colon_gid() {
        let u = res("1000:1000").unwrap();
        assert_eq!((u.uid, u.gid, u.name.as_str()), (1000, 1000, "alice"));
        let u = res("5000:6000").unwrap();
        assert_eq!((u.uid, u.gid, u.name.as_str()), (5000, 6000, "5000"));
    }

    #[test]
    fn uid_colon_group_name() {
        let u = res("5000:staff").unwrap();
        assert_eq!((u.uid, u.gid), (5000, 50));
        assert!(u.groups.is_empty());
    }

    #[test]
    fn default_is_root() {
        let u = resolve(&Spec::parse("root").unwrap(), PASSWD_TEXT, GROUP_TEXT).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.shell, Some(PathBuf::from("/bin/bash")));
    }

    #[test]
    fn empty_and_relative_fields() {
        let u = res("noshell").unwrap();
        assert_eq!(u.shell, None);
        assert_eq!(u.home, PathBuf::from("/"));
    }

    #[test]
    fn malformed_and_nis_lines_are_skipped() {
        assert!(matches!(res("bad"), Err(Error::UnknownUser(n)) if n == "bad"));
        assert!(matches!(res("+nisuser"), Err(Error::UnknownUser(_))));
        assert!(matches!(res("garbage:garbage"), Err(Error::UnknownUser(_))));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(res("mallory"), Err(Error::UnknownUser(n)) if n == "mallory"));
        assert!(matches!(res("alice:wheel"), Err(Error::UnknownGroup(n)) if n == "wheel"));
        let hint = Error::UnknownUser("x".into()).hint().unwrap();
        assert!(hint.contains("-u 1000"), "{hint}");
    }

    #[test]
    fn without_passwd_only_numbers_and_root_work() {
        assert_eq!(bare("root").unwrap(), GuestUser::root());
        assert_eq!(bare("0").unwrap(), GuestUser::root());
        assert_eq!(bare("root:root").unwrap(), GuestUser::root());
        let u = bare("1000:100").unwrap();
        assert_eq!((u.uid, u.gid, u.name.as_str()), (1000, 100, "1000"));
        assert!(matches!(bare("alice"), Err(Error::UnknownUser(_))));
        assert!(matches!(bare("1000:users"), Err(Error::UnknownGroup(_))));
    }

    #[test]
    fn invalid_specs() {
        for s in [
            "",
            ":",
            ":100",
            "alice:",
            "a:b:c",
            "4294967295",
            "1:4294967295",
            "99999999999",
        ] {
            assert!(
                matches!(Spec::parse(s), Err(Error::InvalidUser(_))),
                "{s:?}"
            );
        }
        assert_eq!(
            Spec::parse("+5").unwrap(),
            Spec {
                user: Id::Name("+5"),
                group: None
            }
        );
    }

    // Rootfs-backed tests: the real read path through open_in_root.

    fn rootfs() -> (tempfile::TempDir, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        let fd = rustix::fs::open(
            t.path(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (t, fd)
    }

    const MODES: [ResolveMode; 2] = [ResolveMode::Auto, ResolveMode::Walk];

    #[test]
    fn reads_the_rootfs_files() {
        let (t, fd) = rootfs();
        std::fs::write(t.path().join("etc/passwd"), PASSWD_TEXT).unwrap();
        std::fs::write(t.path().join("etc/group"), GROUP_TEXT).unwrap();
        let u = resolve_user(Some("alice:staff"), fd.as_fd()).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert_eq!(u.groups, vec![29, 44]);
        let root = resolve_user(None, fd.as_fd()).unwrap();
        assert_eq!(root.shell, Some(PathBuf::from("/bin/bash")));
    }

    #[test]
    fn missing_files_are_tolerated() {
        let (_t, fd) = rootfs();
        assert_eq!(resolve_user(None, fd.as_fd()).unwrap(), GuestUser::root());
        let u = resolve_user(Some("1234:99"), fd.as_fd()).unwrap();
        assert_eq!((u.uid, u.gid), (1234, 99));
        assert!(matches!(
            resolve_user(Some("alice"), fd.as_fd()),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn absolute_symlink_reads_the_rootfs_file_not_the_hosts() {
        for mode in MODES {
            let (t, fd) = rootfs();
            let etc = t.path().join("etc");
            std::fs::write(etc.join("passwd.real"), "guest:x:4321:4321::/g:/bin/sh\n").unwrap();
            symlink("/etc/passwd.real", etc.join("passwd")).unwrap();
            // Relative escapes clamp at the rootfs too.
            std::fs::write(etc.join("group.real"), "grp:x:77:guest\n").unwrap();
            symlink("../../../../../../etc/group.real", etc.join("group")).unwrap();
            let u = resolve_user_with(Some("guest"), fd.as_fd(), mode).unwrap();
            assert_eq!((u.uid, u.groups.as_slice()), (4321, &[77][..]));
            // The host's root entry is not what gets read: the rootfs has none,
            // so root is the built-in one without a shell.
            let root = resolve_user_with(None, fd.as_fd(), mode).unwrap();
            assert_eq!(root, GuestUser::root());
        }
    }

    #[test]
    fn symlink_to_a_missing_host_path_is_absent() {
        for mode in MODES {
            let (t, fd) = rootfs();
            // /etc/passwd exists on the host but not inside this rootfs.
            symlink("/etc/passwd", t.path().join("etc/passwd")).unwrap();
            assert!(Path::new("/etc/passwd").exists());
            let root = resolve_user_with(None, fd.as_fd(), mode).unwrap();
            assert_eq!(root, GuestUser::root());
        }
    }

    #[test]
    fn non_regular_files_are_ignored() {
        let (t, fd) = rootfs();
        std::fs::create_dir(t.path().join("etc/passwd")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            t.path().join("etc/group"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert_eq!(resolve_user(None, fd.as_fd()).unwrap(), GuestUser::root());
    }

    #[test]
    fn oversized_file_is_refused() {
        let (t, fd) = rootfs();
        let f = std::fs::File::create(t.path().join("etc/passwd")).unwrap();
        f.set_len(MAX_ACCOUNT_FILE + 1).unwrap();
        assert!(matches!(
            resolve_user(None, fd.as_fd()),
            Err(Error::TooLarge { file: "etc/passwd" })
        ));
    }
}
