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

/// The test program the end-to-end workload runs in a container: says where it runs.
const HELLO_C: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    printf("e2e-hello: hello from a container, pid %d, hostname %s\n", (int)getpid(), host);
    return 0;
}
"#;

/// The reference `ctr images import` gives the test's image (e2e-workload runs it).
pub const HELLO_REF: &str = "stackwright.test/e2e-hello:1";

/// Where the hello archive is "downloaded" from: a host that does not exist (`.test` is
/// reserved), answered only by the platform's proxy.
pub const HELLO_URL: &str = "http://e2e.test/hello.tar";

/// `stackwright run qemu` options of the end-to-end platform (TCG on this machine: the
/// initramfs holds every image, so 2 GiB).
pub const E2E_RUN_ARGS: [&str; 4] = ["--timeout", "600", "--mem", "2048"];

/// The end-to-end platform (`tests/e2e/platform.toml`) ready to assemble, for the test
/// (crates/stackwright-cli/tests/e2e.rs) and `cargo xtask bench`: a temporary directory with
/// the test's own component (`e2e-hello-image`: the OCI archive of a static program, as a
/// release file at `/srv/e2e/hello.tar`), the assembly (the platform plus that component,
/// the library at its absolute path), and a [`crate::FileServer`] used as the only HTTP
/// proxy: it serves Debian's archive from `target/e2e-debs` and `e2e.test` from the
/// directory, and nothing else.
pub struct E2ePlatform {
    pub dir: tempfile::TempDir,
    pub server: crate::FileServer,
    pub assembly: PathBuf,
}

impl E2ePlatform {
    /// Panics when something is missing (the fetched packages, gcc's static libc).
    pub fn new() -> E2ePlatform {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let srv = dir.path().join("srv");
        std::fs::create_dir_all(srv.join("e2e.test")).expect("srv");
        std::os::unix::fs::symlink(
            cache_root()
                .join("deb.debian.org")
                .canonicalize()
                .expect("target/e2e-debs/deb.debian.org (cargo xtask fetch)"),
            srv.join("deb.debian.org"),
        )
        .expect("linking the archive");
        let archive = hello_archive(dir.path());
        let sha = stackwright_oci::sha256_digest(&archive);
        let sha = sha.trim_start_matches("sha256:");
        std::fs::write(srv.join("e2e.test/hello.tar"), &archive).expect("hello.tar");
        std::fs::create_dir_all(dir.path().join("components")).expect("components");
        std::fs::write(
            dir.path().join("components/e2e-hello-image.toml"),
            hello_component(sha),
        )
        .expect("the hello component");
        let assembly = test_assembly(dir.path());
        let server = crate::FileServer::start(&srv).expect("the file server");
        E2ePlatform {
            dir,
            server,
            assembly,
        }
    }

    /// `stackwright assemble … --pull --format kernel+initrd` into `out`, with a cache in the
    /// directory and the file server as the only proxy (HTTP and HTTPS, no exceptions).
    pub fn assemble(&self, bin: &Path, out: &Path) -> std::process::Command {
        let mut c = std::process::Command::new(bin);
        c.arg("assemble")
            .arg(&self.assembly)
            .arg("--out")
            .arg(out)
            .arg("--cache")
            .arg(self.dir.path().join("cache"))
            .args(["--pull", "--format", "kernel+initrd"])
            .env("HOME", self.dir.path())
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
            c.env(var, self.server.url());
        }
        c
    }
}

impl Default for E2ePlatform {
    fn default() -> Self {
        E2ePlatform::new()
    }
}

fn hello_archive(dir: &Path) -> Vec<u8> {
    let bin = crate::static_program(dir, "hello", HELLO_C);
    let bytes = std::fs::read(bin).expect("the test program");
    let img = crate::image(
        "amd64",
        vec![crate::layer_with_modes(&[("hello", 0o755, &bytes)])],
    );
    crate::oci_archive(HELLO_REF, &img)
}

/// The hello image's component: the archive as a release file (`binary`) at
/// `/srv/e2e/hello.tar` in the root filesystem.
fn hello_component(sha256: &str) -> String {
    format!(
        r#"id = "e2e-hello-image"
category = "observability"
summary = "The OCI archive the end-to-end test built (a static test program), at /srv/e2e/hello.tar"
stage = "init"
arch = ["amd64"]

[[release]]
version = "1.0.0"

[[release.files]]
arch = "amd64"
url = "{HELLO_URL}"
sha256 = "{sha256}"
checksum_source = "computed by the end-to-end test from the archive it built"
format = "binary"
path = "srv/e2e/hello.tar"
mode = "0644"
"#
    )
}

/// tests/e2e/platform.toml with the library at its absolute path, the test's own
/// components beside it, and the hello image.
fn test_assembly(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("tests/e2e/platform.toml"))
        .expect("tests/e2e/platform.toml");
    let lib = library().canonicalize().expect("tests/e2e/components");
    let paths = format!(
        "component_paths = [{:?}, \"components\"]",
        lib.display().to_string()
    );
    assert!(text.contains("component_paths = [\"components\"]\n"));
    assert!(text.contains("e2e-poweroff = \"*\"\n"));
    let text = text
        .replace(
            "component_paths = [\"components\"]\n",
            &format!("{paths}\n"),
        )
        .replace(
            "e2e-poweroff = \"*\"\n",
            "e2e-poweroff = \"*\"\ne2e-hello-image = \"*\"\n",
        );
    let p = dir.join("e2e.toml");
    std::fs::write(&p, text).expect("the assembly");
    p
}
