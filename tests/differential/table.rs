//! The scenarios of the differential test (tests/differential.rs), as
//! data: each runs once against the Python chroot-distro 3.2.0 and once
//! against ours, each tool with its own store, and says what must match.
//! Where ours differs on purpose, the scenario names the [`Difference`];
//! every deliberate one has a line in the README's "Differences from the
//! Python tool" section (a test checks that its key is there).
//!
//! Words in `args` may hold placeholders that the harness fills in:
//! `{busybox}` (the rig's busybox image in its open registry), `{zstd}`,
//! `{multi}`, `{debian}`, `{rootfs_tar}`, `{oci_archive}`,
//! `{docker_archive}` (the rig's fixtures), `{layer_url}` (the https URL of
//! the busybox image's first layer blob: a plain rootfs tarball),
//! `{foreign_arch}`/`{foreign_platform}` (the multi-arch fixture's other
//! architecture: `aarch64`/`arm64` on x86_64 and the other way round),
//! `{long}` (100 000 `x`), `{hostdir}` (a host directory under /tmp holding `file`, "hello from
//! the host\n", for binds).

/// The store a scenario starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing installed.
    Empty,
    /// `bb`, installed from the rig's registry, shared by every `Shared`
    /// scenario: their commands must leave the store as it was.
    Shared,
    /// Its own fresh store with `bb` installed from the rig's registry.
    Fresh,
}

/// What is compared besides the exit status (always compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    Code,
    /// Standard output, with each side's store path written `{store}`.
    Stdout,
    /// The named container's rootfs (tree digest: paths, types, modes,
    /// owners, link targets, contents, xattrs, hard links).
    Tree(&'static str),
    /// The named container's manifest.json, as JSON.
    Manifest(&'static str),
    /// The installed containers afterwards (`list -q` of each tool).
    Names,
}

/// A way ours behaves differently from 3.2.
#[derive(Debug)]
pub struct Difference {
    /// A short name, quoted in the README.
    pub key: &'static str,
    /// What differs and why.
    pub why: &'static str,
    /// True: on purpose, listed in the README. False: ours lacks something
    /// still (`why` says until when); flip the scenario once it matches.
    pub deliberate: bool,
}

#[derive(Debug)]
pub enum Expect {
    /// Every compared aspect matches.
    Same,
    /// Exactly the aspects in `on` differ (and, for a tree, exactly the
    /// paths in `paths`), because of `because`.
    Differs {
        because: &'static [&'static Difference],
        on: &'static [Aspect],
        paths: &'static [&'static str],
    },
}

#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub start: Start,
    /// Run on both sides first; each must succeed.
    pub before: &'static [&'static [&'static str]],
    pub args: &'static [&'static str],
    /// Extra environment for the compared command.
    pub env: &'static [(&'static str, &'static str)],
    pub check: &'static [Aspect],
    pub expect: Expect,
}

// --- The differences -------------------------------------------------------

pub const USAGE_EXIT_2: Difference = Difference {
    key: "usage-exit-2",
    why: "a usage error (unknown command or option, a missing or extra argument, \
          an invalid container name) exits 2, as our exit-code table says; 3.2 exits 1",
    deliberate: true,
};
pub const XATTRS_KEPT: Difference = Difference {
    key: "xattrs-kept",
    why: "extended attributes of image files are kept, file capabilities included \
          (a `ping` keeps cap_net_raw); 3.2 drops them",
    deliberate: true,
};
pub const HARD_LINKS_KEPT: Difference = Difference {
    key: "hard-links-kept",
    why: "a hard link in an image stays one file; 3.2 writes a second copy",
    deliberate: true,
};
pub const ETC_HOSTS: Difference = Difference {
    key: "etc-hosts",
    why: "the /etc/hosts written at install has the localhost lines only; 3.2 \
          writes a longer template",
    deliberate: true,
};
pub const LOGIN_EDITS_NOTHING: Difference = Difference {
    key: "login-edits-nothing",
    why: "a login never writes to the guest's files; 3.2 appends the container's \
          and the host's names to /etc/hosts, and `-u UID` rewrites that user's \
          /etc/passwd entry",
    deliberate: true,
};
pub const TABLES_ON_STDOUT: Difference = Difference {
    key: "tables-on-stdout",
    why: "`list` and `ps` print their tables on stdout, where a script reads them; \
          3.2 prints them on stderr",
    deliberate: true,
};
pub const NO_SHELL_BETWEEN: Difference = Difference {
    key: "no-shell-between",
    why: "`login NAME -- CMD …` executes CMD itself, as `docker exec` does: a word \
          starting with `-` is a program name and a shell builtin with no binary \
          (`pwd` in busybox) is not found (127); 3.2 hands the words to the guest's \
          /bin/sh",
    deliberate: true,
};
pub const USER_GROUP: Difference = Difference {
    key: "user-group",
    why: "`-u name:group` and `-u uid:gid` run with that group even when the user \
          has a passwd entry; 3.2 keeps the passwd entry's group",
    deliberate: true,
};
pub const NUMERIC_UID_GID: Difference = Difference {
    key: "numeric-uid-gid",
    why: "`-u UID` with no passwd entry runs with group 0, as Docker does; 3.2 uses \
          the UID as the group",
    deliberate: true,
};
pub const WORKDIR_RELATIVE: Difference = Difference {
    key: "workdir-relative",
    why: "a relative `-w` is refused (exit 1); 3.2 ignores it and starts in /",
    deliberate: true,
};
pub const ENV_NEEDS_VALUE: Difference = Difference {
    key: "env-needs-value",
    why: "`-e VAR` without `=VALUE` is refused (exit 1); 3.2 sets VAR to the empty string",
    deliberate: true,
};
pub const IMAGE_PATH: Difference = Difference {
    key: "image-path",
    why: "a session's PATH is the image's `Env` PATH as it is; 3.2 appends \
          /usr/local/games:/usr/games",
    deliberate: true,
};
pub const GET_CHROOT_CMD: Difference = Difference {
    key: "get-chroot-cmd",
    why: "`--get-chroot-cmd` prints our own setup script (unshare, mounts, chroot); \
          3.2 prints its `sudo env … chroot` line",
    deliberate: true,
};
pub const DOCKER_ARCHIVE: Difference = Difference {
    key: "docker-archive",
    why: "a `docker save` archive is installed as the image it holds; 3.2 unpacks \
          the archive's own files (layer tarballs, json) as the rootfs",
    deliberate: true,
};
pub const REMOVE_GOES_ON: Difference = Difference {
    key: "remove-goes-on",
    why: "`remove a b` with `a` unknown reports it and still removes `b` (exit 1); \
          3.2 stops at the first unknown name and removes nothing",
    deliberate: true,
};
pub const DEV_TMPFS: Difference = Difference {
    key: "dev-tmpfs",
    why: "a session's fresh /dev is mounted `noexec` too and has Docker's \
          `core -> /proc/kcore` link",
    deliberate: true,
};
pub const BIND_OPTION_UNKNOWN: Difference = Difference {
    key: "bind-option-unknown",
    why: "an unknown option in `-b SRC:DEST:OPTIONS` is a usage error (exit 2); \
          3.2 drops it and binds anyway",
    deliberate: true,
};
pub const WORKDIR_UNENTERABLE: Difference = Difference {
    key: "workdir-unenterable",
    why: "a `-w` that is a file, or a directory the session's user cannot enter, \
          stops the session (exit 125), as in Docker; 3.2 starts it in `/`",
    deliberate: true,
};
pub const BIND_NOSUID: Difference = Difference {
    key: "bind-nosuid",
    why: "`-b` binds are always `nosuid,nodev`, as Docker's are; 3.2 binds them as they are",
    deliberate: true,
};
pub const NUMERIC_USER_NAME: Difference = Difference {
    key: "numeric-user-name",
    why: "`-u UID` of a user in /etc/passwd sets USER (and LOGNAME) to the user's \
          name; 3.2 sets USER to the number",
    deliberate: true,
};
pub const LOGNAME_SET: Difference = Difference {
    key: "logname-set",
    why: "a session has LOGNAME, as login(1) sets it; 3.2 leaves it unset",
    deliberate: true,
};
pub const ARCH_MISSING: Difference = Difference {
    key: "arch-missing",
    why: "`install -a ARCH` of an image that has no ARCH variant is refused, naming \
          the ones it has; 3.2 installs the variant the registry serves",
    deliberate: true,
};
pub const LOCKED_SHELL: Difference = Difference {
    key: "locked-shell",
    why: "`login -u USER` without a command, for an account whose shell is \
          `nologin` or `false`, starts /bin/sh as `su -s` would; 3.2 runs that \
          shell, which exits 1",
    deliberate: true,
};
pub const COMMAND_PENDING: Difference = Difference {
    key: "command-pending",
    why: "the command answers 'not implemented in this build yet' (exit 3): until \
          its issue lands",
    deliberate: false,
};
pub const VERSION: Difference = Difference {
    key: "version",
    why: "`--version` names this program and its own version",
    deliberate: true,
};

/// Every difference the table uses, for the README check.
pub const DIFFERENCES: &[&Difference] = &[
    &USAGE_EXIT_2,
    &XATTRS_KEPT,
    &HARD_LINKS_KEPT,
    &ETC_HOSTS,
    &LOGIN_EDITS_NOTHING,
    &TABLES_ON_STDOUT,
    &NO_SHELL_BETWEEN,
    &USER_GROUP,
    &NUMERIC_UID_GID,
    &WORKDIR_RELATIVE,
    &ENV_NEEDS_VALUE,
    &IMAGE_PATH,
    &GET_CHROOT_CMD,
    &DOCKER_ARCHIVE,
    &REMOVE_GOES_ON,
    &DEV_TMPFS,
    &NUMERIC_USER_NAME,
    &LOGNAME_SET,
    &ARCH_MISSING,
    &LOCKED_SHELL,
    &BIND_OPTION_UNKNOWN,
    &BIND_NOSUID,
    &WORKDIR_UNENTERABLE,
    &COMMAND_PENDING,
    &VERSION,
];

// --- Shorthands ------------------------------------------------------------

use Aspect::{Code, Manifest, Names, Stdout, Tree};
use Start::{Empty, Fresh, Shared};

const fn same(
    name: &'static str,
    start: Start,
    args: &'static [&'static str],
    check: &'static [Aspect],
) -> Scenario {
    Scenario {
        name,
        start,
        before: &[],
        args,
        env: &[],
        check,
        expect: Expect::Same,
    }
}

const fn differs(
    name: &'static str,
    start: Start,
    args: &'static [&'static str],
    check: &'static [Aspect],
    because: &'static [&'static Difference],
    on: &'static [Aspect],
) -> Scenario {
    Scenario {
        name,
        start,
        before: &[],
        args,
        env: &[],
        check,
        expect: Expect::Differs {
            because,
            on,
            paths: &[],
        },
    }
}

/// The busybox fixture's paths where an install by ours differs from 3.2's.
const INSTALL_TREE_PATHS: &[&str] = &["bin/capfile", "data/hardlink", "data/xattr", "etc/hosts"];
const INSTALL_TREE: Expect = install_tree(&[Tree("bb")]);

/// The install differences, in the tree of a container built on the
/// busybox fixture (`on`: that container's tree): the built steps agree.
const fn install_tree(on: &'static [Aspect]) -> Expect {
    Expect::Differs {
        because: &[&XATTRS_KEPT, &HARD_LINKS_KEPT, &ETC_HOSTS],
        on,
        paths: INSTALL_TREE_PATHS,
    }
}

/// `sh -c` printing the numeric uid, gid and groups of the session.
const IDS: &str = "id -u; id -g; id -G";

// --- The scenarios ---------------------------------------------------------

pub const SCENARIOS: &[Scenario] = &[
    // install
    Scenario {
        name: "install from the registry",
        start: Empty,
        before: &[],
        args: &["install", "{busybox}", "-n", "bb", "-q"],
        env: &[],
        check: &[Stdout, Tree("bb"), Manifest("bb"), Names],
        expect: INSTALL_TREE,
    },
    Scenario {
        name: "install a rootfs tarball",
        start: Empty,
        before: &[],
        args: &["install", "{rootfs_tar}", "-n", "bb", "-q"],
        env: &[],
        check: &[Stdout, Tree("bb"), Names],
        expect: INSTALL_TREE,
    },
    Scenario {
        name: "install an OCI archive",
        start: Empty,
        before: &[],
        args: &["install", "{oci_archive}", "-n", "bb", "-q"],
        env: &[],
        check: &[Stdout, Tree("bb"), Names],
        expect: INSTALL_TREE,
    },
    Scenario {
        name: "install a docker-save archive",
        start: Empty,
        before: &[&["install", "{docker_archive}", "-n", "bb", "-q"]],
        args: &["login", "bb", "--", "cat", "/etc/motd"],
        env: &[],
        check: &[Stdout, Names],
        expect: Expect::Differs {
            because: &[&DOCKER_ARCHIVE],
            on: &[Code, Stdout],
            paths: &[],
        },
    },
    Scenario {
        name: "install zstd layers",
        start: Empty,
        before: &[],
        args: &["install", "{zstd}", "-n", "bb", "-q"],
        env: &[],
        check: &[Stdout, Tree("bb"), Manifest("bb"), Names],
        expect: INSTALL_TREE,
    },
    Scenario {
        name: "install a Debian minbase image",
        start: Empty,
        before: &[],
        args: &["install", "{debian}", "-n", "deb", "-q"],
        env: &[],
        check: &[Stdout, Tree("deb"), Manifest("deb"), Names],
        expect: Expect::Differs {
            because: &[&HARD_LINKS_KEPT, &ETC_HOSTS],
            on: &[Tree("deb")],
            paths: &["etc/hosts", "usr/bin/perl5.36.0", "usr/bin/uncompress"],
        },
    },
    Scenario {
        name: "install a foreign architecture from a multi-arch index",
        start: Empty,
        before: &[],
        args: &[
            "install",
            "{multi}",
            "-a",
            "{foreign_arch}",
            "-n",
            "bb",
            "-q",
        ],
        env: &[],
        check: &[Stdout, Tree("bb"), Manifest("bb"), Names],
        expect: INSTALL_TREE,
    },
    same(
        "install -a as a Docker platform",
        Empty,
        &[
            "install",
            "{multi}",
            "-a",
            "linux/{foreign_platform}",
            "-n",
            "f",
            "-q",
        ],
        &[Stdout, Manifest("f"), Names],
    ),
    differs(
        "install -a an unknown architecture",
        Empty,
        &["install", "{busybox}", "-a", "sparc", "-n", "x", "-q"],
        &[Stdout, Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    differs(
        "install -a an architecture the image lacks",
        Empty,
        &[
            "install",
            "{busybox}",
            "-a",
            "{foreign_arch}",
            "-n",
            "x",
            "-q",
        ],
        &[Stdout, Names],
        &[&ARCH_MISSING],
        &[Code, Names],
    ),
    Scenario {
        name: "install a rootfs tarball from a URL",
        start: Empty,
        before: &[],
        args: &["install", "{layer_url}", "-n", "u", "-q"],
        env: &[],
        check: &[Stdout, Tree("u"), Names],
        expect: Expect::Differs {
            because: &[&ETC_HOSTS],
            on: &[Tree("u")],
            paths: &["etc/hosts"],
        },
    },
    same(
        "install takes its name from the image",
        Empty,
        &["install", "{busybox}", "-q"],
        &[Names],
    ),
    same(
        "install a multi-arch index for this host",
        Empty,
        &["install", "{multi}", "-n", "m", "-q"],
        &[Manifest("m"), Names],
    ),
    same(
        "install over an installed name",
        Fresh,
        &["install", "{busybox}", "-n", "bb", "-q"],
        &[Names],
    ),
    differs(
        "install with an invalid name",
        Empty,
        &["install", "{busybox}", "-n", "bad/name", "-q"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    same(
        "install a missing file",
        Empty,
        &["install", "/nonexistent/rootfs.tar.gz", "-q"],
        &[Names],
    ),
    same(
        "install an image the registry lacks",
        Empty,
        &["install", "127.0.0.1:5443/cd/nosuch:latest", "-q"],
        &[Names],
    ),
    // list
    same(
        "list -q of an empty store",
        Empty,
        &["list", "-q"],
        &[Stdout],
    ),
    same("list -q", Shared, &["list", "-q"], &[Stdout]),
    differs(
        "list prints a table",
        Shared,
        &["list"],
        &[Stdout],
        &[&TABLES_ON_STDOUT],
        &[Stdout],
    ),
    same("list -v", Shared, &["list", "-v"], &[]),
    differs(
        "list with an extra argument",
        Shared,
        &["list", "bb"],
        &[Stdout],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    // argv after --
    same(
        "login: quotes, $ and globs reach the command as they are",
        Shared,
        &[
            "login", "bb", "--", "echo", "$HOME", "a  b", "*", "'q'", "\"dq\"",
        ],
        &[Stdout],
    ),
    same(
        "login: empty arguments are kept",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "echo $#:$1:$2:$3",
            "zero",
            "",
            "x",
            "",
        ],
        &[Stdout],
    ),
    same(
        "login: non-ASCII arguments",
        Shared,
        &["login", "bb", "--", "echo", "grüße", "日本語", "émoji 🙂"],
        &[Stdout],
    ),
    same(
        "login: an argument starting with -",
        Shared,
        &["login", "bb", "--", "echo", "-e", "a\\tb", "--", "-n"],
        &[Stdout],
    ),
    differs(
        "login: a command starting with -",
        Shared,
        &["login", "bb", "--", "-x"],
        &[Stdout],
        &[&NO_SHELL_BETWEEN],
        &[Code],
    ),
    differs(
        "login: a shell builtin with no binary",
        Shared,
        &["login", "bb", "--", "pwd"],
        &[Stdout],
        &[&NO_SHELL_BETWEEN],
        &[Code, Stdout],
    ),
    same(
        "login: exit status of the command",
        Shared,
        &["login", "bb", "--", "sh", "-c", "exit 7"],
        &[],
    ),
    same(
        "login: command killed by SIGTERM",
        Shared,
        &["login", "bb", "--", "sh", "-c", "kill -TERM $$"],
        &[],
    ),
    same(
        "login: command killed by SIGKILL",
        Shared,
        &["login", "bb", "--", "sh", "-c", "kill -KILL $$"],
        &[],
    ),
    same(
        "login: command not found",
        Shared,
        &["login", "bb", "--", "nosuchcommand"],
        &[Stdout],
    ),
    same(
        "login: command not executable",
        Shared,
        &["login", "bb", "--", "/etc/motd"],
        &[Stdout],
    ),
    same(
        "login: stdout of a command that reads a file",
        Shared,
        &["login", "bb", "--", "cat", "/etc/motd", "/data/file"],
        &[Stdout],
    ),
    // -u
    same(
        "login -u name",
        Shared,
        &["login", "bb", "-u", "app", "--", "sh", "-c", IDS],
        &[Stdout],
    ),
    same(
        "login -u uid",
        Shared,
        &["login", "bb", "-u", "42", "--", "sh", "-c", IDS],
        &[Stdout],
    ),
    differs(
        "login -u name:group",
        Shared,
        &["login", "bb", "-u", "app:root", "--", "sh", "-c", IDS],
        &[Stdout],
        &[&USER_GROUP],
        &[Stdout],
    ),
    differs(
        "login -u uid:gid of a passwd user",
        Shared,
        &["login", "bb", "-u", "42:0", "--", "sh", "-c", IDS],
        &[Stdout],
        &[&USER_GROUP],
        &[Stdout],
    ),
    same(
        "login -u uid:gid unknown to passwd",
        Shared,
        &["login", "bb", "-u", "1234:99", "--", "sh", "-c", IDS],
        &[Stdout],
    ),
    differs(
        "login -u uid unknown to passwd",
        Shared,
        &["login", "bb", "-u", "1234", "--", "sh", "-c", IDS],
        &[Stdout],
        &[&NUMERIC_UID_GID],
        &[Stdout],
    ),
    differs(
        "login -u uid: USER and HOME",
        Shared,
        &[
            "login",
            "bb",
            "-u",
            "42",
            "--",
            "sh",
            "-c",
            "echo $HOME $USER",
        ],
        &[Stdout],
        &[&NUMERIC_USER_NAME],
        &[Stdout],
    ),
    same(
        "login -u uid unknown to passwd: USER and HOME",
        Shared,
        &[
            "login",
            "bb",
            "-u",
            "1234",
            "--",
            "sh",
            "-c",
            "echo $HOME $USER",
        ],
        &[Stdout],
    ),
    differs(
        "login: LOGNAME",
        Shared,
        &["login", "bb", "--", "sh", "-c", "echo ${LOGNAME-unset}"],
        &[Stdout],
        &[&LOGNAME_SET],
        &[Stdout],
    ),
    differs(
        "login -u to a user who cannot enter -w",
        Shared,
        &[
            "login", "bb", "-u", "app", "-w", "/root", "--", "sh", "-c", "pwd",
        ],
        &[Code, Stdout],
        &[&WORKDIR_UNENTERABLE],
        &[Code, Stdout],
    ),
    same(
        "run -u name unknown to passwd",
        Shared,
        &["run", "bb", "-u", "nosuchuser", "--", "true"],
        &[Stdout],
    ),
    same(
        "login -u name unknown to passwd",
        Shared,
        &["login", "bb", "-u", "nosuchuser", "--", "true"],
        &[Stdout],
    ),
    same(
        "login -u name: HOME, USER and the working directory",
        Shared,
        &[
            "login",
            "bb",
            "-u",
            "app",
            "--",
            "sh",
            "-c",
            "echo $HOME $USER; pwd",
        ],
        &[Stdout],
    ),
    // -w
    same(
        "login -w",
        Shared,
        &["login", "bb", "-w", "/data", "--", "sh", "-c", "pwd"],
        &[Stdout],
    ),
    same(
        "login -w to a missing directory",
        Shared,
        &["login", "bb", "-w", "/nonexistent", "--", "sh", "-c", "pwd"],
        &[Stdout],
    ),
    differs(
        "login -w to a file",
        Shared,
        &["login", "bb", "-w", "/etc/motd", "--", "sh", "-c", "pwd"],
        &[Code, Stdout],
        &[&WORKDIR_UNENTERABLE],
        &[Code, Stdout],
    ),
    differs(
        "login -w relative",
        Shared,
        &["login", "bb", "-w", "data", "--", "sh", "-c", "pwd"],
        &[Stdout],
        &[&WORKDIR_RELATIVE],
        &[Code, Stdout],
    ),
    // -e
    same(
        "login -e: the last of one name wins",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "FOO=1",
            "-e",
            "FOO=2",
            "--",
            "sh",
            "-c",
            "echo $FOO",
        ],
        &[Stdout],
    ),
    same(
        "login -e: a value with = and spaces",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "A=b=c  d",
            "--",
            "sh",
            "-c",
            "echo \"$A\"",
        ],
        &[Stdout],
    ),
    same(
        "login -e wins over the image's Env",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "PATH=/x:/bin",
            "--",
            "sh",
            "-c",
            "echo $PATH",
        ],
        &[Stdout],
    ),
    same(
        "login -e wins over HOME, USER, LOGNAME and TERM",
        Shared,
        &[
            "login",
            "bb",
            "-u",
            "app",
            "-e",
            "HOME=/tmp",
            "-e",
            "USER=u",
            "-e",
            "LOGNAME=l",
            "-e",
            "TERM=dumb",
            "--",
            "sh",
            "-c",
            "echo $HOME $USER $LOGNAME $TERM",
        ],
        &[Stdout],
    ),
    same(
        "login -e wins over HOSTNAME",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "HOSTNAME=h",
            "--",
            "sh",
            "-c",
            "echo $HOSTNAME",
        ],
        &[Stdout],
    ),
    same(
        "login: HOSTNAME is the container's name",
        Shared,
        &["login", "bb", "--", "sh", "-c", "echo $HOSTNAME"],
        &[Stdout],
    ),
    Scenario {
        name: "login: the caller's environment stays outside",
        start: Shared,
        before: &[],
        args: &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "echo ${CD_DIFF_SECRET-unset}",
        ],
        env: &[("CD_DIFF_SECRET", "host-only")],
        check: &[Stdout],
        expect: Expect::Same,
    },
    differs(
        "login -e without a value",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "NOVALUE",
            "--",
            "sh",
            "-c",
            "echo ${NOVALUE-unset}",
        ],
        &[Stdout],
        &[&ENV_NEEDS_VALUE],
        &[Code, Stdout],
    ),
    differs(
        "login: PATH from the image",
        Shared,
        &["login", "bb", "--", "sh", "-c", "echo $PATH"],
        &[Stdout],
        &[&IMAGE_PATH],
        &[Stdout],
    ),
    // other login options
    same(
        "login --no-new-privs",
        Shared,
        &[
            "login",
            "bb",
            "--no-new-privs",
            "--",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ],
        &[Stdout],
    ),
    Scenario {
        name: "login with CD_NO_NEW_PRIVS=1",
        start: Shared,
        before: &[],
        args: &[
            "login",
            "bb",
            "--",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ],
        env: &[("CD_NO_NEW_PRIVS", "1")],
        check: &[Stdout],
        expect: Expect::Same,
    },
    same(
        "login -b SRC:DEST",
        Shared,
        &[
            "login",
            "bb",
            "-b",
            "{hostdir}:/mnt/host",
            "--",
            "cat",
            "/mnt/host/file",
        ],
        &[Stdout],
    ),
    differs(
        "login -b with an unknown option",
        Shared,
        &[
            "login",
            "bb",
            "-b",
            "{hostdir}:/mnt/host:bogus",
            "--",
            "true",
        ],
        &[Code],
        &[&BIND_OPTION_UNKNOWN],
        &[Code],
    ),
    differs(
        "login -b: nosuid,nodev",
        Shared,
        &[
            "login",
            "bb",
            "-b",
            "{hostdir}:/mnt/host",
            "--",
            "sh",
            "-c",
            "grep ' /mnt/host ' /proc/mounts | grep -o 'nosuid,nodev'; true",
        ],
        &[Stdout],
        &[&BIND_NOSUID],
        &[Stdout],
    ),
    same(
        "login -b SRC:DEST:ro",
        Shared,
        &[
            "login",
            "bb",
            "-b",
            "{hostdir}:/mnt/host:ro",
            "--",
            "sh",
            "-c",
            "cat /mnt/host/file; touch /mnt/host/new 2>/dev/null; echo $?",
        ],
        &[Stdout],
    ),
    same(
        "login --isolated ignores -b",
        Shared,
        &[
            "login",
            "bb",
            "--isolated",
            "-b",
            "{hostdir}:/mnt/host",
            "--",
            "sh",
            "-c",
            "cat /mnt/host/file 2>/dev/null || echo not bound",
        ],
        &[Stdout],
    ),
    Scenario {
        name: "login with CD_USE_ISOLATION=1 ignores -b",
        start: Shared,
        before: &[],
        args: &[
            "login",
            "bb",
            "-b",
            "{hostdir}:/mnt/host",
            "--",
            "sh",
            "-c",
            "cat /mnt/host/file 2>/dev/null || echo not bound",
        ],
        env: &[("CD_USE_ISOLATION", "1")],
        check: &[Stdout],
        expect: Expect::Same,
    },
    same(
        "login --isolated: the hostname is the container's name",
        Shared,
        &[
            "login",
            "bb",
            "--isolated",
            "--",
            "cat",
            "/proc/sys/kernel/hostname",
        ],
        &[Stdout],
    ),
    same(
        "login --isolated: procfs with hidepid",
        Shared,
        &[
            "login",
            "bb",
            "--isolated",
            "--",
            "sh",
            "-c",
            "grep ' /proc ' /proc/mounts | grep -o 'hidepid=[a-z0-9]*'; true",
        ],
        &[Stdout],
    ),
    differs(
        "login: the fresh /dev, /proc and /sys",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "ls /dev | tr '\\n' ' '; echo; grep -E ' /(proc|dev|sys) ' /proc/mounts | sort",
        ],
        &[Stdout],
        &[&DEV_TMPFS],
        &[Stdout],
    ),
    same(
        "login: the host's directories stay outside",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "ls {hostdir} 2>&1; ls -d /root /tmp",
        ],
        &[Stdout],
    ),
    same(
        "login: /etc/resolv.conf comes from the host",
        Shared,
        &["login", "bb", "--", "cat", "/etc/resolv.conf"],
        &[Stdout],
    ),
    same(
        "login --shared-tmp",
        Shared,
        &["login", "bb", "--shared-tmp", "--", "cat", "{hostdir}/file"],
        &[Stdout],
    ),
    same(
        "login --shared-home",
        Shared,
        &[
            "login",
            "bb",
            "--shared-home",
            "--",
            "sh",
            "-c",
            "ls -a /root; echo $HOME",
        ],
        &[Stdout],
    ),
    Scenario {
        name: "login with CD_ENV",
        start: Shared,
        before: &[],
        args: &[
            "login",
            "bb",
            "-e",
            "B=flag",
            "--",
            "sh",
            "-c",
            "echo $A $B",
        ],
        env: &[("CD_ENV", "A=1\nB=2")],
        check: &[Stdout],
        expect: Expect::Same,
    },
    same(
        "login without a command reads its shell's stdin",
        Shared,
        &["login", "bb"],
        &[Stdout],
    ),
    differs(
        "login --get-chroot-cmd",
        Shared,
        &["login", "bb", "--get-chroot-cmd", "--", "echo", "a b"],
        &[Stdout],
        &[&GET_CHROOT_CMD],
        &[Stdout],
    ),
    differs(
        "login with an unknown option",
        Shared,
        &["login", "--no-such-option", "bb", "--", "true"],
        &[Stdout],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    same(
        "login to an unknown container",
        Shared,
        &["login", "nosuch", "--", "true"],
        &[Stdout],
    ),
    differs(
        "login to an invalid name",
        Shared,
        &["login", "bad/name", "--", "true"],
        &[Stdout],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    differs(
        "login without a container",
        Shared,
        &["login"],
        &[Stdout],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    // run
    same("run: the image's Cmd", Shared, &["run", "bb"], &[Stdout]),
    same(
        "run: arguments replace Cmd, exactly",
        Shared,
        &["run", "bb", "--", "/bin/echo", "a", "$b", "c  d", ""],
        &[Stdout],
    ),
    same(
        "run -u and -w",
        Shared,
        &[
            "run",
            "bb",
            "-u",
            "app",
            "-w",
            "/data",
            "--",
            "sh",
            "-c",
            "id -u; pwd",
        ],
        &[Stdout],
    ),
    same(
        "run: exit status of the command",
        Shared,
        &["run", "bb", "--", "sh", "-c", "exit 3"],
        &[Stdout],
    ),
    same(
        "run -e",
        Shared,
        &["run", "bb", "-e", "X=1", "--", "sh", "-c", "echo $X"],
        &[Stdout],
    ),
    same(
        "run an unknown container",
        Shared,
        &["run", "nosuch"],
        &[Stdout],
    ),
    // ps, unmount, kill
    same("ps -q with no session", Shared, &["ps", "-q"], &[Stdout]),
    differs(
        "ps with no session",
        Shared,
        &["ps"],
        &[Stdout],
        &[&TABLES_ON_STDOUT],
        &[Stdout],
    ),
    same(
        "unmount an idle container",
        Fresh,
        &["unmount", "bb"],
        &[Names],
    ),
    same("kill an idle container", Fresh, &["kill", "bb"], &[Names]),
    same(
        "unmount an unknown container",
        Shared,
        &["unmount", "nosuch"],
        &[],
    ),
    Scenario {
        name: "kill a container with a detached session",
        start: Fresh,
        before: &[&["run", "-d", "bb", "--", "sleep", "30"]],
        args: &["kill", "bb"],
        env: &[],
        check: &[Names],
        expect: Expect::Same,
    },
    Scenario {
        name: "ps -q after kill",
        start: Fresh,
        before: &[&["run", "-d", "bb", "--", "sleep", "30"], &["kill", "bb"]],
        args: &["ps", "-q"],
        env: &[],
        check: &[Stdout],
        expect: Expect::Same,
    },
    // rename
    same("rename", Fresh, &["rename", "bb", "bb2"], &[Names]),
    Scenario {
        name: "rename onto an installed name",
        start: Fresh,
        before: &[&["install", "{rootfs_tar}", "-n", "other", "-q"]],
        args: &["rename", "bb", "other"],
        env: &[],
        check: &[Names],
        expect: Expect::Same,
    },
    differs(
        "rename to an invalid name",
        Fresh,
        &["rename", "bb", "x/y"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    same(
        "rename an unknown container",
        Fresh,
        &["rename", "nosuch", "x"],
        &[Names],
    ),
    // remove
    same("remove", Fresh, &["remove", "bb"], &[Names]),
    Scenario {
        name: "remove several",
        start: Fresh,
        before: &[&["install", "{rootfs_tar}", "-n", "other", "-q"]],
        args: &["remove", "bb", "other"],
        env: &[],
        check: &[Names],
        expect: Expect::Same,
    },
    differs(
        "remove an unknown and an installed container",
        Fresh,
        &["remove", "nosuch", "bb"],
        &[Names],
        &[&REMOVE_GOES_ON],
        &[Names],
    ),
    same(
        "remove -q",
        Fresh,
        &["remove", "-q", "bb"],
        &[Stdout, Names],
    ),
    // reset
    Scenario {
        name: "reset restores the image's files",
        start: Fresh,
        before: &[&[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "echo changed > /etc/motd; rm /keep/x; mkdir /new",
        ]],
        args: &["reset", "bb", "-q"],
        env: &[],
        check: &[Stdout, Tree("bb"), Manifest("bb"), Names],
        expect: INSTALL_TREE,
    },
    same(
        "reset an unknown container",
        Empty,
        &["reset", "nosuch"],
        &[],
    ),
    // clear-cache, info, help
    same(
        "clear-cache",
        Fresh,
        &["clear-cache", "-q"],
        &[Stdout, Names],
    ),
    same("info", Shared, &["info"], &[]),
    differs(
        "info with a container name",
        Shared,
        &["info", "bb"],
        &[],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    Scenario {
        name: "login leaves the guest's files alone",
        start: Fresh,
        before: &[&["login", "bb", "--", "true"]],
        args: &["login", "bb", "-u", "42", "--", "true"],
        env: &[],
        check: &[Tree("bb")],
        expect: Expect::Differs {
            because: &[
                &XATTRS_KEPT,
                &HARD_LINKS_KEPT,
                &ETC_HOSTS,
                &LOGIN_EDITS_NOTHING,
            ],
            on: &[Tree("bb")],
            paths: &[
                "bin/capfile",
                "data/hardlink",
                "data/xattr",
                "etc/hosts",
                "etc/passwd",
            ],
        },
    },
    // more argv and I/O edges
    same(
        "login: quotes, backslashes and newlines inside arguments",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "printf '[%s]\\n' \"$@\"",
            "sh",
            "it's",
            "back\\slash",
            "two\nlines",
            "tab\there",
        ],
        &[Stdout],
    ),
    same(
        "login: a 100 000-byte argument",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "echo ${#1}",
            "sh",
            "{long}",
        ],
        &[Stdout],
    ),
    same(
        "login: stdout and stderr stay apart",
        Shared,
        &[
            "login",
            "bb",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; echo out2",
        ],
        &[Stdout],
    ),
    same(
        "login: stdin is the caller's (here empty)",
        Shared,
        &["login", "bb", "--", "sh", "-c", "read x; echo \"[$?:$x]\""],
        &[Stdout],
    ),
    same(
        "login -e: non-ASCII and newline values",
        Shared,
        &[
            "login",
            "bb",
            "-e",
            "G=grüße",
            "-e",
            "N=a\nb",
            "--",
            "sh",
            "-c",
            "echo \"$G|$N\"",
        ],
        &[Stdout],
    ),
    same(
        "login -w with a space, missing",
        Shared,
        &["login", "bb", "-w", "/no such dir", "--", "sh", "-c", "pwd"],
        &[Stdout],
    ),
    differs(
        "login -u nobody (shell /bin/false) without a command",
        Shared,
        &["login", "bb", "-u", "nobody"],
        &[Stdout],
        &[&LOCKED_SHELL],
        &[Code],
    ),
    same(
        "login -u app without a command",
        Shared,
        &["login", "bb", "-u", "app"],
        &[Stdout],
    ),
    // lifecycle
    Scenario {
        name: "login after rename",
        start: Fresh,
        before: &[&["rename", "bb", "bb2", "-q"]],
        args: &["login", "bb2", "--", "cat", "/etc/motd"],
        env: &[],
        check: &[Stdout, Names],
        expect: Expect::Same,
    },
    same(
        "rename to its own name",
        Fresh,
        &["rename", "bb", "bb"],
        &[Names],
    ),
    Scenario {
        name: "reset a container installed from a tarball",
        start: Empty,
        before: &[&["install", "{rootfs_tar}", "-n", "t", "-q"]],
        args: &["reset", "t", "-q"],
        env: &[],
        check: &[Names],
        expect: Expect::Same,
    },
    Scenario {
        name: "install the same image twice under two names",
        start: Fresh,
        before: &[],
        args: &["install", "{busybox}", "-n", "bb-two", "-q"],
        env: &[],
        check: &[Stdout, Names],
        expect: Expect::Same,
    },
    same(
        "run -d",
        Fresh,
        &["run", "-d", "bb", "--", "sh", "-c", "echo detached"],
        &[Names],
    ),
    same(
        "install -n of one character",
        Empty,
        &["install", "{rootfs_tar}", "-n", "a", "-q"],
        &[Names],
    ),
    same(
        "install -n starting with a digit",
        Empty,
        &["install", "{rootfs_tar}", "-n", "1abc", "-q"],
        &[Names],
    ),
    differs(
        "install -n empty",
        Empty,
        &["install", "{rootfs_tar}", "-n", "", "-q"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    differs(
        "install -n with a space",
        Empty,
        &["install", "{rootfs_tar}", "-n", "a b", "-q"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    differs(
        "install -n non-ASCII",
        Empty,
        &["install", "{rootfs_tar}", "-n", "débian", "-q"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    // commands ours does not have yet: flip each when it lands
    differs(
        "diff of a fresh container",
        Fresh,
        &["diff", "bb"],
        &[],
        &[&COMMAND_PENDING],
        &[Code],
    ),
    differs(
        "copy a file out of a container",
        Shared,
        &["copy", "bb:/etc/motd", "{hostdir}/motd-copy"],
        &[],
        &[&COMMAND_PENDING],
        &[Code],
    ),
    differs(
        "search with no route to Docker Hub",
        Empty,
        &["search", "-q", "busybox"],
        &[Stdout],
        &[&COMMAND_PENDING],
        &[Code],
    ),
    // long option names
    same(
        "install --name --architecture --quiet",
        Empty,
        &[
            "install",
            "{multi}",
            "--name",
            "m",
            "--architecture",
            "{foreign_arch}",
            "--quiet",
        ],
        &[Stdout, Manifest("m"), Names],
    ),
    same(
        "login --user --work-dir --env --bind",
        Shared,
        &[
            "login",
            "bb",
            "--user",
            "app",
            "--work-dir",
            "/data",
            "--env",
            "E=1",
            "--bind",
            "{hostdir}:/mnt/host",
            "--",
            "sh",
            "-c",
            "id -u; pwd; echo $E; cat /mnt/host/file",
        ],
        &[Stdout],
    ),
    same("list --quiet", Shared, &["list", "--quiet"], &[Stdout]),
    same(
        "login --shared-x11 (the old name of --shared-display)",
        Shared,
        &["login", "bb", "--shared-x11", "--", "true"],
        &[Stdout],
    ),
    same("ps --quiet", Shared, &["ps", "--quiet"], &[Stdout]),
    same(
        "remove --quiet",
        Fresh,
        &["remove", "--quiet", "bb"],
        &[Stdout, Names],
    ),
    // names and aliases
    same(
        "install -n with capitals, dots and digits",
        Empty,
        &["install", "{rootfs_tar}", "-n", "Deb_1.x-y", "-q"],
        &[Names],
    ),
    differs(
        "install -n starting with a dot",
        Empty,
        &["install", "{rootfs_tar}", "-n", ".hidden", "-q"],
        &[Names],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    same(
        "alias add",
        Empty,
        &["add", "{rootfs_tar}", "-n", "a", "-q"],
        &[Names],
    ),
    same(
        "alias i",
        Empty,
        &["i", "{rootfs_tar}", "-n", "a", "-q"],
        &[Names],
    ),
    same(
        "alias in",
        Empty,
        &["in", "{rootfs_tar}", "-n", "a", "-q"],
        &[Names],
    ),
    same(
        "alias ins",
        Empty,
        &["ins", "{rootfs_tar}", "-n", "a", "-q"],
        &[Names],
    ),
    same("alias li", Shared, &["li", "-q"], &[Stdout]),
    same("alias ls", Shared, &["ls", "-q"], &[Stdout]),
    same(
        "alias sh",
        Shared,
        &["sh", "bb", "--", "echo", "via sh"],
        &[Stdout],
    ),
    same("alias rm", Fresh, &["rm", "bb"], &[Names]),
    same("alias um", Fresh, &["um", "bb"], &[Names]),
    same("alias umount", Fresh, &["umount", "bb"], &[Names]),
    same("alias k", Fresh, &["k", "bb"], &[Names]),
    same("alias stop", Fresh, &["stop", "bb"], &[Names]),
    same("alias clear", Fresh, &["clear", "-q"], &[Names]),
    same("alias cl", Fresh, &["cl", "-q"], &[Names]),
    same("alias nf", Empty, &["nf"], &[]),
    same("alias version-info", Empty, &["version-info"], &[]),
    same("remove -v", Fresh, &["remove", "-v", "bb"], &[Names]),
    same(
        "rename -q",
        Fresh,
        &["rename", "-q", "bb", "b2"],
        &[Stdout, Names],
    ),
    same("clear-cache -v", Fresh, &["clear-cache", "-v"], &[Names]),
    // build
    Scenario {
        name: "build --install-as",
        start: Empty,
        before: &[],
        args: &[
            "build",
            "-q",
            "-t",
            "demo:1",
            "--install-as",
            "demo",
            "{ctx}",
        ],
        env: &[],
        check: &[Tree("demo"), Names],
        expect: install_tree(&[Tree("demo")]),
    },
    Scenario {
        name: "build: the image's CMD runs",
        start: Empty,
        before: &[&[
            "build",
            "-q",
            "-t",
            "demo:1",
            "--install-as",
            "demo",
            "{ctx}",
        ]],
        args: &["run", "demo"],
        env: &[],
        check: &[Stdout],
        expect: Expect::Same,
    },
    Scenario {
        name: "build, then install the tag",
        start: Empty,
        before: &[&["build", "-q", "-t", "demo:1", "{ctx}"]],
        args: &["install", "demo:1", "-n", "d2", "-q"],
        env: &[],
        check: &[Tree("d2"), Names],
        expect: install_tree(&[Tree("d2")]),
    },
    Scenario {
        name: "build: two stages, COPY --from and a deletion",
        start: Empty,
        before: &[],
        args: &[
            "build",
            "-q",
            "-f",
            "{ctx}/stages.Dockerfile",
            "-t",
            "st:1",
            "--install-as",
            "st",
            "{ctx}",
        ],
        env: &[],
        check: &[Tree("st"), Names],
        expect: install_tree(&[Tree("st")]),
    },
    Scenario {
        name: "build: a failing RUN tags and installs nothing",
        start: Empty,
        before: &[],
        args: &[
            "build",
            "-q",
            "-f",
            "{ctx}/fail.Dockerfile",
            "-t",
            "f:1",
            "--install-as",
            "f",
            "{ctx}",
        ],
        env: &[],
        check: &[Names],
        expect: Expect::Same,
    },
    same(
        "build: an unknown instruction",
        Empty,
        &["build", "-q", "-f", "{ctx}/unknown.Dockerfile", "{ctx}"],
        &[Stdout],
    ),
    same(
        "build -f a missing file",
        Empty,
        &["build", "-q", "-f", "{ctx}/nothing.Dockerfile", "{ctx}"],
        &[Stdout],
    ),
    same(
        "build --target an unknown stage",
        Empty,
        &["build", "-q", "--target", "nowhere", "{ctx}"],
        &[Stdout],
    ),
    same("help", Empty, &["help"], &[]),
    same("login --help", Empty, &["login", "--help"], &[]),
    differs(
        "an unknown command",
        Empty,
        &["frobnicate"],
        &[Stdout],
        &[&USAGE_EXIT_2],
        &[Code],
    ),
    differs(
        "--version",
        Empty,
        &["--version"],
        &[Stdout],
        &[&VERSION],
        &[Stdout],
    ),
];
