//! `--format sbom`: SPDX 2.3 and CycloneDX 1.6 for every example assembly, validated by the
//! reference validators from PyPI (spdx-tools' `pyspdxtools`, cyclonedx-python-lib), the
//! k8s-worker pair snapshotted, and reproducibility.

use std::path::{Path, PathBuf};

const CREATED: &str = "2025-12-03T12:00:00Z";

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() > 5, "examples moved?");
    v
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn every_example_sbom_passes_the_reference_validators() {
    let validate = stackwright_testkit::sbom_validators_or_skip();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut files = Vec::new();
    for asm in examples() {
        let mut a = stackwright::Assembler::new()
            .assemble_file_blocking(&asm)
            .unwrap();
        if a.loaded.assembly.is_base() {
            continue;
        }
        // Pin one image, as --pin would, to see the digest reach the purl.
        let pinned = a.images().into_iter().next();
        let fake = format!("sha256:{}", "ab".repeat(32));
        if let Some(img) = &pinned {
            a.digests.insert(img.clone(), fake.clone());
        }
        let name = a.loaded.name.clone();
        let sboms = a.sboms(CREATED).unwrap();
        assert_eq!(sboms.len(), 2);
        let spdx = &sboms[&format!("{name}.spdx.json")];
        let cdx = &sboms[&format!("{name}.cdx.json")];
        assert_eq!(a.sboms(CREATED).unwrap(), sboms, "{name}: not reproducible");
        let (s, c) = (json(spdx), json(cdx));
        assert_eq!(s["creationInfo"]["created"], CREATED);
        assert_eq!(c["metadata"]["timestamp"], CREATED);
        // Every component is in both, with its version.
        let comps = c["components"].as_array().unwrap();
        assert_eq!(comps.len(), a.resolution.components.len(), "{name}");
        for comp in comps {
            let id = comp["name"].as_str().unwrap();
            assert_eq!(
                comp["version"].as_str().unwrap(),
                a.resolution.components[id].version.to_string()
            );
            // Packaged upstream files: a generic purl with the download URL and sha256.
            for f in comp["components"].as_array().into_iter().flatten() {
                let purl = f["purl"].as_str().unwrap();
                assert!(
                    purl.starts_with("pkg:generic/") && purl.contains("download_url="),
                    "{purl}"
                );
                if let Some(h) = f["hashes"][0]["content"].as_str() {
                    assert!(purl.contains(&format!("checksum=sha256:{h}")), "{purl}");
                }
            }
        }
        if let Some(img) = &pinned {
            let hit = comps.iter().any(|comp| {
                comp["purl"].as_str().is_some_and(|p| {
                    p.starts_with("pkg:oci/") && p.contains(&format!("@sha256%3A{}", &fake[7..]))
                })
            });
            assert!(hit, "{name}: the pinned digest of {img} is in no purl");
        }
        let deps = s["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == "DEPENDS_ON")
            .count();
        assert!(deps > 0, "{name}: no dependency relationships");
        let sp = dir.path().join(format!("{name}.spdx.json"));
        let cp = dir.path().join(format!("{name}.cdx.json"));
        std::fs::write(&sp, spdx).unwrap();
        std::fs::write(&cp, cdx).unwrap();
        files.extend([sp, cp]);
        checked += 1;
    }
    assert!(checked > 5);
    if validate {
        // One run of the validators over every file (their imports take seconds each).
        stackwright_testkit::validate_all(&files)
            .unwrap_or_else(|e| panic!("the reference validators refuse:\n{e}"));
    }
}

/// The validators are real: a broken document is refused by each.
#[test]
fn the_validators_refuse_a_broken_sbom() {
    if !stackwright_testkit::sbom_validators_or_skip() {
        return;
    }
    let a = stackwright::Assembler::new()
        .assemble_file_blocking(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies/k8s-worker.toml"),
        )
        .unwrap();
    let sboms = a.sboms(CREATED).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = json(&sboms["k8s-worker.spdx.json"]);
    s["relationships"][1]["relatedSpdxElement"] = "SPDXRef-Package-nowhere".into();
    let sp = dir.path().join("bad.spdx.json");
    std::fs::write(&sp, s.to_string()).unwrap();
    assert!(stackwright_testkit::validate_spdx(&sp).is_err());
    let mut c = json(&sboms["k8s-worker.cdx.json"]);
    c["components"][0]["type"] = "nonsense".into();
    let cp = dir.path().join("bad.cdx.json");
    std::fs::write(&cp, c.to_string()).unwrap();
    assert!(stackwright_testkit::validate_cyclonedx(&cp).is_err());
    // The batch run refuses them too, and accepts the good pair.
    let (gs, gc) = (
        dir.path().join("good.spdx.json"),
        dir.path().join("good.cdx.json"),
    );
    std::fs::write(&gs, &sboms["k8s-worker.spdx.json"]).unwrap();
    std::fs::write(&gc, &sboms["k8s-worker.cdx.json"]).unwrap();
    stackwright_testkit::validate_spdx(&gs).unwrap();
    stackwright_testkit::validate_all(&[gs.clone(), gc.clone()]).unwrap();
    let e = stackwright_testkit::validate_all(&[gs, sp, gc, cp]).unwrap_err();
    assert!(
        e.contains("bad.spdx.json") && e.contains("bad.cdx.json"),
        "{e}"
    );
    assert!(!e.contains("good."), "{e}");
}

#[test]
fn k8s_worker_sboms() {
    let a = stackwright::Assembler::new()
        .assemble_file_blocking(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies/k8s-worker.toml"),
        )
        .unwrap();
    let sboms = a.sboms(CREATED).unwrap();
    for (name, bytes) in &sboms {
        insta::assert_snapshot!(
            format!("sbom-{name}"),
            String::from_utf8(bytes.clone()).unwrap()
        );
    }
    // Another time changes only the time.
    let later = a.sboms("2026-01-01T00:00:00Z").unwrap();
    for (name, bytes) in &sboms {
        let (x, y) = (
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&later[name]),
        );
        let differ: Vec<(&str, &str)> = x.lines().zip(y.lines()).filter(|(p, q)| p != q).collect();
        assert_eq!(differ.len(), 1, "{name}: {differ:?}");
        assert!(differ[0].0.contains(CREATED));
    }
}

/// `assemble --format sbom` writes both files without the network (with `--offline`), and
/// takes its time from SOURCE_DATE_EPOCH.
#[test]
fn the_command_line_writes_both_offline() {
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
    std::env::set_var("SOURCE_DATE_EPOCH", "1764763200");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    let code = stackwright_cli::run([
        "stackwright",
        "assemble",
        "assemblies/k8s-worker.toml",
        "--format",
        "sbom",
        "--offline",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let s = json(&std::fs::read(out.join("k8s-worker.spdx.json")).unwrap());
    assert_eq!(s["creationInfo"]["created"], "2025-12-03T12:00:00Z");
    assert!(out.join("k8s-worker.cdx.json").is_file());
    std::env::set_var("SOURCE_DATE_EPOCH", "yesterday");
    let code = stackwright_cli::run([
        "stackwright",
        "assemble",
        "assemblies/k8s-worker.toml",
        "--format",
        "sbom",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
}

/// An image document as a scanner in BuildKit writes it (syft's ids and layout, trimmed):
/// one package with a file and an extracted licence, described by the document.
fn scanner_document(name: &str) -> serde_json::Value {
    serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://anchore.com/syft/image/{name}-0000"),
        "creationInfo": {"created": "2025-01-01T00:00:00Z", "creators": ["Tool: syft-1.0.0"]},
        "packages": [{
            "SPDXID": "SPDXRef-Package-apk-busybox-5c4ba3f4",
            "name": "busybox",
            "versionInfo": "1.36.1-r29",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "GPL-2.0-only AND LicenseRef-busybox-notice",
            "copyrightText": "NOASSERTION",
        }],
        "files": [{
            "SPDXID": "SPDXRef-File-bin-busybox-8d0e",
            "fileName": "/bin/busybox",
            "checksums": [{"algorithm": "SHA1", "checksumValue": "a9993e364706816aba3e25717850c26c9cd0d89d"}],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }],
        "hasExtractedLicensingInfos": [{
            "licenseId": "LicenseRef-busybox-notice",
            "extractedText": "busybox's notice",
        }],
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
             "relatedSpdxElement": "SPDXRef-Package-apk-busybox-5c4ba3f4"},
            {"spdxElementId": "SPDXRef-Package-apk-busybox-5c4ba3f4", "relationshipType": "OTHER",
             "relatedSpdxElement": "SPDXRef-File-bin-busybox-8d0e",
             "comment": "evident-by: indicates the package's existence is evident by the given file"},
        ],
    })
}

/// Pulled images' own SPDX attestations merge into the platform's document as LinuxKit
/// merges them (every element appended, file names under the image's place in the tree),
/// and the result is still a valid document: two images whose scanner used the same ids
/// get distinct ones, licence references follow, and each image's described packages are
/// contained by its component.
#[test]
fn image_sboms_merge_into_one_valid_document() {
    let validate = stackwright_testkit::sbom_validators_or_skip();
    let a = stackwright::Assembler::new()
        .assemble_file_blocking(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies/k8s-worker.toml"),
        )
        .unwrap();
    let ids: Vec<&String> = a.resolution.components.keys().take(2).collect();
    let doc = serde_json::to_vec(&scanner_document("img")).unwrap();
    let prefixes: Vec<String> = ids
        .iter()
        .map(|id| format!("containers/services/{id}/rootfs"))
        .collect();
    let images: Vec<stackwright::render::ImageSbom<'_>> = ids
        .iter()
        .zip(&prefixes)
        .map(|(id, prefix)| stackwright::render::ImageSbom {
            component: id,
            prefix,
            document: &doc,
        })
        .collect();
    let p = a.platform();
    let merged = stackwright::render::sbom_spdx_with_images(&p, CREATED, &images).unwrap();
    assert_eq!(
        stackwright::render::sbom_spdx_with_images(&p, CREATED, &images).unwrap(),
        merged,
        "not reproducible"
    );
    let plain = stackwright::render::sbom_spdx(&p, CREATED);
    let (m, pl) = (json(merged.as_bytes()), json(plain.as_bytes()));
    assert_ne!(m["documentNamespace"], pl["documentNamespace"]);

    let all_ids: Vec<&str> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(m["files"].as_array().unwrap())
        .map(|e| e["SPDXID"].as_str().unwrap())
        .collect();
    let mut unique = all_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        all_ids.len(),
        "duplicate SPDX ids: {all_ids:?}"
    );
    let rels = m["relationships"].as_array().unwrap();
    let describes = rels
        .iter()
        .filter(|r| r["relationshipType"] == "DESCRIBES")
        .count();
    assert_eq!(describes, 1, "only the platform document describes");
    for (id, prefix) in ids.iter().zip(&prefixes) {
        let tag = id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "-");
        let pkg = format!("SPDXRef-{tag}-Package-apk-busybox-5c4ba3f4");
        assert!(all_ids.contains(&pkg.as_str()), "{pkg}");
        assert!(
            rels.iter()
                .any(|r| r["spdxElementId"] == format!("SPDXRef-Package-{id}")
                    && r["relationshipType"] == "CONTAINS"
                    && r["relatedSpdxElement"] == pkg),
            "{id} contains its image's package"
        );
        assert!(m["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fileName"] == format!("{prefix}/bin/busybox")
                && f["SPDXID"] == format!("SPDXRef-{tag}-File-bin-busybox-8d0e")));
        let licence = format!("LicenseRef-{tag}-busybox-notice");
        assert!(m["hasExtractedLicensingInfos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["licenseId"] == licence));
        assert!(merged.contains(&format!("GPL-2.0-only AND {licence}")));
    }
    if validate {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("merged.spdx.json");
        std::fs::write(&f, &merged).unwrap();
        stackwright_testkit::validate_spdx(&f)
            .unwrap_or_else(|e| panic!("the reference validator refuses the merge:\n{e}"));
    }

    // Not SPDX 2: refused, naming the component.
    let mut v3 = scanner_document("img");
    v3["spdxVersion"] = "SPDX-3.0".into();
    let v3 = serde_json::to_vec(&v3).unwrap();
    let e = stackwright::render::sbom_spdx_with_images(
        &p,
        CREATED,
        &[stackwright::render::ImageSbom {
            component: ids[0],
            prefix: &prefixes[0],
            document: &v3,
        }],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(ids[0].as_str()) && e.to_string().contains("SPDX-3.0"),
        "{e}"
    );
}
