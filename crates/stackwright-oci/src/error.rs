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

    #[error("Docker config {path}: {message}")]
    DockerConfig { path: PathBuf, message: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OciError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether retrying the same request may succeed (5xx, timeouts, dropped connections).
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Network { .. })
            || matches!(self, OciError::Registry { status: Some(s), .. } if *s >= 500 || *s == 429 || *s == 408)
    }
}
