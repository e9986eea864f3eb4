//! `--install-links DIR`: the `cd-<applet>` symlinks.

use crate::cli::{Ctx, RunResult};
use crate::report::{Exit, Failure};
use crate::table::APPLETS;
use std::path::{Path, PathBuf};

/// Creates one symlink per applet. Without `force`, any existing file that
/// is not already our link is a conflict, and nothing is created at all.
pub fn install(dir: &Path, force: bool, ctx: &Ctx) -> RunResult {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::failed(format!("cannot locate this binary: {e}")))?;
    let dir_abs = dir
        .canonicalize()
        .map_err(|e| Failure::failed(format!("cannot use {}: {e}", dir.display())))?;
    // A link next to the binary stays valid when the whole directory moves.
    let target: PathBuf = if exe.parent() == Some(dir_abs.as_path()) {
        PathBuf::from(exe.file_name().unwrap_or_default())
    } else {
        exe.clone()
    };
    let mut todo = Vec::new();
    for applet in APPLETS {
        let link = dir_abs.join(applet.link_name());
        match std::fs::symlink_metadata(&link) {
            Err(_) => todo.push(link),
            Ok(_) if points_to(&link, &exe) => {}
            Ok(_) if force => todo.push(link),
            Ok(_) => {
                return Err(Failure::failed(format!(
                    "{} already exists and is not a link to {}",
                    link.display(),
                    exe.display()
                ))
                .with_hint("use --force to replace it"))
            }
        }
    }
    for link in &todo {
        replace_with_symlink(&target, link)
            .map_err(|e| Failure::failed(format!("cannot create {}: {e}", link.display())))?;
    }
    if !todo.is_empty() {
        eprintln!(
            "{} {} link(s) in {}",
            ctx.err.green("created"),
            todo.len(),
            dir_abs.display()
        );
    }
    Ok(Exit::Ok)
}

fn points_to(link: &Path, exe: &Path) -> bool {
    std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink())
        && link.canonicalize().is_ok_and(|p| p == exe)
}

/// Creates the link under a temporary name and renames it over `link`, so
/// a concurrent reader sees the old file or the new link, never nothing.
fn replace_with_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let tmp = link.with_file_name(format!(
        ".{}.tmp{}",
        link.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
