//! `build`'s execution: the executor's options from the command line, its
//! output, and the results (tags, `-o` archives, `--install-as`).

use crate::cli::{flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::build::dockerfile::{BuildInputs, Dockerfile};
use chroot_distro::build::exec::{self, Report, Request};
use chroot_distro::build::{self, Error, LayerOptions};
use chroot_distro::sandbox::idmap::Privilege;
use chroot_distro::store::{blobs::BlobCache, ContainerName};
use clap::ArgMatches;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

pub fn execute(
    m: &ArgMatches,
    ctx: &Ctx,
    context: &Path,
    dockerfile: Option<&Path>,
    df: &Dockerfile,
    inputs: &BuildInputs,
) -> RunResult {
    let paths = ctx.store_paths()?;
    let privilege = Privilege::detect(&ctx.env);
    if let Privilege::Squash { reason } = &privilege {
        return Err(Failure::failed(format!(
            "build needs root or a user namespace to run its steps, and {reason}"
        )));
    }
    let tags = tags(m, context)?;
    let install = match m.get_one::<String>("install-as") {
        Some(n) => Some(ContainerName::new(n).map_err(Failure::from)?),
        None => None,
    };
    let quiet = flag(m, "quiet");
    let progress = m
        .get_one::<String>("progress")
        .map_or("auto", String::as_str);
    let json = progress == "rawjson";
    // tty: one live line for the running step, a line per finished one.
    // Only on a terminal (asked for elsewhere, it falls back to plain).
    let live = matches!(progress, "auto" | "tty") && !quiet && std::io::stderr().is_terminal();
    let mut report = Lines {
        pull: crate::progress::Progress::new(quiet || json, ctx.env.is_truthy("CD_DEBUG"), ctx.err),
        quiet,
        verbose: flag(m, "verbose"),
        json,
        warn: ctx.err,
        live: live.then(LiveStep::default),
    };
    let req = Request {
        paths: &paths,
        env: &ctx.env,
        exe: Path::new("/proc/self/exe"),
        privilege: &privilege,
        context,
        dockerfile,
        no_cache: flag(m, "no-cache"),
        zstd: m.get_one::<String>("compress").is_some_and(|c| c == "zstd"),
        epoch: LayerOptions::epoch_from(&ctx.env, flag(m, "reproducible")),
        sandbox: build::run::Sandbox {
            idmap: match &privilege {
                Privilege::UserNs(map) => Some(map.clone()),
                _ => None,
            },
            isolated: ctx.env.is_truthy("CD_USE_ISOLATION"),
            use_ns: ctx.env.is_truthy("CD_USE_NS"),
        },
        allow_insecure: flag(m, "allow-insecure"),
        secrets: crate::build::secrets(m)?,
        ssh: crate::build::ssh_agents(m, ctx)?,
    };
    chroot_distro::interrupt::catch();
    let built = exec::build(&req, df, inputs, &mut report);
    report.pull.finish();
    report.finish_step();
    let built = built.map_err(failure)?;
    let stored = build::store_image(&paths, &tags, &built.image).map_err(failure)?;
    let blobs = BlobCache::new(paths.layer_cache());
    for out in m.get_many::<String>("output").into_iter().flatten() {
        build::write_oci_archive(Path::new(out), &built.image, &tags, &blobs).map_err(failure)?;
    }
    let digest = built.image.manifest_digest.to_string();
    let (ran, cached) = (built.ran, built.cached);
    if let Some(name) = &install {
        exec::install_as(&paths, name, built, &stored[0]).map_err(failure)?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "digest": digest, "tags": stored, "ran": ran, "cached": cached})
        );
    } else if !quiet {
        println!("Built {digest} ({ran} step(s) run, {cached} from the cache)");
        for t in &stored {
            println!("  tagged {t}: chroot-distro install {t}");
        }
        if let Some(n) = &install {
            println!("  installed as '{n}': chroot-distro login {n}");
        }
    }
    prune_to_budget(&paths, ctx);
    Ok(Exit::Ok)
}

/// `CD_BUILD_CACHE_MAX=SIZE`: after a build, the build cache shrinks to
/// SIZE. The build has succeeded already, so problems are warnings; a
/// cache another command holds is left for the next build.
fn prune_to_budget(paths: &chroot_distro::store::StorePaths, ctx: &Ctx) {
    let Some(text) = ctx.env.get("CD_BUILD_CACHE_MAX") else {
        return;
    };
    let Some(keep) = chroot_distro::registry::settings::parse_rate(&text) else {
        crate::report::warn(
            ctx.err,
            &format!("CD_BUILD_CACHE_MAX='{text}' is not a size such as 800M or 2G; the build cache was not pruned"),
        );
        return;
    };
    match build::prune::prune(paths, Some(keep), None) {
        Ok(_) | Err(build::Error::Store(chroot_distro::store::Error::Busy { .. })) => {}
        Err(e) => crate::report::warn(ctx.err, &format!("cannot prune the build cache: {e}")),
    }
}

/// `-t` as given, else `<basename of the context>:latest`.
fn tags(m: &ArgMatches, context: &Path) -> Result<Vec<String>, Failure> {
    let given: Vec<String> = m
        .get_many::<String>("tag")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !given.is_empty() {
        return Ok(given);
    }
    let dir = context
        .canonicalize()
        .map_err(|e| Failure::failed(format!("cannot resolve {}: {e}", context.display())))?;
    let base: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        // A repository name starts and ends with a letter or digit.
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    if base.is_empty() {
        return Err(Failure::usage(
            "cannot name the image after the context: give -t NAME",
        ));
    }
    Ok(vec![format!("{base}:latest")])
}

fn failure(e: Error) -> Failure {
    if let Error::NotYet { .. } = &e {
        return Failure::new(Exit::NotImplemented, e.to_string());
    }
    if let Error::Step(f) = &e {
        return Failure::failed(e.to_string())
            .with_details(f.tail.clone())
            .with_hint(
                "nothing was tagged; fix the step and build again (earlier steps are cached)",
            );
    }
    if chroot_distro::interrupt::happened() {
        return Failure::new(Exit::Interrupted, "build interrupted; nothing was tagged");
    }
    let hint = e.hint();
    let f = Failure::failed(e.to_string());
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// Plain output: a line per step on stderr, RUN output with `-v`; or one
/// JSON event per line on stdout (`--progress rawjson`); on a terminal,
/// the running step as a live line (`--progress tty`, `auto`'s choice there).
struct Lines {
    pull: crate::progress::Progress,
    quiet: bool,
    verbose: bool,
    json: bool,
    warn: chroot_distro::ui::Style,
    live: Option<LiveStep>,
}

/// The step being run, redrawn in place with its elapsed time.
#[derive(Default)]
struct LiveStep {
    bar: Option<(indicatif::ProgressBar, String, Instant)>,
}

impl LiveStep {
    fn start(&mut self, line: String) {
        self.finish();
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(line.clone());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        self.bar = Some((bar, line, Instant::now()));
    }

    /// The finished step stays as a line with how long it took.
    fn finish(&mut self) {
        if let Some((bar, line, started)) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!("=> {line} {:.1}s", started.elapsed().as_secs_f64());
        }
    }

    fn println(&self, text: &str) {
        match &self.bar {
            // A terminal indicatif will not draw on (TERM=dumb) drops it.
            Some((bar, ..)) if !bar.is_hidden() => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }
}

impl Lines {
    fn finish_step(&mut self) {
        if let Some(live) = &mut self.live {
            live.finish();
        }
    }
}

impl Report for Lines {
    fn pull(&mut self) -> &mut dyn chroot_distro::install::Reporter {
        &mut self.pull
    }

    fn step(&mut self, stage: usize, number: usize, total: usize, text: &str, cached: bool) {
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "step", "stage": stage, "step": number, "of": total, "text": text, "cached": cached})
            );
        } else if !self.quiet {
            let mark = if cached { " (cached)" } else { "" };
            let line = format!("[stage {stage} {number}/{total}] {text}{mark}");
            match &mut self.live {
                Some(live) => live.start(line),
                None => eprintln!("{line}"),
            }
        }
    }

    fn output(&mut self, line: &str) {
        if self.json {
            println!("{}", serde_json::json!({"event": "output", "line": line}));
        } else if self.verbose {
            match &self.live {
                Some(live) => live.println(&format!("  | {line}")),
                None => eprintln!("  | {line}"),
            }
        }
    }

    fn warn(&mut self, message: &str) {
        self.finish_step();
        crate::report::warn(self.warn, message);
    }
}
