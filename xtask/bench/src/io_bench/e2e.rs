//! `bench e2e-debian`: the end-to-end platform of Debian-built parts (issue 20,
//! `tests/e2e/platform.toml`): assemble-to-workload — `stackwright assemble --pull --format
//! kernel+initrd` with a cold cache (release files downloaded from the local proxy,
//! verified, packaged, pulled into the layout, root filesystem and initrd built), then
//! `run qemu` until the workload has run its container, etcd has answered and the guest has
//! powered off — beside the boot alone (the same run of the already built platform) and a
//! warm assemble (everything from the cache). Needs what the e2e test needs: the packages
//! `cargo xtask fetch` downloads, qemu, gcc's static libc.

use std::path::Path;
use std::time::{Duration, Instant};

use stackwright_qemu::{Kvm, Options};
use stackwright_testkit::debian::{self, E2ePlatform};

fn fetched() -> Result<(), String> {
    let lib = debian::library();
    for e in std::fs::read_dir(&lib)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).map_err(|e| e.to_string())?;
        for line in text.lines() {
            if let Some(url) = line
                .strip_prefix("url = \"")
                .and_then(|u| u.strip_suffix('"'))
            {
                if debian::cached(url).is_none() {
                    return Err(debian::fetch_hint(url));
                }
            }
        }
    }
    Ok(())
}

/// The `stackwright` binary of this (release) build.
fn binary() -> Result<std::path::PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "stackwright-cli",
            "--bin",
            "stackwright",
        ])
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("cargo build --release -p stackwright-cli failed".into());
    }
    Path::new("target/release/stackwright")
        .canonicalize()
        .map_err(|e| e.to_string())
}

fn assemble(p: &E2ePlatform, bin: &Path, out: &Path) -> Result<Duration, String> {
    let t = Instant::now();
    let o = p
        .assemble(bin, out)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "assembling the e2e platform failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(t.elapsed())
}

pub fn line() -> Result<String, String> {
    fetched()?;
    if stackwright_testkit::boot::which("qemu-system-x86_64").is_none() {
        return Err("qemu-system-x86_64 is not installed".into());
    }
    let bin = binary()?;
    let p = E2ePlatform::new();
    let out = p.dir.path().join("out/e2e");
    let cold = assemble(&p, &bin, &out)?;
    let warm = assemble(&p, &bin, &p.dir.path().join("out/e2e-warm"))?;
    let boot = stackwright_qemu::find_boot(&out).map_err(|e| e.to_string())?;
    let opts = Options {
        mem: debian::E2E_RUN_ARGS[3].into(),
        timeout: Some(Duration::from_secs(600)),
        kvm: Kvm::Auto,
        ..Options::default()
    };
    let run = stackwright_qemu::run(&boot.clone().into(), &opts, Box::new(std::io::sink()))
        .map_err(|e| e.to_string())?;
    if run.exit_code() != 0 {
        return Err(format!(
            "the e2e platform did not run its workload cleanly: {:?}",
            run.verdict
        ));
    }
    Ok(format!(
        "bench e2e-debian assemble-to-workload={:.1}s assemble-cold={:.1}s boot-and-workload={:.1}s assemble-warm={:.1}s kernel-to-init={} accel={}",
        (cold + run.elapsed).as_secs_f64(),
        cold.as_secs_f64(),
        run.elapsed.as_secs_f64(),
        warm.as_secs_f64(),
        run.kernel_boot
            .map_or("?".to_string(), |t| format!("{t:.2}s")),
        if run.kvm { "kvm" } else { "tcg" }
    ))
}
