//! Progress of registry work (pins, pulls, release-file downloads, pushes) and of builds
//! (root filesystems and the formats written from them), reported to whoever drives the
//! pipeline: the command line draws it, a library user may log it or ignore it
//! ([`NoProgress`]). The trait is the same whether or not the `oci` feature is on;
//! without it nothing is ever reported.

/// Progress of registry work and builds. Every method has an empty default.
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
    fn retrying(&self, _what: &str, _attempt: u32, _error: &(dyn std::error::Error + 'static)) {}
    /// A build starts (`--format`): `images` images (kernel, init, containers) to unpack,
    /// with `layers` layers, `bytes` of layer blobs as stored (compressed).
    fn build_planned(&self, _images: usize, _layers: usize, _bytes: u64) {}
    /// One layer of `image` is applied to the root filesystem (`bytes`: its blob as
    /// stored).
    fn layer_unpacked(&self, _image: &str, _digest: &str, _bytes: u64) {}
    /// Every layer of `image` is applied.
    fn image_unpacked(&self, _image: &str) {}
    /// An output of the build (`<name>.tar`, `<name>-initrd.img`, a disk image…) is
    /// written, `bytes` long (all are put in place together once every one is).
    fn output_written(&self, _file: &str, _bytes: u64) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The facade's [`Progress`] as the registry client's.
#[cfg(feature = "oci")]
pub(crate) struct Forward<'a>(pub &'a dyn Progress);

#[cfg(feature = "oci")]
impl stackwright_oci::Progress for Forward<'_> {
    fn resolved(&self, image: &str, digest: &str) {
        self.0.resolved(image, digest)
    }
    fn plan(&self, blobs: usize, total_bytes: u64, download_bytes: u64) {
        self.0.plan(blobs, total_bytes, download_bytes)
    }
    fn blob_started(&self, image: &str, digest: &str, size: u64, resumed_at: u64) {
        self.0.blob_started(image, digest, size, resumed_at)
    }
    fn blob_progress(&self, digest: &str, bytes: u64) {
        self.0.blob_progress(digest, bytes)
    }
    fn blob_finished(&self, digest: &str, size: u64, cached: bool) {
        self.0.blob_finished(digest, size, cached)
    }
    fn image_built(&self, image: &str, digest: &str, reused: bool) {
        self.0.image_built(image, digest, reused)
    }
    fn retrying(&self, what: &str, attempt: u32, error: &stackwright_oci::OciError) {
        self.0.retrying(what, attempt, error)
    }
}

#[cfg(feature = "oci")]
impl stackwright_build::BuildProgress for Forward<'_> {
    fn build_planned(&self, images: usize, layers: usize, bytes: u64) {
        self.0.build_planned(images, layers, bytes)
    }
    fn layer_unpacked(&self, image: &str, digest: &str, bytes: u64) {
        self.0.layer_unpacked(image, digest, bytes)
    }
    fn image_unpacked(&self, image: &str) {
        self.0.image_unpacked(image)
    }
    fn output_written(&self, file: &str, bytes: u64) {
        self.0.output_written(file, bytes)
    }
}
