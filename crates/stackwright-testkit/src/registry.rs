//! A real registry on 127.0.0.1 (Debian's `docker-registry`, i.e. CNCF distribution
//! 2.x) with its storage in a temporary directory, and a push helper.
//!
//! Registry tests must not pass silently on a machine without the registry:
//! [`LocalRegistry::start_or_skip`] panics with an installation hint unless
//! `STACKWRIGHT_SKIP_REGISTRY_TESTS=1` is set.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackwright_oci::manifest::{OCI_INDEX, OCI_MANIFEST};
use stackwright_oci::RegistryOptions;

use crate::image::{TestImage, TestIndex};
use crate::programs::{find_program, skip_requested, SKIP_ENV};

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
    /// Serving HTTPS with [`TEST_CA`]'s server certificate.
    tls: bool,
}

/// A user the registry accepts when started with [`LocalRegistry::start_with_auth`].
pub const TEST_USER: &str = "stackwright";
pub const TEST_PASSWORD: &str = "s3cret";
// bcrypt of TEST_PASSWORD (cost 4, so the registry checks it quickly).
const TEST_HTPASSWD: &str =
    "stackwright:$2b$04$D0.4gZHuDfjiCws14vTlp.iMEXlauVORqK539zzyC7619UQqpCJfu\n";

/// The test CA (`tls/ca.pem`) that signed the certificate of [`LocalRegistry::start_tls`]
/// (for `127.0.0.1` and `localhost`). Trust it with `SSL_CERT_FILE` (rustls' platform
/// verifier reads it on Linux). Its key was thrown away after signing.
pub const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tls/ca.pem");
const TLS_CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tls/server.pem");
const TLS_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tls/server.key");

impl LocalRegistry {
    /// Starts a registry, or panics with an installation hint; `None` when
    /// `STACKWRIGHT_SKIP_REGISTRY_TESTS=1`.
    pub fn start_or_skip() -> Option<LocalRegistry> {
        if skip_requested() {
            return None;
        }
        Some(LocalRegistry::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// [`LocalRegistry::start_tls`], or panics with an installation hint; `None` when
    /// `STACKWRIGHT_SKIP_REGISTRY_TESTS=1`.
    pub fn start_tls_or_skip() -> Option<LocalRegistry> {
        if skip_requested() {
            return None;
        }
        Some(LocalRegistry::start_tls().unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts an anonymous-access registry.
    pub fn start() -> Result<LocalRegistry, String> {
        LocalRegistry::spawn(false, false)
    }

    /// Starts an anonymous-access registry serving HTTPS only, with a certificate
    /// [`TEST_CA`] signed.
    pub fn start_tls() -> Result<LocalRegistry, String> {
        LocalRegistry::spawn(false, true)
    }

    /// Starts a registry that requires [`TEST_USER`]/[`TEST_PASSWORD`] (htpasswd).
    pub fn start_with_auth() -> Result<LocalRegistry, String> {
        LocalRegistry::spawn(true, false)
    }

    fn spawn(auth: bool, tls: bool) -> Result<LocalRegistry, String> {
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
            let tls_section = if tls {
                format!("  tls:\n    certificate: {TLS_CERT}\n    key: {TLS_KEY}\n")
            } else {
                String::new()
            };
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: {addr}\n  secret: stackwright-test-secret\n\
                 {tls_section}{auth_section}",
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
                tls,
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
                // An HTTPS server answers a plain request with 400.
                if status == 200 || status == 401 || (self.tls && status == 400) {
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

    /// Options for talking to this registry (over plain HTTP unless it serves HTTPS),
    /// with quick retries.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: if self.tls { vec![] } else { vec![self.host()] },
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
            OCI_MANIFEST,
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
                OCI_MANIFEST,
            )
            .await?;
        }
        push_manifest(&client, &format!("{base}:{tag}"), &index.bytes, OCI_INDEX).await?;
        Ok(index.digest.clone())
    }

    /// A client for pushing (with the test user when the registry requires auth).
    async fn push_client(&self) -> oci_client::Client {
        stackwright_oci::install_tls_provider();
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: if self.tls {
                oci_client::client::ClientProtocol::Https
            } else {
                oci_client::client::ClientProtocol::HttpsExcept(vec![self.host()])
            },
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
}
