//! Instruction flags (`--name[=value]`) checked against what each
//! instruction accepts. Values stay unexpanded here: the plan expands them
//! with the stage's variables (HEALTHCHECK's are never expanded).

use super::error::ErrorKind;
use super::mount::MountSpec;
use std::time::Duration;

/// A flag as written, with its byte offset for error positions.
#[derive(Debug, Clone)]
pub(crate) struct RawFlag {
    pub name: String,
    pub value: Option<String>,
    pub offset: usize,
}

/// A flag error and where it is.
pub(crate) type FlagError = (usize, ErrorKind);

/// Takes flags off a list one name at a time; whatever is left is unknown.
pub(crate) struct Flags {
    flags: Vec<RawFlag>,
    /// Offset of the instruction, for errors about a missing flag.
    pub(crate) at: usize,
}

impl Flags {
    pub(crate) fn new(flags: Vec<RawFlag>, at: usize) -> Self {
        Self { flags, at }
    }

    fn take_all(&mut self, name: &str) -> Vec<RawFlag> {
        let (taken, kept) = std::mem::take(&mut self.flags)
            .into_iter()
            .partition(|f| f.name.eq_ignore_ascii_case(name));
        self.flags = kept;
        taken
    }

    /// `--name=value`, at most once.
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>, FlagError> {
        let mut all = self.take_all(name);
        if all.len() > 1 {
            return Err((all[1].offset, ErrorKind::FlagRepeated(name.into())));
        }
        match all.pop() {
            None => Ok(None),
            Some(RawFlag { value: Some(v), .. }) => Ok(Some(v)),
            Some(f) => Err((f.offset, ErrorKind::FlagNeedsValue(name.into()))),
        }
    }

    /// `--name=value`, any number of times, in order.
    pub(crate) fn values(&mut self, name: &str) -> Result<Vec<(usize, String)>, FlagError> {
        self.take_all(name)
            .into_iter()
            .map(|f| match f.value {
                Some(v) => Ok((f.offset, v)),
                None => Err((f.offset, ErrorKind::FlagNeedsValue(name.into()))),
            })
            .collect()
    }

    /// `--name` or `--name=true|false`.
    pub(crate) fn switch(&mut self, name: &str) -> Result<bool, FlagError> {
        let mut on = false;
        for f in self.take_all(name) {
            on = match f.value.as_deref() {
                None => true,
                Some(v) => parse_bool(v).ok_or_else(|| {
                    (
                        f.offset,
                        ErrorKind::FlagValue {
                            flag: name.into(),
                            value: v.into(),
                            why: "expected true or false".into(),
                        },
                    )
                })?,
            };
        }
        Ok(on)
    }

    /// A flag this instruction knows but we do not offer.
    pub(crate) fn refuse(&mut self, name: &str, what: &str) -> Result<(), FlagError> {
        match self.take_all(name).first() {
            Some(f) => Err((f.offset, ErrorKind::Unsupported(what.into()))),
            None => Ok(()),
        }
    }

    /// Every flag must have been taken by now.
    pub(crate) fn finish(self) -> Result<(), FlagError> {
        match self.flags.first() {
            Some(f) => Err((f.offset, ErrorKind::UnknownFlag(f.name.clone()))),
            None => Ok(()),
        }
    }
}

/// Go's `strconv.ParseBool`, which Docker uses for flag and mount values.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// RUN's network: `default` and `host` share the host's network, `none`
/// gets a fresh network namespace with only loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

impl Network {
    pub(crate) fn parse(v: &str) -> Result<Self, String> {
        match v {
            "default" => Ok(Self::Default),
            "none" => Ok(Self::None),
            "host" => Ok(Self::Host),
            _ => Err("expected default, none or host".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::None => "none",
            Self::Host => "host",
        }
    }
}

/// RUN's flags, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFlags {
    pub mounts: Vec<MountSpec>,
    pub network: Option<String>,
}

pub(crate) fn run(mut f: Flags) -> Result<RunFlags, FlagError> {
    let mut mounts = Vec::new();
    for (ssh_index, (at, v)) in f.values("mount")?.into_iter().enumerate() {
        mounts.push(MountSpec::parse(&v, ssh_index).map_err(|e| (at, ErrorKind::Mount(e)))?);
    }
    number_ssh(&mut mounts);
    let network = f.value("network")?;
    if let Some(n) = network.as_deref().filter(|n| !n.contains('$')) {
        Network::parse(n).map_err(|why| (f.at, bad("network", n, why)))?;
    }
    f.refuse("security", "RUN --security (insecure builds)")?;
    f.finish()?;
    Ok(RunFlags { mounts, network })
}

/// The default socket path of the n-th ssh mount counts ssh mounts only.
fn number_ssh(mounts: &mut [MountSpec]) {
    for (n, m) in mounts.iter_mut().filter(|m| m.is_ssh()).enumerate() {
        m.ssh_index = n;
    }
}

/// COPY's flags, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyFlags {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

pub(crate) fn copy(mut f: Flags) -> Result<CopyFlags, FlagError> {
    let flags = CopyFlags {
        from: f.value("from")?,
        chown: f.value("chown")?,
        chmod: f.value("chmod")?,
        link: f.switch("link")?,
        parents: f.switch("parents")?,
        exclude: f.values("exclude")?.into_iter().map(|(_, v)| v).collect(),
    };
    f.finish()?;
    Ok(flags)
}

/// ADD's flags, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddFlags {
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub checksum: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
}

pub(crate) fn add(mut f: Flags) -> Result<AddFlags, FlagError> {
    f.refuse(
        "keep-git-dir",
        "ADD --keep-git-dir (git sources: clone, then COPY)",
    )?;
    let flags = AddFlags {
        chown: f.value("chown")?,
        chmod: f.value("chmod")?,
        checksum: f.value("checksum")?,
        link: f.switch("link")?,
        exclude: f.values("exclude")?.into_iter().map(|(_, v)| v).collect(),
    };
    f.finish()?;
    Ok(flags)
}

pub(crate) fn from(mut f: Flags) -> Result<Option<String>, FlagError> {
    let platform = f.value("platform")?;
    f.finish()?;
    Ok(platform)
}

/// HEALTHCHECK's options; unset ones take Docker's defaults at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthOptions {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

pub(crate) fn healthcheck(mut f: Flags) -> Result<HealthOptions, FlagError> {
    let at = f.at;
    let duration = |f: &mut Flags, name: &str| -> Result<Option<Duration>, FlagError> {
        let Some(v) = f.value(name)? else {
            return Ok(None);
        };
        let d = parse_duration(&v).map_err(|why| (at, bad(name, &v, why)))?;
        if !d.is_zero() && d < Duration::from_millis(1) {
            return Err((at, bad(name, &v, "must be 0 or at least 1ms".into())));
        }
        Ok(Some(d))
    };
    let options = HealthOptions {
        interval: duration(&mut f, "interval")?,
        timeout: duration(&mut f, "timeout")?,
        start_period: duration(&mut f, "start-period")?,
        start_interval: duration(&mut f, "start-interval")?,
        retries: match f.value("retries")? {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| (at, bad("retries", &v, "expected a whole number".into())))?,
            ),
        },
    };
    f.finish()?;
    Ok(options)
}

fn bad(flag: &str, value: &str, why: String) -> ErrorKind {
    ErrorKind::FlagValue {
        flag: flag.into(),
        value: value.into(),
        why,
    }
}

/// Go's `time.ParseDuration` subset Docker accepts: `1h2m3.5s`, `500ms`,
/// `10us`, `0`; every number needs a unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let err = || "expected a duration such as 30s, 1m30s or 500ms".to_string();
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        rest = &rest[u..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}
