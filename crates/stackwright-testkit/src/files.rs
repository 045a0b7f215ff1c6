//! A static file server on 127.0.0.1 for download tests: serves the files under one
//! directory over HTTP/1.1 (`GET`, `HEAD`, `Range: bytes=N-` and `bytes=N-M`), logs every
//! request, and can be told to misbehave for a path: answer with a status for the next
//! requests, or cut the next response after a number of body bytes.
//!
//! It is also a plain-HTTP proxy for files it holds: with `HTTP_PROXY` set to its
//! [`FileServer::url`], a client's `GET http://HOST/PATH` is answered with the file
//! `HOST/PATH` under the root (logged with the whole URL as its path), so manifests can keep
//! their real upstream URLs while a test serves them; anything else (another file, a
//! `CONNECT` for HTTPS) is a logged 404, never forwarded.
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("tool"), b"bytes").unwrap();
//! let server = stackwright_testkit::FileServer::start(dir.path()).unwrap();
//! let url = format!("{}/tool", server.url()); // http://127.0.0.1:PORT/tool
//! server.fail("/tool", 500, 2); // the next two requests for /tool get 500
//! server.cut("/tool", 3); // the next response for /tool breaks off after 3 body bytes
//! # let _ = url;
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRequest {
    pub method: String,
    /// The path as requested (`/dir/file`).
    pub path: String,
    /// The first byte asked for with `Range`, if any.
    pub range_start: Option<u64>,
    pub status: u16,
    /// Body bytes sent (fewer than promised when the response was cut).
    pub body_bytes: u64,
}

#[derive(Default)]
struct Faults {
    /// path → (status, how many more requests get it)
    fail: BTreeMap<String, (u16, u32)>,
    /// path → body bytes after which the next response is cut
    cut: BTreeMap<String, u64>,
    /// A pause before each response (to hold requests in flight).
    delay: Duration,
}

struct Shared {
    root: PathBuf,
    faults: Mutex<Faults>,
    log: Mutex<Vec<ServedRequest>>,
    stop: AtomicBool,
}

/// The server; stops when dropped.
pub struct FileServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    /// Serves the files under `root` (read at request time, so files may be added or
    /// changed while it runs). Paths with `..` are refused with 404.
    pub fn start(root: impl AsRef<Path>) -> std::io::Result<FileServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root: root.as_ref().to_path_buf(),
            faults: Mutex::default(),
            log: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(conn, &s));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(FileServer {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `times` requests for `path` are answered with `status` and an empty body.
    pub fn fail(&self, path: &str, status: u16, times: u32) {
        let mut f = self.shared.faults.lock().expect("faults");
        f.fail.insert(path.to_string(), (status, times));
    }

    /// The next response for `path` promises the whole body but the connection is
    /// closed after `after_bytes` body bytes.
    pub fn cut(&self, path: &str, after_bytes: u64) {
        let mut f = self.shared.faults.lock().expect("faults");
        f.cut.insert(path.to_string(), after_bytes);
    }

    /// Waits this long before answering each request from now on.
    pub fn delay(&self, pause: Duration) {
        self.shared.faults.lock().expect("faults").delay = pause;
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.shared.log.lock().expect("log").clone()
    }

    /// Requests answered so far for `path` with `GET`.
    pub fn gets(&self, path: &str) -> Vec<ServedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .collect()
    }

    /// Body bytes sent so far, over all requests.
    pub fn body_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.body_bytes).sum()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, s: &Shared) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    // Keep-alive: one request after another on the connection until the client closes.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut range: Option<(u64, Option<u64>)> = None;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let Some((name, value)) = h.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("range") {
                range = value.strip_prefix("bytes=").and_then(|r| {
                    let (a, b) = r.split_once('-')?;
                    Some((a.parse().ok()?, b.parse().ok()))
                });
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let (fail, cut, delay) = {
            let mut f = s.faults.lock().expect("faults");
            let fail = match f.fail.get_mut(&path) {
                Some((status, n)) if *n > 0 => {
                    *n -= 1;
                    Some(*status)
                }
                _ => None,
            };
            let cut = if fail.is_none() {
                f.cut.remove(&path)
            } else {
                None
            };
            (fail, cut, f.delay)
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut record = ServedRequest {
            method: method.clone(),
            path: path.clone(),
            range_start: range.map(|r| r.0),
            status: 200,
            body_bytes: 0,
        };
        // As a plain-HTTP proxy (the client's HTTP_PROXY): `GET http://HOST/PATH` is the
        // file HOST/PATH under the root. CONNECT (an HTTPS tunnel) is never served.
        let local = match path.strip_prefix("http://") {
            Some(rest) => format!("/{rest}"),
            None => path.clone(),
        };
        let file = (method != "CONNECT" && !local.split('/').any(|p| p == ".."))
            .then(|| s.root.join(local.trim_start_matches('/')))
            .and_then(|p| std::fs::read(p).ok());
        // The answer is decided, and logged, before it is sent: a client that has its
        // answer finds its request in the log.
        let (head, body): (String, &[u8]) = match (fail, &file) {
            (Some(status), _) => (empty_head(status), &[]),
            (None, None) => (empty_head(404), &[]),
            (None, Some(bytes)) => {
                let len = bytes.len() as u64;
                match range {
                    Some((a, _)) if a >= len => (
                        format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n"),
                        &[],
                    ),
                    Some((a, b)) => {
                        let end = b.map_or(len, |b| (b + 1).min(len));
                        (
                            format!("HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nContent-Range: bytes {a}-{}/{len}\r\nContent-Type: application/octet-stream\r\n\r\n", end - a, end - 1),
                            &bytes[a as usize..end as usize],
                        )
                    }
                    None => (
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n\r\n"),
                        &bytes[..],
                    ),
                }
            }
        };
        let body = if method == "HEAD" { &[][..] } else { body };
        let send = cut.map_or(body.len(), |c| (c as usize).min(body.len()));
        record.status = head[9..12].parse().unwrap_or(0);
        record.body_bytes = send as u64;
        s.log.lock().expect("log").push(record);
        let ok = out.write_all(head.as_bytes()).is_ok() && out.write_all(&body[..send]).is_ok();
        let _ = out.flush();
        if !ok || send < body.len() || close {
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn empty_head(status: u16) -> String {
    let reason = match status {
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn ask(server: &FileServer, request: &str) -> String {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn as_a_proxy_it_serves_absolute_urls_from_host_directories_and_no_tunnels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("deb.debian.org/debian")).unwrap();
        std::fs::write(dir.path().join("deb.debian.org/debian/p.deb"), b"deb bytes").unwrap();
        let server = FileServer::start(dir.path()).unwrap();
        let got = ask(
            &server,
            "GET http://deb.debian.org/debian/p.deb HTTP/1.1\r\nHost: deb.debian.org\r\nConnection: close\r\n\r\n",
        );
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("deb bytes"),
            "{got}"
        );
        let other = ask(
            &server,
            "GET http://example.org/p.deb HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let tunnel = ask(
            &server,
            "CONNECT deb.debian.org:443 HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(tunnel.starts_with("HTTP/1.1 404"), "{tunnel}");
        let log: Vec<(String, String, u16)> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path, r.status))
            .collect();
        assert_eq!(
            log,
            [
                (
                    "GET".into(),
                    "http://deb.debian.org/debian/p.deb".into(),
                    200
                ),
                ("GET".into(), "http://example.org/p.deb".into(), 404),
                ("CONNECT".into(), "deb.debian.org:443".into(), 404),
            ]
        );
    }
}
