//! Pulling images into an OCI image layout: resolve every manifest (the requested
//! arch out of indexes), bring every distinct blob into the cache concurrently,
//! then write the layout into a temporary directory and rename it into place.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::{StreamExt as _, TryStreamExt as _};

use stackwright_staging::Staging;

use crate::cache::Cache;
use crate::client::Conn;
use crate::manifest::{self, Descriptor, ManifestDoc, Parsed, Platform};
use crate::{ImageRef, OciError, Progress, RegistryClient};

/// One image to pull: a reference and, when already known (from the lock), the
/// digest its tag resolved to, so the tag need not be looked up again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub reference: String,
    pub digest: Option<String>,
}

impl PullRequest {
    pub fn new(reference: impl Into<String>) -> PullRequest {
        PullRequest {
            reference: reference.into(),
            digest: None,
        }
    }

    pub fn with_digest(reference: impl Into<String>, digest: impl Into<String>) -> PullRequest {
        PullRequest {
            reference: reference.into(),
            digest: Some(digest.into()),
        }
    }
}

impl From<&str> for PullRequest {
    fn from(s: &str) -> Self {
        PullRequest::new(s)
    }
}

/// What a pull did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullReport {
    /// One per distinct image, sorted by `ref_name`.
    pub images: Vec<PulledImage>,
    pub blobs_downloaded: usize,
    pub bytes_downloaded: u64,
    pub blobs_cached: usize,
    pub bytes_cached: u64,
    /// Manifests (and indexes) fetched by digest; zero when all were cached.
    pub manifests_downloaded: usize,
}

/// One image in the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledImage {
    /// The reference as requested.
    pub reference: String,
    /// Its `org.opencontainers.image.ref.name` in the layout (see [`ref_name`]).
    pub ref_name: String,
    /// What the reference resolved to: the index digest for multi-arch images.
    pub digest: String,
    /// `name:tag@digest`.
    pub pinned: String,
    /// The arch-specific image manifest written into the layout.
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// The SPDX documents the image's publisher attached as attestations (BuildKit's
    /// `attestation-manifest` for this arch's manifest, in-toto layers whose predicate is
    /// `https://spdx.dev/Document`), each the statement's predicate as JSON, in the order of
    /// the attestation's layers. Empty when the image carries none (or is not an index).
    pub sboms: Vec<Vec<u8>>,
}

/// The name an image gets in an image layout's `index.json`: the fully qualified
/// reference with its tag (`docker.io/linuxkit/getty:v1`), or with its digest when
/// it has no tag. LinuxKit's own image cache names images the same way.
pub fn ref_name(reference: &str) -> Result<String, OciError> {
    let r = crate::reference::parse(reference)?;
    Ok(match (r.tag(), r.digest()) {
        (Some(t), _) => format!("{}:{t}", r.name()),
        (None, Some(d)) => format!("{}@{d}", r.name()),
        (None, None) => format!("{}:latest", r.name()),
    })
}

struct Resolved {
    image: ImageRef,
    ref_name: String,
    digest: String,
    manifest: Descriptor,
    config: Descriptor,
    layers: Vec<Descriptor>,
    sboms: Vec<Vec<u8>>,
}

impl RegistryClient {
    /// Pulls `images` for linux/`arch` into the OCI image layout `dir`, through
    /// the cache. `dir` is replaced only once everything is fetched and verified:
    /// on any error it is left as it was (absent or the previous layout), and
    /// blobs already complete stay in the cache so a rerun resumes.
    pub async fn pull_into(
        &self,
        images: &[PullRequest],
        arch: &str,
        cache: &Cache,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<PullReport, OciError> {
        let mut parsed = Vec::new();
        let mut seen: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for req in images {
            let image = crate::reference::parse(&req.reference)?;
            let name = ref_name(&req.reference)?;
            let digest = req
                .digest
                .clone()
                .or_else(|| image.digest().map(String::from));
            if let Some(d) = &digest {
                if !crate::reference::is_sha256_digest(d) {
                    return Err(OciError::InvalidReference {
                        reference: req.reference.clone(),
                        reason: format!("digest `{d}` is not sha256:<64 hex>"),
                    });
                }
            }
            match seen.get(&name) {
                Some((first, d)) if *d != digest => {
                    return Err(OciError::InvalidReference {
                        reference: req.reference.clone(),
                        reason: format!("`{first}` names the same image with a different digest"),
                    })
                }
                Some(_) => continue,
                None => {
                    seen.insert(name.clone(), (req.reference.clone(), digest.clone()));
                }
            }
            parsed.push((image, name, digest));
        }
        let refs: Vec<ImageRef> = parsed.iter().map(|p| p.0.clone()).collect();
        let conn = Conn::new(self, &refs, progress);
        let conc = self.opts.concurrency.max(1);

        // Manifests and configs first: they say which blobs exist and how big they are.
        // Futures are collected before streaming them, so that no closure over
        // borrowed items is part of the stream's type (it would make this future not `Send`).
        let jobs: Vec<_> = parsed
            .into_iter()
            .map(|(image, name, digest)| resolve(&conn, cache, image, name, digest, arch))
            .collect();
        let mut resolved: Vec<Resolved> = futures_util::stream::iter(jobs)
            .buffered(conc)
            .try_collect()
            .await?;
        resolved.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));

        // Each distinct blob once, fetched from the first image (by name) that has it.
        let mut blobs: BTreeMap<String, (Descriptor, usize)> = BTreeMap::new();
        for (i, r) in resolved.iter().enumerate() {
            for l in std::iter::once(&r.config).chain(&r.layers) {
                blobs.entry(l.digest.clone()).or_insert((l.clone(), i));
            }
        }
        let total: u64 = blobs.values().map(|(d, _)| d.size).sum();
        let missing: u64 = blobs
            .values()
            .filter(|(d, _)| !cache.contains(&d.digest, d.size))
            .map(|(d, _)| d.size)
            .sum();
        progress.plan(blobs.len(), total, missing);

        let mut todo: Vec<&(Descriptor, usize)> = blobs.values().collect();
        for round in 0.. {
            let jobs: Vec<_> = todo
                .iter()
                .map(|(desc, i)| conn.blob(cache, &resolved[*i].image, desc))
                .collect();
            futures_util::stream::iter(jobs)
                .buffer_unordered(conc)
                .try_collect::<Vec<bool>>()
                .await?;
            let plan = LayoutPlan::new(&resolved);
            let (cache2, dir2) = (cache.clone(), dir.to_path_buf());
            let corrupt = tokio::task::spawn_blocking(move || plan.write(&cache2, &dir2))
                .await
                .map_err(|e| OciError::io(dir, std::io::Error::other(e.to_string())))??;
            if corrupt.is_empty() {
                break;
            }
            // Cached blobs that no longer match their digest (disk trouble, someone
            // edited the cache): drop them and fetch them again, once.
            for d in &corrupt {
                cache.evict(d);
            }
            let refetch: Option<Vec<_>> = corrupt.iter().map(|d| blobs.get(d)).collect();
            match refetch {
                Some(r) if round == 0 => todo = r,
                _ => {
                    let owner = resolved
                        .iter()
                        .find(|r| {
                            r.manifest.digest == corrupt[0]
                                || r.config.digest == corrupt[0]
                                || r.layers.iter().any(|l| l.digest == corrupt[0])
                        })
                        .expect("every written blob belongs to an image");
                    return Err(OciError::DigestMismatch {
                        image: owner.image.original().to_string(),
                        registry: owner.image.registry().to_string(),
                        blob: corrupt[0].clone(),
                        actual: format!(
                            "a corrupt copy in the cache {} (removed; rerun to fetch it again)",
                            cache.root().display()
                        ),
                    });
                }
            }
        }

        let mut report = PullReport::default();
        let stats = conn.stats.into_inner().expect("stats lock");
        for (size, downloaded) in stats.blobs.values() {
            if *downloaded {
                report.blobs_downloaded += 1;
                report.bytes_downloaded += size;
            } else {
                report.blobs_cached += 1;
                report.bytes_cached += size;
            }
        }
        report.manifests_downloaded = stats.manifests_downloaded;
        report.images = resolved
            .into_iter()
            .map(|r| PulledImage {
                reference: r.image.original().to_string(),
                pinned: r.image.pinned(&r.digest),
                ref_name: r.ref_name,
                digest: r.digest,
                manifest: r.manifest,
                config: r.config,
                layers: r.layers,
                sboms: r.sboms,
            })
            .collect();
        Ok(report)
    }
}

async fn resolve(
    conn: &Conn<'_>,
    cache: &Cache,
    image: ImageRef,
    ref_name: String,
    digest: Option<String>,
    arch: &str,
) -> Result<Resolved, OciError> {
    let digest = match digest {
        Some(d) => d,
        None => conn.resolve_tag(&image).await?,
    };
    conn.progress.resolved(image.original(), &digest);
    let bad = |digest: &str, reason: String| bad_manifest(&image, digest, reason);
    let top = conn.manifest(cache, &image, &digest, None).await?;
    let top_type = serde_json::from_slice::<ManifestDoc>(&top)
        .ok()
        .and_then(|d| d.media_type);
    let mut sboms = Vec::new();
    let (manifest, parsed) = match ManifestDoc::parse(&top).map_err(|r| bad(&digest, r))? {
        Parsed::Index(entries) => {
            let entry =
                manifest::select_arch(&entries, arch).ok_or_else(|| OciError::NoMatchingArch {
                    image: image.original().to_string(),
                    arch: arch.to_string(),
                    available: manifest::platforms(&entries),
                })?;
            sboms = attested_sboms(conn, cache, &image, &entries, &entry.digest).await?;
            let bytes = conn
                .manifest(cache, &image, &entry.digest, Some(entry.size))
                .await?;
            match ManifestDoc::parse(&bytes).map_err(|r| bad(&entry.digest, r))? {
                Parsed::Index(_) => {
                    return Err(bad(&entry.digest, "an index inside an index".into()))
                }
                p => (
                    Descriptor {
                        annotations: BTreeMap::new(),
                        ..entry.clone()
                    },
                    p,
                ),
            }
        }
        p => {
            let desc = Descriptor {
                media_type: top_type.unwrap_or_else(|| manifest::OCI_MANIFEST.to_string()),
                digest: digest.clone(),
                size: top.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
            };
            (desc, p)
        }
    };
    let Parsed::Image { config, layers } = parsed else {
        unreachable!("indexes were handled above")
    };
    for d in std::iter::once(&config).chain(&layers) {
        if !crate::reference::is_sha256_digest(&d.digest) {
            return Err(bad(
                &manifest.digest,
                format!("blob digest `{}` is not sha256", d.digest),
            ));
        }
    }
    // The config is small and says which arch the image is really for.
    conn.blob(cache, &image, &config).await?;
    let cfg = cache
        .read_small(&config.digest)
        .ok_or_else(|| bad(&config.digest, "config vanished from the cache".into()))?;
    #[derive(serde::Deserialize)]
    struct ConfigPlatform {
        #[serde(default)]
        architecture: String,
        #[serde(default)]
        os: String,
        #[serde(default)]
        variant: Option<String>,
    }
    let p: ConfigPlatform = serde_json::from_slice(&cfg)
        .map_err(|e| bad(&config.digest, format!("config is not JSON: {e}")))?;
    if !p.architecture.is_empty() && p.architecture != arch {
        return Err(OciError::WrongArch {
            image: image.original().to_string(),
            arch: arch.to_string(),
            found: format!(
                "{}/{}",
                if p.os.is_empty() { "?" } else { &p.os },
                p.architecture
            ),
        });
    }
    let manifest = Descriptor {
        platform: Some(Platform {
            architecture: arch.to_string(),
            os: if p.os.is_empty() {
                "linux".into()
            } else {
                p.os
            },
            variant: p.variant.filter(|v| !v.is_empty()),
        }),
        ..manifest
    };
    Ok(Resolved {
        image,
        ref_name,
        digest,
        manifest,
        config,
        layers,
        sboms,
    })
}

/// A manifest (or a blob it names) of `image` that cannot be used.
fn bad_manifest(image: &ImageRef, digest: &str, reason: String) -> OciError {
    OciError::BadManifest {
        image: image.original().to_string(),
        registry: image.registry().to_string(),
        digest: digest.to_string(),
        reason,
    }
}

/// The SPDX documents attested for the image manifest `digest` of an index, as LinuxKit
/// reads them (cache/imagesource.go `SBoMs`): at most one attestation manifest may name it;
/// of its layers, those of type `application/vnd.in-toto+json` annotated with the SPDX
/// predicate type are in-toto statements whose `predicate` is the document. Through the
/// cache like every other blob, so a rerun (or `--offline`) reads them again without the
/// network.
async fn attested_sboms(
    conn: &Conn<'_>,
    cache: &Cache,
    image: &ImageRef,
    entries: &[Descriptor],
    digest: &str,
) -> Result<Vec<Vec<u8>>, OciError> {
    let bad = |digest: &str, reason: String| bad_manifest(image, digest, reason);
    let found = manifest::attestations_for(entries, digest);
    let att = match found.as_slice() {
        [] => return Ok(Vec::new()),
        [one] => *one,
        _ => {
            return Err(bad(
                digest,
                format!(
                    "{} attestation manifests name this image manifest (LinuxKit refuses it too)",
                    found.len()
                ),
            ))
        }
    };
    let bytes = conn
        .manifest(cache, image, &att.digest, Some(att.size))
        .await?;
    let Parsed::Image { layers, .. } =
        ManifestDoc::parse(&bytes).map_err(|r| bad(&att.digest, r))?
    else {
        return Err(bad(&att.digest, "the attestation is an index".into()));
    };
    #[derive(serde::Deserialize)]
    struct Statement {
        #[serde(rename = "predicateType")]
        predicate_type: String,
        predicate: serde_json::Value,
    }
    let mut out = Vec::new();
    for l in &layers {
        if l.media_type != manifest::IN_TOTO_JSON
            || l.annotations
                .get(manifest::IN_TOTO_PREDICATE_TYPE)
                .map(String::as_str)
                != Some(manifest::SPDX_PREDICATE)
        {
            continue;
        }
        if !crate::reference::is_sha256_digest(&l.digest) {
            return Err(bad(
                &att.digest,
                format!("blob digest `{}` is not sha256", l.digest),
            ));
        }
        conn.blob(cache, image, l).await?;
        let raw = cache
            .read_small(&l.digest)
            .ok_or_else(|| bad(&l.digest, "attestation vanished from the cache".into()))?;
        let st: Statement = serde_json::from_slice(&raw)
            .map_err(|e| bad(&l.digest, format!("not an in-toto statement: {e}")))?;
        if st.predicate_type != manifest::SPDX_PREDICATE {
            return Err(bad(
                &l.digest,
                format!("unexpected predicate type `{}`", st.predicate_type),
            ));
        }
        if !st.predicate.is_object() {
            return Err(bad(
                &l.digest,
                "the SPDX predicate is not a JSON object".into(),
            ));
        }
        out.push(serde_json::to_vec(&st.predicate).expect("JSON values serialize"));
    }
    Ok(out)
}

/// Everything needed to write the layout, owned, for a blocking task.
struct LayoutPlan {
    /// (ref name, canonical name, manifest descriptor)
    entries: Vec<(String, String, Descriptor)>,
    /// digest → size, for every blob (manifests, configs, layers), sorted.
    blobs: BTreeMap<String, u64>,
}

impl LayoutPlan {
    fn new(resolved: &[Resolved]) -> LayoutPlan {
        let mut blobs = BTreeMap::new();
        let mut entries = Vec::new();
        for r in resolved {
            blobs.insert(r.manifest.digest.clone(), r.manifest.size);
            blobs.insert(r.config.digest.clone(), r.config.size);
            for l in &r.layers {
                blobs.insert(l.digest.clone(), l.size);
            }
            entries.push((r.ref_name.clone(), r.image.canonical(), r.manifest.clone()));
        }
        LayoutPlan { entries, blobs }
    }

    /// Writes the layout next to `dir` and swaps it into place (`stackwright-staging`).
    /// Returns the digests of cached blobs that failed verification (then nothing is
    /// written).
    fn write(&self, cache: &Cache, dir: &Path) -> Result<Vec<String>, OciError> {
        let tmp = Staging::begin(dir).map_err(|e| OciError::io(dir, e))?;
        let blob_dir = tmp.path().join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir).map_err(|e| OciError::io(&blob_dir, e))?;
        let mut corrupt = Vec::new();
        for (digest, size) in &self.blobs {
            let src = cache.blob_path(digest);
            let dst = blob_dir.join(digest.trim_start_matches("sha256:"));
            if cache.verifies_hits() {
                if !crate::cache::copy_verified(&src, &dst, digest, *size)? {
                    corrupt.push(digest.clone());
                }
            } else {
                // In-kernel copy (copy_file_range; a reflink where the filesystem can).
                // A copy, not a hard link: nothing done to the output can alter the cache.
                let n = std::fs::copy(&src, &dst).map_err(|e| OciError::io(&src, e))?;
                if n != *size {
                    corrupt.push(digest.clone());
                }
            }
        }
        if !corrupt.is_empty() {
            return Ok(corrupt);
        }
        let layout = tmp.path().join("oci-layout");
        std::fs::write(&layout, b"{\"imageLayoutVersion\":\"1.0.0\"}")
            .map_err(|e| OciError::io(&layout, e))?;
        let index = Index {
            schema_version: 2,
            media_type: manifest::OCI_INDEX,
            manifests: self
                .entries
                .iter()
                .map(|(ref_name, canonical, desc)| {
                    let mut d = desc.clone();
                    d.annotations
                        .insert(manifest::REF_NAME.into(), ref_name.clone());
                    d.annotations
                        .insert(manifest::CONTAINERD_IMAGE_NAME.into(), canonical.clone());
                    d
                })
                .collect(),
        };
        let index_path = tmp.path().join("index.json");
        let mut json = serde_json::to_vec_pretty(&index).expect("index.json serializes");
        json.push(b'\n');
        std::fs::write(&index_path, json).map_err(|e| OciError::io(&index_path, e))?;
        tmp.commit().map_err(|e| OciError::io(dir, e))?;
        Ok(Vec::new())
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names() {
        assert_eq!(
            ref_name("alpine").unwrap(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            ref_name("linuxkit/getty:v1").unwrap(),
            "docker.io/linuxkit/getty:v1"
        );
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            ref_name(&format!("linuxkit/getty:v1@{d}")).unwrap(),
            "docker.io/linuxkit/getty:v1"
        );
        assert_eq!(
            ref_name(&format!("127.0.0.1:5000/x@{d}")).unwrap(),
            format!("127.0.0.1:5000/x@{d}")
        );
    }
}
