//! The crate's one error type: every variant names what a user needs to find the
//! problem (the image, the layer digest, the path inside the layer, the file).

use std::path::PathBuf;

/// Which safety limit an archive ran into (see [`crate::Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Bytes read out of the decompressed layers of one image.
    TotalBytes,
    /// Entries in the layers of one image.
    Entries,
    /// Size of one file.
    FileSize,
    /// Length of one path (or one component of it).
    PathLength,
    /// Symlinks followed while resolving one path.
    SymlinkHops,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::TotalBytes => "total decompressed bytes",
            LimitKind::Entries => "number of entries",
            LimitKind::FileSize => "size of one file",
            LimitKind::PathLength => "path length",
            LimitKind::SymlinkHops => "symlinks followed in one path",
        })
    }
}

/// Where in the inputs an archive problem was found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The image reference, as written in the config.
    pub image: String,
    /// The layer's (compressed) blob digest, or a description such as `kernel.tar`.
    pub layer: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.image.is_empty() && self.layer.is_empty() {
            return f.write_str("(generated)");
        }
        write!(f, "image `{}` layer {}", self.image, self.layer)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("OCI image layout {layout}: {reason}")]
    Layout { layout: PathBuf, reason: String },

    #[error("image `{reference}` is not in the OCI image layout {layout} (it holds: {available})")]
    ImageNotFound {
        reference: String,
        layout: PathBuf,
        available: String,
    },

    #[error("image `{image}`: blob {digest}: {reason}")]
    Blob {
        image: String,
        digest: String,
        reason: String,
    },

    #[error("{origin}: entry `{path}`: {reason}")]
    UnsafeEntry {
        origin: Origin,
        path: String,
        reason: String,
    },

    #[error("{origin}: entry `{path}`: {kind} limit exceeded ({value} > {max}); raise it in Limits if the image is trusted")]
    LimitExceeded {
        origin: Origin,
        path: String,
        kind: LimitKind,
        value: u64,
        max: u64,
    },

    #[error("{origin}: corrupt archive: {reason}")]
    Archive { origin: Origin, reason: String },

    #[error("kernel image `{image}`: {reason}")]
    Kernel { image: String, reason: String },

    #[error("{section}[{index}] `{name}` (image `{image}`): {reason}")]
    Container {
        section: String,
        index: usize,
        name: String,
        image: String,
        reason: String,
    },

    #[error("files[{index}] `{path}`: {reason}")]
    File {
        index: usize,
        path: String,
        reason: String,
    },

    #[error("unknown output format `{0}` (known: tar, kernel+initrd, raw-bios, raw-efi, qcow2-bios, qcow2-efi, iso-bios, iso-efi)")]
    UnknownFormat(String),

    #[error("writing the disk image {file}: {source}")]
    Disk {
        file: String,
        #[source]
        source: stackwright_disk::DiskError,
    },

    #[error("invalid options: {0}")]
    Options(String),
}

impl BuildError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BuildError::Io {
            path: path.into(),
            source,
        }
    }
}
