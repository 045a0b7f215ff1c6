//! The Debian packages of the end-to-end test's component library
//! (`tests/e2e/components/`), which `cargo xtask fetch` (and `cargo xtask test`) download
//! with `apt-get download` into `target/e2e-debs/<host>/<path of the URL>`, checked
//! against the SHA256 of Debian's signed index.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test component library.
pub fn library() -> PathBuf {
    workspace().join("tests/e2e/components")
}

/// Where a release file's `url` is cached, relative to the workspace root:
/// `target/e2e-debs/<host>/<path>`.
pub fn cached_path(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    Path::new("target/e2e-debs").join(rest)
}

/// The root the cached packages are served from (`target/e2e-debs`, absolute).
pub fn cache_root() -> PathBuf {
    workspace().join("target/e2e-debs")
}

/// The cached file of `url`, when it has been fetched.
pub fn cached(url: &str) -> Option<PathBuf> {
    Some(workspace().join(cached_path(url))).filter(|p| p.is_file())
}

/// The hint for a package that is not cached.
pub fn fetch_hint(url: &str) -> String {
    format!(
        "{url} is not in target/e2e-debs: `cargo xtask fetch` (or `cargo xtask test`) downloads the \
         Debian packages of tests/e2e/components (or set STACKWRIGHT_SKIP_BOOT_TESTS=1 to skip)"
    )
}
