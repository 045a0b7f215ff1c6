//! The crate's one error type. Every variant names what a user needs to act on:
//! the image, the registry and, for blobs, the digest.

use std::path::PathBuf;

/// Errors from pinning and pulling images.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("`{reference}` is not a valid image reference: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("{image}: registry {registry} denied access (unauthorized){hint}")]
    Unauthorized {
        image: String,
        registry: String,
        /// Why the credentials were (not) sent, e.g. "no credentials for it in ~/.docker/config.json".
        hint: String,
    },

    #[error("{image}: not found in registry {registry} ({what})")]
    NotFound {
        image: String,
        registry: String,
        /// What was missing: "manifest unknown", "repository unknown", "blob sha256:…".
        what: String,
    },

    #[error("{image}: no manifest for linux/{arch} in its index (it has: {available})")]
    NoMatchingArch {
        image: String,
        arch: String,
        available: String,
    },

    #[error("{image}: the image is for {found}, not {arch}")]
    WrongArch {
        image: String,
        arch: String,
        found: String,
    },

    #[error("{image}: digest mismatch for {blob} from {registry}: got {actual}")]
    DigestMismatch {
        image: String,
        registry: String,
        blob: String,
        actual: String,
    },

    #[error("{image}: size mismatch for {blob} from {registry}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        image: String,
        registry: String,
        blob: String,
        expected: u64,
        actual: u64,
    },

    #[error("{image}: unsupported manifest {digest} from {registry}: {reason}")]
    BadManifest {
        image: String,
        registry: String,
        digest: String,
        reason: String,
    },

    #[error("{image}: registry {registry} failed: {message}")]
    Registry {
        image: String,
        registry: String,
        /// The HTTP status when the registry answered with one.
        status: Option<u16>,
        message: String,
    },

    #[error("{image}: cannot reach registry {registry}: {message}")]
    Network {
        image: String,
        registry: String,
        message: String,
    },

    /// Not the kind of artifact asked for (an image, an index, another artifactType).
    #[error("{image} ({digest}) is `{found}`, not `{expected}`")]
    WrongArtifactType {
        image: String,
        digest: String,
        expected: String,
        found: String,
    },

    /// An artifact that cannot be published as it is (a bad file title, a file too big…).
    #[error("{reference}: cannot publish this artifact: {reason}")]
    InvalidArtifact { reference: String, reason: String },

    /// A `stackwright.local/…` image (built by Stackwright, never pushed) whose blobs are
    /// not in the cache: there is no registry to fetch it from.
    #[error("{image} is built by Stackwright, not pulled, and {what} is not in the cache {cache}: build it first (assemble with --pull or --format), or push it with --push-packages")]
    NotBuilt {
        image: String,
        what: String,
        cache: PathBuf,
    },

    /// A connection that could not be made at all (DNS failure, connection refused, TLS
    /// handshake refused): not retried, a dead host fails at once.
    #[error("{image}: cannot reach registry {registry}: {message}")]
    Unreachable {
        image: String,
        registry: String,
        message: String,
    },

    /// A release file whose bytes do not hash to the sha256 its manifest gives. Nothing
    /// is kept: no partial file, no cache entry.
    #[error("{owner}: checksum mismatch for {url}: expected {expected}, got {actual} (nothing was kept)")]
    FileChecksum {
        /// The component and release it belongs to, e.g. `kubelet 1.36.4`.
        owner: String,
        url: String,
        expected: String,
        actual: String,
    },

    /// A release file that could not be downloaded: an HTTP error status (`status`),
    /// an unreachable host, or a connection that kept breaking off.
    #[error("{owner}: cannot download {url}: {message}")]
    FileDownload {
        owner: String,
        url: String,
        status: Option<u16>,
        message: String,
        /// Whether retrying may help (5xx, 429, 408, timeouts, a cut connection).
        transient: bool,
    },

    /// `--offline` and these are not in the cache (each named: what it is and its URL
    /// or reference).
    #[error("{}", offline_message(cache, missing))]
    Offline {
        cache: PathBuf,
        missing: Vec<String>,
    },

    #[error("Docker config {path}: {message}")]
    DockerConfig { path: PathBuf, message: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn offline_message(cache: &std::path::Path, missing: &[String]) -> String {
    let mut s = String::from("offline (--offline), and ");
    if cache.as_os_str().is_empty() {
        s.push_str("these need the network: ");
    } else {
        s.push_str(&format!(
            "{} not in the cache {}: ",
            if missing.len() == 1 {
                "this is".to_string()
            } else {
                format!("these {} are", missing.len())
            },
            cache.display()
        ));
    }
    s.push_str(&missing.join("; "));
    s
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OciError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether retrying the same request may succeed (5xx, 429, 408, timeouts, dropped
    /// connections). A host that cannot be reached at all ([`OciError::Unreachable`], a
    /// DNS failure or a refused connection) is not retried.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Network { .. })
            || matches!(
                self,
                OciError::FileDownload {
                    transient: true,
                    ..
                }
            )
            || matches!(self, OciError::Registry { status: Some(s), .. } if *s >= 500 || *s == 429 || *s == 408)
    }
}
