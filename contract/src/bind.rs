//! The restrictions a user bind (`-b SRC:DEST:OPTIONS`) may carry, as the
//! bits both programs use: the main binary turns the user's option names
//! into them, and cd-mount-helper receives them as a number after the
//! second colon of its `--bind` and refuses any other bit. They are the
//! values of both `MS_*` (mount(2)) and `MOUNT_ATTR_*` (mount_setattr(2)),
//! so neither side translates.
//!
//! A bind never gets fewer restrictions than `nosuid,nodev` (DESIGN.md,
//! cd-mount-helper rule 6); these only add to them.

/// `ro`: writes fail with EROFS.
pub const READ_ONLY: u32 = 0x1;
/// `nosuid`: set-user-ID bits and file capabilities are ignored.
pub const NOSUID: u32 = 0x2;
/// `nodev`: device nodes cannot be opened.
pub const NODEV: u32 = 0x4;
/// `noexec`: nothing on it can be executed.
pub const NOEXEC: u32 = 0x8;
/// Every bit a bind may carry.
pub const ALL: u32 = READ_ONLY | NOSUID | NODEV | NOEXEC;

/// The option names of the bits, as mount(8) spells them.
pub const NAMES: [(&str, u32); 4] =
    [("ro", READ_ONLY), ("nosuid", NOSUID), ("nodev", NODEV), ("noexec", NOEXEC)];

/// The bits of `text` (a decimal number), if it is one and holds no other.
pub fn decode(text: &str) -> Option<u32> {
    // Digits only: `parse` would also take a sign.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|bits| bits & !ALL == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bits_are_the_kernels() {
        let ms = [libc::MS_RDONLY, libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC];
        let attr = [
            libc::MOUNT_ATTR_RDONLY,
            libc::MOUNT_ATTR_NOSUID,
            libc::MOUNT_ATTR_NODEV,
            libc::MOUNT_ATTR_NOEXEC,
        ];
        for (i, (_, bit)) in NAMES.iter().enumerate() {
            assert_eq!(libc::c_ulong::from(*bit), ms[i]);
            assert_eq!(u64::from(*bit), attr[i]);
        }
    }

    #[test]
    fn only_the_four_bits_decode() {
        assert_eq!(decode("0"), Some(0));
        assert_eq!(decode("9"), Some(READ_ONLY | NOEXEC));
        assert_eq!(decode("15"), Some(ALL));
        for bad in ["16", "32", "-1", "+1", "", "x", "1 ", "0x1", "4294967297"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
