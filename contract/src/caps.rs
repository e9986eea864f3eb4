//! The capabilities container root keeps in a real-root session: what
//! `docker run` grants by default. Both programs that start such sessions
//! map this one table to their own capability type (by number), so the
//! sets cannot drift apart. `--privileged` keeps more; a session on the
//! host's network keeps less (cd-mount-helper rule 10).

/// (number, name) as in <linux/capability.h>.
pub const DOCKER: [(u8, &str); 14] = [
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (27, "CAP_MKNOD"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// What container root keeps in a session on `network` (rule 10): [`DOCKER`],
/// less raw sockets (sniffing every user's traffic) on the host's network,
/// and less ports below 1024 there unless the policy grants them.
pub fn session(network: crate::request::Network, privileged_ports: bool) -> Vec<u8> {
    let host = network == crate::request::Network::Host;
    let removed = |n: u8| host && (n == 13 || (n == 10 && !privileged_ports));
    DOCKER.iter().map(|(n, _)| *n).filter(|n| !removed(*n)).collect()
}

/// Whether capability number `n` is one of [`DOCKER`].
pub fn is_docker(n: u8) -> bool {
    DOCKER.iter().any(|(number, _)| *number == n)
}

/// [`DOCKER`] in a program's own capability type: the members of `all`
/// (e.g. `caps::all()`) whose `number` is in the table. The one derivation
/// both programs use, so this crate needs no capability library of its own.
pub fn docker_in<C>(all: impl IntoIterator<Item = C>, number: impl Fn(&C) -> u8) -> Vec<C> {
    all.into_iter().filter(|c| is_docker(number(c))).collect()
}
