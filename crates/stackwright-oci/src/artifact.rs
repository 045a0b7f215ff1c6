//! Files published as one OCI artifact: an OCI 1.1 image manifest whose
//! `artifactType` says what it is, whose config is the empty descriptor (`{}`),
//! and whose layers are the files themselves, each named by an
//! `org.opencontainers.image.title` annotation (a relative path).
//!
//! [`RegistryClient::push_artifact`] uploads the blobs the registry lacks and then the
//! manifest; [`RegistryClient::pull_artifact`] brings the files back through the
//! [`Cache`], checking the manifest's digest and every blob's digest and size,
//! and refusing titles that would land outside the directory they are written to.
//! The manifest bytes are a pure function of the [`Artifact`] (sorted annotations,
//! no clock), so the same files always publish under the same digest.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};

use crate::cache::sha256_digest;
use crate::client::Conn;
use crate::manifest::{Descriptor, OCI_MANIFEST};
use crate::push::{upload_blobs, upload_manifest, Blob};
use crate::{Cache, ImageRef, OciError, Progress, RegistryClient};

/// `artifactType` of a published Stackwright assembly.
pub const ASSEMBLY_ARTIFACT_TYPE: &str = "application/vnd.stackwright.assembly.v1+json";
/// An assembly source file (`*.toml` read through `extends`).
pub const SOURCE_MEDIA_TYPE: &str = "application/vnd.stackwright.assembly.source.v1+toml";
/// A component manifest published with its assembly (a file under `component_paths`).
pub const COMPONENT_MEDIA_TYPE: &str = "application/vnd.stackwright.component.v1+toml";
/// A `capabilities.toml` published with its assembly's components.
pub const CAPABILITIES_MEDIA_TYPE: &str = "application/vnd.stackwright.capabilities.v1+toml";
/// A local file an assembly's `[[files]]` entry names as its `source`, published with it.
pub const FILE_MEDIA_TYPE: &str = "application/vnd.stackwright.assembly.file.v1";
/// `stackwright.lock`.
pub const LOCK_MEDIA_TYPE: &str = "application/vnd.stackwright.lock.v1+toml";
/// `linuxkit.yml`.
pub const LINUXKIT_MEDIA_TYPE: &str = "application/vnd.stackwright.linuxkit.v1+yaml";
/// `plan.json`.
pub const PLAN_MEDIA_TYPE: &str = "application/vnd.stackwright.plan.v1+json";

/// The OCI empty descriptor's media type, used as the config of artifacts.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty blob: `{}`.
pub const EMPTY_BLOB: &[u8] = b"{}";
/// The file name of a layer.
pub const TITLE: &str = "org.opencontainers.image.title";
/// RFC 3339 creation time (only written when the caller gives one).
pub const CREATED: &str = "org.opencontainers.image.created";
/// The version of what was packaged.
pub const VERSION: &str = "org.opencontainers.image.version";
/// The assembly's name.
pub const ASSEMBLY_NAME: &str = "vnd.stackwright.assembly.name";
/// The title of the assembly file itself (the others are its parents).
pub const ASSEMBLY_ENTRY: &str = "vnd.stackwright.assembly.entry";
/// The assembly's architecture.
pub const ASSEMBLY_ARCH: &str = "vnd.stackwright.assembly.arch";

/// Largest file accepted in an artifact (they are held in memory).
pub const MAX_FILE_SIZE: u64 = 16 << 20;
/// Most files accepted in an artifact.
pub const MAX_FILES: usize = 1024;
/// Largest artifact manifest accepted.
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// One file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Relative path, `/`-separated (see [`check_title`]).
    pub title: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl ArtifactFile {
    pub fn new(
        title: impl Into<String>,
        media_type: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> ArtifactFile {
        ArtifactFile {
            title: title.into(),
            media_type: media_type.into(),
            bytes: bytes.into(),
        }
    }

    pub fn digest(&self) -> String {
        sha256_digest(&self.bytes)
    }
}

/// Files to publish (or pulled) as one artifact, in layer order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifact {
    pub artifact_type: String,
    pub files: Vec<ArtifactFile>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Whether `title` is a safe relative file name: non-empty, `/`-separated normal
/// components only (no absolute paths, `.`, `..`, empty components, backslashes or
/// NUL), at most 255 bytes per component and 4096 in all.
pub fn check_title(title: &str) -> Result<(), String> {
    if title.is_empty() {
        return Err("a file title is empty".into());
    }
    if title.len() > 4096 {
        return Err(format!("the file title `{title:.64}…` is over 4096 bytes"));
    }
    if title.contains('\0') || title.contains('\\') {
        return Err(format!(
            "the file title `{}` contains a NUL or a backslash",
            title.escape_debug()
        ));
    }
    if title.starts_with('/') {
        return Err(format!(
            "the file title `{title}` is an absolute path, which would escape the output directory"
        ));
    }
    for c in title.split('/') {
        match c {
            "" => return Err(format!("the file title `{title}` has an empty path component")),
            "." | ".." => {
                return Err(format!(
                    "the file title `{title}` has a `{c}` component, which could escape the output directory"
                ))
            }
            c if c.len() > 255 => {
                return Err(format!("the file title `{title}` has a component over 255 bytes"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a set of titles together: each safe, none twice, and none both a file
/// and a directory (`a` and `a/b`).
fn check_titles<'a>(titles: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for t in titles {
        check_title(t)?;
        if !seen.insert(t) {
            return Err(format!("two files are titled `{t}`"));
        }
    }
    for t in &seen {
        let mut prefix = String::new();
        for c in t
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |s| s.1)
        {
            prefix.push_str(c);
            if seen.contains(prefix.as_str()) {
                return Err(format!(
                    "`{prefix}` is both a file and the directory of `{t}`"
                ));
            }
            prefix.push('/');
        }
    }
    if seen.len() > MAX_FILES {
        return Err(format!(
            "{} files is over the limit of {MAX_FILES}",
            seen.len()
        ));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    /// Absent in indexes, which are parsed only to be refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: EMPTY_MEDIA_TYPE.into(),
        digest: sha256_digest(EMPTY_BLOB),
        size: EMPTY_BLOB.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

impl Artifact {
    pub fn new(artifact_type: impl Into<String>) -> Artifact {
        Artifact {
            artifact_type: artifact_type.into(),
            ..Artifact::default()
        }
    }

    /// Appends a file (a layer).
    pub fn add(
        &mut self,
        title: impl Into<String>,
        media_type: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> &mut Artifact {
        self.files.push(ArtifactFile::new(title, media_type, bytes));
        self
    }

    /// The file with this title.
    pub fn file(&self, title: &str) -> Option<&ArtifactFile> {
        self.files.iter().find(|f| f.title == title)
    }

    /// The files of one media type, in layer order.
    pub fn files_of_type<'a>(
        &'a self,
        media_type: &'a str,
    ) -> impl Iterator<Item = &'a ArtifactFile> {
        self.files
            .iter()
            .filter(move |f| f.media_type == media_type)
    }

    /// The image manifest, byte for byte as it is pushed (compact JSON, fields in
    /// the spec's order, annotations sorted). Fails on unsafe or duplicate titles,
    /// oversized files, or a missing artifact type.
    pub fn manifest(&self) -> Result<Vec<u8>, String> {
        if self.artifact_type.is_empty() {
            return Err("the artifact has no artifactType".into());
        }
        check_titles(self.files.iter().map(|f| f.title.as_str()))?;
        if let Some(f) = self
            .files
            .iter()
            .find(|f| f.bytes.len() as u64 > MAX_FILE_SIZE)
        {
            return Err(format!(
                "`{}` is {} bytes, over the limit of {MAX_FILE_SIZE}",
                f.title,
                f.bytes.len()
            ));
        }
        let doc = ManifestJson {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some(self.artifact_type.clone()),
            config: Some(empty_descriptor()),
            layers: self
                .files
                .iter()
                .map(|f| Descriptor {
                    media_type: f.media_type.clone(),
                    digest: f.digest(),
                    size: f.bytes.len() as u64,
                    platform: None,
                    annotations: BTreeMap::from([(TITLE.to_string(), f.title.clone())]),
                })
                .collect(),
            annotations: self.annotations.clone(),
        };
        Ok(serde_json::to_vec(&doc).expect("manifests serialize"))
    }

    /// The digest the manifest will have.
    pub fn digest(&self) -> Result<String, String> {
        self.manifest().map(|m| sha256_digest(&m))
    }
}

/// What [`RegistryClient::push_artifact`] or [`RegistryClient::push_image`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedArtifact {
    /// The reference as given.
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// `name:tag@sha256:…`.
    pub pinned: String,
    /// Blobs uploaded (the others were already in the repository).
    pub blobs_uploaded: usize,
    pub blobs_present: usize,
}

/// What [`RegistryClient::pull_artifact`] brought back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledArtifact {
    pub reference: String,
    /// The manifest's digest (verified against its bytes).
    pub digest: String,
    /// `name:tag@sha256:…`.
    pub pinned: String,
    /// The manifest as the registry served it.
    pub manifest: Vec<u8>,
    /// The files (each verified against its digest and size), the artifact type
    /// and the manifest annotations.
    pub artifact: Artifact,
}

impl RegistryClient {
    /// Publishes `artifact` under `reference` (`host/repo:tag`, or `host/repo@sha256:…`
    /// which must then be the manifest's digest). Blobs the repository already has are
    /// not sent again. Returns the manifest digest.
    pub async fn push_artifact(
        &self,
        reference: &str,
        artifact: &Artifact,
        progress: &dyn Progress,
    ) -> Result<PushedArtifact, OciError> {
        let image = crate::reference::parse(reference)?;
        let invalid = |reason: String| OciError::InvalidArtifact {
            reference: reference.to_string(),
            reason,
        };
        let manifest = artifact.manifest().map_err(invalid)?;
        let digest = sha256_digest(&manifest);
        if let Some(d) = image.digest() {
            if d != digest {
                return Err(invalid(format!(
                    "the reference names digest {d}, but the manifest's is {digest}"
                )));
            }
        }
        let conn = Conn::new(self, std::slice::from_ref(&image), progress);
        let target = crate::reference::client_ref(&image);
        conn.client
            .store_auth_if_needed(target.resolve_registry(), &conn.auth(&image))
            .await;

        // Each distinct blob once: the empty config, then the files.
        let mut blobs = BTreeMap::new();
        blobs.insert(sha256_digest(EMPTY_BLOB), Blob::Bytes(EMPTY_BLOB));
        for f in &artifact.files {
            blobs.entry(f.digest()).or_insert(Blob::Bytes(&f.bytes));
        }
        let (uploaded, present) = upload_blobs(&conn, &image, &blobs, progress).await?;
        upload_manifest(&conn, &image, &manifest, &digest).await?;
        progress.resolved(image.original(), &digest);
        Ok(PushedArtifact {
            reference: reference.to_string(),
            pinned: image.pinned(&digest),
            size: manifest.len() as u64,
            blobs_uploaded: uploaded,
            blobs_present: present,
            digest,
        })
    }

    /// Fetches the artifact of type `artifact_type` that `reference` names — by
    /// `digest` when given (e.g. from a lockfile: then a cached artifact needs no
    /// network at all), else by the reference's digest or tag. Anything else (an
    /// image, an index, another artifact type) is [`OciError::WrongArtifactType`].
    /// Every layer must have a safe, unique title and a size under
    /// [`MAX_FILE_SIZE`], and is checked against its digest and size. Nothing is
    /// written but the cache.
    pub async fn pull_artifact(
        &self,
        reference: &str,
        artifact_type: &str,
        digest: Option<&str>,
        cache: &Cache,
        progress: &dyn Progress,
    ) -> Result<PulledArtifact, OciError> {
        let image = crate::reference::parse(reference)?;
        if let Some(d) = digest.filter(|d| !crate::reference::is_sha256_digest(d)) {
            return Err(OciError::InvalidReference {
                reference: reference.to_string(),
                reason: format!("digest `{d}` is not sha256:<64 hex>"),
            });
        }
        let conn = Conn::new(self, std::slice::from_ref(&image), progress);
        let digest = match digest.or(image.digest()) {
            Some(d) => d.to_string(),
            None => conn.resolve_tag(&image).await?,
        };
        progress.resolved(image.original(), &digest);
        let bad = |what: &str, reason: String| OciError::BadManifest {
            image: image.original().to_string(),
            registry: image.registry().to_string(),
            digest: what.to_string(),
            reason,
        };
        let manifest = conn.manifest(cache, &image, &digest, None).await?;
        if manifest.len() > MAX_MANIFEST_SIZE {
            return Err(bad(
                &digest,
                format!(
                    "the manifest is {} bytes, over {MAX_MANIFEST_SIZE}",
                    manifest.len()
                ),
            ));
        }
        let doc: ManifestJson = serde_json::from_slice(&manifest)
            .map_err(|e| bad(&digest, format!("not an image manifest: {e}")))?;
        if doc.schema_version != 2 {
            return Err(bad(
                &digest,
                format!("schemaVersion {} is not supported", doc.schema_version),
            ));
        }
        // OCI 1.1: without `artifactType`, the config's media type says what it is.
        let found = match (&doc.media_type, &doc.config) {
            (Some(m), _) if m != OCI_MANIFEST => m.clone(),
            (_, None) => "an index (no config)".to_string(),
            (_, Some(config)) => doc
                .artifact_type
                .clone()
                .unwrap_or_else(|| config.media_type.clone()),
        };
        if found != artifact_type {
            return Err(OciError::WrongArtifactType {
                image: image.original().to_string(),
                digest,
                expected: artifact_type.to_string(),
                found,
            });
        }
        let mut titles = Vec::with_capacity(doc.layers.len());
        for l in &doc.layers {
            let title = l.annotations.get(TITLE).ok_or_else(|| {
                bad(
                    &digest,
                    format!("layer {} has no {TITLE} annotation", l.digest),
                )
            })?;
            if !crate::reference::is_sha256_digest(&l.digest) {
                return Err(bad(
                    &digest,
                    format!("layer digest `{}` is not sha256", l.digest),
                ));
            }
            if l.size > MAX_FILE_SIZE {
                return Err(bad(
                    &digest,
                    format!(
                        "`{title}` ({}) is {} bytes, over {MAX_FILE_SIZE}",
                        l.digest, l.size
                    ),
                ));
            }
            titles.push(title.as_str());
        }
        check_titles(titles.iter().copied()).map_err(|r| bad(&digest, r))?;

        // Each distinct blob into the cache (verified while streaming), then read back
        // and verified again: a cache entry is trusted by size alone, and these few
        // small files are cheap to hash.
        let mut distinct: BTreeMap<&str, &Descriptor> = BTreeMap::new();
        for l in &doc.layers {
            distinct.entry(l.digest.as_str()).or_insert(l);
        }
        let conc = self.opts.concurrency.max(1);
        fetch_blobs(
            &conn,
            cache,
            &image,
            distinct.values().copied().collect(),
            conc,
        )
        .await?;
        let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for (d, desc) in &distinct {
            let bytes = match read_verified(cache, desc) {
                Some(b) => b,
                None => {
                    // A corrupt cache entry: drop it and fetch once more.
                    cache.evict(d);
                    fetch_blobs(&conn, cache, &image, vec![desc], conc).await?;
                    read_verified(cache, desc).ok_or_else(|| OciError::DigestMismatch {
                        image: image.original().to_string(),
                        registry: image.registry().to_string(),
                        blob: d.to_string(),
                        actual: format!(
                            "a corrupt copy in the cache {} (removed; rerun to fetch it again)",
                            cache.root().display()
                        ),
                    })?
                }
            };
            contents.insert(d, bytes);
        }
        let files = doc
            .layers
            .iter()
            .map(|l| ArtifactFile {
                title: l.annotations[TITLE].clone(),
                media_type: l.media_type.clone(),
                bytes: contents[l.digest.as_str()].clone(),
            })
            .collect();
        Ok(PulledArtifact {
            reference: reference.to_string(),
            pinned: image.pinned(&digest),
            digest,
            artifact: Artifact {
                artifact_type: found,
                files,
                annotations: doc.annotations,
            },
            manifest,
        })
    }
}

/// Brings blobs into the cache, `concurrency` at a time.
async fn fetch_blobs(
    conn: &Conn<'_>,
    cache: &Cache,
    image: &ImageRef,
    descs: Vec<&Descriptor>,
    concurrency: usize,
) -> Result<(), OciError> {
    let jobs: Vec<_> = descs
        .into_iter()
        .map(|d| conn.blob(cache, image, d))
        .collect();
    futures_util::stream::iter(jobs)
        .buffer_unordered(concurrency)
        .try_collect::<Vec<bool>>()
        .await
        .map(drop)
}

/// A cached blob's bytes if they match its descriptor's digest and size.
fn read_verified(cache: &Cache, desc: &Descriptor) -> Option<Vec<u8>> {
    let bytes = std::fs::read(cache.blob_path(&desc.digest)).ok()?;
    (bytes.len() as u64 == desc.size && sha256_digest(&bytes) == desc.digest).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_must_stay_inside() {
        for ok in ["a.toml", "dir/b.toml", "x/y/z", ".hidden", "a..b"] {
            assert!(check_title(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "./a",
            "..",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_title(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_titles(["a", "a"]).unwrap_err().contains("two files"));
        assert!(check_titles(["a/b", "a"])
            .unwrap_err()
            .contains("both a file"));
        assert!(check_titles(["a/b", "a/c", "b"]).is_ok());
    }

    #[test]
    fn manifests_are_reproducible_oci_1_1_artifacts() {
        let mut a = Artifact::new(ASSEMBLY_ARTIFACT_TYPE);
        a.add("base.toml", SOURCE_MEDIA_TYPE, b"[assembly]\n".to_vec());
        a.add("plan.json", PLAN_MEDIA_TYPE, b"{}".to_vec());
        a.annotations.insert(ASSEMBLY_NAME.into(), "edge".into());
        let m = a.manifest().unwrap();
        assert_eq!(m, a.clone().manifest().unwrap());
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(v["artifactType"], ASSEMBLY_ARTIFACT_TYPE);
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["config"]["size"], 2);
        assert_eq!(v["layers"][0]["annotations"][TITLE], "base.toml");
        assert_eq!(v["layers"][1]["mediaType"], PLAN_MEDIA_TYPE);
        assert_eq!(v["annotations"][ASSEMBLY_NAME], "edge");

        a.add("../escape", SOURCE_MEDIA_TYPE, Vec::new());
        assert!(a.manifest().unwrap_err().contains("escape"));
    }
}
