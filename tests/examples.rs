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
        let plan_text = String::from_utf8(out["plan.json"].clone()).unwrap();
        stackwright::render::check_plan_schema(&plan_text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan: serde_json::Value = serde_json::from_str(&plan_text).unwrap();
        assert_eq!(plan["assembly"], name.as_str());
        every_part_ships(&name, &plan, &yml, &a.summary());
        insta::assert_snapshot!(format!("example-{name}-linuxkit.yml"), yml);
        insta::assert_snapshot!(
            format!("example-{name}-plan.json"),
            String::from_utf8(out["plan.json"].clone()).unwrap()
        );
    }
}

/// Issue 12's "done when": no SW0510, and every component with a stage is in linuxkit.yml
/// with an image, except what the plan explains: a part built into another component (its
/// host is chosen) and a sandbox image (an image the chosen CRI runtime pulls). The summary
/// table printed after assembling says the same in its stage column.
fn every_part_ships(name: &str, plan: &serde_json::Value, yml: &str, summary: &str) {
    let row = |id: &str| {
        summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{name}: {id} not in the summary:\n{summary}"))
            .to_string()
    };
    let diagnostics = plan["diagnostics"].as_array().unwrap();
    assert!(
        !diagnostics.iter().any(|d| d["code"] == "SW0510"),
        "{name}: SW0510 in {diagnostics:?}"
    );
    let components = plan["components"].as_array().unwrap();
    let chosen = |id: &str| components.iter().any(|c| c["id"] == id);
    for c in components {
        let id = c["id"].as_str().unwrap();
        if let Some(host) = c["built_into"].as_str() {
            assert!(
                chosen(host),
                "{name}: {id} is built into {host}, not chosen"
            );
            assert!(
                row(id).contains(&format!("built into {host}")),
                "{name}: {}",
                row(id)
            );
            continue;
        }
        let image = c["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {id} has no image"));
        if c["stage"] == "sandbox" {
            let cri = c["pulled_by"].as_array().unwrap();
            assert!(
                !cri.is_empty(),
                "{name}: nothing pulls the sandbox image {id}"
            );
            assert!(
                cri.iter().all(|r| chosen(r.as_str().unwrap())),
                "{name}: {id}"
            );
            assert!(row(id).contains("pulled by"), "{name}: {}", row(id));
        } else {
            assert!(
                yml.contains(image),
                "{name}: {id}'s {image} is not in linuxkit.yml"
            );
        }
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
