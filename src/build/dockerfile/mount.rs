//! `RUN --mount=type=…,key=value,…`: parsed when the Dockerfile is read
//! (keys and type checked), resolved into a [`Mount`] by the plan once the
//! values are expanded. Secrets are named here, never read.

use super::flags::parse_bool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// The mount as written: its type and its other fields, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: MountType,
    /// Lower-cased keys with their raw values, in order.
    pub fields: Vec<(String, String)>,
    /// Which ssh mount of the instruction this is (default socket path).
    pub(crate) ssh_index: usize,
}

/// A resolved mount, ready for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// Where it appears; None only for a secret given as `env=` alone.
    pub target: Option<String>,
    /// bind/cache: path in the context or in `from`.
    pub source: Option<String>,
    /// bind/cache: a stage name or index, or an image.
    pub from: Option<String>,
    /// `from`, resolved by the plan (None until then, and without `from`).
    pub origin: Option<super::CopyFrom>,
    /// cache (default: the target), secret (default: target's basename), ssh (`default`).
    pub id: Option<String>,
    pub readonly: bool,
    pub sharing: Sharing,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// secret/ssh: fail when the build was not given it.
    pub required: bool,
    /// secret: also (or only) expose it as this environment variable.
    pub env: Option<String>,
    /// tmpfs: size limit in bytes.
    pub size: Option<u64>,
}

impl MountSpec {
    pub(crate) fn is_ssh(&self) -> bool {
        self.kind == MountType::Ssh
    }

    /// Splits the comma-separated fields (double quotes protect commas) and
    /// checks keys against the type.
    pub(crate) fn parse(value: &str, ssh_index: usize) -> Result<Self, String> {
        let mut kind = MountType::Bind;
        let mut fields = Vec::new();
        for field in csv_fields(value)? {
            let (key, val) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.to_owned()),
                None => (field.trim().to_ascii_lowercase(), String::new()),
            };
            let key = match key.as_str() {
                "src" => "source".to_owned(),
                "dst" | "destination" => "target".to_owned(),
                "ro" => "readonly".to_owned(),
                "rw" => "readwrite".to_owned(),
                _ => key,
            };
            if key == "type" {
                kind = match val.as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(format!(
                            "unknown type '{val}' (bind, cache, tmpfs, secret, ssh)"
                        ))
                    }
                };
                continue;
            }
            fields.push((key, val));
        }
        for (key, _) in &fields {
            if !allowed(kind, key) {
                return Err(match known(key) {
                    true => format!("'{key}' does not apply to type={}", kind.name()),
                    false => format!("unknown key '{key}'"),
                });
            }
        }
        let spec = Self {
            kind,
            fields,
            ssh_index,
        };
        // Whatever needs no expansion is checked now, with its line.
        if !value.contains('$') {
            spec.resolve(&|s: &str| Ok(s.to_owned()))?;
        }
        Ok(spec)
    }

    /// Expands every value and builds the typed mount with Docker's defaults.
    pub fn resolve(
        &self,
        expand: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Mount, String> {
        let mut m = Mount {
            kind: self.kind,
            target: None,
            source: None,
            from: None,
            origin: None,
            id: None,
            readonly: self.kind == MountType::Bind,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            required: false,
            env: None,
            size: None,
        };
        for (key, raw) in &self.fields {
            let v = expand(raw)?;
            let flag = |v: &str| -> Result<bool, String> {
                if v.is_empty() {
                    return Ok(true);
                }
                parse_bool(v).ok_or_else(|| format!("{key}={v}: expected true or false"))
            };
            match key.as_str() {
                "target" => m.target = Some(v),
                "source" => m.source = Some(v),
                "from" => m.from = Some(v),
                "id" => m.id = Some(v),
                "env" => m.env = Some(v),
                "readonly" => m.readonly = flag(&v)?,
                "readwrite" => m.readonly = !flag(&v)?,
                "required" => m.required = flag(&v)?,
                "sharing" => {
                    m.sharing = match v.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => {
                            return Err(format!("sharing={v}: expected shared, private or locked"))
                        }
                    }
                }
                "mode" => {
                    m.mode = Some(
                        u32::from_str_radix(&v, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| {
                                format!("mode={v}: expected an octal mode such as 0644")
                            })?,
                    )
                }
                "uid" | "gid" => {
                    let id = v
                        .parse::<u32>()
                        .map_err(|_| format!("{key}={v}: expected a number"))?;
                    if key == "uid" {
                        m.uid = Some(id);
                    } else {
                        m.gid = Some(id);
                    }
                }
                "size" => {
                    m.size = Some(
                        parse_size(&v)
                            .ok_or_else(|| format!("size={v}: expected bytes, e.g. 64m"))?,
                    )
                }
                _ => return Err(format!("unknown key '{key}'")),
            }
        }
        if let Some(t) = &m.target {
            if t.is_empty() {
                return Err("target is empty".into());
            }
        }
        match self.kind {
            MountType::Bind | MountType::Cache | MountType::Tmpfs if m.target.is_none() => {
                return Err(format!("type={} needs target=", self.kind.name()));
            }
            MountType::Cache if m.id.is_none() => m.id = m.target.clone(),
            MountType::Secret => {
                if m.id.is_none() {
                    let base = m
                        .target
                        .as_deref()
                        .and_then(|t| t.rsplit('/').find(|s| !s.is_empty()));
                    m.id = Some(base.ok_or("type=secret needs id= or target=")?.to_owned());
                }
                if m.target.is_none() && m.env.is_none() {
                    m.target = m.id.as_ref().map(|id| format!("/run/secrets/{id}"));
                }
            }
            MountType::Ssh => {
                m.id.get_or_insert_with(|| "default".into());
                m.target
                    .get_or_insert_with(|| format!("/run/buildkit/ssh_agent.{}", self.ssh_index));
            }
            _ => {}
        }
        Ok(m)
    }
}

impl MountType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Cache => "cache",
            Self::Tmpfs => "tmpfs",
            Self::Secret => "secret",
            Self::Ssh => "ssh",
        }
    }
}

fn known(key: &str) -> bool {
    [
        MountType::Bind,
        MountType::Cache,
        MountType::Tmpfs,
        MountType::Secret,
        MountType::Ssh,
    ]
    .into_iter()
    .any(|t| allowed(t, key))
}

/// Which keys each type takes (BuildKit's set).
fn allowed(kind: MountType, key: &str) -> bool {
    use MountType::*;
    match key {
        "target" => true,
        "source" | "from" | "readonly" | "readwrite" => matches!(kind, Bind | Cache),
        "id" | "mode" | "uid" | "gid" => matches!(kind, Cache | Secret | Ssh),
        "sharing" => kind == Cache,
        "required" => matches!(kind, Secret | Ssh),
        "env" => kind == Secret,
        "size" => kind == Tmpfs,
        _ => false,
    }
}

/// Comma-separated fields; a double-quoted part may hold commas.
fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated double quote".into());
    }
    fields.push(cur);
    if fields.iter().any(|f| f.trim().is_empty()) {
        return Err("empty field".into());
    }
    Ok(fields)
}

/// `1024`, `64k`, `64m`, `1g` (also `kb`, `mb`, `gb`, `b`), powers of 1024.
fn parse_size(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &lower[digits.len()..] {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}
