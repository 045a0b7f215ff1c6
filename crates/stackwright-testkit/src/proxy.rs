//! A TCP proxy in front of a registry that can make it "go away": cut every
//! connection after a number of bytes, or refuse the first requests.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
