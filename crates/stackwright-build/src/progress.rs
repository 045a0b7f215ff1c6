//! Progress of a build, reported as it goes: what will be unpacked, each layer as it is
//! applied, each output file as it is written. The facade forwards it to its own
//! `Progress` (the command line draws it); [`NoBuildProgress`] reports nothing.

/// Progress of a build. Every method has an empty default.
pub trait BuildProgress: Send + Sync {
    /// What the build unpacks: `images` images (kernel, init, containers) with `layers`
    /// layers, `bytes` of layer blobs as stored (compressed).
    fn build_planned(&self, _images: usize, _layers: usize, _bytes: u64) {}
    /// One layer of `image` is applied to the tree (`bytes`: its blob as stored).
    fn layer_unpacked(&self, _image: &str, _digest: &str, _bytes: u64) {}
    /// Every layer of `image` is applied: its root filesystem is in the tree.
    fn image_unpacked(&self, _image: &str) {}
    /// An output file (`<name>.tar`, `<name>-initrd.img`, a disk image…) is written,
    /// `bytes` long. Outputs are renamed into place together once all are written.
    fn output_written(&self, _file: &str, _bytes: u64) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBuildProgress;

impl BuildProgress for NoBuildProgress {}
