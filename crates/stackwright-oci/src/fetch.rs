//! Release-file downloads: the upstream files packaged components are built from
//! (`[[release.files]]`), fetched over HTTP(S) into the same content-addressed cache as
//! image blobs, `blobs/sha256/<hex>` keyed by the sha256 their manifest gives.
//!
//! - Verified while streaming; a file enters `blobs/` only by a rename once its sha256
//!   matched. A mismatch keeps nothing ([`OciError::FileChecksum`]).
//! - Resumed: an interrupted download stays in `partial/` and continues with `Range`
//!   (on the next attempt or the next run); a server that ignores the range sends it
//!   all again.
//! - Bounded: at most [`RegistryOptions::concurrency`] downloads at once; the same
//!   file asked for twice is fetched once.
//! - Retried only when it may help: 5xx, 429, 408, timeouts and connections that broke
//!   off. A 404, a DNS failure or a refused connection fails at once, naming the
//!   component and the URL.
//! - `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are honoured (reqwest's system proxy).
//! - Safe to share: one blob is downloaded by one process at a time (a per-blob lock
//!   in the cache); the others wait and find it complete.
//! - [`RegistryOptions::offline`]: nothing is fetched; every file not in the cache is
//!   named in one [`OciError::Offline`].

use std::collections::BTreeMap;

use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use crate::cache::{hash_prefix, Cache};
use crate::client::{error_chain, is_unreachable, with_retries};
use crate::{OciError, Progress, RegistryClient, RegistryOptions};
use stackwright_types::hex;

/// One file to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRequest {
    /// Who needs it, for messages: `kubelet 1.36.4 (amd64)`.
    pub owner: String,
    pub url: String,
    /// `sha256:<64 hex>`: what the bytes must hash to, and their cache key.
    pub digest: String,
}

/// What [`RegistryClient::fetch_files`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Distinct files downloaded (completely or the rest of a partial one).
    pub downloaded: usize,
    /// Bytes that came over the network.
    pub bytes_downloaded: u64,
    /// Distinct files found in the cache.
    pub cached: usize,
    pub bytes_cached: u64,
    /// Downloads that continued a partial file with `Range`.
    pub resumed: usize,
}

/// How one file ended up in the cache.
enum Outcome {
    Cached(u64),
    Downloaded { bytes: u64, resumed: bool },
}

/// How one attempt ended, short of an error.
enum Attempt {
    Done {
        bytes: u64,
        resumed: bool,
    },
    /// The partial file did not lead to the right bytes (or the server refused its
    /// range): start that file over, once.
    Restart,
}

impl RegistryClient {
    /// Makes sure every file is in `cache` (at [`Cache::blob_path`] of its digest),
    /// downloading the missing ones concurrently. On error, files already complete stay
    /// cached and a broken-off download stays partial, so a rerun continues.
    pub async fn fetch_files(
        &self,
        files: &[FileRequest],
        cache: &Cache,
        progress: &dyn Progress,
    ) -> Result<FetchReport, OciError> {
        self.fetch_files_with(files, cache, progress, &|_| {}).await
    }

    /// [`RegistryClient::fetch_files`], calling `ready` once for each distinct file (the
    /// first request naming its digest) as soon as it is complete in the cache — found
    /// there, or downloaded and verified — while the other downloads go on, so the caller
    /// can start on it (a packaged image's build) before every file has arrived. `ready`
    /// runs on the download task: it should hand the file on (a channel, a queue), not
    /// work on it. A file that failed is never reported.
    pub async fn fetch_files_with(
        &self,
        files: &[FileRequest],
        cache: &Cache,
        progress: &dyn Progress,
        ready: &(dyn Fn(&FileRequest) + Sync),
    ) -> Result<FetchReport, OciError> {
        let mut unique: BTreeMap<&str, &FileRequest> = BTreeMap::new();
        for f in files {
            if !crate::reference::is_sha256_digest(&f.digest) {
                return Err(OciError::FileDownload {
                    owner: f.owner.clone(),
                    url: f.url.clone(),
                    status: None,
                    message: format!("`{}` is not sha256:<64 hex>", f.digest),
                    transient: false,
                });
            }
            unique.entry(f.digest.as_str()).or_insert(f);
        }
        if self.opts.offline {
            let missing: Vec<String> = unique
                .values()
                .filter(|f| cache.cached_size(&f.digest).is_none())
                .map(|f| format!("{}: {} ({})", f.owner, f.url, f.digest))
                .collect();
            if !missing.is_empty() {
                return Err(OciError::Offline {
                    cache: cache.root().to_path_buf(),
                    missing,
                });
            }
        }
        let client = client(&self.opts).map_err(|e| OciError::FileDownload {
            owner: "stackwright".into(),
            url: String::new(),
            status: None,
            message: format!("cannot set up the HTTP client: {}", error_chain(&e)),
            transient: false,
        })?;
        let client = &client;
        let jobs: Vec<_> = unique
            .values()
            .map(|f| async move {
                let outcome = fetch_one(&self.opts, client, f, cache, progress).await?;
                ready(f);
                Ok::<_, OciError>(outcome)
            })
            .collect();
        let outcomes: Vec<Outcome> = futures_util::stream::iter(jobs)
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect()
            .await?;
        let mut report = FetchReport::default();
        for o in outcomes {
            match o {
                Outcome::Cached(n) => {
                    report.cached += 1;
                    report.bytes_cached += n;
                }
                Outcome::Downloaded { bytes, resumed } => {
                    report.downloaded += 1;
                    report.bytes_downloaded += bytes;
                    report.resumed += usize::from(resumed);
                }
            }
        }
        Ok(report)
    }
}

fn client(opts: &RegistryOptions) -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.read_timeout)
        .user_agent(concat!("stackwright/", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn fetch_one(
    opts: &RegistryOptions,
    client: &reqwest::Client,
    f: &FileRequest,
    cache: &Cache,
    progress: &dyn Progress,
) -> Result<Outcome, OciError> {
    if let Some(n) = hit(cache, f).await? {
        progress.blob_finished(&f.digest, n, true);
        return Ok(Outcome::Cached(n));
    }
    if opts.offline {
        return Err(OciError::Offline {
            cache: cache.root().to_path_buf(),
            missing: vec![format!("{}: {} ({})", f.owner, f.url, f.digest)],
        });
    }
    // One downloader per blob across processes; whoever waited finds it complete.
    let _lock = cache.lock_blob(&f.digest).await?;
    if let Some(n) = hit(cache, f).await? {
        progress.blob_finished(&f.digest, n, true);
        return Ok(Outcome::Cached(n));
    }
    let what = format!("{} ({})", f.url, f.owner);
    let mut restart = false;
    loop {
        match with_retries(opts, progress, &what, || {
            attempt(client, f, cache, progress, restart)
        })
        .await?
        {
            Attempt::Done { bytes, resumed } => {
                let size = cache.cached_size(&f.digest).unwrap_or(bytes);
                progress.blob_finished(&f.digest, size, false);
                return Ok(Outcome::Downloaded { bytes, resumed });
            }
            Attempt::Restart if !restart => restart = true,
            Attempt::Restart => {
                return Err(OciError::FileDownload {
                    owner: f.owner.clone(),
                    url: f.url.clone(),
                    status: None,
                    message: "the server does not serve the file from the start".into(),
                    transient: false,
                })
            }
        }
    }
}

/// The cached size, if the file is complete in the cache (re-hashed when the cache
/// verifies hits; a corrupt copy is then removed under the blob's lock).
async fn hit(cache: &Cache, f: &FileRequest) -> Result<Option<u64>, OciError> {
    let Some(n) = cache.cached_size(&f.digest) else {
        return Ok(None);
    };
    if !cache.verifies_hits() {
        return Ok(Some(n));
    }
    let path = cache.blob_path(&f.digest);
    if hash_file(&path).await?.0 == f.digest {
        return Ok(Some(n));
    }
    let _lock = cache.lock_blob(&f.digest).await?;
    if hash_file(&path).await.is_ok_and(|(d, _)| d != f.digest) {
        cache.evict(&f.digest);
    }
    Ok(None)
}

/// `sha256:<hex>` and length of a file's content.
async fn hash_file(path: &std::path::Path) -> Result<(String, u64), OciError> {
    let (hasher, n) = hash_prefix(path).await?;
    Ok((format!("sha256:{}", hex::encode(&hasher.finalize())), n))
}

/// One attempt: continue (or start) `partial/<digest>`, hashing as bytes arrive, and
/// rename it into `blobs/` once its sha256 matches.
async fn attempt(
    client: &reqwest::Client,
    f: &FileRequest,
    cache: &Cache,
    progress: &dyn Progress,
    restart: bool,
) -> Result<Attempt, OciError> {
    let (partial, mut hasher, mut have) = cache.resume_partial(&f.digest, restart).await?;
    let failed = |status: Option<u16>, message: String, transient: bool| OciError::FileDownload {
        owner: f.owner.clone(),
        url: f.url.clone(),
        status,
        message,
        transient,
    };
    let mut request = client.get(&f.url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let response = request.send().await.map_err(|e| {
        if is_unreachable(&e) {
            failed(None, format!("unreachable: {}", error_chain(&e)), false)
        } else {
            failed(None, error_chain(&e), !e.is_builder())
        }
    })?;
    let status = response.status().as_u16();
    match status {
        206 if have > 0 => {}
        200 => {
            // A fresh download, or a server that ignored the range: take it all.
            hasher = Sha256::new();
            have = 0;
        }
        416 if have > 0 => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Ok(Attempt::Restart);
        }
        404 | 410 => {
            return Err(failed(
                Some(status),
                format!("HTTP {status} (not found)"),
                false,
            ))
        }
        s if s >= 500 || s == 429 || s == 408 => {
            return Err(failed(Some(s), format!("HTTP {s}"), true))
        }
        s => return Err(failed(Some(s), format!("HTTP {s}"), false)),
    }
    let resumed_from = have;
    let expected_len = response.content_length().map(|n| n + have);
    progress.blob_started(&f.owner, &f.digest, expected_len.unwrap_or(0), have);
    let mut file = cache.write_partial(&partial, have).await?;
    let mut stream = response.bytes_stream();
    let mut broke = None;
    // What arrived before a break is written all the same (the retry resumes after it).
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                hasher.update(&bytes);
                file.write(&bytes).await?;
                have += bytes.len() as u64;
                progress.blob_progress(&f.digest, bytes.len() as u64);
            }
            Err(e) => {
                broke = Some(error_chain(&e));
                break;
            }
        }
    }
    file.finish().await?;
    if broke.is_some() || expected_len.is_some_and(|n| have < n) {
        // Keep the partial file: the retry (or the next run) continues from here.
        return Err(failed(
            None,
            format!(
                "the connection broke off after {have}{} bytes: {}",
                expected_len.map_or(String::new(), |n| format!(" of {n}")),
                broke.unwrap_or_else(|| "closed early".into())
            ),
            true,
        ));
    }
    let actual = format!("sha256:{}", hex::encode(&hasher.finalize()));
    if actual != f.digest {
        let _ = tokio::fs::remove_file(&partial).await;
        if resumed_from > 0 {
            // The kept prefix may be what was wrong: one fresh download decides.
            return Ok(Attempt::Restart);
        }
        return Err(OciError::FileChecksum {
            owner: f.owner.clone(),
            url: f.url.clone(),
            expected: f.digest.clone(),
            actual,
        });
    }
    cache.adopt_partial(&partial, &f.digest).await?;
    Ok(Attempt::Done {
        bytes: have - resumed_from,
        resumed: resumed_from > 0,
    })
}
