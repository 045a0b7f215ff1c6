//! Builds `stackwright-init` as a static binary and embeds it (`init_binary()`), so the
//! `stackwright-init` component's image is made locally from any `stackwright` binary,
//! installed or not, with no network.
//!
//! A nested `cargo build -p stackwright-init --release --target x86_64-unknown-linux-gnu`
//! with `-C target-feature=+crt-static`, into `<target>/stackwright-init/` (its own target
//! dir, so it never waits on the outer build's lock). `STACKWRIGHT_INIT_PREBUILT=<file>`
//! embeds that file instead. When neither works (another host architecture, no static libc)
//! nothing is embedded and building the image reports why.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dest = out.join("stackwright-init");
    let note = out.join("stackwright-init.note");
    println!("cargo:rerun-if-env-changed=STACKWRIGHT_INIT_PREBUILT");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set"));
    let init_dir = manifest_dir.join("../stackwright-init");
    let plan_dir = manifest_dir.join("../stackwright-boot-plan");
    for d in [&init_dir, &plan_dir] {
        println!("cargo:rerun-if-changed={}", d.join("src").display());
        println!("cargo:rerun-if-changed={}", d.join("Cargo.toml").display());
    }
    let result = match std::env::var_os("STACKWRIGHT_INIT_PREBUILT") {
        Some(p) => std::fs::copy(&p, &dest)
            .map(|_| ())
            .map_err(|e| format!("STACKWRIGHT_INIT_PREBUILT={}: {e}", Path::new(&p).display())),
        None => build(&manifest_dir, &init_dir, &out, &dest),
    };
    match result {
        Ok(()) => std::fs::write(&note, "").expect("OUT_DIR is writable"),
        Err(why) => {
            println!("cargo:warning=stackwright-init is not embedded: {why}");
            std::fs::write(&dest, b"").expect("OUT_DIR is writable");
            std::fs::write(&note, why).expect("OUT_DIR is writable");
        }
    }
}

fn build(manifest_dir: &Path, init_dir: &Path, out: &Path, dest: &Path) -> Result<(), String> {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("x86_64")
        || !cfg!(target_arch = "x86_64")
    {
        return Err("the init is built for x86_64 hosts only".into());
    }
    if !init_dir.join("Cargo.toml").is_file() {
        return Err(format!("no init sources at {}", init_dir.display()));
    }
    let workspace = manifest_dir.join("../..");
    // <target>/<profile>/build/stackwright-build-<hash>/out → <target>
    let target_dir = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("stackwright-init"))
        .unwrap_or_else(|| out.join("init-target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "--offline",
            "--release",
            "-p",
            "stackwright-init",
        ])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    if workspace.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    // Nothing of the outer build leaks in (clippy's wrapper, its flags, its target dir).
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let outer = (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUSTC")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS";
        if outer {
            cmd.env_remove(&k);
        }
    }
    // opt-level 1: the init's work is starting processes, not computing, and a cold build
    // compiles it and its dependencies once more (issue 16, measured: 52 CPU-seconds at
    // opt-level 1 against 59 at 3; the binary is 2.0 MB instead of 1.9).
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo for the init: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of the static init failed ({status})"));
    }
    let bin = target_dir.join(TARGET).join("release/stackwright-init");
    std::fs::copy(&bin, dest).map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok(())
}
