//! File-system operations on trees the caller owns.

pub mod du;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Deletes a tree, restoring owner permissions on the way where a
/// `chmod 000` directory blocks deletion (std's removal already refuses to
/// follow symlinks). A missing tree is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return std::fs::remove_file(path),
        Ok(_) => {}
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path)?;
            std::fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

fn make_dirs_writable(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_dirs_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// Mount points at or below `dir`, from `/proc/self/mountinfo`.
///
/// A tree with something mounted inside must never be deleted or moved:
/// deletion would descend into a bind-mounted host directory.
pub fn mounts_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| std::path::PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(&dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Calls `visit` for every entry below `root` (children before parents),
/// without following symlinks or crossing into other file systems.
pub fn walk_post_order(root: &Path, visit: &mut dyn FnMut(&Path)) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::symlink_metadata(root)?.dev();
    fn go(dir: &Path, dev: u64, visit: &mut dyn FnMut(&Path)) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() && meta.dev() == dev {
                go(&path, dev, visit)?;
            }
            visit(&path);
        }
        Ok(())
    }
    go(root, dev, visit)?;
    visit(root);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/x\\"), "/x\\");
    }

    #[test]
    fn root_mount_is_found() {
        assert!(mounts_under(Path::new("/")).contains(&std::path::PathBuf::from("/")));
    }

    /// Runs `f` in a forked child without the capabilities that bypass
    /// permission bits, so root meets the same 000 modes a user does (with
    /// them, the first removal just succeeds and the code under test never
    /// runs). Returns the child's exit code: `f`'s, or 101 if it panicked.
    fn without_dac_override(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only drops capabilities, runs `f` and `_exit`s;
        // glibc keeps malloc usable after fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                use caps::{CapSet, Capability as C};
                for cap in [C::CAP_DAC_OVERRIDE, C::CAP_DAC_READ_SEARCH, C::CAP_FOWNER] {
                    caps::drop(None, CapSet::Effective, cap).unwrap();
                }
                f()
            }))
            .unwrap_or(101);
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    #[test]
    fn removes_chmod_000_subtrees() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/f"), b"x").unwrap();
        std::fs::set_permissions(root.join("a/b"), std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::set_permissions(root.join("a"), std::fs::Permissions::from_mode(0o500)).unwrap();
        let code = without_dac_override(|| {
            // The tree really is out of reach without the fix-ups.
            assert_eq!(
                std::fs::read_dir(root.join("a/b")).unwrap_err().kind(),
                std::io::ErrorKind::PermissionDenied
            );
            remove_tree(&root).unwrap();
            assert!(!root.exists());
            remove_tree(&root).unwrap();
            0
        });
        assert_eq!(code, 0, "removal as a process without CAP_DAC_OVERRIDE");
        assert!(!root.exists());
    }
}
