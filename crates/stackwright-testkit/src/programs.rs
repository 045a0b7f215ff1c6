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

/// Set to `1` to skip tests that run containers with `runc` (they need root).
pub const SKIP_RUNC_ENV: &str = "STACKWRIGHT_SKIP_RUNC_TESTS";

/// `runc` (root needed to run containers), or a panic saying what is missing, unless
/// `STACKWRIGHT_SKIP_RUNC_TESTS=1` (then `None`).
pub fn runc_or_skip() -> Option<PathBuf> {
    let skip = std::env::var(SKIP_RUNC_ENV).is_ok_and(|v| v == "1");
    let found = find_program("runc", "STACKWRIGHT_RUNC").or_else(|| {
        ["/usr/sbin/runc", "/sbin/runc", "/usr/local/sbin/runc"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    });
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    match (found, root) {
        (Some(p), true) => Some(p),
        _ if skip => None,
        (None, _) => panic!(
            "`runc` is not installed: apt-get install -y runc (or set {SKIP_RUNC_ENV}=1 to skip)"
        ),
        (Some(_), false) => {
            panic!("running containers with runc needs root (or set {SKIP_RUNC_ENV}=1 to skip)")
        }
    }
}

/// Set to `1` to skip the tests that check generated configuration with the real daemons
/// (`containerd`, `sshd`, `dockerd`).
pub const SKIP_CONFIG_TOOLS_ENV: &str = "STACKWRIGHT_SKIP_CONFIG_TOOL_TESTS";

/// A daemon that checks its own configuration (`containerd`, `sshd`, …), looked up on
/// `STACKWRIGHT_<NAME>` (a path), `PATH` and the `sbin` directories, or a panic naming the Debian package to install,
/// unless `STACKWRIGHT_SKIP_CONFIG_TOOL_TESTS=1` (then `None`). `cargo xtask test` installs
/// them.
pub fn config_tool_or_skip(name: &str, package: &str) -> Option<PathBuf> {
    let var = format!("STACKWRIGHT_{}", name.to_uppercase());
    let found = find_program(name, &var).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            .into_iter()
            .map(|d| PathBuf::from(d).join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var(SKIP_CONFIG_TOOLS_ENV).is_ok_and(|v| v == "1") => None,
        None => panic!(
            "`{name}` is not installed, and the generated-configuration tests run it: \
             apt-get install -y {package} (cargo xtask test does), or set {SKIP_CONFIG_TOOLS_ENV}=1 to skip"
        ),
    }
}

/// Compiles C `source` with `gcc -static -O2` into `dir/name` and returns its path: a
/// program that runs in an otherwise empty root filesystem. Panics with the compiler's
/// message (e.g. no static libc: `apt-get install -y libc6-dev`).
pub fn static_program(dir: &std::path::Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("writing the test program's source");
    let bin = dir.join(name);
    let out = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("gcc runs (apt-get install -y gcc libc6-dev)");
    assert!(
        out.status.success(),
        "gcc -static failed (is libc6-dev installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}
