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
        let mut a = stackwright::Assembler::new().assemble_file(&asm).unwrap();
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
        let sboms = a.sboms(CREATED);
        assert_eq!(sboms.len(), 2);
        let spdx = &sboms[&format!("{name}.spdx.json")];
        let cdx = &sboms[&format!("{name}.cdx.json")];
        assert_eq!(a.sboms(CREATED), sboms, "{name}: not reproducible");
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
        .assemble_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies/k8s-worker.toml"))
        .unwrap();
    let sboms = a.sboms(CREATED);
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
        .assemble_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies/k8s-worker.toml"))
        .unwrap();
    let sboms = a.sboms(CREATED);
    for (name, bytes) in &sboms {
        insta::assert_snapshot!(
            format!("sbom-{name}"),
            String::from_utf8(bytes.clone()).unwrap()
        );
    }
    // Another time changes only the time.
    let later = a.sboms("2026-01-01T00:00:00Z");
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
