//! Analysis section: short findings drawn from the other four sections.

mod host;
mod image;

pub use host::host_findings;
pub use image::{arch_verdict, image_findings};

use super::capabilities::Capabilities;
use super::host::Host;
use super::images::Image;
use super::program::Program;
use super::Probe;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Note,
    Warn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// "host" or a container name.
    pub subject: String,
    pub message: String,
}

pub(crate) fn finding(severity: Severity, subject: &str, message: impl Into<String>) -> Finding {
    Finding {
        severity,
        subject: subject.to_owned(),
        message: message.into(),
    }
}

pub fn analyse(
    program: &Program,
    host: &Host,
    caps: &Capabilities,
    images: &Probe<Vec<Image>>,
) -> Vec<Finding> {
    let mut out = host_findings(program, caps);
    match images {
        Probe::Known(list) => {
            for img in list {
                out.extend(image_findings(img, host, caps));
            }
        }
        Probe::Unknown { unknown } => out.push(finding(
            Severity::Warn,
            "host",
            format!("cannot list containers: {unknown}"),
        )),
    }
    out
}

#[cfg(test)]
mod tests;
