//! One stage, evaluated: ARG/ENV scoping as Docker does it, every word
//! expanded, each instruction turned into a [`Step`] and the image
//! configuration the stage leaves.

use super::error::{DockerfileError, ErrorKind};
use super::expand;
use super::expand::{Scope, Vars};
use super::flags::{HealthOptions, Network};
use super::mount::Mount;
use super::plan::{Plan, PREDEFINED_ARGS};
use super::step::{Action, CopyFrom, CopySource, RunCommand, Setting, Step};
use super::{CommandLine, Instruction, Kind, Source};

/// What a stage starts from: its base image's config (or the parent
/// stage's [`StagePlan::as_base`]). Empty for `scratch`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseConfig {
    /// `KEY=value` lines.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// The base's SHELL, if it set one.
    pub shell: Option<Vec<String>>,
}

/// HEALTHCHECK as the image config stores it (`["NONE"]`, `["CMD", …]`,
/// `["CMD-SHELL", cmd]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub options: HealthOptions,
}

/// What the stage sets in the image config; unset fields keep the base's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageConfig {
    /// The full environment (the base's with this stage's ENV applied).
    pub env: Vec<String>,
    pub cmd: Setting<Vec<String>>,
    pub entrypoint: Setting<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    /// `80/tcp` style.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    pub shell: Option<Vec<String>>,
    pub onbuild: Vec<String>,
    pub maintainer: Option<String>,
}

/// A planned stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    pub index: usize,
    pub steps: Vec<Step>,
    /// Other stages its COPY --from and mounts read.
    pub needs: Vec<usize>,
    /// The final environment, `KEY=value`.
    pub env: Vec<String>,
    pub config: StageConfig,
}

impl StagePlan {
    /// The base a stage `FROM` this one starts from.
    pub fn as_base(&self) -> BaseConfig {
        BaseConfig {
            env: self.env.clone(),
            workdir: self.config.workdir.clone(),
            user: self.config.user.clone(),
            shell: self.config.shell.clone(),
        }
    }
}

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

struct State<'p> {
    plan: &'p Plan<'p>,
    index: usize,
    escape: char,
    env: Vec<(String, String)>,
    args: Vec<(String, Option<String>)>,
    workdir: String,
    user: Option<String>,
    shell: Vec<String>,
    cmd_set: bool,
    config: StageConfig,
    needs: Vec<usize>,
}

pub(crate) fn evaluate(
    plan: &Plan<'_>,
    index: usize,
    base: &BaseConfig,
) -> Result<StagePlan, DockerfileError> {
    let env = base
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let mut st = State {
        plan,
        index,
        escape: plan.df.directives.escape,
        env,
        args: Vec::new(),
        workdir: base
            .workdir
            .clone()
            .filter(|w| w.starts_with('/'))
            .unwrap_or_else(|| "/".into()),
        user: base.user.clone(),
        shell: base
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.map(String::from).to_vec()),
        cmd_set: false,
        config: StageConfig::default(),
        needs: Vec::new(),
    };
    let stage = &plan.df.stages[index];
    let mut steps = Vec::with_capacity(stage.instructions.len());
    for ins in &stage.instructions {
        let (action, cache_key) = st.step(ins).map_err(|kind| DockerfileError {
            file: plan.df.file.clone(),
            span: Some(ins.span),
            instruction: Some(ins.word.clone()),
            kind: Box::new(kind),
        })?;
        steps.push(Step {
            span: ins.span,
            word: ins.word.clone(),
            text: ins.text.clone(),
            cache_key,
            action,
        });
    }
    st.config.env = st.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    st.needs.sort_unstable();
    st.needs.dedup();
    Ok(StagePlan {
        index,
        steps,
        needs: st.needs,
        env: st.config.env.clone(),
        config: st.config,
    })
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn set(list: &mut Vec<(String, String)>, key: String, value: String) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

impl Vars for State<'_> {
    /// ENV wins over ARG of the same name.
    fn get(&self, name: &str) -> Option<&str> {
        match self.env.iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) => Some(v),
            None => Scope(&self.args).lookup(name),
        }
    }
}

impl State<'_> {
    fn word(&self, text: &str) -> Result<String, ErrorKind> {
        expand::word(text, self, self.escape).map_err(ErrorKind::Expansion)
    }

    fn words(&self, texts: &[String]) -> Result<Vec<String>, ErrorKind> {
        texts.iter().map(|t| self.word(t)).collect()
    }

    fn opt_word(&self, text: &Option<String>) -> Result<Option<String>, ErrorKind> {
        text.as_deref().map(|t| self.word(t)).transpose()
    }

    fn argv(&self, c: &CommandLine) -> Vec<String> {
        match c {
            CommandLine::Exec(v) => v.clone(),
            CommandLine::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    fn step(&mut self, ins: &Instruction) -> Result<(Action, String), ErrorKind> {
        let word = ins.word.to_ascii_uppercase();
        let config = |key: String| Ok((Action::Config, format!("{word} {key}")));
        match &ins.kind {
            Kind::Arg(decls) => {
                let mut shown = Vec::new();
                for d in decls {
                    let name = self.word(&d.name)?;
                    let value = match (self.plan.inputs.build_arg(&name), &d.default) {
                        (Some(v), _) => Some(v.to_owned()),
                        (None, Some(default)) => Some(self.word(default)?),
                        (None, None) => Scope(&self.plan.globals).lookup(&name).map(str::to_owned),
                    };
                    shown.push(match &value {
                        Some(v) => format!("{name}={v}"),
                        None => name.clone(),
                    });
                    self.args.retain(|(k, _)| *k != name);
                    self.args.push((name, value));
                }
                config(json(&shown))
            }
            Kind::Env(pairs) => {
                for p in pairs {
                    let key = self.word(&p.key)?;
                    if key.is_empty() || key.contains('=') {
                        return Err(ErrorKind::Arguments(format!(
                            "invalid variable name '{key}'"
                        )));
                    }
                    let value = self.word(&p.value)?;
                    set(&mut self.env, key, value);
                }
                config(json(&self.env))
            }
            Kind::Label(pairs) => {
                for p in pairs {
                    let (key, value) = (self.word(&p.key)?, self.word(&p.value)?);
                    set(&mut self.config.labels, key, value);
                }
                config(json(&self.config.labels))
            }
            Kind::Maintainer(name) => {
                self.config.maintainer = Some(name.clone());
                config(json(name))
            }
            Kind::User(u) => {
                let user = self.word(u)?;
                if user.is_empty() || user.contains(char::is_whitespace) {
                    return Err(ErrorKind::Arguments(format!(
                        "USER takes one name or id, got '{user}'"
                    )));
                }
                self.user = Some(user.clone());
                self.config.user = Some(user.clone());
                config(user)
            }
            Kind::Workdir(w) => {
                let dir = self.word(w)?;
                if dir.is_empty() {
                    return Err(ErrorKind::Arguments("WORKDIR needs a path".into()));
                }
                self.workdir = join_clean(&self.workdir, &dir);
                self.config.workdir = Some(self.workdir.clone());
                Ok((
                    Action::Workdir(self.workdir.clone()),
                    format!("WORKDIR {}", self.workdir),
                ))
            }
            Kind::Expose(list) => {
                for item in list {
                    for port in
                        expand::words(item, self, self.escape).map_err(ErrorKind::Expansion)?
                    {
                        let port = normalise_port(&port)?;
                        if !self.config.exposed_ports.contains(&port) {
                            self.config.exposed_ports.push(port);
                        }
                    }
                }
                config(json(&self.config.exposed_ports))
            }
            Kind::Volume(list) => {
                for v in list {
                    let v = self.word(v)?;
                    if v.trim().is_empty() {
                        return Err(ErrorKind::Arguments("VOLUME path is empty".into()));
                    }
                    if !self.config.volumes.contains(&v) {
                        self.config.volumes.push(v);
                    }
                }
                config(json(&self.config.volumes))
            }
            Kind::Stopsignal(s) => {
                let sig = self.word(s)?;
                let valid = !sig.is_empty()
                    && sig
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-".contains(c));
                if !valid {
                    return Err(ErrorKind::Arguments(format!(
                        "'{sig}' is not a signal name or number"
                    )));
                }
                self.config.stop_signal = Some(sig.clone());
                config(sig)
            }
            Kind::Healthcheck(h) => {
                let check = match h {
                    None => Healthcheck {
                        test: vec!["NONE".into()],
                        options: HealthOptions::default(),
                    },
                    Some((CommandLine::Exec(v), options)) => Healthcheck {
                        test: std::iter::once("CMD".to_owned())
                            .chain(v.iter().cloned())
                            .collect(),
                        options: *options,
                    },
                    Some((CommandLine::Shell(s), options)) => Healthcheck {
                        test: vec!["CMD-SHELL".into(), s.clone()],
                        options: *options,
                    },
                };
                let key = format!("{} {:?}", json(&check.test), check.options);
                self.config.healthcheck = Some(check);
                config(key)
            }
            Kind::Shell(v) => {
                self.shell = v.clone();
                self.config.shell = Some(v.clone());
                config(json(v))
            }
            Kind::Cmd(c) => {
                let argv = self.argv(c);
                self.cmd_set = true;
                self.config.cmd = Setting::Set(argv.clone());
                config(json(&argv))
            }
            Kind::Entrypoint(c) => {
                let argv = self.argv(c);
                if !self.cmd_set {
                    self.config.cmd = Setting::Clear;
                }
                self.config.entrypoint = Setting::Set(argv.clone());
                config(json(&argv))
            }
            Kind::Onbuild { trigger, .. } => {
                self.config.onbuild.push(trigger.clone());
                config(json(trigger))
            }
            Kind::Run {
                command,
                heredocs,
                flags,
            } => self.run(command, heredocs, flags),
            Kind::Copy {
                sources,
                dest,
                flags,
            } => self.copy(&word, sources, dest, flags),
            Kind::Add {
                sources,
                dest,
                flags,
            } => self.add(&word, sources, dest, flags),
        }
    }

    /// `--from` / `from=`: a stage name or index (not this one), else an image.
    fn copy_from(&mut self, raw: &str) -> Result<CopyFrom, ErrorKind> {
        let df = self.plan.df;
        let found = match raw.parse::<usize>() {
            Ok(i) if i >= self.index => return Err(ErrorKind::StageCycle(raw.to_owned())),
            Ok(i) => Some(i),
            Err(_) => super::plan::find_stage_name(df, raw),
        };
        match found {
            Some(i) if i == self.index => Err(ErrorKind::StageCycle(raw.to_owned())),
            Some(i) => {
                self.needs.push(i);
                Ok(CopyFrom::Stage(i))
            }
            None => Ok(CopyFrom::Image(raw.to_owned())),
        }
    }

    fn run(
        &mut self,
        command: &CommandLine,
        heredocs: &[super::Heredoc],
        flags: &super::RunFlags,
    ) -> Result<(Action, String), ErrorKind> {
        let mut mounts = Vec::with_capacity(flags.mounts.len());
        for spec in &flags.mounts {
            let expand = |t: &str| expand::word(t, self, self.escape);
            let mut m = spec.resolve(&expand).map_err(ErrorKind::Mount)?;
            if let Some(from) = &m.from {
                m.origin = Some(self.copy_from(&from.clone())?);
            }
            // BuildKit resolves a relative target against WORKDIR.
            m.target = m.target.map(|t| join_clean(&self.workdir, &t));
            mounts.push(m);
        }
        let network = match self.opt_word(&flags.network)? {
            None => Network::Default,
            Some(n) => Network::parse(&n).map_err(|why| ErrorKind::FlagValue {
                flag: "network".into(),
                value: n.clone(),
                why,
            })?,
        };
        let run_command = match (command, heredocs) {
            (CommandLine::Shell(line), [doc]) if is_lone_heredoc(line) => RunCommand::Script {
                shell: self.shell.clone(),
                body: doc.content(),
            },
            (CommandLine::Shell(line), docs) if !docs.is_empty() => {
                let mut script = line.clone();
                for d in docs {
                    script.push('\n');
                    script.push_str(&d.body);
                    script.push_str(&d.name);
                }
                RunCommand::Argv(self.shell.iter().cloned().chain([script]).collect())
            }
            (c, _) => RunCommand::Argv(self.argv(c)),
        };
        // Declared ARGs with a value reach the process unless ENV has the name.
        let args: Vec<(String, String)> = self
            .args
            .iter()
            .filter(|(k, _)| !self.env.iter().any(|(e, _)| e == k))
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let proxies = PREDEFINED_ARGS.iter().filter_map(|name| {
            let declared = self.args.iter().any(|(k, _)| k == name);
            let value = self.plan.inputs.build_arg(name)?;
            (!declared).then(|| (name.to_string(), value.to_owned()))
        });
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .cloned()
            .chain(args.iter().cloned())
            .chain(proxies)
            .collect();
        let mut key = String::from("RUN");
        for m in &mounts {
            key.push_str(&format!(" --mount={}", mount_key(m)));
        }
        if network != Network::Default {
            key.push_str(&format!(" --network={}", network.as_str()));
        }
        let mut sorted_args = args.clone();
        sorted_args.sort();
        if !sorted_args.is_empty() {
            key.push_str(&format!(" |{}", sorted_args.len()));
            for (k, v) in &sorted_args {
                key.push_str(&format!(" {}", json(&format!("{k}={v}"))));
            }
        }
        match &run_command {
            RunCommand::Argv(v) => key.push_str(&format!(" {}", json(v))),
            RunCommand::Script { shell, body } => {
                key.push_str(&format!(" script {} {}", json(shell), json(body)))
            }
        }
        Ok((
            Action::Run {
                command: run_command,
                mounts,
                network,
                env,
                user: self.user.clone(),
                workdir: self.workdir.clone(),
                heredocs: heredocs.to_vec(),
            },
            key,
        ))
    }

    fn sources(&self, sources: &[Source]) -> Result<Vec<CopySource>, ErrorKind> {
        sources
            .iter()
            .map(|s| match s {
                Source::Path(p) => Ok(CopySource::Path(self.word(p)?)),
                Source::Heredoc(d) => {
                    let content = match d.expand {
                        true => {
                            expand::heredoc(&d.content(), self).map_err(ErrorKind::Expansion)?
                        }
                        false => d.content(),
                    };
                    Ok(CopySource::Inline {
                        name: d.name.clone(),
                        content,
                    })
                }
            })
            .collect()
    }

    fn chmod(&self, raw: &Option<String>) -> Result<Option<u32>, ErrorKind> {
        let Some(v) = self.opt_word(raw)? else {
            return Ok(None);
        };
        u32::from_str_radix(&v, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Some)
            .ok_or(ErrorKind::FlagValue {
                flag: "chmod".into(),
                value: v,
                why: "expected an octal mode such as 0755".into(),
            })
    }

    fn copy(
        &mut self,
        word: &str,
        sources: &[Source],
        dest: &str,
        f: &super::CopyFlags,
    ) -> Result<(Action, String), ErrorKind> {
        let from = match self.opt_word(&f.from)? {
            Some(raw) => Some(self.copy_from(&raw)?),
            None => None,
        };
        let action = Action::Copy {
            sources: self.sources(sources)?,
            dest: self.word(dest)?,
            workdir: self.workdir.clone(),
            from,
            chown: self.opt_word(&f.chown)?,
            chmod: self.chmod(&f.chmod)?,
            link: f.link,
            parents: f.parents,
            exclude: self.words(&f.exclude)?,
        };
        let key = format!("{word} {action:?}");
        Ok((action, key))
    }

    fn add(
        &mut self,
        word: &str,
        sources: &[Source],
        dest: &str,
        f: &super::AddFlags,
    ) -> Result<(Action, String), ErrorKind> {
        let action = Action::Add {
            sources: self.sources(sources)?,
            dest: self.word(dest)?,
            workdir: self.workdir.clone(),
            chown: self.opt_word(&f.chown)?,
            chmod: self.chmod(&f.chmod)?,
            checksum: self.opt_word(&f.checksum)?,
            link: f.link,
            exclude: self.words(&f.exclude)?,
        };
        let key = format!("{word} {action:?}");
        Ok((action, key))
    }
}

/// `RUN <<EOF` (or `<<-EOF`, `<<"EOF"`) and nothing else on the line.
fn is_lone_heredoc(line: &str) -> bool {
    let words = super::words::raw_words(line, '\\');
    words.len() == 1 && super::heredoc::from_word(&words[0]).is_some_and(|d| d.fd.is_none())
}

/// The mount as it enters the cache key: what it mounts, never a secret's value.
fn mount_key(m: &Mount) -> String {
    format!(
        "type={},target={:?},source={:?},from={:?},id={:?},ro={},sharing={:?},mode={:?},uid={:?},gid={:?},required={},env={:?},size={:?}",
        m.kind.name(), m.target, m.source, m.from, m.id, m.readonly, m.sharing, m.mode, m.uid, m.gid, m.required, m.env, m.size
    )
}

/// EXPOSE `80`, `80/tcp`, `53/udp`, `8000-8010/sctp` → `port/proto`.
fn normalise_port(spec: &str) -> Result<String, ErrorKind> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let port_ok = |p: &str| p.parse::<u16>().is_ok();
    let ok = matches!(proto.as_str(), "tcp" | "udp" | "sctp")
        && match ports.split_once('-') {
            Some((a, b)) => port_ok(a) && port_ok(b),
            None => port_ok(ports),
        };
    if !ok {
        return Err(ErrorKind::Arguments(format!(
            "invalid port '{spec}': use PORT[/tcp|udp|sctp]"
        )));
    }
    Ok(format!("{ports}/{proto}"))
}

/// `base` joined with `path` (absolute wins), `.`/`..`/`//` removed.
pub(crate) fn join_clean(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}
