//! Small OCI images built offline: reproducible gzip'd tar layers, image manifests with
//! their configs, multi-arch indexes, and OCI image layouts on disk.

use std::io::Write;
use std::path::Path;

use stackwright_oci::manifest::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, REF_NAME};
use stackwright_oci::sha256_digest;

use crate::SplitMix64;

/// A gzip'd tar layer.
#[derive(Clone, Debug)]
pub struct TestLayer {
    pub bytes: Vec<u8>,
    pub digest: String,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

/// A layer holding `files` (path, contents), byte-for-byte reproducible.
pub fn layer(files: &[(&str, &[u8])]) -> TestLayer {
    let mut tar = tar::Builder::new(Vec::new());
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort();
    for (path, data) in sorted {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data).expect("in-memory tar");
    }
    let tar = tar.into_inner().expect("in-memory tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("in-memory gzip");
    let bytes = gz.finish().expect("in-memory gzip");
    TestLayer {
        digest: sha256_digest(&bytes),
        diff_id: sha256_digest(&tar),
        bytes,
    }
}

/// A layer of files with their modes (`0o755` for programs), byte-for-byte reproducible.
pub fn layer_with_modes(files: &[(&str, u32, &[u8])]) -> TestLayer {
    let mut tar = tar::Builder::new(Vec::new());
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort();
    for (path, mode, data) in sorted {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data).expect("in-memory tar");
    }
    let tar = tar.into_inner().expect("in-memory tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("in-memory gzip");
    let bytes = gz.finish().expect("in-memory gzip");
    TestLayer {
        digest: sha256_digest(&bytes),
        diff_id: sha256_digest(&tar),
        bytes,
    }
}

/// A layer with one file of `size` pseudo-random (incompressible) bytes from `seed`.
pub fn big_layer(seed: u64, size: usize) -> TestLayer {
    let data = SplitMix64::new(seed).bytes(size);
    layer(&[("data.bin", &data)])
}

/// An image manifest with its config and layers.
#[derive(Clone, Debug)]
pub struct TestImage {
    pub arch: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<TestLayer>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

/// An OCI image for linux/`arch` made of `layers`.
pub fn image(arch: &str, layers: Vec<TestLayer>) -> TestImage {
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": OCI_LAYER_GZIP, "digest": l.digest, "size": l.bytes.len()
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    TestImage {
        arch: arch.into(),
        digest: sha256_digest(&manifest),
        config,
        config_digest,
        layers,
        manifest,
    }
}

/// A multi-arch index over images.
#[derive(Clone, Debug)]
pub struct TestIndex {
    pub images: Vec<TestImage>,
    pub bytes: Vec<u8>,
    pub digest: String,
}

pub fn index(images: Vec<TestImage>) -> TestIndex {
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": images.iter().map(|i| serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": i.digest,
            "size": i.manifest.len(),
            "platform": {"architecture": i.arch, "os": "linux"},
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&doc).expect("json");
    TestIndex {
        digest: sha256_digest(&bytes),
        images,
        bytes,
    }
}

/// Writes images into an OCI image layout at `dir` without any registry — for
/// pushing with `skopeo copy oci:DIR:REF …`, or for offline rootfs tests.
pub fn write_layout(dir: &Path, images: &[(&str, &TestImage)]) -> std::io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut manifests = Vec::new();
    for (name, img) in images {
        let mut all = vec![
            (&img.manifest, &img.digest),
            (&img.config, &img.config_digest),
        ];
        all.extend(img.layers.iter().map(|l| (&l.bytes, &l.digest)));
        for (bytes, digest) in all {
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)?;
        }
        manifests.push(serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": img.digest,
            "size": img.manifest.len(),
            "annotations": {REF_NAME: name},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_reproducible() {
        let a = layer(&[("b", b"2"), ("a", b"1")]);
        let b = layer(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(a.digest, b.digest);
        let big = big_layer(1, 100_000);
        assert!(big.bytes.len() > 100_000, "random data does not compress");
        assert_eq!(big_layer(1, 1000).digest, big_layer(1, 1000).digest);
        assert_ne!(big_layer(1, 1000).digest, big_layer(2, 1000).digest);
    }
}
