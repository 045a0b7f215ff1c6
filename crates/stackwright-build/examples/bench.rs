//! `cargo run --release -p stackwright-build --example bench [small_files] [layers] [runs]`:
//! stackwright vs `umoci unpack` on a synthetic image (what `cargo xtask bench` calls).

use stackwright_build::bench::{run, BenchShape};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shape = BenchShape {
        small_files: args.first().copied().unwrap_or(4000),
        layers: args.get(1).copied().unwrap_or(3),
        ..BenchShape::default()
    };
    let runs = args.get(2).copied().unwrap_or(3);
    let work = tempfile::tempdir().expect("tempdir");
    match run(work.path(), shape, runs) {
        Ok(r) => println!(
            "{shape:?}: {} entries, best of {}: stackwright {:.3}s, umoci {:.3}s, speedup {:.2}x",
            r.entries,
            r.runs,
            r.stackwright.as_secs_f64(),
            r.umoci.as_secs_f64(),
            r.speedup
        ),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
