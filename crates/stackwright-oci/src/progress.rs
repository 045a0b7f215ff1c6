//! Progress reporting. Library code never prints: the CLI implements [`Progress`]
//! (a bar on a terminal, plain lines elsewhere). Every method has a no-op default.

use crate::OciError;

/// Receives events while pinning and pulling. Called from several tasks at once.
pub trait Progress: Send + Sync {
    /// A reference was resolved to a digest (the index digest for multi-arch images).
    fn resolved(&self, _image: &str, _digest: &str) {}
    /// All manifests are known: `blobs` blobs to place, `download_bytes` of them not cached.
    fn plan(&self, _blobs: usize, _total_bytes: u64, _download_bytes: u64) {}
    /// A blob download starts (`resumed_at` > 0 when continuing a partial download).
    fn blob_started(&self, _image: &str, _digest: &str, _size: u64, _resumed_at: u64) {}
    /// `bytes` more bytes of a blob arrived.
    fn blob_progress(&self, _digest: &str, _bytes: u64) {}
    /// A blob is complete and verified (`cached`: it was already in the cache).
    fn blob_finished(&self, _digest: &str, _size: u64, _cached: bool) {}
    /// An image Stackwright makes (a packaged component's) is in the cache: built now,
    /// or `reused` — built by an earlier run from the same inputs and still complete.
    fn image_built(&self, _image: &str, _digest: &str, _reused: bool) {}
    /// A transient failure; the request is retried after a pause.
    fn retrying(&self, _what: &str, _attempt: u32, _error: &OciError) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
