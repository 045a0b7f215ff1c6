//! HTTPS: a pin, a pull and a release-file download from a real registry serving TLS
//! (testkit's `LocalRegistry::start_tls`, its certificate signed by the test CA, which the
//! test trusts through `SSL_CERT_FILE`), through rustls with the *ring* provider this
//! crate installs (reqwest and oci-client are built without a provider of their own).

use std::collections::BTreeMap;

use stackwright_oci::{
    sha256_digest, Cache, FileRequest, NoProgress, OciError, PullRequest, RegistryClient,
};
use stackwright_testkit::{self as testing, LocalRegistry, TEST_CA};

/// Runs `f` on a fresh runtime after setting `SSL_CERT_FILE` (nextest runs each test in
/// its own process, and the variable is set before any thread of the test starts).
fn with_ca<F: std::future::Future<Output = ()>>(ca: Option<&str>, f: impl FnOnce() -> F) {
    match ca {
        Some(ca) => std::env::set_var("SSL_CERT_FILE", ca),
        None => std::env::remove_var("SSL_CERT_FILE"),
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f());
}

#[test]
fn pin_pull_and_download_over_https() {
    with_ca(Some(TEST_CA), || async {
        let Some(reg) = LocalRegistry::start_tls_or_skip() else {
            return;
        };
        let layer = testing::layer(&[("etc/hello", b"over tls\n")]);
        let img = testing::image("amd64", vec![layer.clone()]);
        reg.push_image("test/tls", "v1", &img).await.unwrap();
        let reference = format!("{}/test/tls:v1", reg.host());
        let options = reg.options();
        assert!(options.insecure.is_empty() && !options.insecure_loopback);
        let registry = RegistryClient::new(options);

        let pinned = registry
            .pin(&[&reference], &BTreeMap::new(), &NoProgress)
            .await
            .unwrap();
        assert_eq!(pinned[0].digest, img.digest);

        let work = tempfile::tempdir().unwrap();
        let cache = Cache::new(work.path().join("cache"));
        let report = registry
            .pull_into(
                &[PullRequest::new(&reference)],
                "amd64",
                &cache,
                &work.path().join("images"),
                &NoProgress,
            )
            .await
            .unwrap();
        assert_eq!(report.images[0].manifest.digest, img.digest);
        assert_eq!(report.blobs_downloaded, 2, "config and layer");

        // Release files go through reqwest directly: the layer blob, by URL.
        let other = Cache::new(work.path().join("other"));
        let file = FileRequest {
            owner: "tool 1.0.0 (amd64)".into(),
            url: format!("https://{}/v2/test/tls/blobs/{}", reg.host(), layer.digest),
            digest: sha256_digest(&layer.bytes),
        };
        let fetched = registry
            .fetch_files(std::slice::from_ref(&file), &other, &NoProgress)
            .await
            .unwrap();
        assert_eq!(fetched.downloaded, 1);
        assert_eq!(
            std::fs::read(other.blob_path(&file.digest)).unwrap(),
            layer.bytes
        );
    });
}

#[test]
fn an_untrusted_certificate_is_an_error_that_names_it() {
    with_ca(None, || async {
        let Some(reg) = LocalRegistry::start_tls_or_skip() else {
            return;
        };
        let reference = format!("{}/test/tls:v1", reg.host());
        let err = RegistryClient::new(reg.options())
            .pin(&[&reference], &BTreeMap::new(), &NoProgress)
            .await
            .unwrap_err();
        let text = format!("{err:?} {err}").to_lowercase();
        assert!(
            text.contains("certificate") || text.contains("unknownissuer"),
            "{err:?}"
        );
        assert!(!matches!(err, OciError::Offline { .. }));
    });
}
