//! Test support (feature `testing`): a real registry on 127.0.0.1 (Debian's
//! `docker-registry`, i.e. CNCF distribution 2.x) with its storage in a temporary
//! directory, small OCI images built offline, a push helper, and a TCP proxy that
//! can make the registry "go away" after a number of bytes.
//!
//! Registry tests must not pass silently on a machine without the registry:
//! [`LocalRegistry::start_or_skip`] panics with an installation hint unless
//! `STACKWRIGHT_SKIP_REGISTRY_TESTS=1` is set.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{sha256_digest, RegistryOptions};

/// Set to `1` to skip tests that need `docker-registry` and `skopeo`.
pub const SKIP_ENV: &str = "STACKWRIGHT_SKIP_REGISTRY_TESTS";

/// Whether the user asked to skip registry tests.
pub fn skip_requested() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// Finds a program on `PATH` (or the path in env var `override_var`).
pub fn find_program(name: &str, override_var: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `skopeo`, or a panic explaining how to get it (unless registry tests are skipped: `None`).
pub fn skopeo_or_skip() -> Option<PathBuf> {
    program_or_skip("skopeo", "STACKWRIGHT_SKOPEO", "skopeo")
}

/// `umoci`, or a panic explaining how to get it (unless registry tests are skipped: `None`).
pub fn umoci_or_skip() -> Option<PathBuf> {
    program_or_skip("umoci", "STACKWRIGHT_UMOCI", "umoci")
}

fn program_or_skip(name: &str, var: &str, package: &str) -> Option<PathBuf> {
    if skip_requested() {
        return None;
    }
    match find_program(name, var) {
        Some(p) => Some(p),
        None => panic!(
            "`{name}` is not installed, and registry tests need it. Install it with \
             `apt-get install -y {package}` (Debian), point {var} at it, or set {SKIP_ENV}=1 to skip these tests."
        ),
    }
}

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A `docker-registry` process on 127.0.0.1, killed on drop.
pub struct LocalRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    auth: bool,
}

/// A user the registry accepts when started with [`LocalRegistry::start_with_auth`].
pub const TEST_USER: &str = "stackwright";
pub const TEST_PASSWORD: &str = "s3cret";
// bcrypt of TEST_PASSWORD (cost 4, so the registry checks it quickly).
const TEST_HTPASSWD: &str =
    "stackwright:$2b$04$D0.4gZHuDfjiCws14vTlp.iMEXlauVORqK539zzyC7619UQqpCJfu\n";

impl LocalRegistry {
    /// Starts a registry, or panics with an installation hint; `None` when
    /// `STACKWRIGHT_SKIP_REGISTRY_TESTS=1`.
    pub fn start_or_skip() -> Option<LocalRegistry> {
        if skip_requested() {
            return None;
        }
        Some(LocalRegistry::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts an anonymous-access registry.
    pub fn start() -> Result<LocalRegistry, String> {
        LocalRegistry::spawn(false)
    }

    /// Starts a registry that requires [`TEST_USER`]/[`TEST_PASSWORD`] (htpasswd).
    pub fn start_with_auth() -> Result<LocalRegistry, String> {
        LocalRegistry::spawn(true)
    }

    fn spawn(auth: bool) -> Result<LocalRegistry, String> {
        let bin = find_program("docker-registry", "STACKWRIGHT_DOCKER_REGISTRY").ok_or_else(|| {
            format!(
                "`docker-registry` is not installed, and registry tests need it. Install it with \
                 `apt-get install -y docker-registry` (Debian), point STACKWRIGHT_DOCKER_REGISTRY at it, \
                 or set {SKIP_ENV}=1 to skip these tests."
            )
        })?;
        let mut last_err = String::new();
        // A free port can be taken between our probe and the registry's bind: try again.
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("stackwright-registry-")
                .tempdir()
                .map_err(|e| e.to_string())?;
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let storage = dir.path().join("storage");
            std::fs::create_dir_all(&storage).map_err(|e| e.to_string())?;
            let auth_section = if auth {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, TEST_HTPASSWD).map_err(|e| e.to_string())?;
                format!(
                    "auth:\n  htpasswd:\n    realm: stackwright-test\n    path: {}\n",
                    htpasswd.display()
                )
            } else {
                String::new()
            };
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: {addr}\n  secret: stackwright-test-secret\n\
                 {auth_section}",
                storage.display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
            let stdout =
                std::fs::File::create(dir.path().join("access.log")).map_err(|e| e.to_string())?;
            let stderr = std::fs::File::create(dir.path().join("registry.log"))
                .map_err(|e| e.to_string())?;
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            let mut reg = LocalRegistry {
                child: Some(child),
                dir,
                addr,
                auth,
            };
            match reg.wait_ready(Duration::from_secs(15)) {
                Ok(()) => return Ok(reg),
                Err(e) => last_err = e,
            }
        }
        Err(format!("docker-registry did not start: {last_err}"))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.path().join("registry.log"))
                        .unwrap_or_default();
                    return Err(format!(
                        "exited with {status}: {}",
                        log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                    ));
                }
            }
            if let Some(status) = http_status(self.addr, "/v2/") {
                if status == 200 || status == 401 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("not answering on /v2/".into())
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the registry keeps its data.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding a blob's bytes in the registry's storage.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Options for talking to this registry over plain HTTP, with quick retries.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: vec![self.host()],
            retries: 2,
            backoff: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            ..RegistryOptions::default()
        }
    }

    /// Every request so far, from the registry's access log. Waits briefly for the
    /// log to settle (lines are written just after responses).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let path = self.dir.path().join("access.log");
        let mut last = usize::MAX;
        for _ in 0..20 {
            let n = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
            if n == last {
                break;
            }
            last = n;
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines().filter_map(parse_access_line).collect()
    }

    /// Blob GETs (layer and config downloads) so far: `(digest, status)`.
    pub fn blob_gets(&self) -> Vec<(String, u16)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/sha256:"))
            .map(|r| {
                (
                    r.path.rsplit('/').next().unwrap_or_default().to_string(),
                    r.status,
                )
            })
            .collect()
    }

    /// Manifest GETs so far (by tag or digest).
    pub fn manifest_gets(&self) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
            .collect()
    }

    /// Kills the registry now (its storage stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Pushes an image under `repo:tag`; returns the manifest digest.
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        image: &TestImage,
    ) -> Result<String, String> {
        let client = self.push_client().await;
        let base = format!("{}/{repo}", self.host());
        push_image_blobs(&client, &base, image).await?;
        push_manifest(
            &client,
            &format!("{base}:{tag}"),
            &image.manifest,
            crate::manifest::OCI_MANIFEST,
        )
        .await?;
        Ok(image.digest.clone())
    }

    /// Pushes a multi-arch index and its images under `repo:tag`; returns the index digest.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        index: &TestIndex,
    ) -> Result<String, String> {
        let client = self.push_client().await;
        let base = format!("{}/{repo}", self.host());
        for image in &index.images {
            push_image_blobs(&client, &base, image).await?;
            push_manifest(
                &client,
                &format!("{base}@{}", image.digest),
                &image.manifest,
                crate::manifest::OCI_MANIFEST,
            )
            .await?;
        }
        push_manifest(
            &client,
            &format!("{base}:{tag}"),
            &index.bytes,
            crate::manifest::OCI_INDEX,
        )
        .await?;
        Ok(index.digest.clone())
    }

    /// A client for pushing (with the test user when the registry requires auth).
    async fn push_client(&self) -> oci_client::Client {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(vec![self.host()]),
            ..Default::default()
        });
        let auth = if self.auth {
            oci_client::secrets::RegistryAuth::Basic(TEST_USER.into(), TEST_PASSWORD.into())
        } else {
            oci_client::secrets::RegistryAuth::Anonymous
        };
        client.store_auth_if_needed(&self.host(), &auth).await;
        client
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn push_image_blobs(
    client: &oci_client::Client,
    base: &str,
    image: &TestImage,
) -> Result<(), String> {
    let r: oci_client::Reference = format!("{base}:push").parse().map_err(|e| format!("{e}"))?;
    let mut blobs = vec![(&image.config, &image.config_digest)];
    blobs.extend(image.layers.iter().map(|l| (&l.bytes, &l.digest)));
    for (bytes, digest) in blobs {
        client
            .push_blob(&r, bytes.clone(), digest)
            .await
            .map_err(|e| format!("push {digest}: {e}"))?;
    }
    Ok(())
}

async fn push_manifest(
    client: &oci_client::Client,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) -> Result<(), String> {
    let r: oci_client::Reference = reference.parse().map_err(|e| format!("{reference}: {e}"))?;
    client
        .push_manifest_raw(
            &r,
            bytes.to_vec(),
            http::HeaderValue::from_str(media_type).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| format!("push manifest {reference}: {e}"))?;
    Ok(())
}

/// Parses a combined-log-format line: `... "GET /v2/x HTTP/1.1" 200 ...`.
fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split(' ');
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(LoggedRequest {
        method,
        path,
        status,
    })
}

/// A plain HTTP/1.0 GET, for readiness checks: the status code, if any answer came.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------
// Images built offline.

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

/// A layer with one file of `size` pseudo-random (incompressible) bytes from `seed`.
pub fn big_layer(seed: u64, size: usize) -> TestLayer {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
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
        "mediaType": crate::manifest::OCI_MANIFEST,
        "config": {"mediaType": crate::manifest::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": crate::manifest::OCI_LAYER_GZIP, "digest": l.digest, "size": l.bytes.len()
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
        "mediaType": crate::manifest::OCI_INDEX,
        "manifests": images.iter().map(|i| serde_json::json!({
            "mediaType": crate::manifest::OCI_MANIFEST,
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
            "mediaType": crate::manifest::OCI_MANIFEST,
            "digest": img.digest,
            "size": img.manifest.len(),
            "annotations": {crate::manifest::REF_NAME: name},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
}

// ---------------------------------------------------------------------------
// A proxy that can make the registry go away.

/// A TCP proxy on 127.0.0.1 in front of a registry. With a cut-off, once that many
/// response bytes have passed it drops every connection and stops listening —
/// the registry "goes away" in the middle of a download.
pub struct CutProxy {
    addr: SocketAddr,
    failures_left: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CutProxy {
    pub fn start(target: SocketAddr, cut_after: Option<u64>) -> std::io::Result<CutProxy> {
        CutProxy::spawn(target, cut_after, 0)
    }

    /// A proxy whose first `n` requests get `503 Service Unavailable` (each on its
    /// own connection, which is then closed); later ones pass through.
    pub fn failing_first(target: SocketAddr, n: u64) -> std::io::Result<CutProxy> {
        CutProxy::spawn(target, None, n)
    }

    fn spawn(
        target: SocketAddr,
        cut_after: Option<u64>,
        fail_first: u64,
    ) -> std::io::Result<CutProxy> {
        let failures_left = Arc::new(AtomicU64::new(fail_first));
        let fl = failures_left.clone();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, f, c) = (stop.clone(), forwarded.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut client, _)) => {
                        let _ = client.set_nonblocking(false);
                        // In failing mode every connection carries one request (we add
                        // `Connection: close`), so each request can be judged on its own.
                        let mut head = Vec::new();
                        if fail_first > 0 {
                            head = read_head(&mut client);
                            let path = std::str::from_utf8(&head)
                                .ok()
                                .and_then(|h| h.split(' ').nth(1))
                                .unwrap_or("");
                            // The client's `/v2/` auth probe ignores the status; fail real requests.
                            if path != "/v2/"
                                && fl
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                        n.checked_sub(1)
                                    })
                                    .is_ok()
                            {
                                let _ = client.write_all(
                                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                );
                                let _ = client.shutdown(Shutdown::Both);
                                continue;
                            }
                            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                                head.splice(
                                    end + 2..end + 2,
                                    b"Connection: close\r\n".iter().copied(),
                                );
                            }
                        }
                        let Ok(mut server) = TcpStream::connect(target) else {
                            continue;
                        };
                        if !head.is_empty() && server.write_all(&head).is_err() {
                            continue;
                        }
                        for sock in [&client, &server] {
                            if let Ok(k) = sock.try_clone() {
                                c.lock().expect("conns").push(k);
                            }
                        }
                        let (c1, s1) = (
                            client.try_clone().expect("clone"),
                            server.try_clone().expect("clone"),
                        );
                        std::thread::spawn(move || pump(c1, s1, None));
                        let (stop2, fwd2, conns2) = (s.clone(), f.clone(), c.clone());
                        std::thread::spawn(move || {
                            pump(server, client, Some((fwd2, cut_after, stop2.clone())));
                            if stop2.load(Ordering::SeqCst) {
                                for k in conns2.lock().expect("conns").iter() {
                                    let _ = k.shutdown(Shutdown::Both);
                                }
                            }
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
            // Dropping the listener here: new connections are refused from now on.
        });
        Ok(CutProxy {
            addr,
            failures_left,
            stop,
            forwarded,
            conns,
            thread: Some(thread),
        })
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Response bytes passed to clients so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }

    /// How many of the 503 answers are still to come.
    pub fn failures_left(&self) -> u64 {
        self.failures_left.load(Ordering::SeqCst)
    }

    /// Whether the cut-off has been reached.
    pub fn is_cut(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for k in self.conns.lock().expect("conns").iter() {
            let _ = k.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a request head (through the blank line; GET and HEAD have no body).
fn read_head(client: &mut TcpStream) -> Vec<u8> {
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so nothing after the head is consumed.
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let _ = client.set_read_timeout(None);
    head
}

/// Copies `from` → `to`; with a counter, stops (and raises `stop`) at the cut-off.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Option<(Arc<AtomicU64>, Option<u64>, Arc<AtomicBool>)>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n_send = n;
        if let Some((fwd, cut, stop)) = &count {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let before = fwd.fetch_add(n as u64, Ordering::SeqCst);
            if let Some(cut) = cut {
                if before + n as u64 >= *cut {
                    n_send = cut.saturating_sub(before) as usize;
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
        if to.write_all(&buf[..n_send]).is_err() {
            break;
        }
        if count
            .as_ref()
            .is_some_and(|(_, _, stop)| stop.load(Ordering::SeqCst))
        {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines() {
        let l = r#"127.0.0.1 - - [01/Jan/2025:00:00:00 +0000] "GET /v2/a/blobs/sha256:ab HTTP/1.1" 200 12 "" "stackwright/0.1.0""#;
        assert_eq!(
            parse_access_line(l),
            Some(LoggedRequest {
                method: "GET".into(),
                path: "/v2/a/blobs/sha256:ab".into(),
                status: 200
            })
        );
        assert_eq!(parse_access_line("time=x level=info msg=hello"), None);
    }

    #[test]
    fn layers_are_reproducible() {
        let a = layer(&[("b", b"2"), ("a", b"1")]);
        let b = layer(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(a.digest, b.digest);
        let big = big_layer(1, 100_000);
        assert!(big.bytes.len() > 100_000, "random data does not compress");
    }
}
