//! What a session executes, and where.

use super::{Error, GuestUser};
use crate::store::RuntimeConfig;
use crate::unpack::{open_in_root, ResolveMode};
use rustix::fs::{fstat, FileType};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// The shell used when the account has none that can run a command.
pub const FALLBACK_SHELL: &str = "/bin/sh";

/// The account's shell when it can run commands: set, present in the
/// rootfs (`exists`), and not `nologin` or `false`; else [`FALLBACK_SHELL`].
///
/// The same rule serves interactive logins: chroot-distro enters the
/// container as an administrator would with `su -s`, so an account locked
/// with `nologin` still gets a shell instead of a refusal.
pub fn usable_shell(user: &GuestUser, exists: &dyn Fn(&Path) -> bool) -> PathBuf {
    user.shell
        .as_deref()
        .filter(|s| {
            let base = s.file_name().and_then(|b| b.to_str()).unwrap_or("");
            !matches!(base, "nologin" | "false") && exists(s)
        })
        .map_or_else(|| PathBuf::from(FALLBACK_SHELL), Path::to_path_buf)
}

/// The `login` command: the shell as a login shell (`-l`) without words;
/// with words, exactly those words as the argument vector, as `docker
/// exec` and chroot-distro 3.2 run them: no re-splitting, no expansion
/// (`-- sh -c 'echo hi > /tmp/x'` for shell syntax).
pub fn login_command(
    user: &GuestUser,
    words: &[String],
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    if !words.is_empty() {
        return words.to_vec();
    }
    let shell = usable_shell(user, exists).to_string_lossy().into_owned();
    vec![shell, "-l".into()]
}

/// An `exists` for [`login_command`]: `path` is a regular file inside the
/// rootfs (symlinks followed within it, as the guest would).
pub fn shell_exists_in(rootfs: BorrowedFd<'_>) -> impl Fn(&Path) -> bool + '_ {
    move |path| {
        open_in_root(rootfs, path, ResolveMode::Auto)
            .and_then(|fd| Ok(fstat(&fd)?))
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
    }
}

/// The `run` command, exactly the reference's table:
///
/// | Image              | Args    | Command              |
/// |--------------------|---------|----------------------|
/// | Entrypoint + Cmd   | none    | Entrypoint + Cmd     |
/// | Entrypoint + Cmd   | ARGS    | Entrypoint + ARGS    |
/// | only Cmd           | none    | Cmd                  |
/// | only Cmd           | ARGS    | ARGS                 |
/// | only Entrypoint    | none    | Entrypoint           |
/// | only Entrypoint    | ARGS    | Entrypoint + ARGS    |
/// | neither            | none    | error                |
/// | neither            | ARGS    | ARGS                 |
///
/// An empty Entrypoint or Cmd counts as absent.
pub fn run_command(config: Option<&RuntimeConfig>, args: &[String]) -> Result<Vec<String>, Error> {
    let present = |v: Option<&Vec<String>>| v.filter(|v| !v.is_empty()).cloned();
    let entrypoint = present(config.and_then(|c| c.entrypoint.as_ref()));
    let cmd = present(config.and_then(|c| c.cmd.as_ref()));
    let tail = if args.is_empty() {
        cmd
    } else {
        Some(args.to_vec())
    };
    match (entrypoint, tail) {
        (Some(mut e), tail) => {
            e.extend(tail.unwrap_or_default());
            Ok(e)
        }
        (None, Some(tail)) => Ok(tail),
        (None, None) => Err(Error::NothingToRun),
    }
}

/// The initial directory: `-w` when given (absolute, else an error); for
/// `run` the image's `WorkingDir` (ignored unless absolute), else `/`; for
/// `login` the user's home.
pub fn work_dir(
    user: &GuestUser,
    config: Option<&RuntimeConfig>,
    explicit: Option<&str>,
    is_run: bool,
) -> Result<PathBuf, Error> {
    if let Some(dir) = explicit {
        return match Path::new(dir).is_absolute() {
            true => Ok(PathBuf::from(dir)),
            false => Err(Error::RelativeWorkDir(dir.to_owned())),
        };
    }
    if !is_run {
        return Ok(user.home.clone());
    }
    let image = config
        .and_then(|c| c.working_dir.as_deref())
        .filter(|d| Path::new(d).is_absolute());
    Ok(PathBuf::from(image.unwrap_or("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn user_with_shell(shell: Option<&str>) -> GuestUser {
        GuestUser {
            shell: shell.map(PathBuf::from),
            ..GuestUser::root()
        }
    }

    fn everything(_: &Path) -> bool {
        true
    }

    #[test]
    fn login_without_words_is_a_login_shell() {
        let u = user_with_shell(Some("/bin/zsh"));
        assert_eq!(login_command(&u, &[], &everything), v(&["/bin/zsh", "-l"]));
    }

    #[test]
    fn login_with_words_runs_exactly_those_words() {
        let u = user_with_shell(Some("/bin/bash"));
        let words = v(&["echo", "$HOME", "a  b", "*", "", "> /tmp/x"]);
        assert_eq!(login_command(&u, &words, &everything), words);
    }

    #[test]
    fn nologin_false_and_missing_shells_fall_back_to_bin_sh() {
        for shell in [
            None,
            Some("/usr/sbin/nologin"),
            Some("/sbin/nologin"),
            Some("/bin/false"),
            Some("/usr/bin/false"),
        ] {
            let u = user_with_shell(shell);
            assert_eq!(
                login_command(&u, &[], &everything),
                v(&["/bin/sh", "-l"]),
                "{shell:?}"
            );
        }
    }

    #[test]
    fn shell_absent_from_rootfs_falls_back() {
        let u = user_with_shell(Some("/bin/zsh"));
        let only_bash = |p: &Path| p == Path::new("/bin/bash");
        assert_eq!(login_command(&u, &[], &only_bash), v(&["/bin/sh", "-l"]));
        // A name merely ending in "false" is still a shell.
        let u = user_with_shell(Some("/bin/nofalse"));
        assert_eq!(usable_shell(&u, &everything), PathBuf::from("/bin/nofalse"));
    }

    #[test]
    fn shell_exists_in_follows_symlinks_inside_the_rootfs() {
        use rustix::fs::{Mode, OFlags};
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
        std::fs::write(t.path().join("usr/bin/bash"), b"").unwrap();
        std::os::unix::fs::symlink("usr/bin", t.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/bash", t.path().join("usr/bin/sh")).unwrap();
        let fd = rustix::fs::open(
            t.path(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let exists = shell_exists_in(fd.as_fd());
        assert!(exists(Path::new("/bin/bash")));
        assert!(exists(Path::new("/bin/sh")));
        assert!(!exists(Path::new("/bin/zsh")));
        assert!(!exists(Path::new("/usr/bin")), "directories are not shells");
    }

    fn config(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: entrypoint.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    #[test]
    fn run_table_row_by_row() {
        let e: &[&str] = &["/entry", "--flag"];
        let c: &[&str] = &["default", "cmd"];
        let args = v(&["my", "args"]);
        let both = config(Some(e), Some(c));
        let only_cmd = config(None, Some(c));
        let only_entry = config(Some(e), None);
        let neither = config(None, None);
        let run = |c: &RuntimeConfig, a: &[String]| run_command(Some(c), a);
        // Entrypoint + Cmd
        assert_eq!(
            run(&both, &[]).unwrap(),
            v(&["/entry", "--flag", "default", "cmd"])
        );
        assert_eq!(
            run(&both, &args).unwrap(),
            v(&["/entry", "--flag", "my", "args"])
        );
        // Only Cmd
        assert_eq!(run(&only_cmd, &[]).unwrap(), v(&["default", "cmd"]));
        assert_eq!(run(&only_cmd, &args).unwrap(), args);
        // Only Entrypoint
        assert_eq!(run(&only_entry, &[]).unwrap(), v(&["/entry", "--flag"]));
        assert_eq!(
            run(&only_entry, &args).unwrap(),
            v(&["/entry", "--flag", "my", "args"])
        );
        // Neither
        assert!(matches!(run(&neither, &[]), Err(Error::NothingToRun)));
        assert_eq!(run(&neither, &args).unwrap(), args);
    }

    #[test]
    fn run_treats_empty_vectors_and_no_config_as_absent() {
        let empty = config(Some(&[]), Some(&[]));
        assert!(matches!(
            run_command(Some(&empty), &[]),
            Err(Error::NothingToRun)
        ));
        let cmd_only = config(Some(&[]), Some(&["sh"]));
        assert_eq!(run_command(Some(&cmd_only), &[]).unwrap(), v(&["sh"]));
        let entry_only = config(Some(&["/e"]), Some(&[]));
        assert_eq!(
            run_command(Some(&entry_only), &v(&["x"])).unwrap(),
            v(&["/e", "x"])
        );
        assert!(matches!(run_command(None, &[]), Err(Error::NothingToRun)));
        assert_eq!(run_command(None, &v(&["ls"])).unwrap(), v(&["ls"]));
    }

    #[test]
    fn work_dir_rules() {
        let alice = GuestUser {
            home: PathBuf::from("/home/alice"),
            ..GuestUser::root()
        };
        let image = RuntimeConfig {
            working_dir: Some("/srv/app".into()),
            ..Default::default()
        };
        let relative = RuntimeConfig {
            working_dir: Some("app".into()),
            ..Default::default()
        };
        let wd = |c, e, run| work_dir(&alice, c, e, run);
        assert_eq!(wd(None, None, false).unwrap(), PathBuf::from("/home/alice"));
        assert_eq!(
            wd(Some(&image), None, false).unwrap(),
            PathBuf::from("/home/alice")
        );
        assert_eq!(
            wd(Some(&image), None, true).unwrap(),
            PathBuf::from("/srv/app")
        );
        assert_eq!(wd(Some(&relative), None, true).unwrap(), PathBuf::from("/"));
        assert_eq!(wd(None, None, true).unwrap(), PathBuf::from("/"));
        for run in [false, true] {
            assert_eq!(
                wd(Some(&image), Some("/tmp"), run).unwrap(),
                PathBuf::from("/tmp")
            );
            assert!(matches!(
                wd(Some(&image), Some("tmp"), run),
                Err(Error::RelativeWorkDir(d)) if d == "tmp"
            ));
        }
    }
}
