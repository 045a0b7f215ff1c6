//! The rest of `cargo xtask bench`, after the solver scenarios: every example assembly
//! resolved on the real registry, pulling from a local registry against `skopeo copy`, and
//! unpacking against `umoci unpack`, packaging release files from a local file server
//! against the bare download-and-sha256 of the same bytes — each printed as a line with
//! its ratio — and booting
//! the boot test's platform under qemu beside the kernel's own floor, writing each disk
//! image format of that platform beside writing its initrd alone, and the end-to-end
//! platform of Debian-built parts from assemble to workload beside its boot alone.
//!
//! Pull and unpack need Debian's docker-registry, skopeo and umoci (`cargo xtask test`
//! installs them); when absent those lines say so instead of a number.

use std::path::Path;

mod boot;
mod disk;
mod e2e;
mod package;
mod pull;
mod unpack;

/// `cargo xtask bench e2e-debian`: that line alone (it needs no solver scenario).
pub fn e2e_only() -> anyhow::Result<()> {
    match e2e::line() {
        Ok(l) => println!("{l}"),
        Err(e) => anyhow::bail!("bench e2e-debian: {e}"),
    }
    Ok(())
}

/// `cargo xtask bench package`: the packaging line alone.
pub fn package_only() -> anyhow::Result<()> {
    match package::line() {
        Ok(l) => println!("{l}"),
        Err(e) => anyhow::bail!("bench package: {e}"),
    }
    Ok(())
}

/// `cargo xtask bench pull`: the pull line alone.
pub fn pull_only() {
    pull_line();
}

/// `cargo xtask bench boot-qemu` / `bench disk-images`: that line alone.
pub fn boot_only(boot: bool, disk: bool) -> anyhow::Result<()> {
    boot_and_disk_lines(boot, disk);
    Ok(())
}

/// Both lines share one assembly of the boot test's platform.
fn boot_and_disk_lines(boot: bool, disk: bool) {
    let a = match boot::assemble() {
        Ok(a) => a,
        Err(e) => {
            println!("bench boot-qemu skipped: {e}");
            println!("bench disk-images skipped: {e}");
            return;
        }
    };
    if boot {
        match boot::line(&a) {
            Ok(l) => println!("{l}"),
            Err(e) => println!("bench boot-qemu skipped: {e}"),
        }
    }
    if disk {
        match disk::line(&a.out) {
            Ok(l) => println!("{l}"),
            Err(e) => println!("bench disk-images skipped: {e}"),
        }
    }
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    // Scenario filters given: the user wants only solver scenarios.
    if args.iter().any(|a| !a.starts_with('-')) {
        return Ok(());
    }
    registry_lines()?;
    pull_line();
    unpack_line();
    match package::line() {
        Ok(l) => println!("{l}"),
        Err(e) => println!("bench package failed: {e}"),
    }
    boot_and_disk_lines(true, true);
    match e2e::line() {
        Ok(l) => println!("{l}"),
        Err(e) => println!("bench e2e-debian skipped: {e}"),
    }
    Ok(())
}

/// `bench registry-<assembly> stackwright=<ms>`: resolution alone (the solver on the real,
/// already loaded registry), as the issue asks; loading and validation are not timed.
pub(crate) fn registry_lines() -> anyhow::Result<()> {
    let mut paths: Vec<_> = std::fs::read_dir("assemblies")?
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    let assembler = stackwright::Assembler::new();
    for p in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let loaded =
            stackwright::assembly::load(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        let registry = assembler
            .registry(Some(&loaded))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let request = stackwright::solver::Request::from_assembly(&loaded.assembly);
        let provider = stackwright::solver::ManifestProvider::new(
            registry.manifests(),
            registry.capabilities(),
        );
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let line = crate::bench::registry_line(&name, || {
            let r = stackwright::solver::resolve(&provider, &request);
            assert!(r.is_ok(), "{name} no longer resolves");
        });
        let stats = stackwright::solver::resolve(&provider, &request)
            .map(|r| crate::bench::stats_line(&format!("registry-{name}"), &r.stats));
        println!("{line}");
        if let Ok(stats) = stats {
            println!("{stats}");
        }
    }
    Ok(())
}

fn have(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// 12 images × 3 layers of 2 MiB (one layer shared by all) from a local registry.
fn pull_line() {
    if !(have("docker-registry") && have("skopeo")) {
        println!(
            "bench pull skipped: needs docker-registry and skopeo (cargo xtask test installs them)"
        );
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("bench pull failed: {e}");
            return;
        }
    };
    match rt.block_on(pull::bench_local(12, 3, 2048)) {
        Ok(b) => {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            match (b.skopeo_sequential, b.skopeo_parallel) {
                (Some(sk), Some(par)) => println!(
                    "bench pull-12-images stackwright={:.0} stackwright-cached={:.0} skopeo-sequential={:.0} skopeo-all-at-once={:.0} ratio skopeo/stackwright={:.2}x skopeo-all-at-once/stackwright={:.2}x cached-bytes-downloaded={}",
                    ms(b.stackwright_cold),
                    ms(b.stackwright_warm),
                    ms(sk),
                    ms(par),
                    sk.as_secs_f64() / b.stackwright_cold.as_secs_f64(),
                    par.as_secs_f64() / b.stackwright_cold.as_secs_f64(),
                    b.warm_bytes_downloaded
                ),
                _ => println!("bench pull-12-images {b}"),
            }
        }
        Err(e) => println!("bench pull failed: {e}"),
    }
}

/// Unpacking a synthetic 3-layer image (≈12,000 entries) into a root filesystem.
fn unpack_line() {
    if !have("umoci") {
        println!("bench unpack skipped: needs umoci (cargo xtask test installs it)");
        return;
    }
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            println!("bench unpack failed: {e}");
            return;
        }
    };
    match unpack::run(
        Path::new(work.path()),
        unpack::BenchShape::default(),
        3,
    ) {
        Ok(r) => println!(
            "bench unpack-{}-entries stackwright={:.0} umoci={:.0} ratio umoci/stackwright={:.2}x best-of={}",
            r.entries,
            r.stackwright.as_secs_f64() * 1000.0,
            r.umoci.as_secs_f64() * 1000.0,
            r.speedup,
            r.runs
        ),
        Err(e) => println!("bench unpack failed: {e}"),
    }
}
