//! Pull benchmark for `cargo xtask bench`: stackwright's
//! concurrent pull (cold cache, then warm) against `skopeo copy` run once per
//! image, the two ways users script it: one after another, and one process per image all
//! started at once (each into its own layout: skopeo's `oci:` writes one `index.json`, so
//! concurrent copies into one layout would race).

use std::path::Path;
use std::time::{Duration, Instant};

use stackwright_oci::{Cache, NoProgress, PullRequest, RegistryClient, RegistryOptions};
use stackwright_testkit::{self as testing, LocalRegistry};

/// Timings for pulling one set of images.
#[derive(Clone, Debug)]
pub struct PullBench {
    pub images: usize,
    /// Distinct blob bytes in the set.
    pub bytes: u64,
    /// stackwright, empty cache.
    pub stackwright_cold: Duration,
    /// stackwright again, same cache, fresh output (nothing downloaded).
    pub stackwright_warm: Duration,
    /// `skopeo copy docker://… oci:DIR:…` once per image, one after another.
    pub skopeo_sequential: Option<Duration>,
    /// `skopeo copy` one process per image, all started at once, until the last exits.
    pub skopeo_parallel: Option<Duration>,
    /// Blob bytes the warm run downloaded (should be 0).
    pub warm_bytes_downloaded: u64,
}

impl std::fmt::Display for PullBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "{} images, {:.1} MiB: stackwright cold {:.0} ms, warm {:.0} ms (downloaded {} B)",
            self.images,
            self.bytes as f64 / (1024.0 * 1024.0),
            ms(self.stackwright_cold),
            ms(self.stackwright_warm),
            self.warm_bytes_downloaded
        )?;
        match (self.skopeo_sequential, self.skopeo_parallel) {
            (Some(d), Some(p)) => write!(
                f,
                "; skopeo copy one at a time {:.0} ms, all at once {:.0} ms",
                ms(d),
                ms(p)
            ),
            _ => write!(f, "; skopeo not installed"),
        }
    }
}

/// Times pulling `refs` (on a registry reachable with `opts`) for `arch`.
/// `work` is a scratch directory; `insecure` lists plain-HTTP registries for skopeo.
pub async fn bench_pull(
    refs: &[String],
    arch: &str,
    opts: RegistryOptions,
    work: &Path,
) -> Result<PullBench, String> {
    let registry = RegistryClient::new(opts.clone());
    let reqs: Vec<PullRequest> = refs.iter().map(|r| PullRequest::new(r.clone())).collect();
    let cache = Cache::new(work.join("cache"));
    let _ = std::fs::remove_dir_all(cache.root());

    let t = Instant::now();
    let cold = registry
        .pull_into(&reqs, arch, &cache, &work.join("sw-cold"), &NoProgress)
        .await
        .map_err(|e| e.to_string())?;
    let stackwright_cold = t.elapsed();

    let t = Instant::now();
    let warm = registry
        .pull_into(&reqs, arch, &cache, &work.join("sw-warm"), &NoProgress)
        .await
        .map_err(|e| e.to_string())?;
    let stackwright_warm = t.elapsed();

    let skopeo = testing::find_program("skopeo", "STACKWRIGHT_SKOPEO");
    let skopeo_sequential = match &skopeo {
        None => None,
        Some(skopeo) => {
            let dest = work.join("skopeo");
            let _ = std::fs::remove_dir_all(&dest);
            let t = Instant::now();
            for r in refs {
                let out = skopeo_copy(skopeo, r, arch, &opts, &dest)?
                    .output()
                    .map_err(|e| format!("skopeo: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "skopeo copy {r}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            Some(t.elapsed())
        }
    };
    let skopeo_parallel = match &skopeo {
        None => None,
        Some(skopeo) => {
            let dest = work.join("skopeo-parallel");
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let mut children = Vec::new();
            for (i, r) in refs.iter().enumerate() {
                let child = skopeo_copy(skopeo, r, arch, &opts, &dest.join(i.to_string()))?
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("skopeo: {e}"))?;
                children.push((r, child));
            }
            for (r, child) in children {
                let out = child
                    .wait_with_output()
                    .map_err(|e| format!("skopeo: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "skopeo copy {r} (all at once): {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            Some(t.elapsed())
        }
    };
    Ok(PullBench {
        images: cold.images.len(),
        bytes: cold.bytes_downloaded + cold.bytes_cached,
        stackwright_cold,
        stackwright_warm,
        skopeo_sequential,
        skopeo_parallel,
        warm_bytes_downloaded: warm.bytes_downloaded,
    })
}

/// `skopeo copy --quiet docker://REF oci:DEST:NAME` for `arch`, plain HTTP for the
/// registries `opts` calls insecure.
fn skopeo_copy(
    skopeo: &Path,
    r: &str,
    arch: &str,
    opts: &RegistryOptions,
    dest: &Path,
) -> Result<std::process::Command, String> {
    let name = stackwright_oci::ref_name(r).map_err(|e| e.to_string())?;
    let tls = if opts
        .insecure
        .iter()
        .any(|h| r.starts_with(&format!("{h}/")))
    {
        "false"
    } else {
        "true"
    };
    let mut c = std::process::Command::new(skopeo);
    c.args([
        "copy",
        "--quiet",
        "--override-os",
        "linux",
        "--override-arch",
        arch,
    ])
    .arg(format!("--src-tls-verify={tls}"))
    .arg(format!("docker://{r}"))
    .arg(format!("oci:{}:{name}", dest.display()));
    Ok(c)
}

/// Starts a local registry, pushes `images` multi-arch images of `layers` layers
/// of `layer_kib` KiB each (every image shares its first layer with the others),
/// and runs [`bench_pull`] on them for amd64.
pub async fn bench_local(
    images: usize,
    layers: usize,
    layer_kib: usize,
) -> Result<PullBench, String> {
    let reg = LocalRegistry::start()?;
    let base = testing::big_layer(0xBA5E, layer_kib * 1024);
    let mut refs = Vec::new();
    for i in 0..images {
        let mut ls = vec![base.clone()];
        for j in 1..layers.max(1) {
            ls.push(testing::big_layer((i * 1000 + j) as u64, layer_kib * 1024));
        }
        let amd = testing::image("amd64", ls.clone());
        let arm = testing::image(
            "arm64",
            vec![testing::layer(&[("arm", format!("{i}").as_bytes())])],
        );
        reg.push_index(
            &format!("bench/img{i}"),
            "v1",
            &testing::index(vec![amd, arm]),
        )
        .await?;
        refs.push(format!("{}/bench/img{i}:v1", reg.host()));
    }
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut opts = reg.options();
    opts.retries = 0;
    bench_pull(&refs, "amd64", opts, work.path()).await
}
