//! Options shared by `login` and `run`.

use crate::cli::container_arg;
use clap::{Arg, ArgAction, Command};

pub fn add(cmd: Command) -> Command {
    cmd.arg(container_arg("Container to enter"))
        .arg(
            Arg::new("user")
                .short('u')
                .long("user")
                .value_name("USER")
                .help("Run as USER: name, uid, name:group or uid:gid (default: root)"),
        )
        .arg(
            Arg::new("isolated")
                .long("isolated")
                .action(ArgAction::SetTrue)
                .conflicts_with("minimal")
                .help("New mount/PID/UTS/IPC/cgroup namespaces and no host binds at all (also CD_USE_ISOLATION=1)"),
        )
        .arg(
            Arg::new("minimal")
                .long("minimal")
                .action(ArgAction::SetTrue)
                .help(
                    "Only /dev, /proc, /sys (and /run, /dev/pts, /dev/shm) and a bare environment",
                ),
        )
        .arg(
            Arg::new("no-new-privs")
                .long("no-new-privs")
                .action(ArgAction::SetTrue)
                .help("Set-user-ID programs in the guest cannot gain privileges (breaks su and sudo; also CD_NO_NEW_PRIVS=1)"),
        )
        .arg(
            Arg::new("shared-home")
                .long("shared-home")
                .action(ArgAction::SetTrue)
                .help("Bind your host home directory over the guest home"),
        )
        .arg(
            Arg::new("shared-tmp")
                .long("shared-tmp")
                .action(ArgAction::SetTrue)
                .help("Bind the host /tmp instead of giving the container its own"),
        )
        .arg(
            Arg::new("shared-display")
                .long("shared-display")
                .visible_alias("shared-x11")
                .action(ArgAction::SetTrue)
                .help("Share X11/Wayland, PulseAudio/PipeWire and D-Bus session sockets"),
        )
        .arg(
            Arg::new("bind")
                .short('b')
                .long("bind")
                .value_name("SRC[:DST[:OPTIONS]]")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(chroot_distro::launch::bind::BindSpec))
                .help("Bind a host path into the guest (DST absolute; repeatable). OPTIONS: a comma list of ro, nosuid, nodev, noexec (rw is the default; z and Z are accepted and ignored); binds are always nosuid,nodev"),
        )
        .arg(
            Arg::new("hostname")
                .long("hostname")
                .value_name("NAME")
                .help("Host name inside the container (default: the container name)"),
        )
        .arg(
            Arg::new("work-dir")
                .short('w')
                .long("work-dir")
                .value_name("PATH")
                .help("Initial working directory"),
        )
        .arg(
            Arg::new("env")
                .short('e')
                .long("env")
                .value_name("VAR=VALUE")
                .action(ArgAction::Append)
                .help("Set a guest environment variable (repeatable)"),
        )
        .arg(
            Arg::new("privileged")
                .long("privileged")
                .action(ArgAction::SetTrue)
                .help("Full root: every capability, writable /sys, no masked /proc paths"),
        )
        .arg(
            Arg::new("root")
                .long("root")
                .action(ArgAction::SetTrue)
                .help("Real root in the container for a non-root caller (through sudo, doas, pkexec or su)"),
        )
        .arg(
            Arg::new("no-elevate")
                .long("no-elevate")
                .action(ArgAction::SetTrue)
                .help("Never re-run through sudo/doas/pkexec/su; fail instead (also CHROOT_DISTRO_NO_ELEVATE=1)"),
        )
        .arg(
            Arg::new("use-sudo")
                .long("use-sudo")
                .action(ArgAction::SetTrue)
                .help("Prefer sudo when elevating, also on Termux (also CHROOT_DISTRO_USE_SUDO=1)"),
        )
        .arg(
            Arg::new("publish")
                .short('p')
                .long("publish")
                .value_name("HOST:GUEST[/udp]")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(chroot_distro::launch::netns::Publish))
                .help("Forward a host port into a session through cd-mount-helper, which has a network of its own (needs pasta; repeatable)"),
        )
        .arg(
            Arg::new("host-network")
                .long("host-network")
                .action(ArgAction::SetTrue)
                .help("Share the host's network in a session through cd-mount-helper (its policy must grant host_network); other sessions always do"),
        )
        .arg(
            Arg::new("get-chroot-cmd")
                .long("get-chroot-cmd")
                .action(ArgAction::SetTrue)
                .help("Print an equivalent command line built from standard tools and exit"),
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(1..)
                .last(true)
                .allow_hyphen_values(true)
                .help("Command to run (after --)"),
        )
}
