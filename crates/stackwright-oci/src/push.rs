//! Uploading to a registry: the blobs a repository lacks, then a manifest.
//! [`RegistryClient::push_image`] publishes an image from the [`Cache`] (one Stackwright built:
//! a packaged component's); [`RegistryClient::push_artifact`](crate::RegistryClient::push_artifact)
//! publishes files as an artifact. Both go through [`upload_blobs`]: each distinct blob
//! checked with a HEAD first (nothing the repository has is sent again), uploads bounded
//! by `RegistryOptions::concurrency`, every request retried like pulls are.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::client::Conn;
use crate::manifest::{ManifestDoc, Parsed, OCI_MANIFEST};
use crate::{Cache, ImageRef, OciError, Progress, PushedArtifact, RegistryClient};

/// Where an uploaded blob's bytes are.
pub(crate) enum Blob<'a> {
    Bytes(&'a [u8]),
    /// A complete blob in the cache, of this size (read when it is sent).
    Cached(PathBuf, u64),
}

impl Blob<'_> {
    fn size(&self) -> u64 {
        match self {
            Blob::Bytes(b) => b.len() as u64,
            Blob::Cached(_, n) => *n,
        }
    }
}

/// Uploads every blob `image`'s repository does not have yet. Returns how many were
/// uploaded and how many were already there.
pub(crate) async fn upload_blobs(
    conn: &Conn<'_>,
    image: &ImageRef,
    blobs: &BTreeMap<String, Blob<'_>>,
    progress: &dyn Progress,
) -> Result<(usize, usize), OciError> {
    let target = &crate::reference::client_ref(image);
    let jobs: Vec<_> = blobs
        .iter()
        .map(|(digest, blob)| async move {
            let size = blob.size();
            let exists = conn
                .retry(&format!("check blob {digest} in {image}"), || async {
                    conn.client
                        .blob_exists(target, digest)
                        .await
                        .map_err(|e| conn.classify(e, image, digest))
                })
                .await?;
            if exists {
                progress.blob_finished(digest, size, true);
                return Ok::<bool, OciError>(false);
            }
            let bytes = match blob {
                Blob::Bytes(b) => bytes::Bytes::copy_from_slice(b),
                Blob::Cached(path, _) => tokio::fs::read(path)
                    .await
                    .map_err(|e| OciError::io(path, e))?
                    .into(),
            };
            progress.blob_started(image.original(), digest, size, 0);
            conn.retry(&format!("upload blob {digest} to {image}"), || async {
                conn.client
                    .push_blob(target, bytes.clone(), digest)
                    .await
                    .map_err(|e| conn.classify(e, image, digest))
            })
            .await?;
            progress.blob_progress(digest, size);
            progress.blob_finished(digest, size, false);
            Ok(true)
        })
        .collect();
    let uploaded: Vec<bool> = futures_util::stream::iter(jobs)
        .buffer_unordered(conn.reg.opts.concurrency.max(1))
        .try_collect()
        .await?;
    let sent = uploaded.iter().filter(|u| **u).count();
    Ok((sent, uploaded.len() - sent))
}

/// Uploads `manifest` (an OCI image manifest, byte for byte) as `image`'s tag.
pub(crate) async fn upload_manifest(
    conn: &Conn<'_>,
    image: &ImageRef,
    manifest: &[u8],
    digest: &str,
) -> Result<(), OciError> {
    let target = crate::reference::client_ref(image);
    let content_type = http::HeaderValue::from_static(OCI_MANIFEST);
    conn.retry(&format!("upload manifest {digest} to {image}"), || async {
        conn.client
            .push_manifest_raw(&target, manifest.to_vec(), content_type.clone())
            .await
            .map_err(|e| conn.classify(e, image, digest))
    })
    .await
    .map(|_url| ())
}

impl RegistryClient {
    /// Publishes the image whose manifest `digest` is in `cache` (with its config and
    /// layers) as `reference` (`host/repo:tag`). Blobs the repository already has are
    /// not sent again; a layer is read into memory while it is uploaded. The pushed
    /// manifest is the cached one byte for byte, so the image keeps its digest.
    /// Something missing from the cache is [`OciError::NotBuilt`].
    pub async fn push_image(
        &self,
        reference: &str,
        cache: &Cache,
        digest: &str,
        progress: &dyn Progress,
    ) -> Result<PushedArtifact, OciError> {
        let image = crate::reference::parse(reference)?;
        let not_built = |what: String| OciError::NotBuilt {
            image: reference.to_string(),
            what,
            cache: cache.root().to_path_buf(),
        };
        if self.opts.offline {
            return Err(OciError::Offline {
                cache: cache.root().to_path_buf(),
                missing: vec![format!("{reference} (push)")],
            });
        }
        let manifest = cache
            .read_small(digest)
            .ok_or_else(|| not_built(format!("its manifest {digest}")))?;
        let Ok(Parsed::Image { config, layers }) = ManifestDoc::parse(&manifest) else {
            return Err(not_built(format!("an image manifest at {digest}")));
        };
        let mut blobs = BTreeMap::new();
        for d in std::iter::once(&config).chain(&layers) {
            if !cache.contains(&d.digest, d.size) {
                return Err(not_built(format!("blob {}", d.digest)));
            }
            blobs.insert(
                d.digest.clone(),
                Blob::Cached(cache.blob_path(&d.digest), d.size),
            );
        }
        let conn = Conn::new(self, std::slice::from_ref(&image), progress);
        conn.client
            .store_auth_if_needed(
                crate::reference::client_ref(&image).resolve_registry(),
                &conn.auth(&image),
            )
            .await;
        let (uploaded, present) = upload_blobs(&conn, &image, &blobs, progress).await?;
        upload_manifest(&conn, &image, &manifest, digest).await?;
        progress.resolved(image.original(), digest);
        Ok(PushedArtifact {
            reference: reference.to_string(),
            digest: digest.to_string(),
            size: manifest.len() as u64,
            pinned: image.pinned(digest),
            blobs_uploaded: uploaded,
            blobs_present: present,
        })
    }
}
