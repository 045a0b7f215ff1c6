//! Times resolution of the real registry (`components/`) for every scenario under
//! `tests/solver/` that resolves. Run:
//! `cargo run --release -p stackwright-solver --example registry`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example prints its results
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use stackwright_solver::{resolve, ManifestProvider, Request};
use stackwright_types::assembly::AssemblyFile;
use stackwright_types::capability::parse_capabilities;
use stackwright_types::manifest::Manifest;
use stackwright_types::SourceText;

fn walk(dir: &Path, out: &mut Vec<Manifest>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("components dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml")
            && p.file_name().is_some_and(|n| n != "capabilities.toml")
        {
            let text = std::fs::read_to_string(&p).expect("read");
            let stem = p.file_stem().and_then(|s| s.to_str()).expect("stem");
            out.push(
                Manifest::parse(&SourceText::new(p.display().to_string(), text), Some(stem))
                    .expect("manifest parses"),
            );
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut manifests = Vec::new();
    walk(&root.join("components"), &mut manifests);
    let caps_text =
        std::fs::read_to_string(root.join("components/capabilities.toml")).expect("capabilities");
    let caps: BTreeMap<_, _> =
        parse_capabilities(&SourceText::new("capabilities.toml", caps_text)).expect("caps parse");
    let provider = ManifestProvider::new(&manifests, &caps);
    println!("{} components", manifests.len());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/solver"))
        .expect("scenarios")
        .map(|e| e.expect("e").path())
        .collect();
    cases.sort();
    // Then the example assemblies that stand alone (no parent to load).
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("assemblies"))
        .expect("assemblies")
        .map(|e| e.expect("e").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    examples.sort();
    cases.extend(examples);
    for case in cases {
        if case.join("components").exists() {
            continue;
        }
        let file = if case.is_dir() {
            case.join("assembly.toml")
        } else {
            case.clone()
        };
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(asm) = AssemblyFile::parse(&SourceText::new("assembly.toml", text)) else {
            println!("{}: skipped (does not parse alone)", case.display());
            continue;
        };
        let req = Request::from_assembly(&asm);
        let mut times = Vec::new();
        let mut outcome = String::from("refused");
        for _ in 0..500 {
            let t = Instant::now();
            let r = resolve(&provider, &req);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if let Ok(res) = r {
                let s = res.stats;
                outcome =
                    format!(
                    "resolved: {} components, {} propagations, {} searches, {} bounded, fewest {}",
                    res.components.len(),
                    s.propagations,
                    s.searches,
                    s.fewest_searches,
                    if s.fewest_proven { "proven" } else { "not proven" }
                );
            }
        }
        times.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
        println!(
            "{:>45}: median {:.4} ms ({outcome})",
            case.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            times[times.len() / 2],
        );
    }
}
