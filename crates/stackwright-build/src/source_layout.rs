//! Reading images out of an OCI image layout on disk (`oci-layout`, `index.json`,
//! `blobs/sha256/…`), as written by `stackwright-oci`, skopeo or umoci.
//!
//! An image is found by the `org.opencontainers.image.ref.name` annotation of its
//! `index.json` entry. The reference in the config and the one in the layout may be
//! spelled differently (`alpine:3.20` vs `docker.io/library/alpine:3.20`, a pinned
//! `name:tag@sha256:…`), so both are normalised by the distribution rules before they
//! are compared (`stackwright_types::reference::ImageRef`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest, Sha256};

use stackwright_types::reference::ImageRef;

use crate::error::BuildError;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests, indexes and configs bigger than this are refused (they are JSON).
const MAX_JSON_BLOB: u64 = 16 << 20;

/// Whether a layout entry named `stored` (whose manifest descriptor has digest
/// `stored_digest`) is the image `want` asks for: the same repository after normalisation,
/// then, with a digest, the digest decides (the stored name's or the descriptor's);
/// without one, the tag (`latest` when none is written). A stored name that is not a
/// reference (umoci names entries by tag alone) never matches this way.
fn same_image(want: &ImageRef, stored: &str, stored_digest: &str) -> bool {
    let Ok(other) = ImageRef::parse(stored) else {
        return false;
    };
    if other.name() != want.name() {
        return false;
    }
    match want.digest() {
        Some(d) => other.digest() == Some(d) || stored_digest == d,
        None => other.tag_or_default().is_some() && other.tag_or_default() == want.tag_or_default(),
    }
}

/// An OCI image layout directory that a root filesystem's images are read from.
#[derive(Debug)]
pub struct SourceLayout {
    root: PathBuf,
    index: ImageIndex,
}

/// One image, resolved to its manifest and configuration.
#[derive(Debug, Clone)]
pub struct ImageSource {
    /// The reference as asked for.
    pub reference: String,
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl ImageSource {
    /// The layers, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }
}

impl SourceLayout {
    pub fn open(root: impl AsRef<Path>) -> Result<SourceLayout, BuildError> {
        let root = root.as_ref().to_path_buf();
        let err = |reason: String| BuildError::Layout {
            layout: root.clone(),
            reason,
        };
        let marker = root.join("oci-layout");
        if !marker.is_file() {
            return Err(err("no `oci-layout` file: not an OCI image layout".into()));
        }
        let data =
            fs::read(root.join("index.json")).map_err(|e| err(format!("index.json: {e}")))?;
        let index: ImageIndex =
            serde_json::from_slice(&data).map_err(|e| err(format!("index.json: {e}")))?;
        Ok(SourceLayout { root, index })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `ref.name`s of the layout, for messages and listings.
    pub fn ref_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .index
            .manifests()
            .iter()
            .filter_map(|d| d.annotations().as_ref()?.get(REF_NAME).cloned())
            .collect();
        v.sort();
        v
    }

    /// Finds `reference` (exact `ref.name` first, then by normalised name and tag or
    /// digest) and reads its manifest and config. Multi-platform indexes are narrowed
    /// to `linux/<arch>` (`amd64`, `arm64`, …).
    pub fn image(&self, reference: &str, arch: &str) -> Result<ImageSource, BuildError> {
        let entries = self.index.manifests();
        let name_of = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .cloned()
        };
        // A reference that does not parse can still be a layout's own name (umoci's bare
        // tags); it is only looked up as written.
        let want = ImageRef::parse(reference).ok();
        let found = entries
            .iter()
            .find(|d| name_of(d).as_deref() == Some(reference))
            .or_else(|| {
                let want = want.as_ref()?;
                entries
                    .iter()
                    .find(|d| name_of(d).is_some_and(|n| same_image(want, &n, d.digest().as_ref())))
            })
            .ok_or_else(|| BuildError::ImageNotFound {
                reference: reference.to_string(),
                layout: self.root.clone(),
                available: {
                    let names = self.ref_names();
                    if names.is_empty() {
                        "no named images".into()
                    } else {
                        names.join(", ")
                    }
                },
            })?;
        let manifest_desc = self.narrow(reference, found, arch, 0)?;
        let digest = manifest_desc.digest().to_string();
        let manifest: ImageManifest = self.json_blob(reference, &digest)?;
        let config_digest = manifest.config().digest().to_string();
        let config: ImageConfiguration = self.json_blob(reference, &config_digest)?;
        Ok(ImageSource {
            reference: reference.to_string(),
            manifest_digest: digest,
            manifest,
            config,
        })
    }

    /// Follows image indexes down to the manifest for `linux/<arch>`.
    fn narrow(
        &self,
        reference: &str,
        d: &Descriptor,
        arch: &str,
        depth: u32,
    ) -> Result<Descriptor, BuildError> {
        let is_index = matches!(d.media_type(), MediaType::ImageIndex)
            || d.media_type().to_string()
                == "application/vnd.docker.distribution.manifest.list.v2+json";
        if !is_index {
            return Ok(d.clone());
        }
        if depth > 4 {
            return Err(self.blob_err(
                reference,
                d.digest().as_ref(),
                "image indexes nested too deeply".into(),
            ));
        }
        let index: ImageIndex = self.json_blob(reference, d.digest().as_ref())?;
        let pick = index
            .manifests()
            .iter()
            .find(|m| {
                m.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == "linux" && p.architecture().to_string() == arch
                })
            })
            .ok_or_else(|| {
                self.blob_err(
                    reference,
                    d.digest().as_ref(),
                    format!("the image index has no linux/{arch} manifest"),
                )
            })?;
        self.narrow(reference, pick, arch, depth + 1)
    }

    fn blob_err(&self, image: &str, digest: &str, reason: String) -> BuildError {
        BuildError::Blob {
            image: image.to_string(),
            digest: digest.to_string(),
            reason,
        }
    }

    /// Where a blob lives; refuses digests that are not `algorithm:hex`, so a crafted
    /// index cannot name a file outside `blobs/`.
    pub fn blob_path(&self, image: &str, digest: &str) -> Result<PathBuf, BuildError> {
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| self.blob_err(image, digest, "malformed digest".into()))?;
        let ok_alg = !alg.is_empty()
            && alg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok_alg || !ok_hex {
            return Err(self.blob_err(image, digest, "malformed digest".into()));
        }
        Ok(self.root.join("blobs").join(alg).join(hex))
    }

    /// Reads a small JSON blob, checks its digest and parses it.
    fn json_blob<T: serde::de::DeserializeOwned>(
        &self,
        image: &str,
        digest: &str,
    ) -> Result<T, BuildError> {
        let path = self.blob_path(image, digest)?;
        let meta = fs::metadata(&path)
            .map_err(|e| self.blob_err(image, digest, format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_JSON_BLOB {
            return Err(self.blob_err(
                image,
                digest,
                format!("{} bytes is too big for a JSON blob", meta.len()),
            ));
        }
        let data = fs::read(&path)
            .map_err(|e| self.blob_err(image, digest, format!("{}: {e}", path.display())))?;
        if let Some(hex) = digest.strip_prefix("sha256:") {
            let got = stackwright_types::hex::encode(&Sha256::digest(&data));
            if got != hex {
                return Err(self.blob_err(
                    image,
                    digest,
                    format!("content does not match its digest (got sha256:{got})"),
                ));
            }
        }
        serde_json::from_slice(&data)
            .map_err(|e| self.blob_err(image, digest, format!("invalid JSON: {e}")))
    }

    /// Opens a layer blob for reading.
    pub fn open_blob(&self, image: &str, digest: &str) -> Result<fs::File, BuildError> {
        let path = self.blob_path(image, digest)?;
        fs::File::open(&path)
            .map_err(|e| self.blob_err(image, digest, format!("{}: {e}", path.display())))
    }
}

/// `linux/<arch>` of the machine this runs on, in OCI's spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Labels of an image config, empty when it has none.
pub(crate) fn labels(c: &ImageConfiguration) -> HashMap<String, String> {
    c.config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn matching_rules() {
        let r = |s: &str| ImageRef::parse(s).unwrap();
        let pinned = r(&format!("linuxkit/init:v1@{D}"));
        assert!(same_image(
            &pinned,
            &format!("docker.io/linuxkit/init:v1@{D}"),
            "sha256:other"
        ));
        assert!(same_image(&pinned, "docker.io/linuxkit/init:v1", D));
        assert!(!same_image(
            &pinned,
            "docker.io/linuxkit/init:v1",
            "sha256:other"
        ));
        let tagged = r("linuxkit/init:v1");
        assert!(same_image(&tagged, "docker.io/linuxkit/init:v1", "x"));
        assert!(same_image(
            &tagged,
            &format!("docker.io/linuxkit/init:v1@{D}"),
            "x"
        ));
        assert!(!same_image(&tagged, "docker.io/linuxkit/init:v2", "x"));
        assert!(!same_image(&tagged, "docker.io/linuxkit/other:v1", "x"));
        // No tag means `latest`, on either side.
        assert!(same_image(
            &r("alpine"),
            "docker.io/library/alpine:latest",
            "x"
        ));
        assert!(same_image(
            &r("alpine:latest"),
            "index.docker.io/library/alpine",
            "x"
        ));
        assert!(!same_image(&r("alpine"), "3.20", "x"));
    }
}
