//! The registry client: options, error classification, retries, and the three
//! network operations everything else is built from — resolve a tag to a digest,
//! fetch a manifest by digest, stream a blob into the cache.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest as _, Sha256};

use crate::cache::{sha256_digest, Cache};
use crate::manifest::{Descriptor, MANIFEST_TYPES};
use crate::{Credentials, ImageRef, OciError, Progress};
use stackwright_types::hex;

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Credentials (usually [`Credentials::from_default_location`]).
    pub credentials: Credentials,
    /// Registries (`HOST:PORT`, as written in image references) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Also use plain HTTP for `localhost`, `127.0.0.0/8` and `[::1]` registries.
    pub insecure_loopback: bool,
    /// Extra attempts after a transient failure (5xx, 429, timeouts, dropped connections).
    pub retries: u32,
    /// The first pause before a retry; doubled each time (capped at 30 s).
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// A response that sends nothing for this long is abandoned (and retried).
    pub read_timeout: Duration,
    /// Requests in flight at once, across all images (and downloads at once, for
    /// release files).
    pub concurrency: usize,
    /// Use only the cache: anything not in it is an [`OciError::Offline`] naming it,
    /// and no connection is made.
    pub offline: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: Credentials::none(),
            insecure: Vec::new(),
            insecure_loopback: false,
            retries: 4,
            backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            concurrency: 8,
            offline: false,
        }
    }
}

/// Talks to registries. Cheap to create; holds no connections between calls.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    pub(crate) opts: RegistryOptions,
}

/// An image reference resolved to a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// The reference as given.
    pub reference: String,
    /// `sha256:…` of what the tag names: the index for multi-arch images.
    pub digest: String,
    /// `name:tag@sha256:…`, the reference to write into the lock and linuxkit.yml.
    pub pinned: String,
    /// Whether the registry was asked (false: the digest was in the reference or known).
    pub looked_up: bool,
}

impl RegistryClient {
    pub fn new(opts: RegistryOptions) -> RegistryClient {
        RegistryClient { opts }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Resolves each reference to its digest — the index digest for multi-arch
    /// images — with a HEAD request per tag. References that already carry a
    /// digest, or whose digest is in `known` (keyed by the reference as written,
    /// e.g. from the lockfile), are not looked up. Results are in input order; the
    /// first failure (in input order) is returned as the error.
    pub async fn pin<S: AsRef<str>>(
        &self,
        references: &[S],
        known: &BTreeMap<String, String>,
        progress: &dyn Progress,
    ) -> Result<Vec<Pinned>, OciError> {
        let parsed = references
            .iter()
            .map(|r| crate::reference::parse(r.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let conn = Conn::new(self, &parsed, progress);
        // Futures collected first, so no closure over borrowed items ends up in the
        // stream's type (that would make the whole future not `Send`).
        let conn = &conn;
        let jobs: Vec<_> = parsed
            .iter()
            .map(|image| async move {
                let (digest, looked_up) = match image
                    .digest()
                    .or_else(|| known.get(image.original()).map(String::as_str))
                {
                    Some(d) => {
                        if !crate::reference::is_sha256_digest(d) {
                            return Err(OciError::InvalidReference {
                                reference: image.original().to_string(),
                                reason: format!("known digest `{d}` is not sha256:<64 hex>"),
                            });
                        }
                        (d.to_string(), false)
                    }
                    None => (conn.resolve_tag(image).await?, true),
                };
                progress.resolved(image.original(), &digest);
                Ok(Pinned {
                    reference: image.original().to_string(),
                    pinned: image.pinned(&digest),
                    digest,
                    looked_up,
                })
            })
            .collect();
        let results: Vec<Result<Pinned, OciError>> = futures_util::stream::iter(jobs)
            .buffered(self.opts.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// One pin or pull operation's connection state: the oci-client (with its token
/// cache) configured for the registries involved.
pub(crate) struct Conn<'a> {
    pub(crate) client: oci_client::Client,
    pub(crate) reg: &'a RegistryClient,
    pub(crate) progress: &'a dyn Progress,
    pub(crate) stats: std::sync::Mutex<Stats>,
}

/// What came from the network and what from the cache, per digest.
#[derive(Default)]
pub(crate) struct Stats {
    /// digest → (size, downloaded)
    pub(crate) blobs: BTreeMap<String, (u64, bool)>,
    pub(crate) manifests_downloaded: usize,
}

/// How one download attempt ended, short of an error.
enum Attempt {
    Done,
    /// A resumed partial file did not hash right: start that blob over.
    BadResume,
}

impl<'a> Conn<'a> {
    pub(crate) fn new(
        reg: &'a RegistryClient,
        images: &[ImageRef],
        progress: &'a dyn Progress,
    ) -> Conn<'a> {
        let mut plain: Vec<String> = reg.opts.insecure.clone();
        if reg.opts.insecure_loopback {
            for i in images {
                if is_loopback(i.registry()) {
                    plain.push(i.registry().to_string());
                }
            }
        }
        plain.sort();
        plain.dedup();
        let config = ClientConfig {
            protocol: if plain.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(plain)
            },
            platform_resolver: None,
            connect_timeout: Some(reg.opts.connect_timeout),
            read_timeout: Some(reg.opts.read_timeout),
            user_agent: concat!("stackwright/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        crate::tls::install_tls_provider();
        Conn {
            client: oci_client::Client::new(config),
            reg,
            progress,
            stats: Default::default(),
        }
    }

    pub(crate) fn auth(&self, image: &ImageRef) -> RegistryAuth {
        self.reg.opts.credentials.registry_auth(image.registry())
    }

    /// Runs `op` again after transient failures, pausing longer each time.
    pub(crate) async fn retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciError>>,
    {
        with_retries(&self.reg.opts, self.progress, what, op).await
    }

    /// `--offline`: the error for something that would need the network.
    pub(crate) fn offline(
        &self,
        cache: &Cache,
        image: &ImageRef,
        what: &str,
    ) -> Result<(), OciError> {
        if self.reg.opts.offline {
            return Err(OciError::Offline {
                cache: cache.root().to_path_buf(),
                missing: vec![format!("{} ({what})", image.original())],
            });
        }
        Ok(())
    }

    /// The digest a tag currently names (HEAD, falling back to GET).
    pub(crate) async fn resolve_tag(&self, image: &ImageRef) -> Result<String, OciError> {
        if image.is_local() {
            return Err(OciError::NotBuilt {
                image: image.original().to_string(),
                what: "its digest".into(),
                cache: std::path::PathBuf::from("(any)"),
            });
        }
        if self.reg.opts.offline {
            return Err(OciError::Offline {
                cache: std::path::PathBuf::new(),
                missing: vec![format!(
                    "{} (its digest: pin it first, or use the lock)",
                    image.original()
                )],
            });
        }
        let auth = self.auth(image);
        let digest = self
            .retry(&format!("resolve {image}"), || async {
                self.client
                    .fetch_manifest_digest(&crate::reference::client_ref(image), &auth)
                    .await
                    .map_err(|e| self.classify(e, image, "manifest"))
            })
            .await?;
        if !crate::reference::is_sha256_digest(&digest) {
            return Err(OciError::BadManifest {
                image: image.original().to_string(),
                registry: image.registry().to_string(),
                digest,
                reason: "the registry answered with a digest that is not sha256".into(),
            });
        }
        Ok(digest)
    }

    /// A manifest by digest: from the cache, else fetched, verified and cached.
    pub(crate) async fn manifest(
        &self,
        cache: &Cache,
        image: &ImageRef,
        digest: &str,
        size: Option<u64>,
    ) -> Result<Vec<u8>, OciError> {
        if let Some(bytes) = cache.read_small(digest) {
            if size.is_none_or(|s| s == bytes.len() as u64) {
                return Ok(bytes);
            }
            cache.evict(digest);
        }
        if image.is_local() {
            return Err(OciError::NotBuilt {
                image: image.original().to_string(),
                what: format!("manifest {digest}"),
                cache: cache.root().to_path_buf(),
            });
        }
        self.offline(cache, image, &format!("manifest {digest}"))?;
        let reference = crate::reference::by_digest(image, digest);
        let auth = self.auth(image);
        let (bytes, _) = self
            .retry(&format!("manifest {digest} of {image}"), || async {
                self.client
                    .pull_manifest_raw(&reference, &auth, MANIFEST_TYPES)
                    .await
                    .map_err(|e| self.classify(e, image, digest))
            })
            .await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                image: image.original().to_string(),
                registry: image.registry().to_string(),
                blob: digest.to_string(),
                actual,
            });
        }
        if let Some(s) = size.filter(|s| *s != bytes.len() as u64) {
            return Err(OciError::SizeMismatch {
                image: image.original().to_string(),
                registry: image.registry().to_string(),
                blob: digest.to_string(),
                expected: s,
                actual: bytes.len() as u64,
            });
        }
        cache.write_small(digest, &bytes)?;
        self.stats.lock().expect("stats lock").manifests_downloaded += 1;
        Ok(bytes.to_vec())
    }

    /// Whether `desc` is complete in `cache`; if so it counts as a cache hit in the stats
    /// and the progress report.
    fn found_in_cache(&self, cache: &Cache, desc: &Descriptor) -> bool {
        if !cache.contains(&desc.digest, desc.size) {
            return false;
        }
        self.stats
            .lock()
            .expect("stats lock")
            .blobs
            .entry(desc.digest.clone())
            .or_insert((desc.size, false));
        self.progress.blob_finished(&desc.digest, desc.size, true);
        true
    }

    /// Makes sure a blob is in the cache; `Ok(true)` if it had to be downloaded.
    pub(crate) async fn blob(
        &self,
        cache: &Cache,
        image: &ImageRef,
        desc: &Descriptor,
    ) -> Result<bool, OciError> {
        if self.found_in_cache(cache, desc) {
            return Ok(false);
        }
        if image.is_local() {
            return Err(OciError::NotBuilt {
                image: image.original().to_string(),
                what: format!("blob {}", desc.digest),
                cache: cache.root().to_path_buf(),
            });
        }
        self.offline(cache, image, &format!("blob {}", desc.digest))?;
        // One downloader of a blob at a time, across processes sharing the cache: two
        // writers of one partial file would corrupt it, and the second rename would find
        // it gone. Whoever waited finds the blob complete.
        let _lock = cache.lock_blob(&desc.digest).await?;
        if self.found_in_cache(cache, desc) {
            return Ok(false);
        }
        let what = format!("blob {} of {image}", desc.digest);
        let mut restart = false;
        loop {
            match self
                .retry(&what, || self.download_once(cache, image, desc, restart))
                .await?
            {
                Attempt::Done => break,
                Attempt::BadResume if !restart => restart = true,
                Attempt::BadResume => unreachable!("a fresh download never reports a bad resume"),
            }
        }
        self.stats
            .lock()
            .expect("stats lock")
            .blobs
            .insert(desc.digest.clone(), (desc.size, true));
        self.progress.blob_finished(&desc.digest, desc.size, false);
        Ok(true)
    }

    /// One attempt: continue (or start) `partial/<digest>`, hashing as bytes arrive;
    /// rename into `blobs/` only once digest and size match.
    async fn download_once(
        &self,
        cache: &Cache,
        image: &ImageRef,
        desc: &Descriptor,
        restart: bool,
    ) -> Result<Attempt, OciError> {
        let (partial, mut hasher, mut have) = cache.resume_partial(&desc.digest, restart).await?;
        if have >= desc.size {
            // Complete but never renamed, or too long: cheaper to start over than to guess.
            hasher = Sha256::new();
            have = 0;
        }
        let resumed_from = have;
        let reference = crate::reference::by_digest(image, &desc.digest);
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth(image))
            .await;
        let classify = |e| self.classify(e, image, &desc.digest);
        let mut stream = if have > 0 {
            match self
                .client
                .pull_blob_stream_partial(&reference, desc.digest.as_str(), have, None)
                .await
                .map_err(classify)?
            {
                BlobResponse::Partial(s) => s,
                BlobResponse::Full(s) => {
                    // The registry ignored the range: take the whole blob.
                    hasher = Sha256::new();
                    have = 0;
                    s
                }
            }
        } else {
            self.client
                .pull_blob_stream(&reference, desc.digest.as_str())
                .await
                .map_err(classify)?
        };
        let mut file = cache.write_partial(&partial, have).await?;
        self.progress
            .blob_started(image.original(), &desc.digest, desc.size, have);
        let expected_len = stream.content_length;
        let start = have;
        let mut stream_error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    let n = bytes.len() as u64;
                    if have + n > desc.size {
                        drop(file);
                        let _ = tokio::fs::remove_file(&partial).await;
                        return Err(self.size_mismatch(image, desc, have + n));
                    }
                    hasher.update(&bytes);
                    file.write(&bytes).await?;
                    have += n;
                    self.progress.blob_progress(&desc.digest, n);
                }
                Err(e) => {
                    stream_error = Some(e);
                    break;
                }
            }
        }
        file.finish().await?;
        if have < desc.size {
            let got = have - start;
            if stream_error.is_none() && expected_len == Some(got) {
                // The registry said this is all there is: the blob is short, not the connection.
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(self.size_mismatch(image, desc, have));
            }
            // Keep the partial file: the retry (or the next run) continues from here.
            let why =
                stream_error.map_or_else(|| "connection closed".to_string(), |e| error_chain(&e));
            return Err(OciError::Network {
                image: image.original().to_string(),
                registry: image.registry().to_string(),
                message: format!(
                    "{} broke off after {have} of {} bytes: {why}",
                    desc.digest, desc.size
                ),
            });
        }
        let actual = format!("sha256:{}", hex::encode(&hasher.finalize()));
        if actual != desc.digest {
            let _ = tokio::fs::remove_file(&partial).await;
            if resumed_from > 0 {
                return Ok(Attempt::BadResume);
            }
            return Err(OciError::DigestMismatch {
                image: image.original().to_string(),
                registry: image.registry().to_string(),
                blob: desc.digest.clone(),
                actual,
            });
        }
        cache.adopt_partial(&partial, &desc.digest).await?;
        Ok(Attempt::Done)
    }

    fn size_mismatch(&self, image: &ImageRef, desc: &Descriptor, actual: u64) -> OciError {
        OciError::SizeMismatch {
            image: image.original().to_string(),
            registry: image.registry().to_string(),
            blob: desc.digest.clone(),
            expected: desc.size,
            actual,
        }
    }

    /// Turns oci-client's errors into ours, naming the image, the registry and `what`.
    pub(crate) fn classify(
        &self,
        e: OciDistributionError,
        image: &ImageRef,
        what: &str,
    ) -> OciError {
        let img = image.original().to_string();
        let registry = image.registry().to_string();
        let unauthorized = || OciError::Unauthorized {
            image: img.clone(),
            registry: registry.clone(),
            hint: self.reg.opts.credentials.hint_for(image.registry()),
        };
        let not_found = |what: String| OciError::NotFound {
            image: img.clone(),
            registry: registry.clone(),
            what,
        };
        match e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let has = |c: OciErrorCode| envelope.errors.iter().any(|e| e.code == c);
                if has(OciErrorCode::Unauthorized) || has(OciErrorCode::Denied) {
                    unauthorized()
                } else if has(OciErrorCode::NameUnknown) {
                    not_found(format!("repository {} unknown", image.repository()))
                } else if has(OciErrorCode::ManifestUnknown) {
                    not_found(format!(
                        "manifest unknown: {}",
                        image.digest().or(image.tag_or_default()).unwrap_or(what)
                    ))
                } else if has(OciErrorCode::BlobUnknown) || has(OciErrorCode::NotFound) {
                    not_found(format!("{what} unknown"))
                } else {
                    let status = has(OciErrorCode::Toomanyrequests).then_some(429);
                    let message = envelope
                        .errors
                        .iter()
                        .map(|e| format!("{:?}: {}", e.code, e.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    OciError::Registry {
                        image: img,
                        registry,
                        status,
                        message,
                    }
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 | 403 => unauthorized(),
                404 => not_found(format!("{what} unknown")),
                _ => OciError::Registry {
                    image: img,
                    registry,
                    status: Some(code),
                    message: format!("HTTP {code} {}", message.trim()),
                },
            },
            // Some calls (e.g. `blob_exists`) hand back reqwest's status errors as they are.
            OciDistributionError::RequestError(r) => match r.status().map(|s| s.as_u16()) {
                Some(401 | 403) => unauthorized(),
                Some(404) => not_found(format!("{what} unknown")),
                Some(code) => OciError::Registry {
                    image: img,
                    registry,
                    status: Some(code),
                    message: error_chain(&r),
                },
                None if is_unreachable(&r) => OciError::Unreachable {
                    image: img,
                    registry,
                    message: error_chain(&r),
                },
                None => OciError::Network {
                    image: img,
                    registry,
                    message: error_chain(&r),
                },
            },
            OciDistributionError::IoError(e) => OciError::Network {
                image: img,
                registry,
                message: error_chain(&e),
            },
            OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            ) => OciError::DigestMismatch {
                image: img,
                registry,
                blob: expected,
                actual,
            },
            other => OciError::Registry {
                image: img,
                registry,
                status: None,
                message: other.to_string(),
            },
        }
    }
}

/// Runs `op` again after transient failures ([`OciError::is_transient`]), at most
/// `opts.retries` more times, pausing `opts.backoff` and doubling it (capped at 30 s).
pub(crate) async fn with_retries<T, F, Fut>(
    opts: &RegistryOptions,
    progress: &dyn Progress,
    what: &str,
    mut op: F,
) -> Result<T, OciError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, OciError>>,
{
    let mut attempt = 0u32;
    loop {
        match op().await {
            Err(e) if e.is_transient() && attempt < opts.retries => {
                attempt += 1;
                progress.retrying(what, attempt, &e);
                let pause = opts.backoff.saturating_mul(1 << (attempt - 1).min(16));
                tokio::time::sleep(pause.min(Duration::from_secs(30))).await;
            }
            r => return r,
        }
    }
}

/// Whether a request failed before any connection was made — a DNS failure, a refused
/// connection, a TLS handshake that failed — as opposed to a timeout or a connection
/// that broke off. The first kind is not retried: an offline machine fails at once.
pub(crate) fn is_unreachable(e: &reqwest::Error) -> bool {
    e.is_connect() && !e.is_timeout()
}

/// An error with its causes, `outer: inner: innermost` (reqwest hides the useful part in sources).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["docker.io", "10.0.0.1:5000", "example.com:5000"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
