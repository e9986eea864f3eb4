//! `build`: build an image from a Dockerfile without a daemon.
//!
//! The Dockerfile is read, checked and planned (stages, --target,
//! build-args) here; `build_run` runs it.

use crate::cli::{flag, output_level, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::build::dockerfile::{self, BuildInputs, DockerfileError, Plan};
use chroot_distro::build::run_mounts::{SecretFrom, SecretSource, SshSource};
use chroot_distro::oci::platform::Platform;
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Larger than any real Dockerfile; a bigger input is a mistake, not a build.
const MAX_DOCKERFILE: u64 = 16 << 20;

pub fn command() -> Command {
    let value = |id: &'static str, name: &'static str, help: &'static str| {
        Arg::new(id).long(id).value_name(name).help(help)
    };
    let many = |id: &'static str, name: &'static str, help: &'static str| {
        value(id, name, help).action(ArgAction::Append)
    };
    let cmd = Command::new("build")
        .about("Build an image from a Dockerfile, without a daemon")
        .arg(
            Arg::new("context")
                .value_name("PATH")
                .default_value(".")
                .help("Build context directory"),
        )
        .arg(
            value("file", "PATH", "Dockerfile to use ('-' reads standard input; default PATH/Dockerfile)")
                .short('f'),
        )
        .arg(
            many("tag", "REF", "Name the image REF (repeatable; default <basename PATH>:latest)")
                .short('t'),
        )
        .arg(many("build-arg", "K=V", "Set a declared build-time ARG (repeatable)"))
        .arg(many(
            "build-context",
            "NAME=VALUE",
            "A named context that FROM and COPY can name (not supported yet)",
        ))
        .arg(
            value("architecture", "ARCH", "Target CPU architecture or platform (default: host)")
                .short('a'),
        )
        .arg(many(
            "platform",
            "LIST",
            "Target platform; a comma-separated list of several is not supported yet",
        ))
        .arg(value("target", "STAGE", "Stop after the named build stage"))
        .arg(
            many(
                "output",
                "FILE",
                "Also write an OCI image-layout tarball (compression from the extension; repeatable)",
            )
            .short('o'),
        )
        .arg(many("export", "SPEC", "Export the root filesystem (not supported yet)"))
        .arg(value("install-as", "NAME", "Install the built image as container NAME"))
        .arg(many(
            "secret",
            "id=NAME[,src=PATH]",
            "Expose a secret to RUN steps that mount it (default source: the variable NAME; repeatable)",
        ))
        .arg(many(
            "ssh",
            "ID[=SOCK]",
            "Expose an SSH agent socket to RUN steps that mount it (default: default=$SSH_AUTH_SOCK)",
        ))
        .arg(
            Arg::new("no-cache")
                .long("no-cache")
                .action(ArgAction::SetTrue)
                .help("Do not reuse cached build steps"),
        )
        .arg(
            Arg::new("allow-insecure")
                .long("allow-insecure")
                .action(ArgAction::SetTrue)
                .help("Allow plain-HTTP registries for the cache import and export"),
        )
        .arg(many("cache-from", "SPEC", "Import cached steps (not supported yet)"))
        .arg(many("cache-to", "SPEC", "Export cached steps (not supported yet)"))
        .arg(
            value("compress", "ALGO", "Compression of the new layers")
                .default_value("gzip")
                .value_parser(PossibleValuesParser::new(["gzip", "zstd"])),
        )
        .arg(
            Arg::new("reproducible")
                .long("reproducible")
                .action(ArgAction::SetTrue)
                .help("Same inputs, same digests: clamp timestamps (to SOURCE_DATE_EPOCH, or 0)"),
        )
        .arg(
            value("progress", "STYLE", "Output style")
                .default_value("auto")
                .value_parser(PossibleValuesParser::new(["auto", "plain", "tty", "rawjson"])),
        );
    output_level(cmd, true).mut_arg("verbose", |a| {
        a.help("Echo each instruction and stream RUN output")
    })
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    refuse_not_yet(m)?;
    let target_platform = target_platform(m)?;
    let build_args = build_args(m)?;
    secrets(m)?;
    ssh_agents(m, ctx)?;
    let context = m.get_one::<String>("context").map_or(".", String::as_str);
    if !Path::new(context).is_dir() {
        return Err(Failure::usage(format!(
            "build context '{context}' is not a directory"
        )));
    }
    let (name, text) = read_dockerfile(m.get_one::<String>("file").map(String::as_str), context)?;
    let df = dockerfile::parse(&text, &name).map_err(failure)?;
    let inputs = BuildInputs {
        build_args,
        target_platform,
        build_platform: Platform::host(),
        target: m.get_one::<String>("target").cloned(),
    };
    let plan = Plan::new(&df, &inputs).map_err(failure)?;
    let unused = plan.unused_build_args();
    if !unused.is_empty() && !flag(m, "quiet") {
        ctx.warn(&format!(
            "build-args not consumed by any ARG: {}",
            unused.join(", ")
        ));
    }
    drop(plan);
    let dockerfile_path = match m.get_one::<String>("file").map(String::as_str) {
        Some("-") => None,
        Some(f) => Some(PathBuf::from(f)),
        None => Some(Path::new(context).join("Dockerfile")),
    };
    crate::build_run::execute(
        m,
        ctx,
        Path::new(context),
        dockerfile_path.as_deref(),
        &df,
        &inputs,
    )
}

fn failure(e: DockerfileError) -> Failure {
    let hint = e.hint();
    let f = Failure::failed(e.to_string());
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// Options 3.2 has that come with `push` (a later issue).
fn refuse_not_yet(m: &ArgMatches) -> Result<(), Failure> {
    for (id, what) in [
        ("cache-from", "--cache-from"),
        ("cache-to", "--cache-to"),
        ("build-context", "--build-context"),
        ("export", "--export"),
    ] {
        if m.get_many::<String>(id)
            .is_some_and(|mut v| v.next().is_some())
        {
            return Err(not_yet(what));
        }
    }
    Ok(())
}

fn not_yet(what: &str) -> Failure {
    Failure::new(
        Exit::NotImplemented,
        format!("build {what} is not supported yet"),
    )
    .with_hint("it comes with 'push'; build without it for now")
}

/// `-a` and a single `--platform` name the target; several are not built yet.
fn target_platform(m: &ArgMatches) -> Result<Platform, Failure> {
    let parse = |text: &str, opt: &str| {
        Platform::parse(text).map_err(|e| Failure::usage(format!("{opt}: {e}")))
    };
    let listed: Vec<&String> = m
        .get_many::<String>("platform")
        .into_iter()
        .flatten()
        .collect();
    let mut platforms = Vec::new();
    for item in listed.iter().flat_map(|v| v.split(',')) {
        let p = parse(item.trim(), "--platform")?;
        if !platforms.contains(&p) {
            platforms.push(p);
        }
    }
    if platforms.len() > 1 {
        return Err(not_yet("with several --platform values"));
    }
    let arch = match m.get_one::<String>("architecture") {
        Some(a) => Some(parse(a, "--architecture")?),
        None => None,
    };
    match (arch, platforms.pop()) {
        (Some(a), Some(p)) if a != p => Err(Failure::usage(format!(
            "--architecture names {a} but --platform names {p}"
        ))),
        (Some(a), _) => Ok(a),
        (None, Some(p)) => Ok(p),
        (None, None) => Ok(Platform::host()),
    }
}

fn build_args(m: &ArgMatches) -> Result<Vec<(String, String)>, Failure> {
    m.get_many::<String>("build-arg")
        .into_iter()
        .flatten()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Failure::usage(format!(
                "--build-arg '{kv}': expected NAME=VALUE"
            ))),
        })
        .collect()
}

/// `id=NAME[,src=PATH|,env=VAR]`: checked now, read only by a RUN that
/// mounts it. Without a source, the variable named NAME.
pub(crate) fn secrets(m: &ArgMatches) -> Result<Vec<SecretSource>, Failure> {
    let mut out = Vec::new();
    for spec in m.get_many::<String>("secret").into_iter().flatten() {
        let bad = || {
            Failure::usage(format!(
                "--secret '{spec}': expected id=NAME[,src=PATH|,env=VARIABLE]"
            ))
        };
        let (mut id, mut file, mut var) = (None, None, None);
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) if !v.is_empty() => id = Some(v),
                Some(("src" | "source", v)) if !v.is_empty() => file = Some(v),
                Some(("env", v)) if !v.is_empty() => var = Some(v),
                Some(("type", "file" | "env")) => {}
                _ => return Err(bad()),
            }
        }
        let Some(id) = id else {
            return Err(Failure::usage(format!(
                "--secret '{spec}': id= is required"
            )));
        };
        let from = match (file, var) {
            (Some(_), Some(_)) => return Err(bad()),
            (Some(f), None) => SecretFrom::File(PathBuf::from(f)),
            (None, Some(v)) => SecretFrom::Env(v.to_owned()),
            (None, None) => SecretFrom::Env(id.to_owned()),
        };
        out.push(SecretSource {
            id: id.to_owned(),
            from,
        });
    }
    Ok(out)
}

/// `ID[=SOCKET]`; `default` alone is $SSH_AUTH_SOCK.
pub(crate) fn ssh_agents(m: &ArgMatches, ctx: &Ctx) -> Result<Vec<SshSource>, Failure> {
    let mut out = Vec::new();
    for spec in m.get_many::<String>("ssh").into_iter().flatten() {
        let (id, socket) = match spec.split_once('=') {
            Some((id, sock)) => (id, Some(sock.to_owned())),
            None => (spec.as_str(), None),
        };
        if id.is_empty() || id.contains(',') || socket.as_deref() == Some("") {
            return Err(Failure::usage(format!(
                "--ssh '{spec}': expected ID[=SOCKET]"
            )));
        }
        let Some(socket) = socket.or_else(|| ctx.env.get("SSH_AUTH_SOCK")) else {
            return Err(Failure::usage(format!(
                "--ssh '{spec}': no socket given and SSH_AUTH_SOCK is not set"
            ))
            .with_hint("start an agent (eval $(ssh-agent)) or give --ssh ID=SOCKET"));
        };
        out.push(SshSource {
            id: id.to_owned(),
            socket: std::path::absolute(&socket).unwrap_or_else(|_| PathBuf::from(&socket)),
        });
    }
    Ok(out)
}

/// The Dockerfile's name (for messages) and text: `-f -` is standard input.
fn read_dockerfile(file: Option<&str>, context: &str) -> Result<(String, String), Failure> {
    let (name, reader): (String, Box<dyn Read>) = match file {
        Some("-") => ("-".into(), Box::new(std::io::stdin().lock())),
        Some(path) => (path.into(), open(path)?),
        None => {
            let path = Path::new(context).join("Dockerfile").display().to_string();
            let reader = open(&path)?;
            (path, reader)
        }
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCKERFILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::failed(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > MAX_DOCKERFILE {
        return Err(Failure::failed(format!(
            "{name} is larger than {} MiB",
            MAX_DOCKERFILE >> 20
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::failed(format!("{name} is not UTF-8 text")))?;
    Ok((name, text))
}

fn open(path: &str) -> Result<Box<dyn Read>, Failure> {
    std::fs::File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read>)
        .map_err(|e| Failure::failed(format!("cannot open Dockerfile {path}: {e}")))
}
