//! Pinning and pulling against a real registry (Debian's `docker-registry`) on
//! 127.0.0.1, with images built offline in the test. Needs `docker-registry`,
//! `skopeo` and `umoci` installed; fails with an installation hint otherwise,
//! unless STACKWRIGHT_SKIP_REGISTRY_TESTS=1.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use stackwright_oci::{
    Cache, Credentials, ImageLayout, NoProgress, OciError, PullRequest, RegistryClient,
};
use stackwright_testkit::{self as testing, CutProxy, LocalRegistry};

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `skopeo inspect oci:DIR:REF` → (digest, architecture, layer count).
fn skopeo_inspect(dir: &Path, ref_name: &str) -> Option<(String, String, usize)> {
    let skopeo = testing::skopeo_or_skip()?;
    let out = run(Command::new(skopeo)
        .arg("inspect")
        .arg(format!("oci:{}:{ref_name}", dir.display())));
    let v: serde_json::Value = serde_json::from_str(&out).expect("skopeo prints JSON");
    Some((
        v["Digest"].as_str().unwrap_or_default().to_string(),
        v["Architecture"].as_str().unwrap_or_default().to_string(),
        v["Layers"].as_array().map_or(0, Vec::len),
    ))
}

fn umoci_refs(dir: &Path) -> Option<Vec<String>> {
    let umoci = testing::umoci_or_skip()?;
    let out = run(Command::new(umoci).args(["ls", "--layout"]).arg(dir));
    Some(out.lines().map(String::from).collect())
}

fn layer_digests(l: &[testing::TestLayer]) -> Vec<String> {
    l.iter().map(|l| l.digest.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_arch_image_lands_in_a_layout_skopeo_and_umoci_read() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let layers = vec![
        testing::layer(&[("etc/hello", b"hi\n")]),
        testing::layer(&[("bin/tool", b"#!/bin/sh\n")]),
    ];
    let img = testing::image("amd64", layers.clone());
    reg.push_image("test/single", "v1", &img).await.unwrap();
    let reference = format!("{}/test/single:v1", reg.host());

    let registry = RegistryClient::new(reg.options());
    let pinned = registry
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(pinned[0].digest, img.digest);
    assert_eq!(pinned[0].pinned, format!("{reference}@{}", img.digest));
    assert!(pinned[0].looked_up);

    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let out = work.path().join("out/images");
    let report = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].manifest.digest, img.digest);
    assert_eq!(report.blobs_downloaded, 3, "config and two layers");
    assert_eq!(
        report.bytes_downloaded,
        (img.config.len() + layers[0].bytes.len() + layers[1].bytes.len()) as u64
    );

    // Exactly the blobs, the marker and the index; no temp dirs next to it.
    let mut expected: Vec<String> = [
        &img.digest,
        &img.config_digest,
        &layers[0].digest,
        &layers[1].digest,
    ]
    .iter()
    .map(|d| {
        out.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
            .display()
            .to_string()
    })
    .collect();
    expected.push(out.join("index.json").display().to_string());
    expected.push(out.join("oci-layout").display().to_string());
    expected.sort();
    assert_eq!(files_under(&out), expected);
    assert_eq!(
        std::fs::read_dir(work.path().join("out")).unwrap().count(),
        1
    );

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let entry = &index["manifests"][0];
    let ref_name = format!("{}/test/single:v1", reg.host());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        ref_name.as_str()
    );
    assert_eq!(entry["platform"]["architecture"], "amd64");

    let layout = ImageLayout::open(&out).unwrap();
    let found = layout
        .find(&reference)
        .unwrap()
        .expect("image is named in index.json");
    assert_eq!(
        layer_digests(&layers),
        found
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect::<Vec<_>>()
    );

    if let Some((digest, arch, n)) = skopeo_inspect(&out, &ref_name) {
        assert_eq!(
            (digest.as_str(), arch.as_str(), n),
            (img.digest.as_str(), "amd64", 2)
        );
    }
    if let Some(refs) = umoci_refs(&out) {
        assert_eq!(refs, vec![ref_name.clone()]);
    }
    // umoci can unpack it into a runtime bundle with the files of both layers.
    if let Some(umoci) = testing::umoci_or_skip() {
        let bundle = work.path().join("bundle");
        run(Command::new(umoci)
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:{ref_name}", out.display()))
            .arg(&bundle));
        assert_eq!(
            std::fs::read(bundle.join("rootfs/etc/hello")).unwrap(),
            b"hi\n"
        );
        assert!(bundle.join("rootfs/bin/tool").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_pins_to_the_index_and_pulls_only_the_requested_arch() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let amd = testing::image("amd64", vec![testing::layer(&[("arch", b"amd64")])]);
    let arm = testing::image("arm64", vec![testing::layer(&[("arch", b"arm64")])]);
    let idx = testing::index(vec![amd.clone(), arm.clone()]);
    reg.push_index("test/multi", "v2", &idx).await.unwrap();
    let reference = format!("{}/test/multi:v2", reg.host());
    let registry = RegistryClient::new(reg.options());

    let pinned = registry
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        pinned[0].digest, idx.digest,
        "multi-arch images pin to their index"
    );

    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let out = work.path().join("images");
    let report = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "arm64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    let pulled = &report.images[0];
    assert_eq!(pulled.digest, idx.digest);
    assert_eq!(pulled.pinned, format!("{reference}@{}", idx.digest));
    assert_eq!(pulled.manifest.digest, arm.digest);
    assert!(out
        .join("blobs/sha256")
        .join(arm.layers[0].digest.trim_start_matches("sha256:"))
        .exists());
    assert!(!out
        .join("blobs/sha256")
        .join(amd.layers[0].digest.trim_start_matches("sha256:"))
        .exists());
    assert!(!out
        .join("blobs/sha256")
        .join(amd.digest.trim_start_matches("sha256:"))
        .exists());
    let gets: Vec<String> = reg.blob_gets().into_iter().map(|(d, _)| d).collect();
    assert!(
        !gets.contains(&amd.layers[0].digest) && !gets.contains(&amd.config_digest),
        "amd64 blobs were fetched: {gets:?}"
    );

    if let Some((digest, arch, _)) =
        skopeo_inspect(&out, &stackwright_oci::ref_name(&reference).unwrap())
    {
        assert_eq!((digest, arch), (arm.digest.clone(), "arm64".to_string()));
    }

    let err = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "riscv64",
            &cache,
            &work.path().join("rv"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NoMatchingArch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("{reference}: no manifest for linux/riscv64 in its index (it has: linux/amd64, linux/arm64)")
    );
    assert!(!work.path().join("rv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_layers_are_fetched_and_stored_once() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let base = testing::big_layer(7, 200_000);
    let a = testing::image("amd64", vec![base.clone(), testing::layer(&[("a", b"a")])]);
    let b = testing::image("amd64", vec![base.clone(), testing::layer(&[("b", b"b")])]);
    reg.push_image("test/a", "1", &a).await.unwrap();
    reg.push_image("test/b", "1", &b).await.unwrap();
    let refs = [
        format!("{}/test/a:1", reg.host()),
        format!("{}/test/b:1", reg.host()),
    ];
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("images");
    let report = RegistryClient::new(reg.options())
        .pull_into(
            &refs.iter().map(PullRequest::new).collect::<Vec<_>>(),
            "amd64",
            &Cache::new(work.path().join("cache")),
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.images.len(), 2);
    assert_eq!(
        report.blobs_downloaded, 5,
        "two configs, two own layers, one shared layer"
    );
    let base_gets = reg
        .blob_gets()
        .iter()
        .filter(|(d, _)| *d == base.digest)
        .count();
    assert_eq!(base_gets, 1, "the shared layer is downloaded once");
    // 2 manifests + 2 configs + 3 distinct layers.
    assert_eq!(
        std::fs::read_dir(out.join("blobs/sha256")).unwrap().count(),
        7
    );
    let layout = ImageLayout::open(&out).unwrap();
    let names: Vec<String> = layout
        .images()
        .unwrap()
        .into_iter()
        .map(|i| i.ref_name)
        .collect();
    assert_eq!(
        names,
        vec![refs[0].clone(), refs[1].clone()],
        "sorted by name"
    );
    if let Some(refs_listed) = umoci_refs(&out) {
        assert_eq!(refs_listed, names);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pull_downloads_nothing() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let amd = testing::image(
        "amd64",
        vec![
            testing::big_layer(1, 300_000),
            testing::layer(&[("x", b"1")]),
        ],
    );
    let arm = testing::image("arm64", vec![testing::layer(&[("y", b"2")])]);
    let idx = testing::index(vec![amd.clone(), arm]);
    reg.push_index("test/cached", "v1", &idx).await.unwrap();
    let reference = format!("{}/test/cached:v1", reg.host());
    let registry = RegistryClient::new(reg.options());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));

    let first = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &work.path().join("one"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(first.blobs_downloaded, 3);
    assert_eq!(
        first.manifests_downloaded, 2,
        "the index and the amd64 manifest"
    );
    let blob_gets = reg.blob_gets().len();
    let manifest_gets = reg.manifest_gets().len();
    assert_eq!(blob_gets, 3);

    // By tag: one HEAD to learn the digest, then everything from the cache.
    let second = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &work.path().join("two"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            second.blobs_downloaded,
            second.bytes_downloaded,
            second.manifests_downloaded
        ),
        (0, 0, 0)
    );
    assert_eq!(second.blobs_cached, 3);
    assert_eq!(
        reg.blob_gets().len(),
        blob_gets,
        "no blob GETs on the second run"
    );
    assert_eq!(
        reg.manifest_gets().len(),
        manifest_gets,
        "no manifest GETs on the second run"
    );

    // Pinned (digest known from the lock): no request at all.
    let before = reg.requests().len();
    let pinned = PullRequest::with_digest(&reference, &idx.digest);
    let third = registry
        .pull_into(
            &[pinned],
            "amd64",
            &cache,
            &work.path().join("three"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(third.bytes_downloaded, 0);
    assert_eq!(
        reg.requests().len(),
        before,
        "a pinned, cached pull talks to no registry"
    );
    let known = BTreeMap::from([(reference.clone(), idx.digest.clone())]);
    let p = registry
        .pin(&[&reference], &known, &NoProgress)
        .await
        .unwrap();
    assert!(!p[0].looked_up);
    assert_eq!(
        reg.requests().len(),
        before,
        "pinning with a known digest asks nothing"
    );

    // The layouts are byte-identical.
    let read = |d: &str| {
        files_under(&work.path().join(d))
            .into_iter()
            .map(|f| {
                (
                    f.replace(&work.path().join(d).display().to_string(), ""),
                    std::fs::read(&f).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(read("one"), read("two"));
    assert_eq!(read("one"), read("three"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_is_a_hard_error_that_leaves_nothing() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let good = testing::layer(&[("ok", b"fine")]);
    let bad = testing::big_layer(3, 50_000);
    let img = testing::image("amd64", vec![good, bad.clone()]);
    reg.push_image("test/tampered", "v1", &img).await.unwrap();
    // Same size, different bytes: only the digest can tell.
    let data = reg.blob_data_path(&bad.digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let reference = format!("{}/test/tampered:v1", reg.host());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("images");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("previous"), b"the previous layout").unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let err = RegistryClient::new(reg.options())
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap_err();
    match &err {
        OciError::DigestMismatch {
            image,
            registry,
            blob,
            ..
        } => {
            assert_eq!(
                (image.as_str(), registry.as_str(), blob.as_str()),
                (reference.as_str(), reg.host().as_str(), bad.digest.as_str())
            );
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(
        err.to_string().contains(&bad.digest) && err.to_string().contains(&reference),
        "{err}"
    );
    assert_eq!(
        files_under(&out),
        vec![out.join("previous").display().to_string()],
        "the previous output is untouched"
    );
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        2,
        "no temp dirs: only cache/ and images/"
    );
    assert!(!cache.blob_path(&bad.digest).exists());
    // (Another blob's download cut short by the failure may stay partial, to be resumed.)
    assert!(
        !files_under(&cache.root().join("partial"))
            .iter()
            .any(|p| p.ends_with(&bad.digest[7..])),
        "no partial download kept for a bad blob"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_goes_away_leaves_nothing_and_the_rerun_resumes() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    const BIG: usize = 4 << 20;
    let big = testing::big_layer(11, BIG);
    let img = testing::image(
        "amd64",
        vec![testing::layer(&[("small", b"s")]), big.clone()],
    );
    reg.push_image("test/flaky", "v1", &img).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let out = work.path().join("images");

    // The proxy drops everything after 1.5 MiB of responses and refuses connections after.
    let proxy = CutProxy::start(reg.addr(), Some(1_500_000)).unwrap();
    let mut opts = reg.options();
    opts.insecure = vec![proxy.host()];
    opts.retries = 1;
    let reference = format!("{}/test/flaky:v1", proxy.host());
    let err = RegistryClient::new(opts.clone())
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(proxy.is_cut());
    // The retry finds the registry gone (connection refused): not retried further.
    assert!(
        matches!(err, OciError::Network { .. } | OciError::Unreachable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&proxy.host()), "{err}");
    assert!(!out.exists(), "no half-written layout");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "only the cache"
    );
    assert!(
        !cache.blob_path(&big.digest).exists(),
        "a partial blob is never taken as complete"
    );
    let partial: u64 = files_under(&cache.root().join("partial"))
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(
        partial > 500_000,
        "the partial download is kept ({partial} bytes)"
    );
    drop(proxy);

    // The registry is back (behind a proxy that lets everything through): the rerun
    // fetches only what is missing.
    let proxy = CutProxy::start(reg.addr(), None).unwrap();
    opts.insecure = vec![proxy.host()];
    let reference = format!("{}/test/flaky:v1", proxy.host());
    let report = RegistryClient::new(opts)
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.images[0].manifest.digest, img.digest);
    assert!(
        proxy.forwarded() < BIG as u64 - 400_000,
        "resumed instead of starting over: {} bytes came through for a {BIG}-byte layer",
        proxy.forwarded()
    );
    let stored = std::fs::read(
        out.join("blobs/sha256")
            .join(big.digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(stackwright_oci::sha256_digest(&stored), big.digest);
    assert!(files_under(&cache.root().join("partial")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_and_tags_are_clear_errors() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    reg.push_image(
        "test/exists",
        "v1",
        &testing::image("amd64", vec![testing::layer(&[("f", b"1")])]),
    )
    .await
    .unwrap();
    let registry = RegistryClient::new(reg.options());
    let host = reg.host();

    let missing_repo = format!("{host}/test/nothing:v1");
    let err = registry
        .pin(&[&missing_repo], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotFound { .. }), "{err:?}");
    // distribution 2.x answers MANIFEST_UNKNOWN (not NAME_UNKNOWN) for a repository it never saw.
    assert_eq!(
        err.to_string(),
        format!("{missing_repo}: not found in registry {host} (manifest unknown: v1)")
    );

    let missing_tag = format!("{host}/test/exists:v9");
    let err = registry
        .pull_into(
            &[PullRequest::new(&missing_tag)],
            "amd64",
            &Cache::new(tempfile::tempdir().unwrap().path()),
            Path::new("/nonexistent/out"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{missing_tag}: not found in registry {host} (manifest unknown: v9)")
    );

    let err = registry
        .pin(
            &["Not A Reference".to_string()],
            &BTreeMap::new(),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::InvalidReference { .. }), "{err}");

    // Nothing listens there: an error naming the registry at once (a refused connection
    // is not retried).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut opts = reg.options();
    opts.insecure.push(dead.to_string());
    let gone = format!("{dead}/x/y:1");
    let err = RegistryClient::new(opts)
        .pin(&[&gone], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{gone}: cannot reach registry {dead}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_docker_config_json() {
    if testing::skip_requested() {
        return;
    }
    let reg = LocalRegistry::start_with_auth().unwrap_or_else(|e| panic!("{e}"));
    let img = testing::image("amd64", vec![testing::layer(&[("secret", b"42")])]);
    reg.push_image("private/app", "v1", &img).await.unwrap();
    let reference = format!("{}/private/app:v1", reg.host());
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config.json");

    // Anonymous: a 401 that says no credentials were found, and where we looked.
    std::fs::write(&config, r#"{"auths": {}}"#).unwrap();
    let mut opts = reg.options();
    opts.credentials = Credentials::from_file(&config).unwrap();
    let err = RegistryClient::new(opts.clone())
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "no credentials for {} in {}",
            reg.host(),
            config.display()
        )),
        "{msg}"
    );

    // Wrong password: rejected, and the message says so.
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"http://{}": {{"auth": "{}"}}}}}}"#,
            reg.host(),
            b64("stackwright:wrong")
        ),
    )
    .unwrap();
    opts.credentials = Credentials::from_file(&config).unwrap();
    let err = RegistryClient::new(opts.clone())
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("were rejected"), "{err}");

    // Right password, found through $DOCKER_CONFIG as users set it.
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.host(),
            b64(&format!(
                "{}:{}",
                testing::TEST_USER,
                testing::TEST_PASSWORD
            ))
        ),
    )
    .unwrap();
    std::env::set_var("DOCKER_CONFIG", work.path());
    opts.credentials = Credentials::from_default_location().unwrap();
    let registry = RegistryClient::new(opts);
    let pinned = registry
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(pinned[0].digest, img.digest);
    let report = registry
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &Cache::new(work.path().join("cache")),
            &work.path().join("out"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_downloaded, 2);
}

/// Records progress events, to check what the CLI would be told.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl stackwright_oci::Progress for Recorder {
    fn resolved(&self, image: &str, digest: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("resolved {image} {digest}"));
    }
    fn plan(&self, blobs: usize, total: u64, download: u64) {
        self.0
            .lock()
            .unwrap()
            .push(format!("plan {blobs} {total} {download}"));
    }
    fn blob_finished(&self, digest: &str, size: u64, cached: bool) {
        self.0
            .lock()
            .unwrap()
            .push(format!("finished {digest} {size} {cached}"));
    }
    fn retrying(&self, what: &str, attempt: u32, error: &OciError) {
        self.0
            .lock()
            .unwrap()
            .push(format!("retry {attempt} {what}: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_with_backoff_and_reported() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let img = testing::image("amd64", vec![testing::layer(&[("f", b"retry")])]);
    reg.push_image("test/retry", "v1", &img).await.unwrap();

    // Three 503s, four retries allowed: the pull succeeds and says it retried.
    let proxy = CutProxy::failing_first(reg.addr(), 3).unwrap();
    let mut opts = reg.options();
    opts.insecure = vec![proxy.host()];
    opts.retries = 4;
    let reference = format!("{}/test/retry:v1", proxy.host());
    let rec = Recorder::default();
    let work = tempfile::tempdir().unwrap();
    let report = RegistryClient::new(opts.clone())
        .pull_into(
            &[PullRequest::new(&reference)],
            "amd64",
            &Cache::new(work.path().join("cache")),
            &work.path().join("out"),
            &rec,
        )
        .await
        .unwrap();
    assert_eq!(report.images[0].manifest.digest, img.digest);
    assert_eq!(proxy.failures_left(), 0);
    let events = rec.0.lock().unwrap().clone();
    let retries: Vec<&String> = events.iter().filter(|e| e.starts_with("retry ")).collect();
    assert!(
        !retries.is_empty() && retries.iter().all(|r| r.contains("HTTP 503")),
        "{events:#?}"
    );
    assert!(
        events.contains(&format!("resolved {reference} {}", img.digest)),
        "{events:#?}"
    );
    let layer = &img.layers[0];
    assert!(
        events.contains(&format!(
            "plan 2 {} {}",
            img.config.len() + layer.bytes.len(),
            layer.bytes.len()
        )),
        "{events:#?}"
    );
    assert!(
        events.contains(&format!(
            "finished {} {} false",
            layer.digest,
            layer.bytes.len()
        )),
        "{events:#?}"
    );
    drop(proxy);

    // No retries allowed: the 503 is the error, with its status.
    let proxy = CutProxy::failing_first(reg.addr(), 10).unwrap();
    opts.insecure = vec![proxy.host()];
    opts.retries = 0;
    let reference = format!("{}/test/retry:v1", proxy.host());
    let err = RegistryClient::new(opts)
        .pin(&[&reference], &BTreeMap::new(), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Registry {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "{reference}: registry {} failed: HTTP 503",
            proxy.host()
        )),
        "{err}"
    );
}

/// The CLI drives these on a multi-threaded runtime: the futures must be `Send`.
#[test]
fn pin_and_pull_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let registry = RegistryClient::new(Default::default());
    let cache = Cache::new("/nonexistent");
    let pull = registry.pull_into(
        &[],
        "amd64",
        &cache,
        Path::new("/nonexistent/out"),
        &NoProgress,
    );
    is_send(&pull);
    let known = BTreeMap::new();
    let pin = registry.pin::<&str>(&[], &known, &NoProgress);
    is_send(&pin);
}

/// An image whose publisher attached SPDX attestations (as BuildKit does): the pull returns
/// the document attested for the pulled arch's manifest — not the other arch's — through the
/// cache, so a rerun offline returns it again; the attestation is not written into the layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdx_attestations_of_the_pulled_arch_come_back_with_the_image() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let amd = testing::image("amd64", vec![testing::layer(&[("arch", b"amd64")])]);
    let arm = testing::image("arm64", vec![testing::layer(&[("arch", b"arm64")])]);
    let doc = |arch: &str| {
        serde_json::json!({
            "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": format!("sbom-{arch}"),
            "dataLicense": "CC0-1.0", "documentNamespace": format!("https://example.invalid/{arch}"),
            "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: test"]},
            "packages": [{"SPDXID": "SPDXRef-Package-busybox", "name": "busybox", "versionInfo": "1.36.1",
                          "downloadLocation": "NOASSERTION", "filesAnalyzed": false}],
        })
    };
    let (att_amd, att_arm) = (
        testing::spdx_attestation(&amd, &doc("amd64")),
        testing::spdx_attestation(&arm, &doc("arm64")),
    );
    let idx = testing::index_with_attestations(
        vec![amd.clone(), arm.clone()],
        vec![
            (att_amd.clone(), amd.digest.clone()),
            (att_arm.clone(), arm.digest.clone()),
        ],
    );
    reg.push_index("test/attested", "v1", &idx).await.unwrap();
    let reference = format!("{}/test/attested:v1", reg.host());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let out = work.path().join("images");
    let report = RegistryClient::new(reg.options())
        .pull_into(
            &[PullRequest::new(&reference)],
            "arm64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    let pulled = &report.images[0];
    assert_eq!(pulled.manifest.digest, arm.digest);
    assert_eq!(pulled.sboms.len(), 1, "one SPDX document for arm64");
    let got: serde_json::Value = serde_json::from_slice(&pulled.sboms[0]).unwrap();
    assert_eq!(got, doc("arm64"));
    let blobs = files_under(&out.join("blobs"));
    assert!(
        !blobs
            .iter()
            .any(|b| b.ends_with(att_arm.digest.trim_start_matches("sha256:"))),
        "attestations are not part of the image layout"
    );
    let gets: Vec<String> = reg.blob_gets().into_iter().map(|(d, _)| d).collect();
    assert!(
        !gets.contains(&att_amd.layers[0].digest),
        "the other arch's attestation is not fetched"
    );

    // A rerun pinned by digest, offline: the statement comes from the cache.
    let mut opts = reg.options();
    opts.offline = true;
    let again = RegistryClient::new(opts)
        .pull_into(
            &[PullRequest::with_digest(&reference, &idx.digest)],
            "arm64",
            &cache,
            &out,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(again.images[0].sboms, pulled.sboms);

    // An image without attestations has none.
    let plain = testing::image("arm64", vec![testing::layer(&[("x", b"plain")])]);
    reg.push_index("test/plain", "v1", &testing::index(vec![plain]))
        .await
        .unwrap();
    let plain_ref = format!("{}/test/plain:v1", reg.host());
    let r = RegistryClient::new(reg.options())
        .pull_into(
            &[PullRequest::new(&plain_ref)],
            "arm64",
            &cache,
            &work.path().join("p"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert!(r.images[0].sboms.is_empty());
}
