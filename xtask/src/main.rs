//! `cargo xtask <command>`: this repository's tasks.
//!
//! - `assemble <name-or-path> [options]` — `stackwright assemble`, resolving a bare name to
//!   `assemblies/<name>.toml`; likewise `check`, `explain`, `why`.
//! - `components`, `show`, `import` — as `stackwright`.
//! - `test` — every test, installing the tools the I/O tests need (see `test.rs`).
//! - `setup` — only the preparation of `test`: the tools it installs, the downloads and the
//!   SBOM validators, without running a test.
//! - `fetch` — only the downloads of `test`: the boot kernel and the Debian packages of the
//!   end-to-end test (see `debs.rs`).
//! - `fuzz [--seconds N]` — every fuzz target of `tests/fuzz` for a bounded time (see `fuzz.rs`).
//! - `bench` — the solver benchmark against pubgrub and resolvo, then the I/O lines;
//!   `bench e2e-debian`, `bench boot-qemu`, `bench disk-images`, `bench package` and
//!   `bench pull` run only that line; `bench registry` (alone or beside solver scenarios)
//!   the real registry's example assemblies. It is its own crate (`xtask/bench`, run with
//!   `cargo run --release -p xtask-bench`), so the other tasks never build its
//!   dependencies (pubgrub, resolvo, the build and packaging crates).
//! - `docs` — regenerates `docs/diagnostics.md` from the code list.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the terminal is this crate's job

mod debs;
mod fuzz;
mod test;

use std::path::Path;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Run from the repository root whatever the caller's directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository");
    if let Err(e) = std::env::set_current_dir(root) {
        eprintln!("xtask: cannot enter {}: {e}", root.display());
        std::process::exit(3);
    }
    let code = match args.first().map(String::as_str) {
        Some("bench") => {
            // Timings of a debug build mean nothing, and no other task should build the
            // bench-only dependencies: the bench is its own crate, run optimised.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            match std::process::Command::new(cargo)
                .args([
                    "run",
                    "--quiet",
                    "--release",
                    "--package",
                    "xtask-bench",
                    "--",
                ])
                .args(&args[1..])
                .status()
            {
                Ok(s) => s.code().unwrap_or(1),
                Err(e) => {
                    eprintln!("xtask bench: cannot start cargo: {e}");
                    3
                }
            }
        }
        Some("fuzz") => match fuzz::run(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("xtask fuzz: {e:#}");
                1
            }
        },
        Some("setup") => match test::setup() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("xtask setup: {e:#}");
                1
            }
        },
        Some("fetch") => match test::fetch() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("xtask fetch: {e:#}");
                1
            }
        },
        Some("test") => match test::run(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("xtask test: {e:#}");
                1
            }
        },
        Some("docs") => {
            let md = stackwright::types::diagnostic::diagnostics_document();
            match std::fs::write("docs/diagnostics.md", md) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("xtask docs: {e}");
                    3
                }
            }
        }
        Some("assemble" | "check" | "explain" | "why") => {
            // A bare name means assemblies/<name>.toml.
            for a in args.iter_mut().skip(1) {
                if !a.starts_with('-') && !a.contains('/') && !a.ends_with(".toml") {
                    let p = format!("assemblies/{a}.toml");
                    if Path::new(&p).exists() {
                        *a = p;
                    }
                    if args_is_why_component(a) {
                        break;
                    }
                }
            }
            stackwright_cli::run(std::iter::once("stackwright".to_string()).chain(args))
        }
        Some(_) => stackwright_cli::run(std::iter::once("stackwright".to_string()).chain(args)),
        None => {
            eprintln!("usage: cargo xtask <assemble|check|explain|why|components|show|import|bench|docs> …");
            2
        }
    };
    std::process::exit(code);
}

/// `why <assembly> <component>`: only the first positional is an assembly.
fn args_is_why_component(a: &str) -> bool {
    a.starts_with("assemblies/")
}
