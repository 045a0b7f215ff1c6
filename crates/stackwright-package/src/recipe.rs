//! [`Recipe`]: everything a packaged component's image is made of (its release files,
//! already in the cache, and its `[package]` layout), built once per set of inputs — a
//! rerun finds the image it built before through the cache's record of built images
//! ([`stackwright_oci::Cache::built_image`]) and checks it is still there instead of
//! unpacking and compressing everything again.

use std::io::Read;

use sha2::{Digest as _, Sha256};
use stackwright_oci::manifest::{Descriptor, ManifestDoc, Parsed, Platform, OCI_MANIFEST};
use stackwright_oci::Cache;
use stackwright_types::package::{FileLayout, Package, ReleaseFile};

use crate::{add_release_file, BuiltImage, ExtractLimits, LocalImage, PackageError};
use stackwright_types::hex;

/// The version of this crate: part of every [`Recipe::key`], so a Stackwright that
/// builds images differently never reuses an older one's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The revision of how images are laid out and compressed: part of every
/// [`Recipe::key`] beside [`VERSION`] (which does not move with every change). Raise it
/// whenever the same inputs would build different bytes, so a cache filled by an older
/// build is never reused for a digest a fresh build would not give. 2: layers written
/// by `gzip.rs` (flat chunks stored).
pub const IMAGE_FORMAT: u32 = 2;

/// One packaged component's image, for one architecture.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// OCI spelling: `amd64`, `arm64`.
    pub arch: String,
    /// Every entry's mtime and the config's `created` (`SOURCE_DATE_EPOCH`, or 0).
    pub mtime: u64,
    /// The component id (the `org.opencontainers.image.title` label).
    pub title: String,
    /// The release (the `org.opencontainers.image.version` label).
    pub version: String,
    /// The release's files for `arch`, in manifest order; each must have a sha256 and
    /// be in the cache under it (`Cache::blob_path`).
    pub files: Vec<ReleaseFile>,
    pub package: Package,
    pub limits: ExtractLimits,
}

/// Whether [`Recipe::build_or_reuse`] built the image or found it built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    Built,
    Reused,
}

impl Recipe {
    /// `sha256:<hex>` over the inputs, in a fixed order: this crate's version, arch,
    /// mtime, title, version, each file's sha256, format and layout (paths, modes,
    /// extract rules), and `[package]` (entrypoint, cmd, env, workdir, symlinks, files).
    /// URLs and manifest line numbers are not part of it: the same bytes from a mirror
    /// make the same image.
    pub fn key(&self) -> String {
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| {
                let layout = match &f.layout {
                    FileLayout::Binary { path, mode } => {
                        serde_json::json!({"binary": {"path": path, "mode": mode.0}})
                    }
                    FileLayout::Extract(rules) => serde_json::json!({"extract": rules
                        .iter()
                        .map(|r| serde_json::json!([r.from, r.to, r.mode.map(|m| m.0)]))
                        .collect::<Vec<_>>()}),
                };
                serde_json::json!({
                    "sha256": f.sha256.as_ref().map(|s| s.digest()),
                    "format": format!("{:?}", f.format),
                    "layout": layout,
                })
            })
            .collect();
        let p = &self.package;
        let doc = serde_json::json!({
            "stackwright-package": VERSION,
            "image-format": IMAGE_FORMAT,
            "arch": self.arch,
            "mtime": self.mtime,
            "title": self.title,
            "version": self.version,
            "files": files,
            "package": {
                "entrypoint": p.entrypoint,
                "cmd": p.cmd,
                "env": p.env,
                "workdir": p.workdir,
                "symlinks": p.symlinks.iter().map(|l| [&l.path, &l.target]).collect::<Vec<_>>(),
                "files": p.files.iter().map(|f| serde_json::json!([f.path, f.mode.0, f.contents])).collect::<Vec<_>>(),
            },
            "limits": [self.limits.total_bytes, self.limits.entries],
        });
        // Key order is fixed by this code (sorted, or as written with `preserve_order`):
        // the same inputs give the same bytes.
        let bytes = serde_json::to_vec(&doc).expect("JSON values serialise");
        format!("sha256:{}", hex::encode(&Sha256::digest(&bytes)))
    }

    /// Builds the image from the cached release files into `cache`.
    pub fn build(&self, cache: &Cache) -> Result<BuiltImage, PackageError> {
        let mut b = LocalImage::builder(&self.arch).mtime(self.mtime);
        for f in &self.files {
            let Some(sha) = &f.sha256 else {
                return Err(PackageError::Archive {
                    url: f.url.clone(),
                    reason: "no sha256: an unverified file is never packaged".into(),
                });
            };
            b = add_release_file(b, f, &cache.blob_path(&sha.digest()), self.limits)?;
        }
        let pkg = &self.package;
        if let Some(e) = &pkg.entrypoint {
            b = b.entrypoint(e.iter().cloned());
        }
        if let Some(c) = &pkg.cmd {
            b = b.cmd(c.iter().cloned());
        }
        for e in &pkg.env {
            b = b.env(e.clone());
        }
        if let Some(w) = &pkg.workdir {
            b = b.workdir(w.clone());
        }
        for l in &pkg.symlinks {
            b = b.symlink(l.path.clone(), l.target.clone());
        }
        for f in &pkg.files {
            b = b.file(f.path.clone(), f.mode.0, f.contents.clone().into_bytes());
        }
        b.label("org.opencontainers.image.title", &self.title)
            .label("org.opencontainers.image.version", &self.version)
            .build(cache)
    }

    /// The image built before from these inputs, if the cache records one and still
    /// holds all of it: the manifest and config re-hashed, each layer present at its
    /// size (re-hashed too when the cache verifies hits). `None` means build it.
    pub fn reuse(&self, cache: &Cache) -> Option<BuiltImage> {
        let digest = cache.built_image(&self.key())?;
        let manifest = read_verified(cache, &digest)?;
        let Ok(Parsed::Image { config, layers }) = ManifestDoc::parse(&manifest) else {
            return None;
        };
        let config_json = read_verified(cache, &config.digest)?;
        if config_json.len() as u64 != config.size {
            return None;
        }
        for l in &layers {
            if !cache.contains(&l.digest, l.size)
                || (cache.verifies_hits() && file_digest(cache, &l.digest)? != l.digest)
            {
                return None;
            }
        }
        let doc: serde_json::Value = serde_json::from_slice(&config_json).ok()?;
        let diff_ids: Vec<String> = doc
            .pointer("/rootfs/diff_ids")?
            .as_array()?
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<_>>()?;
        Some(BuiltImage {
            manifest: Descriptor {
                media_type: OCI_MANIFEST.into(),
                digest,
                size: manifest.len() as u64,
                platform: Some(Platform {
                    architecture: self.arch.clone(),
                    os: "linux".into(),
                    variant: None,
                }),
                annotations: Default::default(),
            },
            config,
            layers,
            diff_ids,
            config_json,
        })
    }

    /// [`Recipe::reuse`], else [`Recipe::build`] and record it under [`Recipe::key`].
    pub fn build_or_reuse(&self, cache: &Cache) -> Result<(BuiltImage, Made), PackageError> {
        if let Some(image) = self.reuse(cache) {
            return Ok((image, Made::Reused));
        }
        let image = self.build(cache)?;
        cache.record_built_image(&self.key(), &image.manifest.digest)?;
        Ok((image, Made::Built))
    }
}

/// A cached blob's bytes if they hash to `digest` (small blobs: manifests, configs).
fn read_verified(cache: &Cache, digest: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(cache.blob_path(digest)).ok()?;
    (format!("sha256:{}", hex::encode(&Sha256::digest(&bytes))) == digest).then_some(bytes)
}

/// The sha256 of a cached blob, streamed.
fn file_digest(cache: &Cache, digest: &str) -> Option<String> {
    let mut f = std::fs::File::open(cache.blob_path(digest)).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(format!("sha256:{}", hex::encode(&h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright_types::package::{FileFormat, Mode, Sha256};

    fn file(cache: &Cache, bytes: &[u8], url: &str) -> ReleaseFile {
        let digest = cache.put(bytes).unwrap();
        ReleaseFile {
            arch: stackwright_types::manifest::Arch::Amd64,
            url: url.into(),
            sha256: Some(Sha256::parse(digest.trim_start_matches("sha256:")).unwrap()),
            checksum_source: None,
            format: FileFormat::Binary,
            layout: FileLayout::Binary {
                path: "usr/bin/tool".into(),
                mode: Mode(0o755),
            },
            location: stackwright_types::Location {
                file: "tool.toml".into(),
                line: 7,
                column: 1,
                length: 0,
                snippet: None,
            },
        }
    }

    fn recipe(f: &ReleaseFile, package: &Package) -> Recipe {
        Recipe {
            arch: "amd64".into(),
            mtime: 0,
            title: "tool".into(),
            version: "1.0.0".into(),
            files: vec![f.clone()],
            package: package.clone(),
            limits: ExtractLimits::default(),
        }
    }

    #[test]
    fn the_key_covers_what_the_image_is_made_of_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let f = file(&cache, b"tool v1", "https://a.example/tool");
        let pkg = Package::default();
        let key = recipe(&f, &pkg).key();
        // Another URL or manifest line for the same bytes: the same image.
        let mut moved = file(&cache, b"tool v1", "https://mirror.example/tool");
        moved.location.line = 40;
        assert_eq!(recipe(&moved, &pkg).key(), key);
        // Any input that changes the image changes the key.
        let other = file(&cache, b"tool v2", "https://a.example/tool");
        let mut mode = f.clone();
        mode.layout = FileLayout::Binary {
            path: "usr/bin/tool".into(),
            mode: Mode(0o700),
        };
        let env = Package {
            env: vec!["A=1".into()],
            ..Package::default()
        };
        let keys = [
            recipe(&other, &pkg).key(),
            recipe(&mode, &pkg).key(),
            recipe(&f, &env).key(),
            Recipe {
                mtime: 1,
                ..recipe(&f, &pkg)
            }
            .key(),
            Recipe {
                version: "1.0.1".into(),
                ..recipe(&f, &pkg)
            }
            .key(),
            Recipe {
                arch: "arm64".into(),
                ..recipe(&f, &pkg)
            }
            .key(),
        ];
        for (i, k) in keys.iter().enumerate() {
            assert_ne!(k, &key, "input {i}");
        }
    }

    #[test]
    fn a_built_image_is_reused_only_while_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let f = file(&cache, b"#!/bin/sh\necho tool\n", "https://a.example/tool");
        let pkg = Package::default();
        let r = recipe(&f, &pkg);
        let (built, made) = r.build_or_reuse(&cache).unwrap();
        assert_eq!(made, Made::Built);
        let (again, made) = r.build_or_reuse(&cache).unwrap();
        assert_eq!((made, &again), (Made::Reused, &built));
        // A layer gone: built again, to the same digest.
        std::fs::remove_file(cache.blob_path(&built.layers[0].digest)).unwrap();
        let (rebuilt, made) = r.build_or_reuse(&cache).unwrap();
        assert_eq!((made, &rebuilt), (Made::Built, &built));
        // A corrupt manifest or a garbled record: built again.
        std::fs::write(cache.blob_path(&built.manifest.digest), b"{}").unwrap();
        assert_eq!(r.build_or_reuse(&cache).unwrap().1, Made::Built);
        let record = dir.path().join("built").join(r.key().replace(':', "-"));
        std::fs::write(&record, "not a digest").unwrap();
        assert_eq!(r.build_or_reuse(&cache).unwrap().1, Made::Built);
        assert_eq!(r.build_or_reuse(&cache).unwrap(), (built, Made::Reused));
    }
}
