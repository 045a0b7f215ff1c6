//! `cargo xtask fuzz [--seconds N] [--engine libfuzzer|stable] [TARGET …]`: runs every
//! fuzz target of `tests/fuzz` for a bounded time (default 60 s each).
//!
//! Seeds come from the repository (components/, assemblies/, tests/) plus inputs the fuzz
//! crate builds in code (tar layers); the working corpus lives in `tests/fuzz/corpus/`
//! (ignored by git). Two engines:
//! - `libfuzzer`: `cargo fuzz run` with `RUSTC_BOOTSTRAP=1` (cargo-fuzz needs nightly
//!   flags; the stable toolchain accepts them this way), no sanitizer, so it runs on a
//!   stable-only machine. Coverage-guided: the better engine. Chosen when `cargo fuzz` is
//!   installed (`cargo install cargo-fuzz`).
//! - `stable`: the fuzz crate's own mutation loop (no coverage), when cargo-fuzz is absent.
//!
//! Crashes are left in `tests/fuzz/artifacts/<target>/`; the run fails if any target
//! crashed. A crash becomes a regression fixture under `tests/broken-inputs/` once fixed.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGETS: &[&str] = &[
    "manifest",
    "assembly_file",
    "assembler",
    "lockfile",
    "linuxkit",
    "layer",
];

const FUZZ_DIR: &str = "tests/fuzz";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 60u64;
    let mut engine: Option<String> = None;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--seconds needs a number"))?
                    .parse()?
            }
            "--engine" => {
                engine = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--engine needs libfuzzer or stable"))?
                        .clone(),
                )
            }
            t if TARGETS.contains(&t) => only.push(t.to_string()),
            other => anyhow::bail!(
                "unknown argument `{other}`; usage: cargo xtask fuzz [--seconds N] [--engine libfuzzer|stable] [{}]",
                TARGETS.join("|")
            ),
        }
    }
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        TARGETS
            .iter()
            .copied()
            .filter(|t| only.iter().any(|o| o == t))
            .collect()
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let engine = match engine {
        Some(e) if e == "libfuzzer" || e == "stable" => e,
        Some(e) => anyhow::bail!("unknown engine `{e}` (libfuzzer or stable)"),
        None => {
            let has_cargo_fuzz = Command::new(&cargo)
                .args(["fuzz", "--version"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if has_cargo_fuzz {
                "libfuzzer".to_string()
            } else {
                eprintln!("xtask fuzz: cargo-fuzz not installed (cargo install cargo-fuzz); using the stable engine");
                "stable".to_string()
            }
        }
    };
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new("target").join("fuzz"));
    let target_dir = std::path::absolute(&target_dir)?;

    // The seed inputs the fuzz crate builds in code, and the stable runner.
    status(
        Command::new(&cargo)
            .current_dir(FUZZ_DIR)
            .args(["build", "--release", "--features", "runner", "--bins"])
            .env("CARGO_TARGET_DIR", &target_dir),
    )?;
    let bin = |name: &str| target_dir.join("release").join(name);

    let mut failed = Vec::new();
    for t in &targets {
        let corpus = Path::new(FUZZ_DIR).join("corpus").join(t);
        let artifacts = Path::new(FUZZ_DIR).join("artifacts").join(t);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let n = seed(t, &corpus)?;
        status(Command::new(bin("seeds")).arg(t).arg(&corpus))?;
        eprintln!("xtask fuzz: {t}: {n} seed files, {seconds} s, engine {engine}");
        let ok = if engine == "libfuzzer" {
            let mut cmd = Command::new(&cargo);
            cmd.current_dir(FUZZ_DIR)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_DIR", target_dir.join("libfuzzer"))
                .args([
                    "fuzz",
                    "run",
                    "--fuzz-dir",
                    ".",
                    "--features",
                    "libfuzzer",
                    "--sanitizer",
                    "none",
                    "--release",
                    "--debug-assertions",
                    t,
                ])
                .arg(format!("corpus/{t}"))
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                .arg(format!("-artifact_prefix=artifacts/{t}/"))
                .arg("-timeout=10")
                .arg("-rss_limit_mb=4096")
                .arg("-max_len=262144")
                .arg("-print_final_stats=1");
            run_status(&mut cmd)?
        } else {
            let mut cmd = Command::new(bin("stable"));
            cmd.arg(t)
                .arg("--corpus")
                .arg(&corpus)
                .arg("--artifacts")
                .arg(&artifacts)
                .args(["--seconds", &seconds.to_string()]);
            let ok = run_status(&mut cmd)?;
            // A death the runner could not catch (stack overflow, abort) leaves its input.
            let current = artifacts.join(".current");
            if !ok && current.exists() {
                let keep = artifacts.join("crash-killed");
                std::fs::rename(&current, &keep)?;
                eprintln!(
                    "xtask fuzz: {t}: the process died; input kept as {}",
                    keep.display()
                );
            }
            ok
        };
        if !ok {
            failed.push(*t);
        }
    }
    if failed.is_empty() {
        eprintln!("xtask fuzz: no crashes in {}", targets.join(", "));
        Ok(())
    } else {
        anyhow::bail!(
            "crashes in {} — inputs under {FUZZ_DIR}/artifacts/<target>/",
            failed.join(", ")
        )
    }
}

/// Copies the repository's files that suit `target` into its corpus; returns how many.
fn seed(target: &str, corpus: &Path) -> anyhow::Result<usize> {
    let (dirs, ext): (&[&str], &[&str]) = match target {
        "manifest" => (
            &["components", "tests/manifests", "tests/broken-inputs"],
            &["toml"],
        ),
        "assembly_file" | "assembler" => (
            &["assemblies", "tests/assemblies-bad", "tests/broken-inputs"],
            &["toml"],
        ),
        "lockfile" => (&["tests/broken-inputs"], &["lock"]),
        "linuxkit" => (&["tests/linuxkit", "tests/broken-inputs"], &["yml", "yaml"]),
        _ => (&[], &[]),
    };
    let mut files = Vec::new();
    for d in dirs {
        walk(Path::new(d), ext, &mut files);
    }
    files.sort();
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(f, corpus.join(format!("repo-{i:04}")))?;
    }
    let mut n = files.len();
    if target == "lockfile" {
        // Real lockfiles, rendered from the example assemblies.
        for a in ["k8s-worker", "linuxkit-base", "docker-host"] {
            let path = Path::new("assemblies").join(format!("{a}.toml"));
            if let Ok(assembled) = stackwright::Assembler::new().assemble_file_blocking(&path) {
                if let Ok(outputs) = assembled.outputs() {
                    std::fs::write(
                        corpus.join(format!("lock-{a}")),
                        &outputs["stackwright.lock"],
                    )?;
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

fn walk(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, ext, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| ext.contains(&x))
        {
            out.push(p);
        }
    }
}

fn status(cmd: &mut Command) -> anyhow::Result<()> {
    if !run_status(cmd)? {
        anyhow::bail!("{cmd:?} failed");
    }
    Ok(())
}

fn run_status(cmd: &mut Command) -> anyhow::Result<bool> {
    eprintln!("+ {cmd:?}");
    Ok(cmd.status()?.success())
}
