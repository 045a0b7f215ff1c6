//! Finding the external programs tests need (`docker-registry`, `skopeo`, `umoci`), and
//! the switch that skips registry tests on a machine without them.

use std::path::PathBuf;

/// Set to `1` to skip tests that need `docker-registry` and `skopeo`.
pub const SKIP_ENV: &str = "STACKWRIGHT_SKIP_REGISTRY_TESTS";

/// Whether the user asked to skip registry tests.
pub fn skip_requested() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// Finds a program on `PATH` (or the path in env var `override_var`).
pub fn find_program(name: &str, override_var: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `skopeo`, or a panic explaining how to get it (unless registry tests are skipped: `None`).
pub fn skopeo_or_skip() -> Option<PathBuf> {
    program_or_skip("skopeo", "STACKWRIGHT_SKOPEO", "skopeo")
}

/// `umoci`, or a panic explaining how to get it (unless registry tests are skipped: `None`).
pub fn umoci_or_skip() -> Option<PathBuf> {
    program_or_skip("umoci", "STACKWRIGHT_UMOCI", "umoci")
}

fn program_or_skip(name: &str, var: &str, package: &str) -> Option<PathBuf> {
    if skip_requested() {
        return None;
    }
    match find_program(name, var) {
        Some(p) => Some(p),
        None => panic!(
            "`{name}` is not installed, and registry tests need it. Install it with \
             `apt-get install -y {package}` (Debian), point {var} at it, or set {SKIP_ENV}=1 to skip these tests."
        ),
    }
}
