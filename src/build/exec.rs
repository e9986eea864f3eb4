//! The executor: a planned Dockerfile, stage by stage, into an image.
//!
//! Each stage's rootfs is a staging directory of the store (removed when
//! the build ends, or committed by `--install-as`). Its FROM comes through
//! the install pipeline (cache first), another stage's image, or nothing.
//! Filesystem steps run through the same machinery as everything else:
//! COPY's stream and cached layers through the unpacker, RUN as a session,
//! and the rootfs worker writes each step's layer from the store's side of
//! the privilege line. A step whose key is in the build cache is not run:
//! its layer is applied instead.

use super::cache::{self, BuildCache, CachedLayer, HashSink};
use super::context::Rootfs;
use super::copy_step::{gather, Sources};
use super::dockerfile::{
    Action, Base, BaseConfig, BuildInputs, CopyFrom, Dockerfile, Network, Plan, RunCommand,
    Setting, StageConfig, Step,
};
use super::image::{created, Image, ImageBuilder, Step as HistoryStep};
use super::layer::LayerDescriptor;
use super::remote::Downloads;
use super::worker::Worker;
use super::Error;
use crate::env::EnvSnapshot;
use crate::install::{self, InstallSource, Prepared};
use crate::oci::Platform;
use crate::sandbox::idmap::Privilege;
use crate::store::blobs::BlobCache;
use crate::store::{ContainerName, Staging, StorePaths};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Everything a build needs besides the Dockerfile.
pub struct Request<'a> {
    pub paths: &'a StorePaths,
    pub env: &'a EnvSnapshot,
    pub exe: &'a Path,
    pub privilege: &'a Privilege,
    pub context: &'a Path,
    /// The Dockerfile's own path (its `.dockerignore` may sit beside it).
    pub dockerfile: Option<&'a Path>,
    pub no_cache: bool,
    pub zstd: bool,
    /// Reproducible mode: timestamps clamped to this.
    pub epoch: Option<i64>,
    pub sandbox: super::run::Sandbox,
    pub allow_insecure: bool,
    /// `--secret`s: read only by a step that mounts them.
    pub secrets: Vec<super::run_mounts::SecretSource>,
    /// `--ssh` agents.
    pub ssh: Vec<super::run_mounts::SshSource>,
}

/// What the build tells its user.
pub trait Report {
    /// The reporter for pulling a base image.
    fn pull(&mut self) -> &mut dyn install::Reporter;
    /// `[stage/step] TEXT`, with whether it came from the cache.
    fn step(&mut self, stage: usize, number: usize, total: usize, text: &str, cached: bool);
    /// A line of a RUN step's output, as it comes (for `-v`).
    fn output(&mut self, line: &str);
    fn warn(&mut self, message: &str);
}

/// A finished build: the target's image and its rootfs, still staged.
pub struct Built {
    pub image: Image,
    pub rootfs: Staging,
    /// Steps run and steps taken from the cache.
    pub ran: usize,
    pub cached: usize,
}

/// A failed RUN: what ran, how it ended, and the end of its output.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {text} failed with exit code {code}")]
pub struct StepFailed {
    pub location: String,
    pub text: String,
    pub code: i32,
    pub tail: Vec<String>,
}

struct StageDone {
    image: Image,
    staging: Staging,
    key: String,
    plan_base: BaseConfig,
}

pub fn build(
    req: &Request,
    df: &Dockerfile,
    inputs: &BuildInputs,
    report: &mut dyn Report,
) -> Result<Built, Error> {
    let plan = Plan::new(df, inputs)?;
    let blobs = BlobCache::new(req.paths.layer_cache());
    crate::store::ensure_private_dir(&req.paths.cache_dir)?;
    crate::store::ensure_private_dir(blobs.dir())?;
    let mut index = BuildCache::open(&req.paths.cache_dir);
    super::run_mounts::sweep_dropped(req.paths, req.privilege, req.exe);
    let mut downloads = Downloads::new(&req.paths.cache_dir);
    let mut images = HashMap::new();
    let mut done: Vec<Option<StageDone>> = (0..df.stages.len()).map(|_| None).collect();
    let (mut ran, mut cached) = (0, 0);
    for &index_of_stage in &plan.order {
        let mut exec = StageExec {
            req,
            file: &df.file,
            blobs: &blobs,
            index: &mut index,
            downloads: &mut downloads,
            images: &mut images,
            report: &mut *report,
            ran: 0,
            cached: 0,
        };
        let result = exec.stage(&plan, index_of_stage, &done, &inputs.target_platform);
        ran += exec.ran;
        cached += exec.cached;
        match result {
            Ok(stage) => done[index_of_stage] = Some(stage),
            Err(e) => {
                index.save();
                return Err(e);
            }
        }
    }
    index.save();
    let target = done[plan.target]
        .take()
        .ok_or_else(|| Error::Base("the target stage was not built".into()))?;
    Ok(Built {
        image: target.image,
        rootfs: target.staging,
        ran,
        cached,
    })
}

struct StageExec<'a, 'r> {
    req: &'a Request<'a>,
    /// The Dockerfile's name, for locations in errors.
    file: &'a str,
    blobs: &'a BlobCache,
    index: &'a mut BuildCache,
    downloads: &'a mut Downloads,
    /// Images COPY --from names, pulled once per build.
    images: &'a mut HashMap<String, Prepared>,
    report: &'r mut dyn Report,
    ran: usize,
    cached: usize,
}

impl StageExec<'_, '_> {
    fn stage(
        &mut self,
        plan: &Plan,
        idx: usize,
        done: &[Option<StageDone>],
        platform: &Platform,
    ) -> Result<StageDone, Error> {
        let req = self.req;
        let (staging, mut image, base, mut key) = match &plan.bases[idx] {
            Base::Scratch => {
                let staging = self.empty_staging()?;
                (
                    staging,
                    ImageBuilder::scratch(platform),
                    BaseConfig::default(),
                    "scratch".to_owned(),
                )
            }
            Base::Image(reference) => {
                let prepared = self.pull(reference, platform, "FROM")?;
                let manifest = prepared.manifest.clone().ok_or_else(|| {
                    Error::Base(format!("the base image {reference} has no image manifest"))
                })?;
                let image = ImageBuilder::from_base(&manifest.manifest, &manifest.image_config)?;
                let base = base_config(&manifest.image_config);
                let key = manifest
                    .manifest
                    .digest
                    .clone()
                    .unwrap_or_else(|| reference.clone());
                (prepared.staging, image, base, key)
            }
            Base::Stage(from) => {
                let parent = done[*from]
                    .as_ref()
                    .ok_or_else(|| Error::Base(format!("stage {from} was not built")))?;
                let staging = self.empty_staging()?;
                for layer in &parent.image.layers {
                    self.apply_cached(&staging.rootfs(), &layer.digest)?;
                }
                let image = ImageBuilder::from_base(&parent.image.manifest, &parent.image.config)?;
                (staging, image, parent.plan_base.clone(), parent.key.clone())
            }
        };
        let stage_plan = plan.stage(idx, &base)?;
        let rootfs = staging.rootfs();
        let mut worker = Worker::start(req.exe, req.privilege, &rootfs, self.blobs)?;
        let mut synced = false;
        let total = stage_plan.steps.len();
        let now = created(req.epoch);
        // The image's date: now if a step runs, else the latest of its
        // cached steps' (so an unchanged rebuild is the same image).
        let mut latest: Option<String> = None;
        let mut steps = Vec::with_capacity(stage_plan.steps.len());
        for (n, step) in stage_plan.steps.iter().enumerate() {
            self.pull_copy_source(step, platform)?;
            let inputs = self.inputs_of(step, &rootfs, done)?;
            let filesystem = !matches!(step.action, Action::Config);
            // How layers are written is part of what a step makes: a
            // gzip or unclamped layer must not serve a zstd or
            // --reproducible build.
            let format = format!("zstd={} epoch={:?}", req.zstd, req.epoch);
            key = cache::chain(&key, &step.cache_key, &format!("{inputs}\0{format}"));
            let hit = match (filesystem, self.req.no_cache) {
                (true, false) => self.index.get(&key, &|d| self.blobs.contains(d)),
                _ => None,
            };
            self.report
                .step(idx, n + 1, total, &step.text, hit.is_some());
            let mut when = now.clone();
            let layer = if !filesystem {
                None
            } else if let Some(entry) = hit {
                self.cached += 1;
                if !entry.created.is_empty() {
                    when = entry.created.clone();
                }
                if let Some(l) = &entry.layer {
                    self.apply_cached(&rootfs, &l.digest)?;
                    synced = false;
                }
                entry.layer.map(descriptor)
            } else {
                if !synced {
                    worker.snapshot()?;
                }
                self.ran += 1;
                self.execute(step, &staging, done)?;
                let written = worker.layer(req.zstd, req.epoch)?;
                synced = true;
                let layer = (written.changes > 0).then(|| CachedLayer {
                    digest: written.digest,
                    diff_id: written.diff_id,
                    size: written.size,
                    media_type: layer_media_type(req.zstd).into(),
                });
                self.index.put(key.clone(), layer.clone(), &now);
                layer.map(descriptor)
            };
            if filesystem && latest.as_ref().is_none_or(|l| *l < when) {
                latest = Some(when.clone());
            }
            let history = HistoryStep {
                created_by: history_text(step),
                comment: Some("chroot-distro build".into()),
                layer,
            };
            steps.push((history, filesystem.then_some(when)));
        }
        worker.finish()?;
        // Configuration steps make nothing to date: they take the image's
        // date, so a cached rebuild dates them as the first build did.
        let date = latest.unwrap_or(now);
        for (history, when) in steps {
            image.push_step(history, when.as_deref().unwrap_or(&date));
        }
        apply_config(&mut image, &stage_plan.config);
        Ok(StageDone {
            image: image.finish(&date)?,
            staging,
            key,
            plan_base: stage_plan.as_base(),
        })
    }

    fn empty_staging(&self) -> Result<Staging, Error> {
        let req = self.req;
        let staging = Staging::create(req.paths)?
            .with_remover(crate::unpack::remover(req.privilege, req.exe));
        let rootfs = staging.rootfs();
        std::fs::create_dir(&rootfs)
            .map_err(|e| crate::ioerr::IoError::new("create", &rootfs, e))?;
        Ok(staging)
    }

    /// COPY --from=IMAGE: the image through the install pipeline (as
    /// FROM's), once per build, its rootfs then read like a stage's.
    fn pull_copy_source(&mut self, step: &Step, platform: &Platform) -> Result<(), Error> {
        let (references, what): (Vec<&String>, &str) = match &step.action {
            Action::Copy {
                from: Some(CopyFrom::Image(reference)),
                ..
            } => (vec![reference], "COPY --from"),
            Action::Run { mounts, .. } => (
                mounts
                    .iter()
                    .filter_map(|m| match &m.origin {
                        Some(CopyFrom::Image(r)) => Some(r),
                        _ => None,
                    })
                    .collect(),
                "RUN --mount from",
            ),
            _ => return Ok(()),
        };
        for reference in references {
            if !self.images.contains_key(reference) {
                let label = format!("{}:{}: {what}", self.file, step.span);
                let prepared = self.pull(reference, platform, &label)?;
                self.images.insert(reference.clone(), prepared);
            }
        }
        Ok(())
    }

    /// An image through the install pipeline, into a staging rootfs;
    /// `label` says who wanted it in errors.
    fn pull(
        &mut self,
        reference: &str,
        platform: &Platform,
        label: &str,
    ) -> Result<Prepared, Error> {
        let req = self.req;
        let source = InstallSource::Image(reference.to_owned());
        let name = ContainerName::new("build-base").map_err(|e| Error::Base(e.to_string()))?;
        let ireq = install::Request {
            paths: req.paths,
            name,
            source: &source,
            platform: platform.clone(),
            privilege: req.privilege,
            exe: req.exe,
            termux_user: None,
            force_walk: false,
            env: req.env,
            allow_insecure: req.allow_insecure,
            strict: false,
        };
        install::prepare(&ireq, self.report.pull())
            .map_err(|e| Error::Base(format!("{label} {reference}: {e}")))
    }

    /// Lays a cached layer blob onto the rootfs (whiteouts apply).
    fn apply_cached(&self, rootfs: &Path, digest: &crate::oci::Digest) -> Result<(), Error> {
        let path = self.blobs.path(digest);
        let file =
            std::fs::File::open(&path).map_err(|e| crate::ioerr::IoError::new("open", &path, e))?;
        super::apply::apply(
            self.req.exe,
            self.req.privilege,
            self.req.env,
            rootfs,
            "cached layer",
            true,
            move |mut w| {
                let mut file = file;
                std::io::copy(&mut file, &mut w)
                    .map(|_| ())
                    .map_err(|e| Error::from(crate::ioerr::IoError::new("read", &path, e)))
            },
        )?;
        Ok(())
    }

    /// The digest of what a step reads besides its text: COPY's stream.
    fn inputs_of(
        &mut self,
        step: &Step,
        rootfs: &Path,
        done: &[Option<StageDone>],
    ) -> Result<String, Error> {
        match &step.action {
            Action::Copy { .. } | Action::Add { .. } => {
                let sources = self.source_dir(step, done)?;
                let downloads = &mut *self.downloads;
                let mut urls = |url: &str, checksum: Option<&str>| downloads.key(url, checksum);
                // Made files' dates stay out of the key (their content is in it).
                let (stream, mut archives) =
                    gather(self.file, step, rootfs, &sources, 0, &mut urls)?;
                let mut sink = HashSink::default();
                stream.write(&mut sink)?;
                archives.hash_into(&mut sink)?;
                Ok(sink.finish())
            }
            Action::Run { mounts, .. } => self.mount_inputs(mounts, done),
            _ => Ok(String::new()),
        }
    }

    /// What a RUN's bind mounts read: the context subtree's content, or
    /// the key of the stage (the digest of the image) it comes from.
    /// Cache contents and secret values never enter a key.
    fn mount_inputs(
        &self,
        mounts: &[super::dockerfile::Mount],
        done: &[Option<StageDone>],
    ) -> Result<String, Error> {
        use super::dockerfile::MountType;
        let mut out = String::new();
        for m in mounts.iter().filter(|m| m.kind == MountType::Bind) {
            let source = m.source.as_deref().unwrap_or("/");
            let part = match &m.origin {
                None => {
                    let ctx = super::context::Context::open(self.req.context, self.req.dockerfile)?;
                    let word = match source.trim_start_matches('/') {
                        "" => ".".to_owned(),
                        s => s.to_owned(),
                    };
                    let mut sink = HashSink::default();
                    ctx.copy(&[word], "/", &Default::default(), &Nothing, &mut sink)?;
                    sink.finish()
                }
                Some(CopyFrom::Stage(i)) => done
                    .get(*i)
                    .and_then(|d| d.as_ref())
                    .map(|d| d.key.clone())
                    .unwrap_or_default(),
                Some(CopyFrom::Image(r)) => self
                    .images
                    .get(r)
                    .and_then(|p| p.manifest.as_ref())
                    .and_then(|m| m.manifest.digest.clone())
                    .unwrap_or_else(|| r.clone()),
            };
            out.push_str(&format!("bind {source} {part}\0"));
        }
        Ok(out)
    }

    fn execute(
        &mut self,
        step: &Step,
        staging: &Staging,
        done: &[Option<StageDone>],
    ) -> Result<(), Error> {
        let req = self.req;
        let rootfs = &staging.rootfs();
        match &step.action {
            Action::Run {
                command,
                env,
                user,
                workdir,
                mounts,
                network,
                ..
            } => {
                let argv = match command {
                    RunCommand::Argv(argv) => argv.clone(),
                    RunCommand::Script { shell, body } => {
                        let mut argv = shell.clone();
                        argv.push(body.clone());
                        argv
                    }
                };
                self.ensure_dir(rootfs, workdir)?;
                let location = format!("{}:{}", self.file, step.span);
                let setup = super::run_mounts::Setup {
                    req,
                    scratch: staging.dir(),
                    location: &location,
                };
                let origin = |m: &super::dockerfile::Mount| self.origin(m, step, done);
                let prepared = setup.prepare(rootfs, mounts, &origin)?;
                let run_step = super::run::Step {
                    argv,
                    env: env.iter().cloned().chain(prepared.env.clone()).collect(),
                    user: user.clone(),
                    workdir: workdir.clone(),
                    mounts: prepared.mounts.clone(),
                    network: match network {
                        Network::None => crate::launch::Network::None,
                        Network::Default | Network::Host => crate::launch::Network::Host,
                    },
                };
                let report = &mut *self.report;
                let outcome = super::run::run(
                    req.exe,
                    rootfs,
                    &run_step,
                    &req.sandbox,
                    staging.dir(),
                    &mut |l| report.output(l),
                );
                prepared.finish(rootfs, req.privilege, req.exe);
                let outcome = outcome?;
                if outcome.code != 0 {
                    return Err(Error::Step(Box::new(StepFailed {
                        location: format!("{}:{}", self.file, step.span),
                        text: step.text.clone(),
                        code: outcome.code,
                        tail: outcome.tail,
                    })));
                }
                Ok(())
            }
            Action::Copy { .. } | Action::Add { .. } => {
                let sources = self.source_dir(step, done)?;
                let (downloads, now) = (&mut *self.downloads, now_epoch());
                let mut urls = |url: &str, sum: Option<&str>| downloads.made(url, sum, now);
                let (stream, archives) = gather(self.file, step, rootfs, &sources, now, &mut urls)?;
                let (exe, privilege, env) = (req.exe, req.privilege, req.env);
                super::apply::apply(exe, privilege, env, rootfs, "COPY", false, move |w| {
                    stream.write(w)
                })?;
                for archive in archives.list {
                    let how = super::apply::Unpack {
                        label: format!("ADD {}", archive.rel.display()),
                        into: archives.into.clone(),
                        owner: archives.owner,
                    };
                    super::apply::unpack_into(exe, privilege, env, rootfs, how, move |mut w| {
                        let mut file = archive.file;
                        std::io::copy(&mut file, &mut w).map(drop).map_err(|e| {
                            Error::from(crate::ioerr::IoError::new("read", &archive.rel, e))
                        })
                    })?;
                }
                Ok(())
            }
            Action::Workdir(dir) => self.ensure_dir(rootfs, dir),
            Action::Config => Ok(()),
        }
    }

    /// Creates `dir` (absolute) in the rootfs when missing, 0755 root.
    fn ensure_dir(&self, rootfs: &Path, dir: &str) -> Result<(), Error> {
        let image = Rootfs::open(rootfs)?;
        let rel = Path::new(dir.trim_start_matches('/'));
        if rel.as_os_str().is_empty() || super::context::Destination::exists(&image, rel) {
            return Ok(());
        }
        let rel = rel.to_path_buf();
        super::apply::apply(
            self.req.exe,
            self.req.privilege,
            self.req.env,
            rootfs,
            "WORKDIR",
            false,
            move |w| {
                let mut tar = tar::Builder::new(w);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(now_epoch());
                tar.append_data(&mut h, &rel, std::io::empty())
                    .and_then(|_| tar.finish())
                    .map_err(|e| Error::Base(format!("cannot write WORKDIR's stream: {e}")))
            },
        )?;
        Ok(())
    }

    /// Where a mount's `from=` reads: the context, a stage's or an image's rootfs.
    fn origin(
        &self,
        m: &super::dockerfile::Mount,
        step: &Step,
        done: &[Option<StageDone>],
    ) -> Result<super::run_mounts::Origin, Error> {
        use super::run_mounts::Origin;
        match &m.origin {
            None => Ok(Origin::Context),
            Some(CopyFrom::Stage(i)) => done
                .get(*i)
                .and_then(|d| d.as_ref())
                .map(|d| Origin::Tree(d.staging.rootfs()))
                .ok_or_else(|| at(self.file, step, format!("stage {i} was not built"))),
            Some(CopyFrom::Image(r)) => self
                .images
                .get(r)
                .map(|p| Origin::Tree(p.staging.rootfs()))
                .ok_or_else(|| at(self.file, step, format!("the image {r} was not pulled"))),
        }
    }

    /// Where a COPY reads from: the context, or another stage's rootfs.
    fn source_dir(&self, step: &Step, done: &[Option<StageDone>]) -> Result<Sources, Error> {
        let from = match &step.action {
            Action::Copy { from, .. } => from.clone(),
            _ => None,
        };
        match from {
            None => Ok(Sources::Context(
                self.req.context.to_path_buf(),
                self.req.dockerfile.map(Path::to_path_buf),
            )),
            Some(CopyFrom::Stage(i)) => done
                .get(i)
                .and_then(|d| d.as_ref())
                .map(|d| Sources::Tree(d.staging.rootfs()))
                .ok_or_else(|| at(self.file, step, format!("stage {i} was not built"))),
            Some(CopyFrom::Image(r)) => self
                .images
                .get(&r)
                .map(|p| Sources::Tree(p.staging.rootfs()))
                .ok_or_else(|| at(self.file, step, format!("the image {r} was not pulled"))),
        }
    }
}

/// A destination with nothing in it: where a bind mount's source is
/// streamed only to be hashed.
struct Nothing;

impl super::context::Destination for Nothing {
    fn is_dir(&self, _: &Path) -> bool {
        false
    }
    fn exists(&self, _: &Path) -> bool {
        false
    }
}

pub(super) fn at(file: &str, step: &Step, message: String) -> Error {
    Error::At {
        location: format!("{file}:{}", step.span),
        message,
    }
}

pub(super) fn not_yet(file: &str, step: &Step, what: &str) -> Error {
    Error::NotYet {
        location: format!("{file}:{}", step.span),
        what: what.to_owned(),
    }
}

fn descriptor(l: CachedLayer) -> LayerDescriptor {
    LayerDescriptor {
        digest: l.digest,
        diff_id: l.diff_id,
        size: l.size,
        media_type: if l.media_type.contains("zstd") {
            layer_media_type(true)
        } else {
            layer_media_type(false)
        },
    }
}

fn layer_media_type(zstd: bool) -> &'static str {
    if zstd {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
}

/// What Docker records as `created_by`.
fn history_text(step: &Step) -> String {
    match &step.action {
        Action::Run { .. } => format!(
            "RUN {}",
            step.text
                .split_once(char::is_whitespace)
                .map_or("", |(_, r)| r.trim())
        ),
        _ => step.text.clone(),
    }
}

/// The base image's settings a stage starts from.
fn base_config(config: &crate::store::ImageConfig) -> BaseConfig {
    let rt = config.config.as_ref();
    BaseConfig {
        env: rt.and_then(|c| c.env.clone()).unwrap_or_default(),
        workdir: rt
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty()),
        user: rt.and_then(|c| c.user.clone()).filter(|u| !u.is_empty()),
        shell: rt.and_then(|c| c.shell.clone()),
    }
}

/// The stage's final settings into the image config.
fn apply_config(image: &mut ImageBuilder, cfg: &StageConfig) {
    if let Some(m) = &cfg.maintainer {
        image.set_author(m);
    }
    let rt = image.runtime();
    rt.env = Some(cfg.env.clone());
    match &cfg.cmd {
        Setting::Set(v) => rt.cmd = Some(v.clone()),
        Setting::Clear => rt.cmd = None,
        Setting::Inherit => {}
    }
    match &cfg.entrypoint {
        Setting::Set(v) => rt.entrypoint = Some(v.clone()),
        Setting::Clear => rt.entrypoint = None,
        Setting::Inherit => {}
    }
    if let Some(w) = &cfg.workdir {
        rt.working_dir = Some(w.clone());
    }
    if let Some(u) = &cfg.user {
        rt.user = Some(u.clone());
    }
    if !cfg.labels.is_empty() {
        let labels = rt.labels.get_or_insert_with(Default::default);
        for (k, v) in &cfg.labels {
            labels.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
    for p in &cfg.exposed_ports {
        rt.exposed_ports
            .get_or_insert_with(Default::default)
            .insert(p.clone(), serde_json::json!({}));
    }
    for v in &cfg.volumes {
        rt.volumes
            .get_or_insert_with(Default::default)
            .insert(v.clone(), serde_json::json!({}));
    }
    if let Some(s) = &cfg.stop_signal {
        rt.stop_signal = Some(s.clone());
    }
    if let Some(s) = &cfg.shell {
        rt.shell = Some(s.clone());
    }
    if let Some(h) = &cfg.healthcheck {
        let nanos =
            |d: Option<std::time::Duration>| d.map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
        rt.healthcheck = Some(crate::store::Healthcheck {
            test: h.test.clone(),
            interval: nanos(h.options.interval),
            timeout: nanos(h.options.timeout),
            start_period: nanos(h.options.start_period),
            start_interval: nanos(h.options.start_interval),
            retries: h.options.retries.map(i64::from),
        });
    }
    if !cfg.onbuild.is_empty() {
        rt.on_build = Some(cfg.onbuild.clone());
    }
}

/// `--install-as NAME`: the target's rootfs becomes container NAME, with
/// the built image as its manifest (so `run` finds its Entrypoint and
/// `reset` rebuilds it from the cached layers).
pub fn install_as(
    paths: &StorePaths,
    name: &ContainerName,
    built: Built,
    image_ref: &str,
) -> Result<PathBuf, Error> {
    use crate::store::{ContainerLock, ContainerManifest, LockMode};
    let _lock =
        ContainerLock::try_acquire(&paths.lock_file(name), name.as_str(), LockMode::Exclusive)?;
    if std::fs::symlink_metadata(paths.container_dir(name)).is_ok() {
        return Err(crate::store::Error::Exists(name.to_string()).into());
    }
    let mut manifest = built.image.manifest.clone();
    manifest.digest = Some(built.image.manifest_digest.to_string());
    manifest.content_type = manifest.media_type.clone();
    let record = ContainerManifest {
        image_ref: image_ref.to_owned(),
        arch: built.image.platform.native_name().to_owned(),
        manifest,
        image_config: built.image.config.clone(),
        extra: Default::default(),
    };
    record.write(&built.rootfs.manifest())?;
    Ok(built.rootfs.commit(paths, name)?)
}

/// Seconds since the epoch for entries the build makes itself (WORKDIR's
/// directories); `--reproducible` clamps them when the layer is written.
fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
