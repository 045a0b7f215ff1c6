//! Every example assembly under `assemblies/` assembles, renders a `linuxkit.yml` that
//! passes LinuxKit's schema, renders the same bytes twice, and matches its snapshots.

use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assemblies");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn at_least_ten_examples() {
    assert!(examples().len() >= 10, "{} examples", examples().len());
}

#[test]
fn every_example_assembles_deterministically_and_matches_snapshots() {
    // Paths in outputs are relative to the repository, as `cargo xtask assemble` shows them.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
    for path in examples() {
        let rel = Path::new("assemblies").join(path.file_name().unwrap());
        let name = rel.file_stem().unwrap().to_string_lossy().into_owned();
        let a = stackwright::Assembler::new()
            .assemble_file_blocking(&rel)
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: {}",
                    stackwright::types::diagnostic::render_all(&e.diagnostics())
                )
            });
        let out = a.outputs().unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = stackwright::Assembler::new()
            .assemble_file_blocking(&rel)
            .unwrap()
            .outputs()
            .unwrap();
        assert_eq!(out, again, "{name}: outputs differ between two runs");
        let yml = String::from_utf8(out["linuxkit.yml"].clone()).unwrap();
        let config: stackwright::types::linuxkit::Config = serde_yaml_from(&yml);
        stackwright::render::check_linuxkit_schema(&config)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan: serde_json::Value = serde_json::from_slice(&out["plan.json"]).unwrap();
        assert_eq!(plan["assembly"], name.as_str());
        for key in ["id", "version", "category", "stage", "image", "reason"] {
            assert!(
                plan["components"][0].get(key).is_some(),
                "{name}: plan lacks {key}"
            );
        }
        insta::assert_snapshot!(format!("example-{name}-linuxkit.yml"), yml);
        insta::assert_snapshot!(
            format!("example-{name}-plan.json"),
            String::from_utf8(out["plan.json"].clone()).unwrap()
        );
    }
}

fn serde_yaml_from(text: &str) -> stackwright::types::linuxkit::Config {
    // The YAML is also valid input for our own LinuxKit reader.
    stackwright::linuxkit::parse(&stackwright::types::SourceText::new("linuxkit.yml", text))
        .map(|p| p.config)
        .unwrap_or_else(|d| {
            panic!(
                "rendered linuxkit.yml does not parse: {}",
                stackwright::types::diagnostic::render_all(&d)
            )
        })
}
