//! Output safety under interruption: `stackwright assemble … --pull` is stopped (SIGINT,
//! then SIGKILL in a second round) while it downloads a large image from a real registry
//! (Debian's `docker-registry` on 127.0.0.1, behind a throttling proxy so the download
//! lasts seconds). Afterwards the previous output directory must be byte-identical, the
//! cache must hold only complete, verified blobs under `blobs/` (`partial/` may keep the
//! interrupted download), and a rerun must complete and clean up after the dead run.
//!
//! Fails with an installation hint when `docker-registry` is missing, unless
//! STACKWRIGHT_SKIP_REGISTRY_TESTS=1.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use stackwright_testkit::{self as testing, LocalRegistry};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

/// A TCP proxy that passes registry responses at `bytes_per_sec` while `slow` is set.
struct Throttle {
    addr: SocketAddr,
    slow: Arc<AtomicBool>,
}

impl Throttle {
    fn start(target: SocketAddr, bytes_per_sec: u64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = Arc::new(AtomicBool::new(true));
        let s = slow.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(c2, s2, None));
                let slow = s.clone();
                std::thread::spawn(move || pump(server, client, Some((slow, bytes_per_sec))));
            }
        });
        Throttle { addr, slow }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, throttle: Option<(Arc<AtomicBool>, u64)>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some((slow, rate)) = &throttle {
            if slow.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / *rate as f64));
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every blob under `cache/blobs/sha256/` must hash to its name.
fn assert_cache_blobs_complete(cache: &Path) {
    for (rel, bytes) in files_under(&cache.join("blobs")) {
        let hex = rel.rsplit('/').next().unwrap();
        let got = stackwright::types::hex::encode(&Sha256::digest(&bytes));
        assert_eq!(
            got,
            hex,
            "cache blob {rel} is half-written or corrupt ({} bytes)",
            bytes.len()
        );
    }
}

fn partial_bytes(cache: &Path) -> u64 {
    std::fs::read_dir(cache.join("partial"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn assemble(assembly: &Path, out: &Path, cache: &Path, insecure: &str, pull: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("assemble")
        .arg(assembly)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .args(["--insecure-registry", insecure])
        .env("HOME", out.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if pull {
        cmd.arg("--pull");
    }
    cmd
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("stackwright did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// Stale staging directories of the dead run, beside the output.
fn staging_dirs(parent: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".staging-"))
        })
        .collect()
}

#[test]
fn an_interrupted_pull_leaves_the_previous_output_and_the_cache_intact() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    // 24 MiB of incompressible data in two layers, served at 4 MiB/s: about 6 s.
    let img = testing::image(
        "amd64",
        vec![
            testing::big_layer(1, 12 << 20),
            testing::big_layer(2, 12 << 20),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(reg.push_image("big", "1", &img)).unwrap();
    let proxy = Throttle::start(reg.addr(), 4 << 20);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let components = d.join("components");
    std::fs::create_dir(&components).unwrap();
    std::fs::write(
        components.join("bigsvc.toml"),
        format!(
            "id = \"bigsvc\"\ncategory = \"observability\"\nsummary = \"a large test image\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\nimage = \"{}/big:1\"\n",
            proxy.host()
        ),
    )
    .unwrap();
    // A platform boots: its kernel and init come from the same local image (nothing
    // here is booted; naming them keeps the solver from adding docker.io defaults).
    for (id, category, cap) in [
        ("tinykernel", "kernel", "kernel"),
        ("tinyinit", "init-system", "init"),
    ] {
        std::fs::write(
            components.join(format!("{id}.toml")),
            format!(
                "id = \"{id}\"\ncategory = \"{category}\"\nsummary = \"test {cap}\"\nstage = \"{}\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\nimage = \"{}/big:1\"\nprovides = {{ {cap} = \"1.0.0\" }}\n",
                if cap == "kernel" { "kernel" } else { "init" },
                proxy.host()
            ),
        )
        .unwrap();
    }
    let assembly = d.join("big.toml");
    std::fs::write(
        &assembly,
        "[assembly]\nname = \"big\"\narch = \"amd64\"\ncomponent_paths = [\"components\"]\n[components]\nbigsvc = \"*\"\ntinykernel = \"*\"\ntinyinit = \"*\"\n",
    )
    .unwrap();
    let out = d.join("out");
    let cache = d.join("cache");
    let host = proxy.host();

    // The previous output: a complete run without --pull.
    let mut first = assemble(&assembly, &out, &cache, &host, false)
        .spawn()
        .unwrap();
    let st = wait_with_timeout(&mut first, Duration::from_secs(120));
    assert!(st.success(), "first run failed: {}", stderr_of(&mut first));
    let before = files_under(&out);
    assert!(
        before.contains_key("stackwright.lock"),
        "{:?}",
        before.keys()
    );

    for signal in ["INT", "KILL"] {
        let mut child = assemble(&assembly, &out, &cache, &host, true)
            .spawn()
            .unwrap();
        // Wait until the download is under way, then stop the process.
        let start = Instant::now();
        while partial_bytes(&cache) < (1 << 20) {
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "SIG{signal} round: the pull ended ({st}) before it could be interrupted: {}",
                    stderr_of(&mut child)
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the pull never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let kill = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let st = wait_with_timeout(&mut child, Duration::from_secs(30));
        assert!(!st.success(), "SIG{signal}: the run finished anyway");

        assert_eq!(
            files_under(&out),
            before,
            "SIG{signal}: the previous output changed"
        );
        assert_cache_blobs_complete(&cache);
        let layer_blob = |i: usize| {
            cache
                .join("blobs/sha256")
                .join(img.layers[i].digest.trim_start_matches("sha256:"))
        };
        assert!(
            !layer_blob(1).exists(),
            "SIG{signal}: the second layer cannot be complete yet"
        );
    }
    assert!(
        !staging_dirs(d).is_empty(),
        "a killed run leaves its staging directory (removed by the next run)"
    );

    // The rerun completes at full speed, resuming from the cache and partial downloads.
    proxy.slow.store(false, Ordering::Relaxed);
    let mut rerun = assemble(&assembly, &out, &cache, &host, true)
        .spawn()
        .unwrap();
    let st = wait_with_timeout(&mut rerun, Duration::from_secs(120));
    assert!(st.success(), "rerun failed: {}", stderr_of(&mut rerun));
    let after = files_under(&out);
    assert!(
        after.keys().any(|k| k.starts_with("images/")),
        "no images/ after the rerun: {:?}",
        after.keys()
    );
    assert_eq!(after["stackwright.lock"], before["stackwright.lock"]);
    assert_cache_blobs_complete(&cache);
    for l in &img.layers {
        let p = cache
            .join("blobs/sha256")
            .join(l.digest.trim_start_matches("sha256:"));
        assert!(p.is_file(), "layer {} not cached after the rerun", l.digest);
    }
    assert!(
        staging_dirs(d).is_empty(),
        "stale staging directories survive the rerun: {:?}",
        staging_dirs(d)
    );
}
