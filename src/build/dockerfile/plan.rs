//! Which stages a build needs and what each FROM means; Docker's ARG
//! scoping for the global part (before the first FROM).

use super::error::{DockerfileError, ErrorKind};
use super::expand::{self, Scope};
use super::stage::{self, BaseConfig, StagePlan};
use super::{Dockerfile, Kind};
use crate::oci::platform::Platform;
use std::collections::BTreeSet;

/// Proxy variables every build accepts without an ARG line; they reach RUN
/// only (not the image, not expansion), as in Docker.
pub const PREDEFINED_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Set automatically from the platforms; global, usable in FROM, and in a
/// stage once it declares them with ARG.
pub const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// What the command line brings to planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInputs {
    /// `--build-arg K=V` in order; a later one wins.
    pub build_args: Vec<(String, String)>,
    pub target_platform: Platform,
    pub build_platform: Platform,
    /// `--target NAME`; the last stage when None.
    pub target: Option<String>,
}

impl BuildInputs {
    pub(crate) fn build_arg(&self, name: &str) -> Option<&str> {
        self.build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn platform_args(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for (prefix, p) in [
            ("TARGET", &self.target_platform),
            ("BUILD", &self.build_platform),
        ] {
            out.push((format!("{prefix}PLATFORM"), Some(p.to_string())));
            out.push((format!("{prefix}OS"), Some(p.os.clone())));
            out.push((format!("{prefix}ARCH"), Some(p.architecture.clone())));
            out.push((
                format!("{prefix}VARIANT"),
                Some(p.variant.clone().unwrap_or_default()),
            ));
        }
        out
    }
}

/// What a FROM line resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference, expanded.
    Image(String),
}

/// The stages of one build and how to plan each.
#[derive(Debug)]
pub struct Plan<'a> {
    pub(crate) df: &'a Dockerfile,
    pub(crate) inputs: &'a BuildInputs,
    /// Every stage's FROM, resolved with the global ARGs.
    pub bases: Vec<Base>,
    /// Every stage's `--platform`, expanded.
    pub platforms: Vec<Option<String>>,
    /// The stage `--target` selected (the last one by default).
    pub target: usize,
    /// The stages to build, each after the ones it needs; the target last.
    pub order: Vec<usize>,
    /// Global ARGs with their values (unset ones as None), platform ARGs first.
    pub(crate) globals: Vec<(String, Option<String>)>,
}

impl<'a> Plan<'a> {
    pub fn new(df: &'a Dockerfile, inputs: &'a BuildInputs) -> Result<Self, DockerfileError> {
        let globals = global_args(df, inputs)?;
        let mut bases = Vec::with_capacity(df.stages.len());
        let mut platforms = Vec::with_capacity(df.stages.len());
        for stage in &df.stages {
            let err = |kind| DockerfileError {
                file: df.file.clone(),
                span: Some(stage.span),
                instruction: Some("FROM".into()),
                kind: Box::new(kind),
            };
            let image = expand::word(&stage.from, &Scope(&globals), df.directives.escape)
                .map_err(|e| err(ErrorKind::Expansion(e)))?;
            let platform = match &stage.platform {
                Some(p) => Some(
                    expand::word(p, &Scope(&globals), df.directives.escape)
                        .map_err(|e| err(ErrorKind::Expansion(e)))?,
                ),
                None => None,
            };
            platforms.push(platform);
            bases.push(resolve_base(df, stage.index, &image).map_err(err)?);
        }
        let target = match &inputs.target {
            None => df.stages.len().saturating_sub(1),
            Some(name) => find_stage_name(df, name).ok_or_else(|| DockerfileError {
                file: df.file.clone(),
                span: None,
                instruction: None,
                kind: Box::new(ErrorKind::UnknownTarget(name.clone())),
            })?,
        };
        let mut plan = Plan {
            df,
            inputs,
            bases,
            platforms,
            target,
            order: Vec::new(),
            globals,
        };
        plan.order = plan.build_order()?;
        Ok(plan)
    }

    /// Plans stage `index` over its base: the image config's Env, WorkingDir,
    /// User (and Shell), or the parent stage's [`StagePlan::as_base`].
    pub fn stage(&self, index: usize, base: &BaseConfig) -> Result<StagePlan, DockerfileError> {
        if index >= self.df.stages.len() {
            return Err(DockerfileError {
                file: self.df.file.clone(),
                span: None,
                instruction: None,
                kind: Box::new(ErrorKind::NoSuchStage(index)),
            });
        }
        stage::evaluate(self, index, base)
    }

    /// `--build-arg` names no ARG of the built stages (nor the global part)
    /// declares, nor predefined: Docker's "were not consumed" warning.
    pub fn unused_build_args(&self) -> Vec<String> {
        let mut declared: BTreeSet<&str> = BTreeSet::new();
        let stages = self.order.iter().map(|&i| &self.df.stages[i]);
        let instructions = self
            .df
            .global_args
            .iter()
            .chain(stages.flat_map(|s| s.instructions.iter()));
        for ins in instructions {
            if let Kind::Arg(decls) = &ins.kind {
                declared.extend(decls.iter().map(|d| d.name.as_str()));
            }
        }
        let mut unused: Vec<String> = self
            .inputs
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !declared.contains(k))
            .filter(|k| !PREDEFINED_ARGS.contains(k) && !PLATFORM_ARGS.contains(k))
            .map(str::to_owned)
            .collect();
        unused.sort();
        unused.dedup();
        unused
    }

    /// Depth-first from the target through bases and `--from` references,
    /// found by planning each stage without its base image's environment.
    fn build_order(&self) -> Result<Vec<usize>, DockerfileError> {
        let n = self.df.stages.len();
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut base_of: Vec<BaseConfig> = vec![BaseConfig::default(); n];
        for i in 0..n {
            let base = match self.bases[i] {
                Base::Stage(j) => base_of[j].clone(),
                _ => BaseConfig::default(),
            };
            if let Base::Stage(j) = self.bases[i] {
                deps[i].push(j);
            }
            // A stage that fails here fails again, with its line, when planned.
            if let Ok(p) = stage::evaluate(self, i, &base) {
                base_of[i] = p.as_base();
                deps[i].extend(p.needs);
            }
        }
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut marks = vec![Mark::New; n];
        let mut order = Vec::new();
        // Iterative DFS: (stage, next dependency to visit).
        let mut stack = vec![(self.target, 0usize)];
        marks[self.target] = Mark::Open;
        while let Some((s, k)) = stack.pop() {
            match deps[s].get(k) {
                None => {
                    marks[s] = Mark::Done;
                    order.push(s);
                }
                Some(&d) => {
                    stack.push((s, k + 1));
                    match marks[d] {
                        Mark::Done => {}
                        Mark::Open => {
                            let stage = &self.df.stages[s];
                            return Err(DockerfileError {
                                file: self.df.file.clone(),
                                span: Some(stage.span),
                                instruction: None,
                                kind: Box::new(ErrorKind::StageCycle(stage_label(self.df, d))),
                            });
                        }
                        Mark::New => {
                            marks[d] = Mark::Open;
                            stack.push((d, 0));
                        }
                    }
                }
            }
        }
        Ok(order)
    }
}

fn stage_label(df: &Dockerfile, i: usize) -> String {
    df.stages[i].name.clone().unwrap_or_else(|| i.to_string())
}

/// The global scope: platform ARGs, then each ARG before the first FROM
/// (a `--build-arg` overrides its default; defaults see earlier ones).
fn global_args(
    df: &Dockerfile,
    inputs: &BuildInputs,
) -> Result<Vec<(String, Option<String>)>, DockerfileError> {
    let mut vars = inputs.platform_args();
    for ins in &df.global_args {
        let Kind::Arg(decls) = &ins.kind else {
            continue;
        };
        for d in decls {
            let name = expand::word(&d.name, &Scope(&vars), df.directives.escape);
            let value = match (inputs.build_arg(&d.name), &d.default) {
                (Some(v), _) => Ok(Some(v.to_owned())),
                (None, Some(default)) => {
                    expand::word(default, &Scope(&vars), df.directives.escape).map(Some)
                }
                (None, None) => Ok(None),
            };
            let (name, value) =
                name.and_then(|n| value.map(|v| (n, v)))
                    .map_err(|e| DockerfileError {
                        file: df.file.clone(),
                        span: Some(ins.span),
                        instruction: Some(ins.word.clone()),
                        kind: Box::new(ErrorKind::Expansion(e)),
                    })?;
            vars.push((name, value));
        }
    }
    Ok(vars)
}

/// Stage names are case-insensitive.
pub(crate) fn find_stage_name(df: &Dockerfile, name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    df.stages
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

/// FROM: `scratch`, an earlier stage's name, or an image.
fn resolve_base(df: &Dockerfile, index: usize, image: &str) -> Result<Base, ErrorKind> {
    if image.is_empty() {
        return Err(ErrorKind::EmptyBase(df.stages[index].from.clone()));
    }
    if image.eq_ignore_ascii_case("scratch") {
        return Ok(Base::Scratch);
    }
    // Only an earlier stage: `FROM alpine AS alpine` still means the image.
    match find_stage_name(df, image) {
        Some(i) if i < index => Ok(Base::Stage(i)),
        _ => Ok(Base::Image(image.to_owned())),
    }
}
