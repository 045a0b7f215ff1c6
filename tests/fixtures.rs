//! Data-driven fixtures: every folder under `manifests/` is a broken component directory,
//! every folder under `assemblies-bad/` a broken assembly. Each must fail, and the
//! diagnostics it renders (code, file:line:column, source line, hint) are snapshots in
//! `snapshots/`. A new case is a new folder; accept its snapshot with `cargo insta review`.

use std::path::{Path, PathBuf};

use stackwright::types::diagnostic::render_all;

fn cases(dir: &str) -> Vec<PathBuf> {
    stackwright_tests::case_dirs(dir)
}

fn in_tests_dir() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
}

#[test]
fn broken_manifests() {
    in_tests_dir();
    for case in cases("manifests") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let rel = Path::new("manifests").join(&name);
        let mut b = stackwright::RegistryBuilder::with_builtin();
        let result = b
            .add_dir(&rel, &rel.display().to_string())
            .map(|_| ())
            .and_then(|_| b.build().map(|_| ()));
        let diags = match result {
            Ok(()) => panic!("case manifests/{name} loaded without errors"),
            Err(e) => e.diagnostics(),
        };
        assert!(diags.iter().any(|d| d.is_error()), "{name}: no error");
        // Every problem must point into the case's own files.
        for d in diags.iter().filter(|d| d.is_error()) {
            let loc = d
                .location
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: {} has no location", d.code));
            assert!(
                loc.file.starts_with("manifests/"),
                "{name}: points at {}",
                loc.file
            );
        }
        insta::assert_snapshot!(format!("manifest-{name}"), render_all(&diags));
    }
}

#[test]
fn broken_assemblies() {
    in_tests_dir();
    for case in cases("assemblies-bad") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let path = Path::new("assemblies-bad")
            .join(&name)
            .join("assembly.toml");
        let err = match stackwright::Assembler::new().assemble_file_blocking(&path) {
            Ok(_) => panic!("assemblies-bad/{name} assembled without errors"),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), 1, "{name}: {err}");
        let diags = err.diagnostics();
        assert!(diags.iter().any(|d| d.is_error()), "{name}: no error");
        insta::assert_snapshot!(format!("assembly-{name}"), render_all(&diags));
    }
}

/// Every folder under `assemblies-warn/` is an assembly that LinuxKit would build and that
/// we assemble, but with warnings (an untagged image, …): it must assemble, warn, and its
/// warnings are snapshots.
#[test]
fn assemblies_with_warnings() {
    in_tests_dir();
    for case in cases("assemblies-warn") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let path = Path::new("assemblies-warn")
            .join(&name)
            .join("assembly.toml");
        let a = match stackwright::Assembler::new().assemble_file_blocking(&path) {
            Ok(a) => a,
            Err(e) => panic!(
                "assemblies-warn/{name} does not assemble:\n{}",
                render_all(&e.diagnostics())
            ),
        };
        a.outputs()
            .unwrap_or_else(|e| panic!("assemblies-warn/{name}: outputs: {e}"));
        let warnings = a.warnings();
        assert!(!warnings.is_empty(), "{name}: no warning");
        insta::assert_snapshot!(format!("warn-{name}"), render_all(warnings));
    }
}
