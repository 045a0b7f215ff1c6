//! Release-file downloads against a real HTTP server on 127.0.0.1 (testkit's
//! `FileServer`), with faults injected: 404, 500, a connection cut mid-file, a dead host,
//! tampered bytes, offline with an empty cache, two fetches of one file at once.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use stackwright_oci::{
    sha256_digest, Cache, FileRequest, NoProgress, OciError, Progress, RegistryClient,
    RegistryOptions,
};
use stackwright_testkit::{FileServer, SplitMix64};

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

fn options() -> RegistryOptions {
    RegistryOptions {
        backoff: Duration::from_millis(10),
        ..RegistryOptions::default()
    }
}

fn req(server: &FileServer, name: &str, content: &[u8]) -> FileRequest {
    FileRequest {
        owner: format!("tool-{name} 1.0.0 (amd64)"),
        url: format!("{}/{name}", server.url()),
        digest: sha256_digest(content),
    }
}

/// Everything under `dir` except lock files, relative.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.retain(|p| !p.starts_with("locks/"));
    out.sort();
    out
}

#[derive(Default)]
struct Retries(Mutex<Vec<String>>);

impl Progress for Retries {
    fn retrying(&self, what: &str, attempt: u32, error: &OciError) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{what} #{attempt}: {error}"));
    }
}

fn serve(files: &[(&str, &[u8])]) -> (tempfile::TempDir, FileServer) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let server = FileServer::start(dir.path()).unwrap();
    (dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_verified_cached_by_sha256_and_fetched_once() {
    let (a, b) = (bytes(1, 300_000), bytes(2, 10));
    let (_dir, server) = serve(&[("a", &a), ("b", &b)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let registry = RegistryClient::new(options());
    let files = [
        req(&server, "a", &a),
        req(&server, "b", &b),
        // The same file for another component: fetched once.
        FileRequest {
            owner: "other 2.0.0 (amd64)".into(),
            ..req(&server, "a", &a)
        },
    ];
    let report = registry
        .fetch_files(&files, &cache, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.downloaded, report.cached), (2, 0));
    assert_eq!(report.bytes_downloaded, 300_010);
    assert_eq!(std::fs::read(cache.blob_path(&files[0].digest)).unwrap(), a);
    assert_eq!(std::fs::read(cache.blob_path(&files[1].digest)).unwrap(), b);
    assert_eq!(
        files_under(cache_dir.path()),
        [
            format!("blobs/sha256/{}", &files[0].digest[7..]),
            format!("blobs/sha256/{}", &files[1].digest[7..]),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>(),
        "only complete blobs, no partial files"
    );
    assert_eq!(server.gets("/a").len(), 1);

    // A rerun downloads nothing.
    let before = server.requests().len();
    let again = registry
        .fetch_files(&files, &cache, &NoProgress)
        .await
        .unwrap();
    assert_eq!((again.downloaded, again.cached), (0, 2));
    assert_eq!(again.bytes_cached, 300_010);
    assert_eq!(server.requests().len(), before, "no request on a rerun");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_file_is_refused_naming_url_and_both_digests_and_nothing_is_kept() {
    let real = bytes(3, 50_000);
    let mut tampered = real.clone();
    tampered[1234] ^= 1;
    let (_dir, server) = serve(&[("tool", &tampered)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let f = req(&server, "tool", &real);
    let err = RegistryClient::new(options())
        .fetch_files(std::slice::from_ref(&f), &cache, &NoProgress)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, OciError::FileChecksum { .. }),
        "a checksum error: {msg}"
    );
    assert!(msg.contains(&f.url), "{msg}");
    assert!(msg.contains(&f.digest), "{msg}");
    assert!(msg.contains(&sha256_digest(&tampered)), "{msg}");
    assert!(msg.contains("tool-tool 1.0.0"), "{msg}");
    assert!(!err.is_transient());
    assert_eq!(
        files_under(cache_dir.path()),
        Vec::<String>::new(),
        "no cache entry, no partial file"
    );
    assert_eq!(server.gets("/tool").len(), 1, "a mismatch is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_fails_at_once_and_server_errors_are_retried() {
    let content = bytes(4, 1000);
    let (_dir, server) = serve(&[("tool", &content)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let registry = RegistryClient::new(options());

    let missing = FileRequest {
        url: format!("{}/gone", server.url()),
        ..req(&server, "tool", &content)
    };
    let retries = Retries::default();
    let err = registry
        .fetch_files(std::slice::from_ref(&missing), &cache, &retries)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            OciError::FileDownload {
                status: Some(404),
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("tool-tool 1.0.0") && msg.contains("/gone"),
        "{msg}"
    );
    assert_eq!(server.gets("/gone").len(), 1);
    assert!(retries.0.lock().unwrap().is_empty());

    server.fail("/tool", 500, 2);
    let retries = Retries::default();
    let ok = registry
        .fetch_files(&[req(&server, "tool", &content)], &cache, &retries)
        .await
        .unwrap();
    assert_eq!(ok.downloaded, 1);
    assert_eq!(server.gets("/tool").len(), 3, "two 500s, then the file");
    assert_eq!(retries.0.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_with_range_in_the_same_run_and_the_next() {
    let content = bytes(5, 400_000);
    let (_dir, server) = serve(&[("big", &content)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let f = req(&server, "big", &content);

    // Retried in the same run: the second request continues where the first broke off.
    server.cut("/big", 100_000);
    let report = RegistryClient::new(options())
        .fetch_files(std::slice::from_ref(&f), &cache, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.downloaded, report.resumed), (1, 1));
    let gets = server.gets("/big");
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].body_bytes, 100_000);
    assert_eq!(gets[1].range_start, Some(100_000));
    assert_eq!(gets[1].status, 206);
    assert_eq!(gets[1].body_bytes, 300_000, "only the rest came again");
    assert_eq!(std::fs::read(cache.blob_path(&f.digest)).unwrap(), content);

    // Without retries the run fails, the partial file stays, and the next run resumes it.
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let once = RegistryClient::new(RegistryOptions {
        retries: 0,
        ..options()
    });
    server.cut("/big", 250_000);
    let err = once
        .fetch_files(std::slice::from_ref(&f), &cache, &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broke off after 250000"), "{err}");
    assert!(err.to_string().contains(&f.url), "{err}");
    assert_eq!(
        files_under(cache_dir.path()),
        [format!("partial/sha256-{}", &f.digest[7..])]
    );
    let report = once
        .fetch_files(std::slice::from_ref(&f), &cache, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.resumed, report.bytes_downloaded), (1, 150_000));
    assert_eq!(
        server.gets("/big").last().unwrap().range_start,
        Some(250_000)
    );
    assert_eq!(std::fs::read(cache.blob_path(&f.digest)).unwrap(), content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_partial_file_is_thrown_away_and_fetched_again() {
    let content = bytes(6, 20_000);
    let (_dir, server) = serve(&[("tool", &content)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let f = req(&server, "tool", &content);
    let partial = cache_dir
        .path()
        .join(format!("partial/sha256-{}", &f.digest[7..]));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, b"not the start of the file").unwrap();
    RegistryClient::new(options())
        .fetch_files(std::slice::from_ref(&f), &cache, &NoProgress)
        .await
        .unwrap();
    let gets = server.gets("/tool");
    assert_eq!(gets.len(), 2);
    assert_eq!((gets[0].range_start, gets[1].range_start), (Some(25), None));
    assert_eq!(std::fs::read(cache.blob_path(&f.digest)).unwrap(), content);
}

/// A port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_host_fails_at_once_for_files_and_registries() {
    let port = dead_port();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let registry = RegistryClient::new(RegistryOptions {
        backoff: Duration::from_secs(5),
        insecure_loopback: true,
        ..RegistryOptions::default()
    });
    let f = FileRequest {
        owner: "kubelet 1.36.4 (amd64)".into(),
        url: format!("http://127.0.0.1:{port}/kubelet"),
        digest: sha256_digest(b"kubelet"),
    };
    let retries = Retries::default();
    let err = registry
        .fetch_files(std::slice::from_ref(&f), &cache, &retries)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("kubelet 1.36.4") && msg.contains(&f.url) && msg.contains("unreachable"),
        "{msg}"
    );
    assert!(!err.is_transient(), "{msg}");
    assert!(retries.0.lock().unwrap().is_empty(), "not retried");

    // The same rule for registries: a refused connection is not retried.
    let retries = Retries::default();
    let image = format!("127.0.0.1:{port}/test/img:v1");
    let err = registry
        .pin(&[&image], &Default::default(), &retries)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Unreachable { .. }),
        "unreachable: {err:?}"
    );
    assert!(
        retries.0.lock().unwrap().is_empty(),
        "{:?}",
        retries.0.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_uses_the_cache_only_and_names_every_missing_file() {
    let (a, b) = (bytes(7, 100), bytes(8, 200));
    let (_dir, server) = serve(&[("a", &a), ("b", &b)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let offline = RegistryClient::new(RegistryOptions {
        offline: true,
        ..options()
    });
    let files = [req(&server, "a", &a), req(&server, "b", &b)];
    let err = offline
        .fetch_files(&files, &cache, &NoProgress)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OciError::Offline { ref missing, .. } if missing.len() == 2));
    for f in &files {
        assert!(
            msg.contains(&f.url) && msg.contains(&f.owner) && msg.contains(&f.digest),
            "{msg}"
        );
    }
    assert!(
        msg.contains(&cache_dir.path().display().to_string()),
        "{msg}"
    );
    assert!(server.requests().is_empty(), "no request offline");

    // Once cached (online), offline works and asks nothing.
    RegistryClient::new(options())
        .fetch_files(&files[..1], &cache, &NoProgress)
        .await
        .unwrap();
    let n = server.requests().len();
    let err = offline
        .fetch_files(&files, &cache, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Offline { ref missing, .. } if missing.len() == 1 && missing[0].contains("/b")),
        "{err}"
    );
    let report = offline
        .fetch_files(&files[..1], &cache, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.cached, 1);
    assert_eq!(server.requests().len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fetches_of_one_file_at_once_download_it_once() {
    let content = bytes(9, 2_000_000);
    let (_dir, server) = serve(&[("big", &content)]);
    server.delay(Duration::from_millis(200));
    let cache_dir = tempfile::tempdir().unwrap();
    let f = req(&server, "big", &content);
    let run = |f: FileRequest| {
        let cache = Cache::new(cache_dir.path());
        async move {
            RegistryClient::new(options())
                .fetch_files(&[f], &cache, &NoProgress)
                .await
        }
    };
    let (r1, r2) = tokio::join!(run(f.clone()), run(f.clone()));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.downloaded + r2.downloaded, 1, "{r1:?} {r2:?}");
    assert_eq!(r1.cached + r2.cached, 1);
    assert_eq!(server.gets("/big").len(), 1);
    assert_eq!(
        std::fs::read(Cache::new(cache_dir.path()).blob_path(&f.digest)).unwrap(),
        content
    );
}

/// `fetch_files_with` reports each distinct file once, the moment it is complete in the
/// cache (there already, or downloaded and verified) — the file is there when `ready`
/// runs — and never a file that failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_names_each_complete_file_once_and_never_a_failed_one() {
    let (a, b, c) = (bytes(21, 200_000), bytes(22, 1000), bytes(23, 5000));
    let (_dir, server) = serve(&[("a", &a), ("b", &b), ("c", &c)]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let registry = RegistryClient::new(options());
    // `c` is cached already; `a` is asked for twice.
    cache.put(&c).unwrap();
    let files = [
        req(&server, "a", &a),
        req(&server, "b", &b),
        req(&server, "c", &c),
        FileRequest {
            owner: "other 2.0.0 (amd64)".into(),
            ..req(&server, "a", &a)
        },
    ];
    let seen = Mutex::new(Vec::new());
    let report = registry
        .fetch_files_with(&files, &cache, &NoProgress, &|f| {
            let complete = std::fs::read(cache.blob_path(&f.digest))
                .is_ok_and(|bytes| sha256_digest(&bytes) == f.digest);
            seen.lock().unwrap().push((f.digest.clone(), complete));
        })
        .await
        .unwrap();
    assert_eq!((report.downloaded, report.cached), (2, 1));
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    let mut want: Vec<(String, bool)> = [&a, &b, &c]
        .iter()
        .map(|x| (sha256_digest(x), true))
        .collect();
    want.sort();
    assert_eq!(seen, want);

    // A 404 beside a good file: only the good one is reported.
    let d = bytes(24, 100);
    let (_dir2, server2) = serve(&[("d", &d)]);
    let missing = FileRequest {
        url: format!("{}/gone", server2.url()),
        ..req(&server2, "gone", b"gone")
    };
    let seen = Mutex::new(Vec::new());
    let err = registry
        .fetch_files_with(
            &[missing.clone(), req(&server2, "d", &d)],
            &Cache::new(cache_dir.path().join("other")),
            &NoProgress,
            &|f| seen.lock().unwrap().push(f.digest.clone()),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/gone"), "{err}");
    assert!(!seen.into_inner().unwrap().contains(&missing.digest));
}
