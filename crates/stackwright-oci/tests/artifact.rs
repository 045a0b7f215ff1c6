//! Artifacts against a real registry (Debian's `docker-registry`) on 127.0.0.1:
//! push, read back with `skopeo inspect --raw`, pull through the cache, and refuse
//! tampered blobs and unsafe titles. Fails with an installation hint when the
//! registry or skopeo is missing, unless STACKWRIGHT_SKIP_REGISTRY_TESTS=1.

use std::process::Command;

use stackwright_oci::artifact::{self as art, Artifact};
use stackwright_oci::{sha256_digest, Cache, Credential, NoProgress, OciError, RegistryClient};
use stackwright_testkit::{self as testing, LocalRegistry, TestImage, TestLayer};

fn sample() -> Artifact {
    let mut a = Artifact::new(art::ASSEMBLY_ARTIFACT_TYPE);
    a.add(
        "base/linuxkit-base.toml",
        art::SOURCE_MEDIA_TYPE,
        b"[assembly]\nname = \"base\"\n".to_vec(),
    );
    a.add(
        "edge/edge.toml",
        art::SOURCE_MEDIA_TYPE,
        b"[assembly]\nextends = [\"../base/linuxkit-base.toml\"]\n".to_vec(),
    );
    a.add(
        "stackwright.lock",
        art::LOCK_MEDIA_TYPE,
        b"version = 1\n".to_vec(),
    );
    // Same bytes as another file: one blob, two layers.
    a.add(
        "linuxkit.yml",
        art::LINUXKIT_MEDIA_TYPE,
        b"version = 1\n".to_vec(),
    );
    a.add("plan.json", art::PLAN_MEDIA_TYPE, Vec::new());
    a.annotations
        .insert(art::ASSEMBLY_NAME.into(), "edge".into());
    a
}

/// `skopeo inspect --raw` of a reference in a plain-HTTP registry.
fn skopeo_raw(reference: &str) -> Option<Vec<u8>> {
    let skopeo = testing::skopeo_or_skip()?;
    let out = Command::new(skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_an_oci_1_1_artifact_skopeo_reads_and_pull_brings_the_same_bytes() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let registry = RegistryClient::new(reg.options());
    let a = sample();
    let reference = format!("{}/asm/edge:v1", reg.host());
    let pushed = registry
        .push_artifact(&reference, &a, &NoProgress)
        .await
        .unwrap();
    let manifest = a.manifest().unwrap();
    assert_eq!(pushed.digest, sha256_digest(&manifest));
    assert_eq!(pushed.pinned, format!("{reference}@{}", pushed.digest));
    assert_eq!(pushed.blobs_uploaded, 5, "empty config + 4 distinct files");

    if let Some(raw) = skopeo_raw(&reference) {
        assert_eq!(
            raw, manifest,
            "the registry serves the manifest byte for byte"
        );
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(
            v["artifactType"],
            "application/vnd.stackwright.assembly.v1+json"
        );
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(v["config"]["size"], 2);
        let layers: Vec<(String, String)> = v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["annotations"]["org.opencontainers.image.title"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    l["mediaType"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            layers,
            [
                (
                    "base/linuxkit-base.toml",
                    "application/vnd.stackwright.assembly.source.v1+toml"
                ),
                (
                    "edge/edge.toml",
                    "application/vnd.stackwright.assembly.source.v1+toml"
                ),
                (
                    "stackwright.lock",
                    "application/vnd.stackwright.lock.v1+toml"
                ),
                (
                    "linuxkit.yml",
                    "application/vnd.stackwright.linuxkit.v1+yaml"
                ),
                ("plan.json", "application/vnd.stackwright.plan.v1+json"),
            ]
            .map(|(t, m)| (t.to_string(), m.to_string()))
        );
        assert_eq!(v["annotations"]["vnd.stackwright.assembly.name"], "edge");
    }

    // The same files publish under the same digest, and nothing is uploaded again.
    let again = registry
        .push_artifact(&format!("{}/asm/edge:v2", reg.host()), &a, &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.digest, pushed.digest);
    assert_eq!((again.blobs_uploaded, again.blobs_present), (0, 5));

    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let pulled = registry
        .pull_artifact(
            &reference,
            art::ASSEMBLY_ARTIFACT_TYPE,
            None,
            &cache,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.manifest, manifest);
    assert_eq!(
        pulled.artifact, a,
        "same files, types, titles, order and annotations"
    );

    // By digest with everything cached: not a single request.
    let before = reg.requests().len();
    let cached = registry
        .pull_artifact(
            &reference,
            art::ASSEMBLY_ARTIFACT_TYPE,
            Some(&pushed.digest),
            &cache,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(cached.artifact, a);
    assert_eq!(
        reg.requests().len(),
        before,
        "a pinned, cached artifact needs no network"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_is_refused_naming_it() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let registry = RegistryClient::new(reg.options());
    let a = sample();
    let reference = format!("{}/asm/tampered:v1", reg.host());
    registry
        .push_artifact(&reference, &a, &NoProgress)
        .await
        .unwrap();
    let victim = a.file("edge/edge.toml").unwrap().digest();
    let data = reg.blob_data_path(&victim);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[3] ^= 0x20;
    std::fs::write(&data, &bytes).unwrap();

    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let err = registry
        .pull_artifact(
            &reference,
            art::ASSEMBLY_ARTIFACT_TYPE,
            None,
            &cache,
            &NoProgress,
        )
        .await
        .unwrap_err();
    match &err {
        OciError::DigestMismatch { blob, .. } => assert_eq!(blob, &victim),
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(err.to_string().contains(&victim), "{err}");
    assert!(
        !cache.blob_path(&victim).exists(),
        "the bad blob is not cached"
    );
}

/// Pushes a hand-made manifest whose layers are `files` (title, bytes).
async fn push_raw(reg: &LocalRegistry, repo: &str, files: &[(&str, &[u8])]) -> String {
    let layers: Vec<TestLayer> = files
        .iter()
        .map(|(_, b)| TestLayer {
            bytes: b.to_vec(),
            digest: sha256_digest(b),
            diff_id: String::new(),
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": art::ASSEMBLY_ARTIFACT_TYPE,
        "config": {"mediaType": art::EMPTY_MEDIA_TYPE, "digest": sha256_digest(b"{}"), "size": 2},
        "layers": files.iter().map(|(t, b)| serde_json::json!({
            "mediaType": art::SOURCE_MEDIA_TYPE, "digest": sha256_digest(b), "size": b.len(),
            "annotations": {art::TITLE: t},
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let img = TestImage {
        arch: "amd64".into(),
        config: b"{}".to_vec(),
        config_digest: sha256_digest(b"{}"),
        layers,
        digest: sha256_digest(&manifest),
        manifest,
    };
    reg.push_image(repo, "v1", &img).await.unwrap();
    format!("{}/{repo}:v1", reg.host())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_that_escape_are_refused_on_pull() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let registry = RegistryClient::new(reg.options());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    for (repo, title) in [
        ("evil/dotdot", "../outside.toml"),
        ("evil/abs", "/etc/cron.d/x"),
        ("evil/nested", "a/../../x"),
    ] {
        let reference = push_raw(&reg, repo, &[(title, b"x = 1\n")]).await;
        let err = registry
            .pull_artifact(
                &reference,
                art::ASSEMBLY_ARTIFACT_TYPE,
                None,
                &cache,
                &NoProgress,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, OciError::BadManifest { .. }),
            "{title}: {err}"
        );
        assert!(err.to_string().contains(title), "{err}");
    }
    let reference = push_raw(&reg, "evil/dup", &[("a.toml", b"1"), ("a.toml", b"2")]).await;
    let err = registry
        .pull_artifact(
            &reference,
            art::ASSEMBLY_ARTIFACT_TYPE,
            None,
            &cache,
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("two files are titled `a.toml`"),
        "{err}"
    );

    // Our own pushes refuse them before anything is sent.
    let mut a = Artifact::new(art::ASSEMBLY_ARTIFACT_TYPE);
    a.add("../x", art::SOURCE_MEDIA_TYPE, b"".to_vec());
    let err = registry
        .push_artifact(&format!("{}/evil/mine:v1", reg.host()), &a, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::InvalidArtifact { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_needs_the_registry_s_credentials() {
    if testing::skip_requested() {
        return;
    }
    let reg = LocalRegistry::start_with_auth().unwrap_or_else(|e| panic!("{e}"));
    let reference = format!("{}/asm/private:v1", reg.host());
    let err = RegistryClient::new(reg.options())
        .push_artifact(&reference, &sample(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err}");

    let mut opts = reg.options();
    opts.credentials.insert(
        &reg.host(),
        Credential {
            username: testing::TEST_USER.into(),
            password: testing::TEST_PASSWORD.into(),
        },
    );
    let registry = RegistryClient::new(opts);
    let pushed = registry
        .push_artifact(&reference, &sample(), &NoProgress)
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let pulled = registry
        .pull_artifact(
            &reference,
            art::ASSEMBLY_ARTIFACT_TYPE,
            None,
            &Cache::new(work.path()),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(pulled.digest, pushed.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_indexes_are_the_wrong_artifact_type() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let registry = RegistryClient::new(reg.options());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path());
    let img = testing::image("amd64", vec![testing::layer(&[("etc/x", b"x")])]);
    reg.push_image("plain/image", "v1", &img).await.unwrap();
    let idx = testing::index(vec![img.clone()]);
    reg.push_index("plain/index", "v1", &idx).await.unwrap();
    for (repo, found) in [
        ("plain/image", "application/vnd.oci.image.config.v1+json"),
        ("plain/index", "application/vnd.oci.image.index.v1+json"),
    ] {
        let err = registry
            .pull_artifact(
                &format!("{}/{repo}:v1", reg.host()),
                art::ASSEMBLY_ARTIFACT_TYPE,
                None,
                &cache,
                &NoProgress,
            )
            .await
            .unwrap_err();
        match &err {
            OciError::WrongArtifactType { found: f, .. } => assert_eq!(f, found),
            other => panic!("{repo}: expected the wrong artifact type, got {other}"),
        }
    }
    // Nothing but the manifests was fetched.
    assert!(reg.blob_gets().is_empty(), "{:?}", reg.blob_gets());
}
