//! `-b/--bind SRC[:DEST[:OPTIONS]]`, read as chroot-distro 3.2 reads it:
//! the first two colons separate the fields, and OPTIONS is a comma list
//! of restrictions applied by remounting the bind. The form is checked
//! when the command line is parsed (a bad option is a usage error, before
//! anything is mounted); the source is looked up when the session is
//! planned ([`BindSpec::resolve`]).

use serde::{Deserialize, Serialize};
use session_contract::bind as bits;
use std::path::{Component, Path, PathBuf};

/// Restrictions added to a bind (always on top of `nosuid,nodev`): the
/// bits of [`session_contract::bind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindFlags(u32);

impl BindFlags {
    pub const READ_ONLY: Self = Self(bits::READ_ONLY);
    pub const NOEXEC: Self = Self(bits::NOEXEC);

    /// The bits, as cd-mount-helper's `--bind` takes them.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The same bits as mount(2) flags.
    pub fn mount_flags(self) -> nix::mount::MsFlags {
        nix::mount::MsFlags::from_bits_truncate(self.0.into())
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A `--bind` as typed: its form checked, its source not yet looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    pub source: String,
    /// None: the source's own path.
    pub target: Option<String>,
    pub flags: BindFlags,
}

impl std::fmt::Display for BindSpec {
    /// As typed, up to spelling of the options.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)?;
        let names: Vec<&str> = bits::NAMES
            .iter()
            .filter(|(_, bit)| self.flags.0 & bit != 0)
            .map(|(name, _)| *name)
            .collect();
        match (&self.target, names.is_empty()) {
            (Some(t), true) => write!(f, ":{t}"),
            (t, false) => write!(f, ":{}:{}", t.as_deref().unwrap_or(""), names.join(",")),
            (None, true) => Ok(()),
        }
    }
}

/// What the option list accepts, for messages.
const ACCEPTED: &str = "ro, rw, nosuid, nodev, noexec (z and Z are accepted and ignored)";

impl std::str::FromStr for BindSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut fields = text.splitn(3, ':');
        let source = fields.next().unwrap_or_default();
        if source.is_empty() {
            return Err("the source path is empty".into());
        }
        let target = fields.next().filter(|t| !t.is_empty());
        if let Some(t) = target {
            check_target(t)?;
        }
        // clap's message names the whole value; ours says what is wrong.
        let flags = parse_options(fields.next().unwrap_or_default())?;
        Ok(Self {
            source: source.to_owned(),
            target: target.map(str::to_owned),
            flags,
        })
    }
}

/// `ro,nosuid,...` to bits; `rw` (the default), `z` and `Z` (SELinux
/// relabelling, which a plain chroot has no labels for) add nothing.
fn parse_options(list: &str) -> Result<BindFlags, String> {
    let mut flags = 0;
    let mut rw = false;
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "rw" => rw = true,
            "z" | "Z" => {}
            _ => match bits::NAMES.iter().find(|(name, _)| *name == word) {
                Some((_, bit)) => flags |= bit,
                None => {
                    return Err(format!(
                        "unknown bind option '{word}': the options are {ACCEPTED}"
                    ))
                }
            },
        }
    }
    if rw && flags & bits::READ_ONLY != 0 {
        return Err("'ro' and 'rw' contradict each other".into());
    }
    Ok(BindFlags(flags))
}

/// Absolute, without `..`, and not the container's root itself.
fn check_target(target: &str) -> Result<(), &'static str> {
    let path = Path::new(target);
    if !path.is_absolute() {
        return Err("the destination must be an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("the destination may not contain '..'");
    }
    if path.parent().is_none() {
        return Err("the destination cannot be the container's / itself");
    }
    Ok(())
}

/// A bind ready for a session: an existing, absolute host path onto an
/// absolute guest path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub flags: BindFlags,
}

impl BindSpec {
    /// Looks the source up (made absolute, symlinks resolved); the
    /// destination defaults to it. The error is the reason alone.
    pub fn resolve(&self) -> Result<UserBind, String> {
        let source = Path::new(&self.source)
            .canonicalize()
            .map_err(|e| format!("{}: {}", self.source, crate::ioerr::os_reason(&e)))?;
        let target = match &self.target {
            Some(t) => PathBuf::from(t),
            None => {
                let shown = source.display().to_string();
                check_target(&shown)?;
                source.clone()
            }
        };
        Ok(UserBind {
            source,
            target,
            flags: self.flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<BindSpec, String> {
        text.parse()
    }

    #[test]
    fn three_fields_as_in_3_2() {
        let b = spec("/srv:/data:ro,noexec").unwrap();
        assert_eq!(
            (b.source.as_str(), b.target.as_deref()),
            ("/srv", Some("/data"))
        );
        assert!(b.flags.contains(BindFlags::READ_ONLY) && b.flags.contains(BindFlags::NOEXEC));
        assert_eq!(b.flags.bits(), bits::READ_ONLY | bits::NOEXEC);
        assert_eq!(spec("/srv").unwrap().target, None);
        assert_eq!(spec("/srv:/data").unwrap().flags, BindFlags::default());
        // Empty fields and items are nothing; rw, z and Z add nothing.
        assert_eq!(spec("/srv::nodev").unwrap().target, None);
        assert_eq!(spec("/srv:/d:").unwrap().flags.bits(), 0);
        assert_eq!(spec("/srv:/d:rw,z,Z,,").unwrap().flags.bits(), 0);
        assert_eq!(
            spec("/srv:/d: nosuid , nodev").unwrap().flags.bits(),
            bits::NOSUID | bits::NODEV
        );
        let m = spec("/srv:/d:ro,nosuid,nodev,noexec").unwrap().flags;
        assert_eq!(
            m.mount_flags().bits(),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC
        );
    }

    #[test]
    fn bad_options_and_destinations_are_named() {
        for (text, needle) in [
            ("/srv:/d:ro,sync", "unknown bind option 'sync'"),
            ("/srv:/d:suid", "unknown bind option 'suid'"),
            // Only two colons separate fields: the rest is one option.
            ("/srv:/d:ro:x", "unknown bind option 'ro:x'"),
            ("/srv:/d:ro,rw", "contradict"),
            ("/srv:rel", "absolute"),
            ("/srv:/a/../b", "'..'"),
            ("/srv:/", "cannot be the container's /"),
            (":/d", "source path is empty"),
        ] {
            let e = spec(text).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn shown_as_typed() {
        for text in ["/srv", "/srv:/d", "/srv:/d:ro,noexec", "/srv::nosuid"] {
            assert_eq!(spec(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn resolving_finds_the_source() {
        let b = spec("/tmp/../tmp:/data:ro").unwrap().resolve().unwrap();
        assert_eq!(b.source, PathBuf::from("/tmp"));
        assert_eq!(b.target, PathBuf::from("/data"));
        assert_eq!(b.flags, BindFlags::READ_ONLY);
        assert_eq!(
            spec("/tmp").unwrap().resolve().unwrap().target,
            PathBuf::from("/tmp")
        );
        assert!(spec("/does/not/exist:/x").unwrap().resolve().is_err());
        assert!(spec("/").unwrap().resolve().is_err());
    }
}
