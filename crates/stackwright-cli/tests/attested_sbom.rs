//! Images whose publishers attached SPDX attestations (as BuildKit does): `assemble --pull
//! --format tar,sbom` merges each image's document into the platform's SPDX document — the
//! `<name>.spdx.json` beside the outputs and the `sbom.spdx.json` at the root of the built
//! tree — with the image's files under its place in the tree, as `linuxkit build` does.
//! Validated by spdx-tools when installed. Needs the local registry (`docker-registry`).

use std::path::Path;
use std::process::{Command, Stdio};

use stackwright_testkit::{self as testing, LocalRegistry};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn scanner_document() -> serde_json::Value {
    serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "test/web",
        "documentNamespace": "https://anchore.com/syft/image/test-web-0000",
        "creationInfo": {"created": "2025-01-01T00:00:00Z", "creators": ["Tool: syft-1.0.0"]},
        "packages": [{
            "SPDXID": "SPDXRef-Package-binary-web-0001",
            "name": "web",
            "versionInfo": "2.0.1",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "MIT",
            "copyrightText": "NOASSERTION",
        }],
        "files": [{
            "SPDXID": "SPDXRef-File-bin-web-0002",
            "fileName": "/bin/web",
            "checksums": [{"algorithm": "SHA1", "checksumValue": "a9993e364706816aba3e25717850c26c9cd0d89d"}],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }],
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
             "relatedSpdxElement": "SPDXRef-Package-binary-web-0001"},
        ],
    })
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn attested_image_sboms_are_merged_into_the_platforms() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let host = reg.host();
    let kernel = testing::image(
        "amd64",
        vec![testing::layer(&[
            ("kernel", b"not a real kernel"),
            ("kernel.tar", &[0u8; 1024]),
        ])],
    );
    let runc = testing::image(
        "amd64",
        vec![testing::layer_with_modes(&[(
            "usr/bin/runc",
            0o755,
            b"#!/bin/sh\n",
        )])],
    );
    let web = testing::image(
        "amd64",
        vec![testing::layer_with_modes(&[(
            "bin/web",
            0o755,
            b"#!/bin/sh\n",
        )])],
    );
    let att = testing::spdx_attestation(&web, &scanner_document());
    let web_index =
        testing::index_with_attestations(vec![web.clone()], vec![(att, web.digest.clone())]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reg.push_image("test/kernel", "1", &kernel).await?;
        reg.push_image("test/runc", "1", &runc).await?;
        reg.push_index("test/web", "2", &web_index).await
    })
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("components");
    write(
        &c.join("test-kernel.toml"),
        &format!("id = \"test-kernel\"\ncategory = \"kernel\"\nsummary = \"a kernel\"\nstage = \"kernel\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"6.1.0\"\nimage = \"{host}/test/kernel:1\"\nprovides = {{ kernel = \"6.1.0\" }}\nkernel_config = [\"CONFIG_CGROUPS=y\", \"CONFIG_DEVTMPFS=y\"]\n"),
    );
    write(
        &c.join("test-runc.toml"),
        &format!("id = \"test-runc\"\ncategory = \"runtime\"\nsummary = \"runc\"\nstage = \"init\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"1.1.5\"\nimage = \"{host}/test/runc:1\"\nprovides = {{ oci-runtime = \"1.1.5\" }}\n"),
    );
    write(
        &c.join("web.toml"),
        &format!("id = \"web\"\ncategory = \"observability\"\nsummary = \"a web server\"\nstage = \"service\"\narch = [\"amd64\"]\n\n[container]\ncommand = [\"/bin/web\"]\n\n[[release]]\nversion = \"2.0.1\"\nimage = \"{host}/test/web:2\"\n"),
    );
    let asm = dir.path().join("attested.toml");
    write(
        &asm,
        "[assembly]\nname = \"attested\"\narch = \"amd64\"\ncomponent_paths = [\"components\"]\n\n[components]\ntest-kernel = \"*\"\nstackwright-init = \"*\"\ntest-runc = \"*\"\nweb = \"*\"\n\n[prefer]\noci-runtime = \"test-runc\"\n",
    );
    let out = dir.path().join("out");
    let run = Command::new(BIN)
        .arg("assemble")
        .arg(&asm)
        .arg("--out")
        .arg(&out)
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .args([
            "--insecure-registry",
            &host,
            "--pull",
            "--format",
            "tar,sbom",
        ])
        .env("HOME", dir.path())
        .env("SOURCE_DATE_EPOCH", "1764763200")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "assemble failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let beside = std::fs::read(out.join("attested.spdx.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&beside).unwrap();
    let files = doc["files"]
        .as_array()
        .expect("the image's files are merged");
    assert!(
        files.iter().any(
            |f| f["fileName"] == "containers/services/web/rootfs/bin/web"
                && f["SPDXID"] == "SPDXRef-web-File-bin-web-0002"
        ),
        "{files:?}"
    );
    assert!(doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["spdxElementId"] == "SPDXRef-Package-web"
            && r["relationshipType"] == "CONTAINS"
            && r["relatedSpdxElement"] == "SPDXRef-web-Package-binary-web-0001"));

    // The tree's own copy (inside the tar) is the same document.
    let tar_path = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("a tar output");
    let mut ar = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
    let mut inside = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_start_matches("./") == "sbom.spdx.json" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            inside = Some(v);
        }
    }
    assert_eq!(
        inside.as_deref(),
        Some(beside.as_slice()),
        "sbom.spdx.json in the tar"
    );

    if testing::sbom_validators_or_skip() {
        testing::validate_spdx(&out.join("attested.spdx.json"))
            .unwrap_or_else(|e| panic!("the reference validator refuses the merge:\n{e}"));
    }
}
