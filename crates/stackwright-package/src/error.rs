//! The crate's one error type.

use std::path::PathBuf;

/// Errors from building an image.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A path in the image is absolute, empty, or has `.`/`..` parts.
    #[error("image path `{path}`: {reason}")]
    BadPath { path: String, reason: String },

    /// Two entries claim one path.
    #[error("two entries at `{path}` in one image")]
    Duplicate { path: String },

    /// An entry lies below a path that is a file or symlink in the image.
    #[error("`{path}` lies below `{parent}`, which is not a directory in the image")]
    NotADirectory { path: String, parent: String },

    /// A downloaded archive that cannot be unpacked as its manifest says.
    #[error("{url}: {reason}")]
    Archive { url: String, reason: String },

    /// Reading a source file or writing into the cache failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The blob cache refused a blob.
    #[error(transparent)]
    Cache(#[from] stackwright_oci::OciError),
}

impl PackageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io {
            path: path.into(),
            source,
        }
    }
}
