//! `install`: create a container from an image, a local archive or a URL.

use crate::cli::output_level;
use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    let cmd = Command::new("install")
        .about("Install a container from an OCI image, a rootfs archive or a URL")
        .long_about(
            "Install a container from an OCI image reference (e.g. ubuntu:24.04), \
             a local archive (a path starting with /, ./, ../ or ~: plain rootfs tarball, \
             OCI image layout or docker-save archive) or an http(s) URL of an archive.",
        )
        .arg(
            Arg::new("source")
                .value_name("IMAGE|PATH|URL")
                .required(true)
                .help("Image reference, archive path or archive URL"),
        )
        .arg(
            Arg::new("name")
                .short('n')
                .long("name")
                .value_name("NAME")
                .help("Container name (default: image name or archive file name)"),
        )
        .arg(
            Arg::new("override-alias")
                .long("override-alias")
                .value_name("NAME")
                .conflicts_with("name")
                .help("Same as --name"),
        )
        .arg(
            Arg::new("architecture")
                .short('a')
                .long("architecture")
                .value_name("ARCH")
                .help("Target CPU: aarch64, arm, i686, riscv64, x86_64 or linux/arm64, linux/arm/v7, ..."),
        )
        .arg(
            Arg::new("allow-insecure")
                .long("allow-insecure")
                .action(ArgAction::SetTrue)
                .help("Allow plain-http registries"),
        )
        .arg(
            Arg::new("strict")
                .long("strict")
                .action(ArgAction::SetTrue)
                .help("Fail instead of skipping archive entries that cannot be created here (names too long or too deep, invalid names, device nodes)"),
        );
    output_level(cmd, false)
}

use crate::cli::{flag, Ctx, RunResult};
use crate::report::{Exit, Failure};
use chroot_distro::install::{self, InstallSource, Request};
use chroot_distro::oci::Platform;
use chroot_distro::sandbox::Privilege;
use chroot_distro::store::ContainerName;
use chroot_distro::ui::human_size;
use clap::ArgMatches;
use std::path::Path;

/// Catches the two ways a local path is easy to get wrong: a bare file name
/// (read as an image reference, as in the reference tool) that names a
/// file here, and a directory, which is no archive.
fn check_source(source: &InstallSource, arg: &str) -> Result<(), Failure> {
    match source {
        InstallSource::Image(_) if looks_like_archive(arg) && std::path::Path::new(arg).is_file() => Err(Failure::usage(
            format!("'{arg}' is read as an image name, but a file of that name is here"),
        )
        .with_hint(format!("to install the file: chroot-distro install ./{arg}"))),
        InstallSource::Path(p) if p.is_dir() => Err(Failure::usage(format!(
            "{} is a directory; install takes a rootfs archive (.tar, .tar.gz, .tar.xz, .tar.zst), an image archive or an image name",
            p.display()
        ))
        .with_hint(format!(
            "to make one: tar -C {} -czf rootfs.tar.gz . && chroot-distro install ./rootfs.tar.gz",
            p.display()
        ))),
        _ => Ok(()),
    }
}

/// A name no image is likely to have: an archive's file name.
fn looks_like_archive(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    [
        ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.bz2", ".tbz2",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// What a fresh rootfs holds, said the same way by install and reset.
pub fn summary(s: &chroot_distro::unpack::stats::Stats) -> String {
    let paths = if s.paths > 0 { s.paths } else { s.entries };
    format!("{paths} paths, {} of file data", human_size(s.bytes))
}

pub fn run(m: &ArgMatches, ctx: &Ctx) -> RunResult {
    let arg = m
        .get_one::<String>("source")
        .map(String::as_str)
        .unwrap_or_default();
    let source = InstallSource::parse(arg, &ctx.env);
    check_source(&source, arg)?;
    let chosen = m
        .get_one::<String>("name")
        .or(m.get_one::<String>("override-alias"))
        .cloned()
        .unwrap_or_else(|| source.default_name());
    let name = ContainerName::new(&chosen)?;
    let platform = match m.get_one::<String>("architecture") {
        Some(a) => Platform::parse(a).map_err(|e| {
            Failure::usage(e.to_string()).with_hint(
                "use aarch64, arm, i686, riscv64, x86_64 or a platform such as linux/arm/v7",
            )
        })?,
        None => Platform::host(),
    };
    let paths = ctx.store_paths()?;
    let privilege = Privilege::detect(&ctx.env);
    ctx.prepare_fetch(&paths)?;
    let termux_user = chroot_distro::termux::Termux::detect(&ctx.env).and_then(|_| {
        let uid = rustix::process::getuid().as_raw();
        chroot_distro::users::lookup_uid(uid).map(|u| (u.name, u.uid, u.gid))
    });
    let quiet = flag(m, "quiet");
    let mut progress =
        crate::progress::Progress::new(quiet, ctx.env.is_truthy("CD_DEBUG"), ctx.err);
    chroot_distro::interrupt::catch();
    let req = Request {
        paths: &paths,
        name: name.clone(),
        source: &source,
        platform,
        privilege: &privilege,
        exe: Path::new("/proc/self/exe"),
        termux_user,
        force_walk: ctx.env.is_truthy("CD_FORCE_OPENAT2_FALLBACK"),
        env: &ctx.env,
        allow_insecure: flag(m, "allow-insecure"),
        strict: flag(m, "strict"),
    };
    let result = install::install(&req, &mut progress);
    progress.finish();
    let installed = match result {
        Ok(i) => i,
        Err(_) if chroot_distro::interrupt::happened() => {
            return Err(Failure::new(
                Exit::Interrupted,
                format!("install of '{name}' interrupted; nothing was changed"),
            ))
        }
        Err(e) => return Err(Failure::from(e)),
    };
    if !quiet {
        let s = &installed.stats;
        println!("Installed '{name}': {}.", summary(s));
        println!("  Start a shell:  chroot-distro login {name}");
        let has_entrypoint = installed
            .manifest
            .as_ref()
            .and_then(|m| m.image_config.config.as_ref())
            .and_then(|c| c.entrypoint.as_ref())
            .is_some_and(|e| !e.is_empty());
        if has_entrypoint {
            println!("  Run entrypoint: chroot-distro run {name}");
        }
    }
    Ok(Exit::Ok)
}
