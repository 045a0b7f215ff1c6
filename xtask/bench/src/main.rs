//! `cargo xtask bench [ARGS]`: xtask re-runs this crate's binary with `cargo run --release
//! -p xtask-bench -- ARGS` (timings of a debug build mean nothing), so that the other xtask
//! commands (`assemble`, `check`, `test`, …) neither build the bench-only dependencies
//! (pubgrub, resolvo, the test kit) nor run under the bench's counting allocator.
//!
//! - no arguments — the solver benchmark against pubgrub and resolvo (see `bench/`), then
//!   the I/O lines (`io_bench/`);
//! - `e2e-debian`, `boot-qemu`, `disk-images`, `package`, `pull` — only that line;
//! - scenario names and options — only those solver scenarios (see `bench::run`).
#![allow(clippy::print_stdout, clippy::print_stderr)] // the terminal is this crate's job

mod bench;
mod io_bench;

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Run from the repository root whatever the caller's directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask/bench lives in the repository");
    if let Err(e) = std::env::set_current_dir(root) {
        eprintln!("xtask bench: cannot enter {}: {e}", root.display());
        std::process::exit(3);
    }
    let result = match args.as_slice() {
        [a] if a == "boot-qemu" || a == "disk-images" => {
            io_bench::boot_only(a == "boot-qemu", a == "disk-images")
        }
        [a] if a == "package" => io_bench::package_only(),
        [a] if a == "pull" => {
            io_bench::pull_only();
            Ok(())
        }
        [a] if a == "e2e-debian" => io_bench::e2e_only(),
        _ => bench::run(&args).and_then(|()| io_bench::run(&args)),
    };
    if let Err(e) = result {
        eprintln!("xtask bench: {e:#}");
        std::process::exit(1);
    }
}
