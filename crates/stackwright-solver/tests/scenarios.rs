//! Data-driven scenarios on the real registry: every folder under `tests/solver/` holds an
//! `assembly.toml` (the real assembly format) and the snapshot of what the solver makes
//! of it (the resolution, or the refusal as rendered diagnostics). A folder may carry its
//! own `components/` (manifests, and a `capabilities.toml` merged over the registry's)
//! for cases the registry cannot show, such as a cycle. A new case is a new folder.
//!
//! Update snapshots with `INSTA_UPDATE=always cargo test -p stackwright-solver --test scenarios`
//! (or `cargo insta review`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackwright_solver::{resolve, verify, ManifestProvider, Request};
use stackwright_types::assembly::AssemblyFile;
use stackwright_types::capability::{parse_capabilities, Capability};
use stackwright_types::manifest::Manifest;
use stackwright_types::SourceText;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Manifests under `dir` (recursively, `capabilities.toml` aside), named relative to
/// `base` in diagnostics, sorted by path.
fn load_manifests(dir: &Path, base: &Path, out: &mut Vec<Manifest>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            load_manifests(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "toml")
            && p.file_name().is_some_and(|n| n != "capabilities.toml")
        {
            let text = std::fs::read_to_string(&p).expect("read manifest");
            let name = p.strip_prefix(base).unwrap_or(&p).display().to_string();
            let stem = p.file_stem().and_then(|s| s.to_str()).expect("utf-8 stem");
            match Manifest::parse(&SourceText::new(name.clone(), text), Some(stem)) {
                Ok(m) => out.push(m),
                Err(e) => panic!("{name}: {:#?}", e.diagnostics()),
            }
        }
    }
}

fn load_caps(path: &Path, base: &Path, into: &mut BTreeMap<String, Capability>) {
    if !path.exists() {
        return;
    }
    let text = std::fs::read_to_string(path).expect("read capabilities");
    let name = path
        .strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string();
    let caps = parse_capabilities(&SourceText::new(name.clone(), text))
        .unwrap_or_else(|e| panic!("{name}: {:#?}", e.diagnostics()));
    into.extend(caps);
}

/// What a scenario produces: the resolution, or the refusal, as text.
fn outcome(case: &Path) -> String {
    let base = root();
    let mut manifests = Vec::new();
    load_manifests(&base.join("components"), &base, &mut manifests);
    let mut caps = BTreeMap::new();
    load_caps(&base.join("components/capabilities.toml"), &base, &mut caps);
    let own = case.join("components");
    if own.is_dir() {
        load_manifests(&own, &base, &mut manifests);
        load_caps(&own.join("capabilities.toml"), &base, &mut caps);
    }
    let asm_path = case.join("assembly.toml");
    let text = std::fs::read_to_string(&asm_path).expect("read assembly.toml");
    let name = asm_path
        .strip_prefix(&base)
        .unwrap_or(&asm_path)
        .display()
        .to_string();
    let asm = AssemblyFile::parse(&SourceText::new(name, text))
        .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics()));
    let req = Request::from_assembly(&asm);
    let provider = ManifestProvider::new(&manifests, &caps);
    match resolve(&provider, &req) {
        Ok(res) => {
            let broken = verify(&provider, &req, &res);
            assert!(
                broken.is_empty(),
                "{}: the resolution breaks rules: {broken:?}",
                case.display()
            );
            res.render()
        }
        Err(refusal) => refusal.render(),
    }
}

#[test]
fn scenarios() {
    let dir = root().join("tests/solver");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/solver exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("assembly.toml").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no scenarios under {}", dir.display());
    for case in cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = outcome(&case);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&case);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(case.join("assembly.toml"));
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!("outcome", text));
        let _ = name;
    }
}
