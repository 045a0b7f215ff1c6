//! LinuxKit's own example systems (`examples/*.yml` of github.com/linuxkit/linuxkit at
//! commit 3bf33c3a11fc20b459195294a7d8980cbca4195b), and the systems of its test suite
//! (`test/cases/**/*.yml`), through the real pipeline: each file
//! is read with LinuxKit's rules, imported onto the built-in registry, assembled and
//! rendered, and must give back the file section by section (as `renderer.rs` does for
//! our own fixtures) and render a `linuxkit.yml` that reads back.
//!
//! The upstream files are not copied into this repository. They are read from
//! `$STACKWRIGHT_LINUXKIT_CHECKOUT` (a checkout of that commit), else from
//! `../shared/linuxkit/` beside the repository; `tests/linuxkit/upstream-examples.sha256`
//! lists every file with its sha256, so whatever directory is given must hold exactly
//! those files. Without either directory the test says so on stderr and checks nothing
//! (as `bundled_schema_is_linuxkits` does for the shared schema). Files LinuxKit refuses
//! too are listed in `tests/linuxkit/upstream-refused.txt` with the diagnostic they get.

mod common;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use stackwright_linuxkit::{import, load, ImportOptions};
use stackwright_types::linuxkit::Config;
use stackwright_types::manifest::{Arch, Manifest};
use stackwright_types::SourceText;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The checkout to read, if one is at hand.
fn checkout() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STACKWRIGHT_LINUXKIT_CHECKOUT") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("examples").is_dir(),
            "STACKWRIGHT_LINUXKIT_CHECKOUT={} has no examples/",
            dir.display()
        );
        return Some(dir);
    }
    let shared = repo().join("../shared/linuxkit");
    shared.join("examples").is_dir().then_some(shared)
}

/// `(relative path, sha256)` of every upstream file a list names.
fn listed(list: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("tests/linuxkit").join(list))
        .unwrap_or_else(|e| panic!("tests/linuxkit/{list}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, path) = l.split_once("  ").expect("`<sha256>  <path>` lines");
            (path.to_string(), sum.to_string())
        })
        .collect()
}

/// Files LinuxKit refuses too: path → (code, line) of the diagnostic they must get.
fn refused() -> std::collections::BTreeMap<String, (String, u32)> {
    let text = std::fs::read_to_string(repo().join("tests/linuxkit/upstream-refused.txt"))
        .expect("tests/linuxkit/upstream-refused.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split_whitespace();
            let (path, code, line) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
            (path.to_string(), (code.to_string(), line.parse().unwrap()))
        })
        .collect()
}

fn sections(c: &Config) -> Vec<(&'static str, String)> {
    let y = |v: Result<String, serde_yaml::Error>| v.unwrap();
    vec![
        ("kernel", y(serde_yaml::to_string(&c.kernel))),
        ("init", y(serde_yaml::to_string(&c.init))),
        ("onboot", y(serde_yaml::to_string(&c.onboot))),
        ("onshutdown", y(serde_yaml::to_string(&c.onshutdown))),
        ("services", y(serde_yaml::to_string(&c.services))),
        ("trust", y(serde_yaml::to_string(&c.trust))),
        ("files", y(serde_yaml::to_string(&c.files))),
        ("volumes", y(serde_yaml::to_string(&c.volumes))),
    ]
}

#[test]
fn linuxkit_examples_round_trip() {
    let Some(dir) = checkout() else {
        eprintln!(
            "no LinuxKit checkout (STACKWRIGHT_LINUXKIT_CHECKOUT, ../shared/linuxkit/examples): \
             LinuxKit's examples not checked"
        );
        return;
    };
    let files = listed("upstream-examples.sha256");
    assert!(files.len() >= 30, "only {} files listed", files.len());
    // Exactly the listed files, byte for byte.
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .map(|n| format!("examples/{n}"))
        .collect();
    on_disk.sort();
    round_trip(&dir, &files, on_disk, "examples");
}

/// The systems of LinuxKit's own test suite (`test/cases/**/*.yml` with a `kernel`, `init`,
/// `onboot` or `services` section; the others are package build files), the same way.
#[test]
fn linuxkit_test_case_systems_round_trip() {
    let Some(dir) = checkout().filter(|d| d.join("test/cases").is_dir()) else {
        eprintln!(
            "no LinuxKit checkout with test/cases (STACKWRIGHT_LINUXKIT_CHECKOUT): LinuxKit's \
             test systems not checked"
        );
        return;
    };
    let files = listed("upstream-cases.sha256");
    assert!(files.len() >= 140, "only {} files listed", files.len());
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "yml") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let system = text.lines().any(|l| {
                    ["kernel:", "init:", "onboot:", "services:"]
                        .iter()
                        .any(|k| l.starts_with(k))
                });
                if system {
                    out.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
    }
    let mut on_disk = Vec::new();
    walk(&dir, &dir.join("test/cases"), &mut on_disk);
    on_disk.sort();
    round_trip(&dir, &files, on_disk, "test systems");
}

/// Each listed file (checked against the list, byte for byte) read with LinuxKit's rules,
/// imported, assembled and rendered back, section by section.
fn round_trip(dir: &Path, files: &[(String, String)], on_disk: Vec<String>, what: &str) {
    let refused = refused();
    let names: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(on_disk, names, "the checkout's {what} differ from the list");
    for (path, sum) in files {
        let bytes = std::fs::read(dir.join(path)).unwrap();
        assert_eq!(
            &stackwright_types::hex::encode(&Sha256::digest(&bytes)),
            sum,
            "{path} is not the listed upstream file"
        );
    }

    let assembler = stackwright::Assembler::new();
    let registry = assembler.registry(None).expect("the built-in registry");
    let manifests: Vec<Manifest> = registry.manifests().cloned().collect();
    let mut failures = Vec::new();
    for (path, _) in files {
        let text = std::fs::read_to_string(dir.join(path)).unwrap();
        let sources = vec![SourceText::new(path.clone(), text)];
        let original = match (load(&sources), refused.get(path.as_str())) {
            (Err(e), Some((code, line))) => {
                let d = e.diagnostics();
                if !d.iter().any(|d| {
                    d.code.0 == code && d.location.as_ref().is_some_and(|l| l.line == *line)
                }) {
                    failures.push(format!(
                        "{path}: refused, but not with {code} at line {line}:\n{}",
                        stackwright_types::diagnostic::render_all(d)
                    ));
                }
                continue;
            }
            (Ok(_), Some((code, line))) => {
                failures.push(format!(
                    "{path}: accepted, but LinuxKit refuses it ({code} at line {line} expected)"
                ));
                continue;
            }
            (Ok(m), None) => m.config,
            (Err(e), None) => {
                failures.push(format!(
                    "{path}: refused:\n{}",
                    stackwright_types::diagnostic::render_all(e.diagnostics())
                ));
                continue;
            }
        };
        let stem = Path::new(path).file_stem().unwrap().to_string_lossy();
        let arch = if stem.contains("arm64") {
            Arch::Arm64
        } else {
            Arch::Amd64
        };
        // The assembly's name is the import's default (the file stem in kebab-case).
        let opts = ImportOptions {
            name: None,
            arch: Some(arch),
        };
        let imp = match import(&sources, &manifests, &opts) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!(
                    "{path}: import failed: {e}\n{}",
                    stackwright_types::diagnostic::render_all(e.diagnostics())
                ));
                continue;
            }
        };
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("imported");
        imp.write_to(&out).unwrap();
        let assembled = match assembler.assemble_file_blocking(&out.join("assembly.toml")) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!(
                    "{path}: does not assemble: {e}\n{}",
                    stackwright_types::diagnostic::render_all(&e.diagnostics())
                ));
                continue;
            }
        };
        let rendered = common::without_generated_files(
            &assembled,
            stackwright::render::linuxkit_config(&assembled.platform()),
        );
        for ((section, want), (_, got)) in sections(&original).into_iter().zip(sections(&rendered))
        {
            if want != got {
                failures.push(format!(
                    "{path}: {section} differs\n--- original\n{want}--- rendered\n{got}"
                ));
            }
        }
        match stackwright::render::linuxkit_yaml(&assembled.platform()) {
            Ok(text) => {
                if let Err(d) = stackwright_linuxkit::parse(&SourceText::new("linuxkit.yml", text))
                {
                    failures.push(format!(
                        "{path}: rendered linuxkit.yml is refused:\n{}",
                        stackwright_types::diagnostic::render_all(&d)
                    ));
                }
            }
            Err(e) => failures.push(format!("{path}: linuxkit_yaml: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
