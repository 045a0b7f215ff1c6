//! A benchmark for `cargo xtask bench`: unpacking the same images into root
//! filesystems with stackwright (`stackwright_build::unpack_image`) and with
//! `umoci unpack --image DIR:REF BUNDLE` (Debian's `umoci`), timings as a ratio.
//!
//! The images are synthetic and built here ([`write_synthetic_layout`]): several
//! gzip'd layers with many small files, some larger ones, symlinks, hard links and
//! whiteouts, so both tools do the same work. umoci also writes a `config.json` and an
//! mtree manifest; that is part of what it costs to get a root filesystem out of it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use stackwright_build::UnpackOptions;
use stackwright_testkit::SplitMix64;

/// The shape of the synthetic image.
#[derive(Clone, Copy, Debug)]
pub struct BenchShape {
    pub layers: usize,
    /// Small files per layer (a few hundred bytes each).
    pub small_files: usize,
    /// Larger files per layer.
    pub big_files: usize,
    /// Size of each larger file.
    pub big_size: usize,
}

impl Default for BenchShape {
    fn default() -> Self {
        BenchShape {
            layers: 3,
            small_files: 4000,
            big_files: 8,
            big_size: 4 << 20,
        }
    }
}

/// The result of [`compare_with_umoci`].
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub stackwright: Duration,
    pub umoci: Duration,
    /// `umoci / stackwright`: above 1 means stackwright is faster.
    pub speedup: f64,
    /// Entries in the unpacked root filesystem.
    pub entries: usize,
    pub runs: usize,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn put_blob(root: &Path, data: &[u8]) -> Result<(String, u64), String> {
    let hex = stackwright_types::hex::encode(&Sha256::digest(data));
    std::fs::write(root.join("blobs/sha256").join(&hex), data).map_err(err)?;
    Ok((format!("sha256:{hex}"), data.len() as u64))
}

/// Writes an OCI image layout at `root` holding one image named `reference`, built
/// from `shape`. Deterministic (a fixed pseudo-random sequence).
pub fn write_synthetic_layout(
    root: &Path,
    reference: &str,
    shape: BenchShape,
) -> Result<(), String> {
    std::fs::create_dir_all(root.join("blobs/sha256")).map_err(err)?;
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(err)?;
    let mut rng = SplitMix64::new(0x5EED);
    let mut rand = move || rng.next_u64();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for l in 0..shape.layers {
        let mut raw = Vec::new();
        {
            let mut b = tar::Builder::new(&mut raw);
            let dir = |b: &mut tar::Builder<&mut Vec<u8>>, p: &str| -> Result<(), String> {
                let mut h = ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).map_err(err)
            };
            dir(&mut b, "usr")?;
            dir(&mut b, &format!("usr/l{l}"))?;
            for d in 0..(shape.small_files / 100).max(1) {
                dir(&mut b, &format!("usr/l{l}/d{d}"))?;
            }
            for i in 0..shape.small_files {
                let len = 64 + (rand() % 900) as usize;
                let body: Vec<u8> = (0..len).map(|_| (rand() % 26) as u8 + b'a').collect();
                let mut h = ustar();
                h.set_mode(0o644);
                h.set_size(len as u64);
                let d = i % (shape.small_files / 100).max(1);
                b.append_data(&mut h, format!("usr/l{l}/d{d}/f{i}"), body.as_slice())
                    .map_err(err)?;
            }
            for i in 0..shape.big_files {
                // Compressible but not trivially: repeated random words.
                let words: Vec<u8> = (0..4096).map(|_| (rand() % 251) as u8).collect();
                let body: Vec<u8> = words.iter().cycle().take(shape.big_size).copied().collect();
                let mut h = ustar();
                h.set_mode(0o755);
                h.set_size(body.len() as u64);
                b.append_data(&mut h, format!("usr/l{l}/big{i}"), body.as_slice())
                    .map_err(err)?;
            }
            let mut h = ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, format!("usr/l{l}/link"), "big0")
                .map_err(err)?;
            if l > 0 {
                // Hide a directory of the layer below.
                let mut h = ustar();
                h.set_mode(0o600);
                h.set_size(0);
                b.append_data(
                    &mut h,
                    format!("usr/l{}/d0/.wh..wh..opq", l - 1),
                    std::io::empty(),
                )
                .map_err(err)?;
                let mut h = ustar();
                h.set_mode(0o600);
                h.set_size(0);
                b.append_data(&mut h, format!("usr/l{}/.wh.big1", l - 1), std::io::empty())
                    .map_err(err)?;
            }
            b.finish().map_err(err)?;
        }
        diff_ids.push(format!(
            "sha256:{}",
            stackwright_types::hex::encode(&Sha256::digest(&raw))
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).map_err(err)?;
        let gz = gz.finish().map_err(err)?;
        layers.push(put_blob(root, &gz)?);
    }
    let config = serde_json::json!({
        "architecture": stackwright_build::host_arch(), "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (cd, cs) = put_blob(root, &serde_json::to_vec(&config).map_err(err)?)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    let (md, ms) = put_blob(root, &serde_json::to_vec(&manifest).map_err(err)?)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": reference}}],
    });
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec(&index).map_err(err)?,
    )
    .map_err(err)?;
    Ok(())
}

/// A ustar header with every numeric field filled in (root-owned, mtime 0).
fn ustar() -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn count_entries(dir: &Path) -> usize {
    fn walk(d: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                *n += 1;
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), n);
                }
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

/// Unpacks the image `reference` of `layout` `runs` times with each tool (into fresh
/// directories under `work`) and returns the best time of each. `umoci` must be on
/// `PATH`. The reference must not contain `:` beyond umoci's `DIR:TAG` form, so use a
/// plain tag-like name (e.g. `bench`).
pub fn compare_with_umoci(
    layout: &Path,
    reference: &str,
    work: &Path,
    runs: usize,
) -> Result<BenchResult, String> {
    let runs = runs.max(1);
    std::fs::create_dir_all(work).map_err(err)?;
    let mut best_sw = Duration::MAX;
    let mut best_umoci = Duration::MAX;
    let mut entries = 0;
    let opts = UnpackOptions {
        temp_dir: Some(work.to_path_buf()),
        ..UnpackOptions::default()
    };
    for run in 0..runs {
        let dest: PathBuf = work.join(format!("sw-{run}"));
        let _ = std::fs::remove_dir_all(&dest);
        let t = Instant::now();
        stackwright_build::unpack_image(layout, reference, &dest, &opts).map_err(err)?;
        best_sw = best_sw.min(t.elapsed());
        entries = count_entries(&dest);
        let _ = std::fs::remove_dir_all(&dest);

        let bundle = work.join(format!("umoci-{run}"));
        let _ = std::fs::remove_dir_all(&bundle);
        let t = Instant::now();
        let out = Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{reference}", layout.display()))
            .arg(&bundle)
            .output()
            .map_err(|e| err(format!("running umoci (apt-get install umoci): {e}")))?;
        best_umoci = best_umoci.min(t.elapsed());
        if !out.status.success() {
            return Err(err(format!(
                "umoci unpack failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let _ = std::fs::remove_dir_all(&bundle);
    }
    Ok(BenchResult {
        stackwright: best_sw,
        umoci: best_umoci,
        speedup: best_umoci.as_secs_f64() / best_sw.as_secs_f64().max(1e-9),
        entries,
        runs,
    })
}

/// Builds the synthetic layout in `work` and runs [`compare_with_umoci`] on it.
pub fn run(work: &Path, shape: BenchShape, runs: usize) -> Result<BenchResult, String> {
    let layout = work.join("layout");
    let _ = std::fs::remove_dir_all(&layout);
    write_synthetic_layout(&layout, "bench", shape)?;
    compare_with_umoci(&layout, "bench", work, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_against_umoci() {
        if stackwright_testkit::find_program("umoci", "STACKWRIGHT_UMOCI").is_none() {
            if std::env::var("STACKWRIGHT_SKIP_UMOCI_TESTS").is_ok_and(|v| v == "1") {
                return;
            }
            panic!(
                "`umoci` is required (apt-get install -y umoci), or set STACKWRIGHT_SKIP_UMOCI_TESTS=1"
            );
        }
        let work = tempfile::tempdir().unwrap();
        let shape = BenchShape {
            layers: 2,
            small_files: 300,
            big_files: 2,
            big_size: 64 << 10,
        };
        let r = run(work.path(), shape, 1).unwrap();
        // Both tools produced the same tree size (stackwright's count is of its own output).
        assert!(r.entries > 300, "{r:?}");
        assert!(r.speedup > 0.0);
        assert_eq!(r.runs, 1);
    }
}
