//! Pulling images from OCI registries with our own requests (`direct`:
//! every body bounded, the token handshake ours, `realm`): resolves
//! platforms itself (variant-aware), verifies size and digest of every
//! blob, retries with Range resume, and caches what it fetched.

pub mod auth;
mod cache;
mod direct;
mod errors;
mod fetch;
mod pull;
mod realm;
mod resolve;
pub mod settings;

pub use cache::store_built;
pub use fetch::{download_layers, AllLayers, ImageSourceHandle, LayerEvent, LayerSink};
pub use pull::{ImageSource, Resolved, Resolving};
pub use settings::DownloadSettings;

/// Receives (layer index, bytes) as downloads progress.
pub type ByteSink = std::sync::Arc<dyn Fn(usize, u64) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference '{reference}': {reason}")]
    Reference { reference: String, reason: String },
    #[error("{0}")]
    Credentials(String),
    #[error("{registry} refused access to {image}")]
    Unauthorized { registry: String, image: String },
    #[error("{image} was not found (or it is private)")]
    NotFound { image: String },
    #[error("cannot reach {registry}: {detail}")]
    Network { registry: String, detail: String },
    #[error("{registry} failed: {detail}")]
    Registry { registry: String, detail: String },
    #[error("blob {digest} failed verification: {detail}")]
    Verify { digest: String, detail: String },
    #[error("unsupported layer media type '{0}'")]
    MediaType(String),
    #[error(
        "the image has no {wanted} variant; it has: {}",
        platform_list(available)
    )]
    NoPlatform {
        wanted: String,
        available: Vec<String>,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("bad manifest from {image}: {detail}")]
    Manifest { image: String, detail: String },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// How often a wait on the network looks at Ctrl-C.
const TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Awaits `fut`, unless Ctrl-C comes first.
async fn unless_interrupted<F: std::future::Future>(fut: F) -> Result<F::Output, Error> {
    tokio::pin!(fut);
    loop {
        match tokio::time::timeout(TICK, &mut fut).await {
            Ok(v) => return Ok(v),
            Err(_) if crate::interrupt::happened() => return Err(Error::Interrupted),
            Err(_) => {}
        }
    }
}

/// A few of the platforms an image has, and how many there are: an index
/// may list thousands, and an error is one line.
pub(crate) fn platform_list(available: &[String]) -> String {
    const SHOWN: usize = 8;
    match available.len() {
        0 => "none for any operating system and architecture".into(),
        n if n <= SHOWN => available.join(", "),
        n => format!(
            "{n} platforms, {} and {} more",
            available[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Unauthorized { .. } => {
                "set CD_DOCKER_AUTH=username:password (or log in with 'docker login'); the credentials may be wrong".into()
            }
            Error::NotFound { .. } => {
                "check the name and tag; a private image needs credentials in CD_DOCKER_AUTH".into()
            }
            Error::Network { .. } => {
                "check the network; a plain-http registry needs --allow-insecure".into()
            }
            Error::NoPlatform { .. } => "pick one of them with -a/--architecture".into(),
            Error::Credentials(_) => "export CD_DOCKER_AUTH=username:password".into(),
            Error::Store(e) => return e.hint(),
            _ => return None,
        })
    }
}
