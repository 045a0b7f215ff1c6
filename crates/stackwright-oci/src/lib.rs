//! Stackwright's only network code. It pins image references to digests and pulls
//! images into OCI image layouts, following the OCI distribution rules
//! (`docker.io` default registry, `library/` for official images).
//!
//! - [`RegistryClient::pin`]: tag → digest (the index digest for multi-arch images),
//!   skipping references whose digest is already known.
//! - [`RegistryClient::pull_into`]: the requested arch of each image, its config and
//!   layers, fetched concurrently through a content-addressed [`Cache`] and
//!   verified (sha256 and size) while they stream, into an image layout that is
//!   renamed into place only when complete.
//! - [`RegistryClient::fetch_files`] ([`fetch`]): release files over HTTP(S) into the same
//!   cache, keyed by their sha256, verified while streaming, resumed with `Range`,
//!   retried only for 5xx/429/timeouts/broken connections; `offline` uses the cache only.
//! - [`Credentials`]: Docker's `config.json` `auths`; credential helpers are not run.
//! - [`RegistryClient::push_artifact`] / [`RegistryClient::pull_artifact`] ([`artifact`]): files
//!   published as one OCI 1.1 artifact (empty config, one titled layer per file),
//!   e.g. a Stackwright assembly with its lock and outputs.
//! - [`RegistryClient::push_image`]: an image built into the cache (a packaged component's)
//!   published under a tag, its manifest byte for byte (so its digest stays).
//!
//! No terminal output: progress goes to a [`Progress`] implementation.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stackwright_oci::OciError> {
//! use stackwright_oci::*;
//! let registry = RegistryClient::new(RegistryOptions {
//!     credentials: Credentials::from_default_location()?,
//!     insecure: vec!["127.0.0.1:5000".into()],
//!     ..RegistryOptions::default()
//! });
//! let pinned = registry.pin(&["linuxkit/getty:v1"], &Default::default(), &NoProgress).await?;
//! let cache = Cache::new(Cache::default_dir().expect("HOME is set"));
//! let images = [PullRequest::with_digest("linuxkit/getty:v1", &pinned[0].digest)];
//! let report = registry
//!     .pull_into(&images, "amd64", &cache, "out/k8s-node/images".as_ref(), &NoProgress)
//!     .await?;
//! # let _ = report; Ok(()) }
//! ```

pub mod artifact;
mod auth;
mod cache;
mod client;
mod direct;
mod error;
pub mod fetch;
mod image_layout;
pub mod manifest;
mod progress;
mod pull;
mod push;
mod reference;
mod tls;

pub use artifact::{Artifact, ArtifactFile, PulledArtifact, PushedArtifact};
pub use auth::{default_config_path, Credential, Credentials};
pub use cache::{sha256_digest, BlobWriter, Cache};
pub use client::{Pinned, RegistryClient, RegistryOptions};
pub use direct::DirectReader;
pub use error::OciError;
pub use fetch::{FetchReport, FileRequest};
pub use image_layout::{ImageLayout, LayoutImage};
pub use progress::{NoProgress, Progress};
pub use pull::{ref_name, PullReport, PullRequest, PulledImage};
pub use reference::{is_sha256_digest, ImageRef};
pub use tls::install_tls_provider;
