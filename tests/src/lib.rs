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
