//! Integration tests live in `tests/*.rs`, fixtures in folders beside them.

use std::path::{Path, PathBuf};

/// Every case folder under `dir` (relative to this crate), sorted; panics when there is none,
/// so a moved fixture directory cannot make a data-driven test pass vacuously.
pub fn case_dirs(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no cases under {dir}");
    v
}

/// Every file the platform's components generated, one after the other under a
/// `=== path (from component, mode)` header: what the snapshots of generated files hold.
pub fn generated_files(a: &stackwright::Assembled) -> String {
    let mut out = String::new();
    for (f, from) in &a.validated.files {
        if from == "assembly" {
            continue;
        }
        out.push_str(&format!(
            "=== {} (from {from}, mode {})\n",
            f.path,
            f.mode.as_deref().unwrap_or("-")
        ));
        let body = f.contents.as_deref().unwrap_or("");
        out.push_str(body);
        if !body.ends_with('\n') {
            out.push_str("\n=== (no newline at end)\n");
        }
    }
    for (id, c) in &a.validated.additions {
        if let Some(cmd) = &c.command {
            out.push_str(&format!("=== {id} container.command\n{}\n", cmd.join(" ")));
        }
        for (what, list) in [("env", &c.env), ("binds", &c.binds)] {
            if !list.is_empty() {
                out.push_str(&format!("=== {id} container.{what}\n{}\n", list.join("\n")));
            }
        }
    }
    out
}
