//! `stackwright diff`: every folder under `diff/` holds two sides (`a.lock`/`b.lock`, or
//! output directories `a/`/`b/`); the text and JSON renderings are snapshotted. Also the
//! command line's exit codes, and a diff of two real assemblies.

use std::path::{Path, PathBuf};

fn side(case: &Path, name: &str) -> PathBuf {
    let file = case.join(format!("{name}.lock"));
    if file.is_file() {
        file
    } else {
        case.join(name)
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn every_case_diff() {
    for case in stackwright_tests::case_dirs("diff") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (a, b) = (side(&case, "a"), side(&case, "b"));
        let d =
            stackwright::diff::diff_paths(&a, &b).unwrap_or_else(|e| panic!("diff/{name}: {e}"));
        let (an, bn) = (
            rel(&stackwright::diff::lock_path(&a)),
            rel(&stackwright::diff::lock_path(&b)),
        );
        let text = stackwright::render::diff_text(&d, &an, &bn);
        let json = stackwright::render::diff_json(&d, &an, &bn);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["same"], serde_json::Value::Bool(d.is_empty()));
        // Reversed, added and removed swap and every change runs the other way.
        let back = stackwright::diff::diff_paths(&b, &a).unwrap();
        assert_eq!(back.added, d.removed, "diff/{name}");
        assert_eq!(back.removed, d.added, "diff/{name}");
        assert_eq!(
            back.changed.iter().map(|c| c.changes.len()).sum::<usize>(),
            d.changed.iter().map(|c| c.changes.len()).sum::<usize>()
        );
        insta::assert_snapshot!(format!("diff-{name}"), format!("{text}---- json\n{json}"));
    }
}

fn run(args: &[&str]) -> i32 {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    stackwright_cli::run(std::iter::once("stackwright").chain(args.iter().copied()))
}

#[test]
fn exit_codes() {
    let same = ["diff", "diff/identical/a.lock", "diff/identical/b.lock"];
    let differ = ["diff", "diff/output-dirs/a", "diff/output-dirs/b"];
    assert_eq!(run(&same), 0);
    assert_eq!(run(&[&same[..], &["--exit-code"]].concat()), 0);
    assert_eq!(run(&differ), 0);
    assert_eq!(run(&[&differ[..], &["--exit-code"]].concat()), 1);
    assert_eq!(
        run(&[&differ[..], &["--exit-code", "--output", "json"]].concat()),
        1
    );
    assert_eq!(run(&["diff", "diff/output-dirs/a", "diff/nowhere"]), 3);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("stackwright.lock");
    std::fs::write(&bad, "version = 1\nassembly = 3\n").unwrap();
    assert_eq!(
        run(&["diff", "diff/output-dirs/a", bad.to_str().unwrap()]),
        1
    );
    assert_eq!(run(&["diff", "diff/output-dirs/a", "--output", "yaml"]), 2);
}

/// Two real assemblies, the second changing one config value: the diff
/// names exactly those.
#[test]
fn diff_of_two_assembled_platforms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let base = root.join("assemblies/k8s-worker.toml");
    let changed = dir.path().join("worker.toml");
    std::fs::write(
        &changed,
        format!(
            "[assembly]\nname = \"k8s-worker\"\nextends = [\"{}\"]\n\n[components]\nkubelet = {{ version = \"~1.36\", config = {{ max-pods = 200 }} }}\n",
            base.display()
        ),
    )
    .unwrap();
    let write = |asm: &Path, out: &Path| {
        let a = stackwright::Assembler::new()
            .assemble_file_blocking(asm)
            .unwrap();
        std::fs::create_dir_all(out).unwrap();
        let lock = a.outputs().unwrap().remove("stackwright.lock").unwrap();
        std::fs::write(out.join("stackwright.lock"), lock).unwrap();
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write(&base, &a);
    write(&changed, &b);
    let d = stackwright::diff::diff_paths(&a, &b).unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty(), "{d:?}");
    assert_eq!(d.changed.len(), 1, "{d:?}");
    assert_eq!(d.changed[0].id, "kubelet");
    let c = &d.changed[0].changes;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "config.max-pods");
    assert_eq!(c[0].from.as_deref(), Some("57"));
    assert_eq!(c[0].to.as_deref(), Some("200"));
    assert!(stackwright::diff::diff_paths(&a, &a).unwrap().is_empty());
}
