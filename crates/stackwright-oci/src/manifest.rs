//! The parts of OCI (and Docker v2) manifests and indexes this crate reads.
//! Manifests are kept byte-for-byte as the registry served them (their digest is
//! over those bytes); these types are only for looking inside.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The manifest media types asked for, most preferred first.
pub const MANIFEST_TYPES: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// BuildKit's attestation manifests in an index (docs.docker.com, "Attestation storage"):
/// an entry with `vnd.docker.reference.type = attestation-manifest` whose
/// `vnd.docker.reference.digest` names the image manifest it is about; its layers are in-toto
/// statements, typed by the `in-toto.io/predicate-type` annotation. LinuxKit reads the same
/// ones (src/cmd/linuxkit/cache/imagesource.go, `SBoMs`).
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
pub const IN_TOTO_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
/// The predicate type of an SPDX document.
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

/// The attestation manifests of an index that are about the image manifest `digest`.
pub fn attestations_for<'a>(entries: &'a [Descriptor], digest: &str) -> Vec<&'a Descriptor> {
    entries
        .iter()
        .filter(|d| {
            d.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
                && d.annotations.get(REFERENCE_DIGEST).map(String::as_str) == Some(digest)
        })
        .collect()
}

/// The annotation naming an image in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name (`ctr image import` reads it).
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest or an index, whichever the document is.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDoc {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// What a manifest document turned out to be.
#[derive(Clone, Debug)]
pub enum Parsed {
    Index(Vec<Descriptor>),
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

impl ManifestDoc {
    pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
        let doc: ManifestDoc =
            serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if doc.schema_version != 2 {
            return Err(format!(
                "schemaVersion {} is not supported (Docker schema 1 images are obsolete)",
                doc.schema_version
            ));
        }
        let mt = doc.media_type.as_deref().unwrap_or("");
        let is_index = mt == OCI_INDEX
            || mt == DOCKER_MANIFEST_LIST
            || (doc.config.is_none() && !doc.manifests.is_empty());
        if is_index {
            return Ok(Parsed::Index(doc.manifests));
        }
        match doc.config {
            Some(config) => Ok(Parsed::Image {
                config,
                layers: doc.layers,
            }),
            None => Err(format!(
                "media type `{mt}` is neither an image manifest nor an index"
            )),
        }
    }
}

/// The arch-specific entry of an index: `linux/<arch>`, preferring no variant or
/// `v8` for arm64. `None` when the index has no such entry.
pub fn select_arch<'a>(entries: &'a [Descriptor], arch: &str) -> Option<&'a Descriptor> {
    let matches = |d: &&Descriptor| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            && MANIFEST_TYPES.contains(&d.media_type.as_str())
    };
    let preferred = |d: &&Descriptor| {
        let v = d.platform.as_ref().and_then(|p| p.variant.as_deref());
        v.is_none() || (arch == "arm64" && v == Some("v8"))
    };
    entries
        .iter()
        .filter(matches)
        .find(preferred)
        .or_else(|| entries.iter().find(matches))
}

/// The platforms an index offers, for error messages: `linux/amd64, linux/arm64/v8`.
pub fn platforms(entries: &[Descriptor]) -> String {
    let v: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    if v.is_empty() {
        "no platforms".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
            }),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn picks_the_requested_arch() {
        let idx = vec![
            entry("amd64", None, 1),
            entry("arm64", Some("v7"), 2),
            entry("arm64", Some("v8"), 3),
        ];
        assert_eq!(select_arch(&idx, "amd64").unwrap().digest, idx[0].digest);
        assert_eq!(select_arch(&idx, "arm64").unwrap().digest, idx[2].digest);
        assert!(select_arch(&idx, "riscv64").is_none());
        assert_eq!(
            platforms(&idx),
            "linux/amd64, linux/arm64/v7, linux/arm64/v8"
        );
    }

    #[test]
    fn classifies_documents() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(ManifestDoc::parse(idx), Ok(Parsed::Index(_))));
        let img = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":2},"layers":[]}"#;
        assert!(matches!(ManifestDoc::parse(img), Ok(Parsed::Image { .. })));
        assert!(ManifestDoc::parse(br#"{"schemaVersion":1}"#).is_err());
        assert!(ManifestDoc::parse(b"[]").is_err());
    }
}
