//! [`LocalImage::builder`]: files, directories and symlinks plus an image config in, one
//! reproducible OCI image out (its layer, config and manifest stored in the blob cache).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::Serialize;
use stackwright_oci::manifest::{Descriptor, Platform, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use stackwright_oci::Cache;

use crate::PackageError;
use stackwright_types::hex;

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Bytes(Vec<u8>),
    /// Read (streamed) when the image is built.
    Disk(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Dir { mode: u32 },
    File { mode: u32, source: Source },
    Symlink { target: String },
}

/// The images Stackwright builds itself.
pub struct LocalImage;

impl LocalImage {
    /// A builder for a linux/`arch` image (`amd64`, `arm64`: OCI spelling).
    pub fn builder(arch: impl Into<String>) -> ImageBuilder {
        ImageBuilder {
            arch: arch.into(),
            entries: BTreeMap::new(),
            problems: Vec::new(),
            entrypoint: None,
            cmd: None,
            env: Vec::new(),
            workdir: None,
            labels: BTreeMap::new(),
            mtime: 0,
        }
    }
}

/// Collects an image's contents and config; [`ImageBuilder::build`] writes it.
///
/// Problems (a bad path, two entries on one path) are kept and the first one is
/// reported by `build`, so the builder chains without `?` at every step.
#[derive(Debug)]
pub struct ImageBuilder {
    arch: String,
    entries: BTreeMap<String, Entry>,
    problems: Vec<PackageError>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Vec<String>,
    workdir: Option<String>,
    labels: BTreeMap<String, String>,
    mtime: u64,
}

impl ImageBuilder {
    /// A regular file at `path` (relative to the image root, e.g. `usr/bin/kubelet`).
    pub fn file(self, path: impl Into<String>, mode: u32, bytes: impl Into<Vec<u8>>) -> Self {
        self.entry(
            path.into(),
            Entry::File {
                mode,
                source: Source::Bytes(bytes.into()),
            },
        )
    }

    /// A regular file whose content is the file `src` on disk, read when the image is built.
    pub fn file_from_disk(
        self,
        path: impl Into<String>,
        mode: u32,
        src: impl Into<PathBuf>,
    ) -> Self {
        self.entry(
            path.into(),
            Entry::File {
                mode,
                source: Source::Disk(src.into()),
            },
        )
    }

    /// A directory with this mode (parents of entries are made `0755` without asking).
    pub fn dir(self, path: impl Into<String>, mode: u32) -> Self {
        self.entry(path.into(), Entry::Dir { mode })
    }

    /// A symbolic link at `path` pointing at `target` (stored as given).
    pub fn symlink(self, path: impl Into<String>, target: impl Into<String>) -> Self {
        self.entry(
            path.into(),
            Entry::Symlink {
                target: target.into(),
            },
        )
    }

    pub fn entrypoint<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    pub fn cmd<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.cmd = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// One `NAME=VALUE` environment entry.
    pub fn env(mut self, entry: impl Into<String>) -> Self {
        self.env.push(entry.into());
        self
    }

    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The mtime of every entry and the config's `created` (default 0). The facade passes
    /// `SOURCE_DATE_EPOCH` here; this crate reads no environment.
    pub fn mtime(mut self, seconds: u64) -> Self {
        self.mtime = seconds;
        self
    }

    /// Whether an entry is at `path` (normalised as entries are).
    pub fn has(&self, path: &str) -> bool {
        self.entries
            .contains_key(stackwright_types::package::normalize_member(path))
    }

    fn entry(mut self, path: String, entry: Entry) -> Self {
        let p = stackwright_types::package::normalize_member(&path)
            .trim_end_matches('/')
            .to_string();
        if let Err(reason) = stackwright_types::package::check_image_path(&p, false) {
            self.problems.push(PackageError::BadPath { path, reason });
            return self;
        }
        match self.entries.get(&p) {
            // The same directory twice is harmless; anything else is a clash.
            Some(Entry::Dir { mode }) if matches!(entry, Entry::Dir { mode: m } if m == *mode) => {}
            Some(_) => self.problems.push(PackageError::Duplicate { path: p }),
            None => {
                self.entries.insert(p, entry);
            }
        }
        self
    }

    /// Writes the layer, config and manifest into `cache` and returns what was built.
    /// The same inputs give the same digests on every machine: entries sorted by path,
    /// owner 0:0, no user or group names, one mtime, gzip header without name or time
    /// (OS byte 255), JSON with a fixed key order.
    pub fn build(self, cache: &Cache) -> Result<BuiltImage, PackageError> {
        let mut this = self;
        if !this.problems.is_empty() {
            return Err(this.problems.swap_remove(0));
        }
        let this = this;
        let entries = this.complete()?;
        let (layer, diff_id) = write_layer(&entries, this.mtime, cache)?;
        let config = ImageConfig {
            architecture: &this.arch,
            os: "linux",
            created: stackwright_types::time::rfc3339(this.mtime),
            config: RunConfig {
                entrypoint: this.entrypoint.as_deref(),
                cmd: this.cmd.as_deref(),
                env: &this.env,
                working_dir: this.workdir.as_deref(),
                labels: &this.labels,
            },
            rootfs: RootFs {
                kind: "layers",
                diff_ids: std::slice::from_ref(&diff_id),
            },
        };
        let config_bytes = json(&config);
        let config_desc = Descriptor {
            media_type: OCI_CONFIG.into(),
            digest: cache.put(&config_bytes)?,
            size: config_bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: &config_desc,
            layers: std::slice::from_ref(&layer),
        };
        let manifest_bytes = json(&manifest);
        let manifest_desc = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: cache.put(&manifest_bytes)?,
            size: manifest_bytes.len() as u64,
            platform: Some(Platform {
                architecture: this.arch.clone(),
                os: "linux".into(),
                variant: None,
            }),
            annotations: BTreeMap::new(),
        };
        Ok(BuiltImage {
            manifest: manifest_desc,
            config: config_desc,
            layers: vec![layer],
            diff_ids: vec![diff_id],
            config_json: config_bytes,
        })
    }

    /// Every entry with its implicit parent directories, checking that no entry lies
    /// below a file or symlink.
    fn complete(&self) -> Result<BTreeMap<String, Entry>, PackageError> {
        let mut all = self.entries.clone();
        for path in self.entries.keys() {
            let mut at = 0;
            while let Some(i) = path[at..].find('/') {
                let parent = &path[..at + i];
                match all.get(parent) {
                    Some(Entry::Dir { .. }) => {}
                    Some(_) => {
                        return Err(PackageError::NotADirectory {
                            path: path.clone(),
                            parent: parent.to_string(),
                        })
                    }
                    None => {
                        all.insert(parent.to_string(), Entry::Dir { mode: 0o755 });
                    }
                }
                at += i + 1;
            }
        }
        Ok(all)
    }
}

/// What [`ImageBuilder::build`] stored in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image manifest (its `platform` filled in, as a layout's `index.json` lists it).
    pub manifest: Descriptor,
    pub config: Descriptor,
    /// One gzip'd tar layer.
    pub layers: Vec<Descriptor>,
    /// sha256 of each uncompressed layer.
    pub diff_ids: Vec<String>,
    /// The config blob's bytes.
    pub config_json: Vec<u8>,
}

impl BuiltImage {
    /// `reference@<manifest digest>` (a tag, if any, kept).
    pub fn pinned(&self, reference: &str) -> String {
        let base = reference.split('@').next().unwrap_or(reference);
        format!("{base}@{}", self.manifest.digest)
    }
}

/// Counts and hashes what passes through (the uncompressed tar, for its diff_id).
struct Hashing<W> {
    inner: W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_layer(
    entries: &BTreeMap<String, Entry>,
    mtime: u64,
    cache: &Cache,
) -> Result<(Descriptor, String), PackageError> {
    use sha2::Digest as _;
    let blob = cache.writer()?;
    let gz =
        crate::gzip::Gzip::new(blob).map_err(|e| PackageError::io("(layer) gzip header", e))?;
    let mut tar = tar::Builder::new(Hashing {
        inner: gz,
        hasher: sha2::Sha256::new(),
    });
    tar.mode(tar::HeaderMode::Deterministic);
    let io = |p: &str| {
        let p = p.to_string();
        move |e| PackageError::io(format!("(layer) {p}"), e)
    };
    for (path, entry) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match entry {
            Entry::Dir { mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())
                    .map_err(io(path))?;
            }
            Entry::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                tar.append_link(&mut h, path, target).map_err(io(path))?;
            }
            Entry::File { mode, source } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                match source {
                    Source::Bytes(b) => {
                        h.set_size(b.len() as u64);
                        tar.append_data(&mut h, path, b.as_slice())
                            .map_err(io(path))?;
                    }
                    Source::Disk(src) => {
                        let len = std::fs::metadata(src)
                            .map_err(|e| PackageError::io(src, e))?
                            .len();
                        h.set_size(len);
                        // Exactly `len` bytes, even if the file grows meanwhile; read a
                        // block at a time around the page cache (a release file just
                        // downloaded is not in it: see stackwright-oci's DirectReader).
                        let f = stackwright_oci::DirectReader::open(src)
                            .map_err(|e| PackageError::io(src, e))?;
                        let r = std::io::BufReader::with_capacity(1 << 20, f.take(len));
                        tar.append_data(&mut h, path, r)
                            .map_err(|e| PackageError::io(src, e))?;
                    }
                }
            }
        }
    }
    let hashing = tar.into_inner().map_err(io("end of archive"))?;
    let diff_id = format!("sha256:{}", hex::encode(&hashing.hasher.finalize()));
    let blob = hashing.inner.finish().map_err(io("gzip trailer"))?;
    let (digest, size) = blob.commit()?;
    Ok((
        Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
        },
        diff_id,
    ))
}

fn json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("image JSON serializes")
}

#[derive(Serialize)]
struct ImageConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    created: String,
    config: RunConfig<'a>,
    rootfs: RootFs<'a>,
}

#[derive(Serialize)]
struct RunConfig<'a> {
    #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
    entrypoint: Option<&'a [String]>,
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    cmd: Option<&'a [String]>,
    #[serde(rename = "Env", skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_implied_and_clashes_refused() {
        let b = LocalImage::builder("amd64")
            .file("usr/bin/x", 0o755, b"x".to_vec())
            .symlink("bin", "usr/bin");
        let all = b.complete().unwrap();
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            ["bin", "usr", "usr/bin", "usr/bin/x"]
        );
        let bad = LocalImage::builder("amd64").symlink("usr", "x").file(
            "usr/bin/x",
            0o755,
            b"x".to_vec(),
        );
        assert!(matches!(
            bad.complete(),
            Err(PackageError::NotADirectory { parent, .. }) if parent == "usr"
        ));
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let twice = LocalImage::builder("amd64")
            .file("a", 0o644, b"1".to_vec())
            .file("./a", 0o644, b"2".to_vec());
        assert!(
            matches!(twice.build(&cache), Err(PackageError::Duplicate { path }) if path == "a")
        );
        let up = LocalImage::builder("amd64").file("../etc/passwd", 0o644, b"".to_vec());
        assert!(matches!(
            up.build(&cache),
            Err(PackageError::BadPath { .. })
        ));
    }
}
