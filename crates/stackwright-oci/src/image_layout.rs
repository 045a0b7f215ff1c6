//! Reading an OCI image layout written by [`RegistryClient::pull_into`](crate::RegistryClient::pull_into),
//! for the crates that build root filesystems from it (no network here).

use std::path::{Path, PathBuf};

use crate::manifest::{self, Descriptor, ManifestDoc, Parsed};
use crate::OciError;

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct ImageLayout {
    dir: PathBuf,
}

/// One image named in `index.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutImage {
    pub ref_name: String,
    pub manifest: Descriptor,
    pub config: Descriptor,
    /// Bottom layer first.
    pub layers: Vec<Descriptor>,
}

impl ImageLayout {
    /// Opens a layout, checking for its `oci-layout` marker.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ImageLayout, OciError> {
        let dir = dir.into();
        let marker = dir.join("oci-layout");
        std::fs::metadata(&marker).map_err(|e| OciError::io(&marker, e))?;
        Ok(ImageLayout { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a blob's file is.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.dir.join("blobs").join(alg).join(hex)
    }

    /// Every named image, in `index.json` order.
    pub fn images(&self) -> Result<Vec<LayoutImage>, OciError> {
        let index_path = self.dir.join("index.json");
        let text = std::fs::read(&index_path).map_err(|e| OciError::io(&index_path, e))?;
        let bad = |reason: String| {
            OciError::io(
                &index_path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
            )
        };
        let doc: ManifestDoc = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let mut out = Vec::new();
        for m in doc.manifests {
            let Some(ref_name) = m.annotations.get(manifest::REF_NAME).cloned() else {
                continue;
            };
            let path = self.blob_path(&m.digest);
            let bytes = std::fs::read(&path).map_err(|e| OciError::io(&path, e))?;
            match ManifestDoc::parse(&bytes) {
                Ok(Parsed::Image { config, layers }) => out.push(LayoutImage {
                    ref_name,
                    manifest: m,
                    config,
                    layers,
                }),
                Ok(Parsed::Index(_)) => {
                    return Err(bad(format!(
                        "{ref_name} names an index, not an image manifest"
                    )))
                }
                Err(e) => return Err(bad(format!("{ref_name}: {e}"))),
            }
        }
        Ok(out)
    }

    /// The image a reference names (matched by [`ref_name`](crate::ref_name)).
    pub fn find(&self, reference: &str) -> Result<Option<LayoutImage>, OciError> {
        let want = crate::ref_name(reference)?;
        Ok(self.images()?.into_iter().find(|i| i.ref_name == want))
    }
}
