//! The fixtures under `tests/linuxkit/` (repository root): each folder with an
//! `input.yml` is a case. `merge-*.yml` beside it are merged after it, in name order, as
//! `linuxkit build input.yml merge-1.yml …` would. A case with an `expect.toml` must fail
//! with exactly the diagnostics listed there; any other case must parse, pass LinuxKit's
//! schema, import, match its snapshot, and read back to the configuration it came from.
//! `tests/linuxkit/registry/` holds the component manifests the cases are mapped onto.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stackwright_linuxkit::{import, load, reconstruct_dir, Import, ImportOptions};
use stackwright_types::linuxkit::Config;
use stackwright_types::manifest::Manifest;
use stackwright_types::SourceText;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/linuxkit")
}

fn registry() -> Vec<Manifest> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("registry"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            let text = std::fs::read_to_string(p).unwrap();
            Manifest::parse(
                &SourceText::new(format!("registry/{stem}.toml"), text),
                Some(stem),
            )
            .unwrap_or_else(|e| panic!("{}: {:?}", p.display(), e.diagnostics()))
        })
        .collect()
}

struct Case {
    name: String,
    dir: PathBuf,
    sources: Vec<SourceText>,
}

impl Case {
    fn expect(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("expect.toml")).ok()
    }
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.yml").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "fixtures missing under {}",
        root().display()
    );
    dirs.into_iter()
        .map(|dir| {
            let mut merges: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("merge-") && n.ends_with(".yml"))
                .collect();
            merges.sort();
            let sources = std::iter::once("input.yml".to_string())
                .chain(merges)
                .map(|n| SourceText::new(n.clone(), std::fs::read_to_string(dir.join(&n)).unwrap()))
                .collect();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                sources,
            }
        })
        .collect()
}

fn ok_cases() -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| c.expect().is_none())
        .collect()
}

fn error_cases() -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| c.expect().is_some())
        .collect()
}

fn render(imp: &Import) -> String {
    let mut out = String::new();
    for (path, text) in imp.files() {
        out.push_str(&format!("==> {} <==\n{text}\n", path.display()));
    }
    out.push_str("==> mappings <==\n");
    for m in &imp.mappings {
        out.push_str(&format!(
            "{:<10} {:<16} {} -> {}{}\n",
            m.section,
            m.name,
            m.image,
            m.component,
            if m.generated { " (generated)" } else { "" }
        ));
    }
    out.push_str("==> warnings <==\n");
    out.push_str(&stackwright_types::diagnostic::render_all(&imp.warnings));
    out
}

/// Each fixture, read as LinuxKit reads it, passes LinuxKit's schema — checked here with
/// the schema alone, independently of the crate's parser.
#[test]
fn ok_fixtures_pass_linuxkit_schema() {
    let schema: Value = serde_json::from_str(stackwright_linuxkit::SCHEMA).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    for case in ok_cases() {
        for src in &case.sources {
            let json: Value = serde_yaml::from_str(&src.text).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}/{}: {errors:?}", case.name, src.name);
        }
    }
}

#[test]
fn bundled_schema_is_linuxkits() {
    // The copy in the crate must stay the shared one when that is at hand.
    let shared = root().join("../../../shared/linuxkit/schema.json");
    if let Ok(text) = std::fs::read_to_string(shared) {
        let a: Value = serde_json::from_str(&text).unwrap();
        let b: Value = serde_json::from_str(stackwright_linuxkit::SCHEMA).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn ok_fixtures_import_as_snapshotted() {
    let registry = registry();
    for case in ok_cases() {
        let opts = ImportOptions {
            name: Some(case.name.clone()),
            ..Default::default()
        };
        let imp = import(&case.sources, &registry, &opts).unwrap_or_else(|e| {
            panic!(
                "{}: {}",
                case.name,
                stackwright_types::diagnostic::render_all(e.diagnostics())
            )
        });
        insta::assert_snapshot!(format!("import-{}", case.name), render(&imp));
    }
}

/// The written files parse with Stackwright's own parsers, and stand for exactly the
/// configuration they came from.
#[test]
fn ok_fixtures_read_back_to_the_original() {
    let registry = registry();
    for case in ok_cases() {
        let original: Config = load(&case.sources).unwrap().config;
        let imp = import(&case.sources, &registry, &ImportOptions::default()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out").join(&case.name);
        imp.write_to(&out).unwrap();
        let back = reconstruct_dir(&out, &registry)
            .unwrap_or_else(|e| panic!("{}: {e} {:?}", case.name, e.diagnostics()));
        assert_eq!(
            back, original,
            "{}: the import does not stand for its input",
            case.name
        );
        // Section by section, as the YAML LinuxKit would read.
        assert_eq!(
            serde_yaml::to_string(&back).unwrap(),
            serde_yaml::to_string(&original).unwrap()
        );
        // Writing again replaces the previous import whole.
        imp.write_to(&out).unwrap();
        assert_eq!(reconstruct_dir(&out, &registry).unwrap(), original);
        let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "temporary directories left behind: {leftovers:?}"
        );
    }
}

/// The order of the registry's manifests never changes the import.
#[test]
fn import_does_not_depend_on_registry_order() {
    let registry = registry();
    let mut reversed = registry.clone();
    reversed.reverse();
    for case in ok_cases() {
        let a = import(&case.sources, &registry, &ImportOptions::default()).unwrap();
        let b = import(&case.sources, &reversed, &ImportOptions::default()).unwrap();
        assert_eq!(render(&a), render(&b), "{}", case.name);
    }
}

/// Without a registry, everything is generated, and still reads back whole.
#[test]
fn import_without_registry_generates_everything() {
    for case in ok_cases() {
        let original = load(&case.sources).unwrap().config;
        let imp = import(&case.sources, &[], &ImportOptions::default()).unwrap();
        assert!(imp.mappings.iter().all(|m| m.generated), "{}", case.name);
        let read = imp.read_back().unwrap();
        assert_eq!(
            stackwright_linuxkit::reconstruct(&read, &[]).unwrap(),
            original,
            "{}",
            case.name
        );
    }
}

#[derive(serde::Deserialize)]
struct Expect {
    diagnostic: Vec<Expected>,
}

#[derive(serde::Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    code: String,
    file: String,
    line: u32,
    column: u32,
}

#[test]
fn error_fixtures_report_their_diagnostics() {
    let cases = error_cases();
    assert!(cases.len() >= 5);
    for case in cases {
        let expect: Expect = toml::from_str(&case.expect().unwrap()).unwrap();
        let err = match load(&case.sources) {
            Ok(_) => panic!("{}: expected an error", case.name),
            Err(e) => e,
        };
        let mut got: Vec<Expected> = err
            .diagnostics()
            .iter()
            .map(|d| {
                let l = d.location.as_ref().expect("every diagnostic has a place");
                Expected {
                    code: d.code.0.to_string(),
                    file: l.file.clone(),
                    line: l.line,
                    column: l.column,
                }
            })
            .collect();
        got.sort();
        let mut want = expect.diagnostic;
        want.sort();
        assert_eq!(
            got,
            want,
            "{}:\n{}",
            case.name,
            stackwright_types::diagnostic::render_all(err.diagnostics())
        );
        insta::assert_snapshot!(
            format!("error-{}", case.name),
            stackwright_types::diagnostic::render_all(err.diagnostics())
        );
    }
}

/// Together, the fixtures use every property of every object in LinuxKit's schema.
#[test]
fn fixtures_cover_every_schema_field() {
    let schema: Value = serde_json::from_str(stackwright_linuxkit::SCHEMA).unwrap();
    let defs = schema["definitions"].as_object().unwrap();
    let mut all: BTreeSet<(String, String)> = BTreeSet::new();
    for (name, def) in std::iter::once(("(top)".to_string(), &schema))
        .chain(defs.iter().map(|(k, v)| (k.clone(), v)))
    {
        if let Some(props) = def.get("properties").and_then(Value::as_object) {
            for p in props.keys() {
                all.insert((name.clone(), p.clone()));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for case in ok_cases() {
        for src in &case.sources {
            let json: Value = serde_yaml::from_str(&src.text).unwrap();
            walk(&schema, "(top)", &schema, &json, &mut seen);
        }
    }
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "schema fields no fixture uses: {missing:?}"
    );
}

fn walk<'a>(
    root: &'a Value,
    mut def_name: &'a str,
    mut s: &'a Value,
    v: &Value,
    seen: &mut BTreeSet<(String, String)>,
) {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        def_name = r.strip_prefix("#/definitions/").unwrap();
        s = &root["definitions"][def_name];
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if let Some(ps) = s.get("properties").and_then(|p| p.get(k)) {
                    seen.insert((def_name.to_string(), k.clone()));
                    walk(root, def_name, ps, child, seen);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for i in items {
                    walk(root, def_name, is, i, seen);
                }
            }
        }
        _ => {}
    }
}
