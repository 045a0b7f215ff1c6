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

/// A BuildKit-style attestation manifest about `subject` carrying one in-toto statement
/// whose predicate is the SPDX document `spdx` (docs.docker.com "Attestation storage": the
/// layer is `application/vnd.in-toto+json` annotated `in-toto.io/predicate-type:
/// https://spdx.dev/Document`). Its `arch` is `unknown`, as BuildKit writes it.
pub fn spdx_attestation(subject: &TestImage, spdx: &serde_json::Value) -> TestImage {
    use stackwright_oci::manifest::{IN_TOTO_JSON, IN_TOTO_PREDICATE_TYPE, SPDX_PREDICATE};
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SPDX_PREDICATE,
        "subject": [{"name": "test", "digest": {"sha256": subject.digest.trim_start_matches("sha256:")}}],
        "predicate": spdx,
    }))
    .expect("json");
    let layer = TestLayer {
        digest: sha256_digest(&statement),
        diff_id: sha256_digest(&statement),
        bytes: statement,
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }))
    .expect("json");
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": IN_TOTO_JSON, "digest": layer.digest, "size": layer.bytes.len(),
            "annotations": {IN_TOTO_PREDICATE_TYPE: SPDX_PREDICATE},
        }],
    }))
    .expect("json");
    TestImage {
        arch: "unknown".into(),
        digest: sha256_digest(&manifest),
        config,
        config_digest,
        layers: vec![layer],
        manifest,
    }
}

/// An index over `images` plus, for each `(attestation, subject digest)`, the attestation
/// manifest entry BuildKit writes beside them (platform `unknown/unknown`, annotated with
/// the manifest it is about).
pub fn index_with_attestations(
    images: Vec<TestImage>,
    attestations: Vec<(TestImage, String)>,
) -> TestIndex {
    use stackwright_oci::manifest::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};
    let mut entries: Vec<serde_json::Value> = images
        .iter()
        .map(|i| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": i.digest,
                "size": i.manifest.len(),
                "platform": {"architecture": i.arch, "os": "linux"},
            })
        })
        .collect();
    for (a, subject) in &attestations {
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": a.digest,
            "size": a.manifest.len(),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {REFERENCE_TYPE: ATTESTATION_MANIFEST, REFERENCE_DIGEST: subject},
        }));
    }
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .expect("json");
    let mut all = images;
    all.extend(attestations.into_iter().map(|(a, _)| a));
    TestIndex {
        digest: sha256_digest(&bytes),
        images: all,
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

/// An OCI image layout of one image as a tar archive (`oci-layout`, `index.json`,
/// `blobs/sha256/…`), the format `ctr images import` and `docker load` read. `name` is the
/// full reference it is imported as: the index entry carries it as containerd's
/// `io.containerd.image.name` and its tag as `org.opencontainers.image.ref.name`, with the
/// image's platform. Entries sorted, owner 0:0, mtime 0: the same image gives the same bytes.
pub fn oci_archive(name: &str, img: &TestImage) -> Vec<u8> {
    let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": img.digest,
            "size": img.manifest.len(),
            "platform": {"architecture": img.arch, "os": "linux"},
            "annotations": {"io.containerd.image.name": name, REF_NAME: tag},
        }],
    });
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".into(),
            serde_json::to_vec(&index).expect("json"),
        ),
    ];
    let mut blobs = vec![
        (img.digest.clone(), img.manifest.clone()),
        (img.config_digest.clone(), img.config.clone()),
    ];
    blobs.extend(
        img.layers
            .iter()
            .map(|l| (l.digest.clone(), l.bytes.clone())),
    );
    for (digest, bytes) in blobs {
        files.push((
            format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            bytes,
        ));
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    let mut tar = tar::Builder::new(Vec::new());
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, dir, std::io::empty())
            .expect("writing to memory");
    }
    for (path, bytes) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        h.set_mtime(0);
        tar.append_data(&mut h, path, bytes.as_slice())
            .expect("writing to memory");
    }
    tar.into_inner().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_archive_names_its_image_and_holds_every_blob() {
        let img = image("amd64", vec![layer(&[("hello", b"hi")])]);
        let bytes = oci_archive("example.test/hello:1", &img);
        assert_eq!(bytes, oci_archive("example.test/hello:1", &img));
        let mut a = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        let mut index = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            if p == "index.json" {
                std::io::Read::read_to_end(&mut e, &mut index).unwrap();
            }
            names.push(p);
        }
        for d in [&img.digest, &img.config_digest, &img.layers[0].digest] {
            let want = format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(
            m["annotations"]["io.containerd.image.name"],
            "example.test/hello:1"
        );
        assert_eq!(m["annotations"][REF_NAME], "1");
        assert_eq!(m["platform"]["architecture"], "amd64");
    }

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
