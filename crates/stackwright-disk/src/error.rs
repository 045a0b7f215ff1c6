use std::path::Path;

/// Everything that can go wrong writing a disk image.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{program} is not installed (install it: apt-get install -y {package})")]
    Missing {
        program: String,
        package: &'static str,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--disk-size {asked} bytes is too small: the content needs {needed} bytes ({} MiB)", needed.div_ceil(1 << 20))]
    TooSmall { asked: u64, needed: u64 },
    #[error("{0}")]
    Cmdline(String),
    #[error("GRUB's BIOS image is {0} bytes, more than the 1 MiB before the partition holds")]
    LoaderTooLarge(usize),
}

impl DiskError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> DiskError {
        DiskError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
