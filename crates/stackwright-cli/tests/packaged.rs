//! Packaged components end to end: `stackwright assemble --pull --format tar` on an
//! assembly whose every component is built by Stackwright from release files served on
//! 127.0.0.1 (testkit's `FileServer`): a static test program (`format = "binary"`), a
//! `.tar.gz` and a `.deb` made with `dpkg-deb --build`. The fixture is
//! `tests/packaged/` (manifest templates; the URL and sha256 are filled in here).
//!
//! Covered: the images are built, pinned by digest in linuxkit.yml and the lock, pulled
//! into the layout (skopeo reads it) and the root filesystem, and runc runs the packaged
//! program; a rerun downloads nothing and builds nothing (each image reused, checked);
//! another cache gives the same digests; `--push-packages` to the real local
//! docker-registry names the pushed images by digest (skopeo inspects them); a tampered
//! file is exit 3 naming URL and both digests with nothing written; a 404 names the
//! component and URL; a cut connection resumes; `--offline` with an empty cache names
//! every missing file and asks nothing; a release without a checksum is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use stackwright_testkit::{self as testing, FileServer};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

const HELLO: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *g = getenv("GREETING");
    printf("packaged %s: %s GREETING=%s\n", argv[0], argc > 1 ? argv[1] : "-", g ? g : "(unset)");
    return 0;
}
"#;

/// The artifacts the fixture's manifests name, built once per test into `dir/srv`.
struct Artifacts {
    srv: PathBuf,
    /// served path (relative) → its bytes
    files: BTreeMap<String, Vec<u8>>,
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn artifacts(dir: &Path) -> Artifacts {
    let srv = dir.join("srv");
    std::fs::create_dir_all(srv.join("releases")).unwrap();
    std::fs::create_dir_all(srv.join("pool")).unwrap();
    let build = dir.join("build");
    std::fs::create_dir_all(&build).unwrap();
    let hello = testing::static_program(&build, "hello", HELLO);
    let hello_bytes = std::fs::read(&hello).unwrap();
    let mut files = BTreeMap::new();
    files.insert("releases/hello".to_string(), hello_bytes.clone());

    // A .tar.gz with a directory of programs and a README (and a member no rule takes).
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, mode, bytes) in [
        ("tools/bin/hello-tar", 0o755, hello_bytes.as_slice()),
        ("tools/README", 0o644, b"tools 2.0.0\n".as_slice()),
        ("tools/LICENSE", 0o644, b"test\n".as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes).unwrap();
    }
    let tgz = tar.into_inner().unwrap().finish().unwrap();
    files.insert("releases/tools-2.0.0.tar.gz".to_string(), tgz);

    // The stand-in kernel's modules: a plain tar, taken as it is.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "lib/modules/README", b"none".as_slice())
        .unwrap();
    files.insert("releases/kernel.tar".to_string(), tar.into_inner().unwrap());

    // A .deb, built by dpkg-deb itself.
    let pkg = build.join("debtool");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/bin")).unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: debtool\nVersion: 3.0.0\nArchitecture: amd64\nMaintainer: Stackwright tests <tests@example.invalid>\nDescription: a test package\n",
    )
    .unwrap();
    std::fs::copy(&hello, pkg.join("usr/bin/hello-deb")).unwrap();
    let dpkg_deb = testing::find_program("dpkg-deb", "STACKWRIGHT_DPKG_DEB")
        .expect("dpkg-deb is installed (apt-get install -y dpkg)");
    let deb = build.join("debtool.deb");
    run_ok(
        Command::new(dpkg_deb)
            .args(["--root-owner-group", "--build"])
            .arg(&pkg)
            .arg(&deb),
    );
    files.insert(
        "pool/debtool_3.0.0_amd64.deb".to_string(),
        std::fs::read(&deb).unwrap(),
    );
    for (rel, bytes) in &files {
        std::fs::write(srv.join(rel), bytes).unwrap();
    }
    Artifacts { srv, files }
}

fn sha256_hex(bytes: &[u8]) -> String {
    stackwright::types::hex::encode(&Sha256::digest(bytes))
}

/// The fixture with `@SERVER@` and `@SHA256:<file>@` filled in, under `dir/assembly`.
/// `edit` may change a manifest's text (by file name) before it is written.
fn fixture(
    dir: &Path,
    server: &FileServer,
    art: &Artifacts,
    edit: &dyn Fn(&str, String) -> String,
) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packaged");
    let dst = dir.join("assembly");
    std::fs::create_dir_all(dst.join("components")).unwrap();
    for rel in ["assembly.toml"].into_iter().map(String::from).chain(
        std::fs::read_dir(src.join("components"))
            .unwrap()
            .map(|e| format!("components/{}", e.unwrap().file_name().to_string_lossy())),
    ) {
        let mut text = std::fs::read_to_string(src.join(&rel)).unwrap();
        text = text.replace("@SERVER@", &server.url());
        for (path, bytes) in &art.files {
            let name = path.rsplit('/').next().unwrap();
            text = text.replace(&format!("@SHA256:{name}@"), &sha256_hex(bytes));
        }
        let name = rel.rsplit('/').next().unwrap().to_string();
        std::fs::write(dst.join(&rel), edit(&name, text)).unwrap();
    }
    dst.join("assembly.toml")
}

fn no_edit(_: &str, t: String) -> String {
    t
}

fn assemble(assembly: &Path, out: &Path, cache: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("assemble")
        .arg(assembly)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .args(extra)
        .env("HOME", cache.parent().unwrap())
        .env_remove("XDG_CACHE_HOME")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("stackwright runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// How many progress lines start with `prefix` and name a `stackwright.local/` image
/// (`built …` or `reused …`).
fn built_lines(o: &Output, prefix: &str) -> usize {
    stderr(o)
        .lines()
        .filter(|l| {
            l.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with("stackwright.local/"))
        })
        .count()
}

/// A blob's path in a cache.
fn blob(cache: &Path, digest: &str) -> std::path::PathBuf {
    cache
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The `stackwright.local/<id>:<v>@sha256:…` references of linuxkit.yml (init entries
/// and `image:` lines), in order.
fn local_images(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("linuxkit.yml"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.find("stackwright.local/")
                .map(|i| l[i..].trim().trim_matches(['"', '\'']).to_string())
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn packaged_components_are_fetched_built_pinned_pulled_and_run() {
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &no_edit);
    let cache = work.path().join("cache");
    let out = work.path().join("out");
    let first = assemble(&assembly, &out, &cache, &["--pull", "--format", "tar"]);
    assert!(
        first.status.success(),
        "assemble failed: {}",
        stderr(&first)
    );

    // Every component is in linuxkit.yml, pinned by the built digest; no SW0515 hint is
    // needed for the layout, and the lock records the same digests and the files.
    let images = local_images(&out);
    assert_eq!(images.len(), 5, "{images:?}");
    for id in ["hello", "tools", "debtool", "tinykernel", "tinyinit"] {
        assert!(
            images
                .iter()
                .any(|i| i.starts_with(&format!("stackwright.local/{id}:"))
                    && i.contains("@sha256:")),
            "{id} pinned: {images:?}"
        );
    }
    let lock = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    for i in &images {
        let digest = i.split_once('@').unwrap().1;
        assert!(lock.contains(digest), "the lock records {digest}");
    }
    assert!(lock.contains(&format!("{}/releases/tools-2.0.0.tar.gz", server.url())));

    // Each file was downloaded once (hello serves three components).
    for path in [
        "/releases/hello",
        "/releases/kernel.tar",
        "/releases/tools-2.0.0.tar.gz",
        "/pool/debtool_3.0.0_amd64.deb",
    ] {
        assert_eq!(server.gets(path).len(), 1, "{path}");
    }

    // The layout holds the built images; skopeo reads them.
    if let Some(skopeo) = testing::skopeo_or_skip() {
        let hello = images.iter().find(|i| i.contains("/hello:")).unwrap();
        let (name, digest) = hello.split_once('@').unwrap();
        let o = run_ok(
            Command::new(skopeo)
                .arg("inspect")
                .arg(format!("oci:{}:{name}", out.join("images").display())),
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Digest"].as_str(), Some(digest));
        assert_eq!(v["Architecture"].as_str(), Some("amd64"));
    }

    // The root filesystem has what each rule took; runc runs the packaged program.
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xpf")
            .arg(out.join("packaged.tar"))
            .arg("--numeric-owner")
            .arg("-C")
            .arg(&root),
    );
    let tools = root.join("containers/onboot");
    let tools_root = std::fs::read_dir(&tools)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("tools"))
        .unwrap_or_else(|| panic!("tools under {}", tools.display()))
        .join("rootfs");
    assert_eq!(
        std::fs::read_link(tools_root.join("usr/bin/hello-link")).unwrap(),
        Path::new("hello-tar")
    );
    assert_eq!(
        std::fs::read_to_string(tools_root.join("usr/share/doc/tools/README")).unwrap(),
        "tools 2.0.0\n"
    );
    assert_eq!(
        std::fs::read_to_string(tools_root.join("etc/tools.conf")).unwrap(),
        "greeting = tar\n"
    );
    assert!(!tools_root.join("usr/share/doc/tools/LICENSE").exists());
    let deb_root = std::fs::read_dir(&tools)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("debtool"))
        .unwrap()
        .join("rootfs");
    assert_eq!(
        std::fs::read(deb_root.join("usr/bin/hello-deb")).unwrap(),
        art.files["releases/hello"]
    );
    if let Some(runc) = testing::runc_or_skip() {
        let state = work.path().join("runc-state");
        let id = format!("sw-packaged-{}", std::process::id());
        let result = Command::new(&runc)
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(root.join("containers/services/hello"))
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let _ = Command::new(&runc)
            .arg("--root")
            .arg(&state)
            .args(["delete", "-f", &id])
            .output();
        assert!(
            result.status.success(),
            "runc run failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&result.stdout).trim(),
            "packaged /usr/bin/hello: from-image GREETING=packaged"
        );
    }

    // The first run built every image and recorded it by its inputs.
    assert_eq!(built_lines(&first, "built "), 5, "{}", stderr(&first));
    assert_eq!(std::fs::read_dir(cache.join("built")).unwrap().count(), 5);

    // A rerun downloads nothing, builds nothing (each image reused from the cache) and
    // writes the same outputs.
    let before = server.requests().len();
    let out2 = work.path().join("out2");
    let o = assemble(&assembly, &out2, &cache, &["--pull", "--format", "tar"]);
    assert!(o.status.success(), "rerun failed: {}", stderr(&o));
    assert_eq!(server.requests().len(), before, "a rerun downloads nothing");
    assert_eq!(built_lines(&o, "built "), 0, "{}", stderr(&o));
    assert_eq!(built_lines(&o, "reused "), 5, "{}", stderr(&o));
    for f in [
        "linuxkit.yml",
        "stackwright.lock",
        "images/index.json",
        "packaged.tar",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f}"
        );
    }

    // Reuse is checked: with hello's layer gone from the cache, its image is built again
    // (the same digest); the others are still reused.
    let hello = images.iter().find(|i| i.contains("/hello:")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(&cache, hello.split_once('@').unwrap().1)).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(blob(
        &cache,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let o = assemble(&assembly, &work.path().join("out4"), &cache, &["--pull"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(built_lines(&o, "built "), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("built {}", hello.split_once('@').unwrap().0)));
    assert_eq!(local_images(&work.path().join("out4")), images);

    // Another cache (another machine): downloaded again, the same image digests.
    let o = assemble(
        &assembly,
        &work.path().join("out3"),
        &work.path().join("cache3"),
        &["--pull"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(local_images(&work.path().join("out3")), images);
}

#[test]
fn a_tampered_file_is_exit_3_naming_url_and_digests_with_nothing_written() {
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &no_edit);
    // The server's tarball changes after its checksum was taken.
    let mut tampered = art.files["releases/tools-2.0.0.tar.gz"].clone();
    let n = tampered.len();
    tampered[n / 2] ^= 0x40;
    std::fs::write(art.srv.join("releases/tools-2.0.0.tar.gz"), &tampered).unwrap();
    let cache = work.path().join("cache");
    let out = work.path().join("out");
    let o = assemble(&assembly, &out, &cache, &["--pull"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}/releases/tools-2.0.0.tar.gz", server.url())),
        "{err}"
    );
    assert!(err.contains("tools 2.0.0"), "{err}");
    assert!(
        err.contains(&sha256_hex(&art.files["releases/tools-2.0.0.tar.gz"])),
        "expected digest: {err}"
    );
    assert!(err.contains(&sha256_hex(&tampered)), "actual digest: {err}");
    assert!(!out.exists(), "no output");
    let cached = files_under(&cache);
    let (t, e) = (
        sha256_hex(&tampered),
        sha256_hex(&art.files["releases/tools-2.0.0.tar.gz"]),
    );
    assert!(
        !cached
            .iter()
            .any(|f| !f.starts_with("locks/") && (f.ends_with(&t) || f.ends_with(&e))),
        "no cache entry or partial file for the tampered file: {cached:?}"
    );
}

#[test]
fn a_missing_file_names_component_and_url_and_a_cut_connection_resumes() {
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &no_edit);
    let cache = work.path().join("cache");
    let out = work.path().join("out");

    server.fail("/pool/debtool_3.0.0_amd64.deb", 404, 1);
    let o = assemble(&assembly, &out, &cache, &["--pull"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("debtool 3.0.0")
            && err.contains(&format!("{}/pool/debtool_3.0.0_amd64.deb", server.url()))
            && err.contains("404"),
        "{err}"
    );
    assert!(!out.exists());

    // The connection breaks off in the middle of the tarball: the download continues
    // from where it stopped (a Range request), and the run succeeds.
    let tgz = "/releases/tools-2.0.0.tar.gz";
    let half = art.files["releases/tools-2.0.0.tar.gz"].len() as u64 / 2;
    // (A fresh cache: the failed run may have left a partial tarball behind, which
    // would be resumed too, but from a point that depends on timing.)
    server.cut(tgz, half);
    let o = assemble(&assembly, &out, &work.path().join("cache2"), &["--pull"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let gets = server.gets(tgz);
    let last_two = &gets[gets.len() - 2..];
    assert_eq!(last_two[0].body_bytes, half, "{gets:?}");
    assert_eq!(
        (last_two[1].range_start, last_two[1].status),
        (Some(half), 206),
        "{gets:?}"
    );
    assert_eq!(local_images(&out).len(), 5);
}

#[test]
fn offline_uses_only_the_cache_and_names_every_missing_file() {
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &no_edit);
    let cache = work.path().join("cache");
    let out = work.path().join("out");
    let o = assemble(&assembly, &out, &cache, &["--offline", "--pull"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    for (path, owner) in [
        ("releases/hello", "hello 1.0.0"),
        ("releases/tools-2.0.0.tar.gz", "tools 2.0.0"),
        ("pool/debtool_3.0.0_amd64.deb", "debtool 3.0.0"),
    ] {
        assert!(
            err.contains(&format!("{}/{path}", server.url())) && err.contains(owner),
            "{path}: {err}"
        );
    }
    assert!(server.requests().is_empty(), "offline asks nothing");
    assert!(!out.exists());

    // Filled once online, the cache is enough offline.
    let o = assemble(&assembly, &out, &cache, &["--pull"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let n = server.requests().len();
    let out2 = work.path().join("out2");
    let o = assemble(
        &assembly,
        &out2,
        &cache,
        &["--offline", "--pull", "--format", "tar"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.requests().len(), n);
    assert!(out2.join("packaged.tar").is_file());
}

#[test]
fn a_release_without_a_checksum_is_refused_before_any_download() {
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &|name, text| {
        if name == "debtool.toml" {
            text.replace(
                "stage = \"onboot\"",
                "stage = \"onboot\"\nverified = false\nunverified = [\"release 3.0.0: upstream publishes no checksum\"]",
            )
            .lines()
            .filter(|l| !l.starts_with("sha256 =") && !l.starts_with("checksum_source ="))
            .map(|l| format!("{l}\n"))
            .collect()
        } else {
            text
        }
    });
    let out = work.path().join("out");
    let o = assemble(&assembly, &out, &work.path().join("cache"), &["--pull"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("debtool 3.0.0")
            && err.contains("no sha256")
            && err.contains("upstream publishes no checksum")
            && err.contains("debtool.toml"),
        "{err}"
    );
    assert!(err.contains("sha256 = "), "a hint on supplying one: {err}");
    assert!(server.requests().is_empty(), "nothing downloaded");
    assert!(!out.exists());
}

/// Every file under `cache/blobs/` hashes to its name (complete, never half-written).
fn assert_cache_blobs_complete(cache: &Path) {
    for rel in files_under(&cache.join("blobs")) {
        let hex = rel.rsplit('/').next().unwrap();
        let bytes = std::fs::read(cache.join("blobs").join(&rel)).unwrap();
        assert_eq!(sha256_hex(&bytes), hex, "cache blob {rel} is corrupt");
    }
}

/// Issue 12's shared cache: eight `assemble --pin --pull` runs started at once on one
/// `--cache` (each with its own output), for an assembly with an image from a real
/// registry (docker-registry on 127.0.0.1) and packaged components from the file server.
/// All succeed with identical outputs, every blob and file is downloaded once (the others
/// wait for its lock and find it complete), and the cache holds only complete blobs.
#[test]
fn eight_runs_at_once_share_one_cache() {
    let Some(reg) = testing::LocalRegistry::start_or_skip() else {
        return;
    };
    let img = testing::image(
        "amd64",
        vec![
            testing::big_layer(21, 3 << 20),
            testing::big_layer(22, 3 << 20),
            testing::layer(&[("etc/svc.conf", b"svc\n")]),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(reg.push_image("shared/svc", "1", &img))
        .unwrap();

    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    // Hold requests a little, so the runs really overlap.
    server.delay(std::time::Duration::from_millis(50));
    let assembly = fixture(work.path(), &server, &art, &|name, text| {
        if name == "assembly.toml" {
            text.replace("hello = \"*\"", "hello = \"*\"\nregsvc = \"*\"")
        } else {
            text
        }
    });
    std::fs::write(
        assembly.parent().unwrap().join("components/regsvc.toml"),
        format!(
            "id = \"regsvc\"\ncategory = \"observability\"\nsummary = \"an image from a registry\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\nimage = \"{}/shared/svc:1\"\n",
            reg.host()
        ),
    )
    .unwrap();
    let cache = work.path().join("cache");
    let children: Vec<_> = (0..8)
        .map(|i| {
            Command::new(BIN)
                .arg("assemble")
                .arg(&assembly)
                .arg("--out")
                .arg(work.path().join(format!("out{i}")))
                .arg("--cache")
                .arg(&cache)
                .args(["--pin", "--pull", "--insecure-registry", &reg.host()])
                .env("HOME", work.path())
                .env_remove("XDG_CACHE_HOME")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for (i, o) in results.iter().enumerate() {
        assert!(o.status.success(), "run {i} failed: {}", stderr(o));
    }
    let first = work.path().join("out0");
    for i in 1..8 {
        let out = work.path().join(format!("out{i}"));
        for f in ["linuxkit.yml", "stackwright.lock", "images/index.json"] {
            assert_eq!(
                std::fs::read(first.join(f)).unwrap(),
                std::fs::read(out.join(f)).unwrap(),
                "run {i}: {f}"
            );
        }
        assert_eq!(files_under(&first), files_under(&out), "run {i}");
    }
    assert!(
        std::fs::read_to_string(first.join("linuxkit.yml"))
            .unwrap()
            .contains(&format!("{}/shared/svc:1@sha256:", reg.host())),
        "the registry image is pinned"
    );
    assert_cache_blobs_complete(&cache);
    for path in [
        "/releases/hello",
        "/releases/kernel.tar",
        "/releases/tools-2.0.0.tar.gz",
        "/pool/debtool_3.0.0_amd64.deb",
    ] {
        assert_eq!(server.gets(path).len(), 1, "{path} downloaded once");
    }
    let mut gets = reg.blob_gets();
    gets.sort();
    for l in &img.layers {
        let n = gets.iter().filter(|(d, _)| *d == l.digest).count();
        assert_eq!(n, 1, "layer {} downloaded once: {gets:?}", l.digest);
    }
}

/// `--push-packages REGISTRY/PREFIX`: every built image is pushed to the real local
/// docker-registry under `PREFIX/<id>:<tag>` and named there, pinned by the same digest
/// as the local build, in linuxkit.yml and the lock; SW0515 is gone; skopeo inspects the
/// pushed images; the root filesystem is built from the pushed names. Without the flag,
/// SW0515 says how to publish.
#[test]
fn push_packages_pushes_the_built_images_and_pins_them_there() {
    let Some(reg) = testing::LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let art = artifacts(work.path());
    let server = FileServer::start(&art.srv).unwrap();
    let assembly = fixture(work.path(), &server, &art, &no_edit);
    let cache = work.path().join("cache");

    let local_out = work.path().join("local");
    let o = assemble(&assembly, &local_out, &cache, &["--pull"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SW0515") && stderr(&o).contains("--push-packages REGISTRY/PREFIX"),
        "SW0515 says how to publish: {}",
        stderr(&o)
    );
    let local = local_images(&local_out);
    assert_eq!(local.len(), 5, "{local:?}");

    let host = reg.host();
    let prefix = format!("{host}/platform");
    let out = work.path().join("pushed");
    let o = assemble(
        &assembly,
        &out,
        &cache,
        &[
            "--push-packages",
            &prefix,
            "--insecure-registry",
            &host,
            "--format",
            "tar",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("SW0515"), "{}", stderr(&o));
    let yml = std::fs::read_to_string(out.join("linuxkit.yml")).unwrap();
    assert!(!yml.contains("stackwright.local/"), "{yml}");
    let lock = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    assert!(!lock.contains("stackwright.local/"), "{lock}");
    for l in &local {
        let pushed = l.replacen("stackwright.local", &prefix, 1);
        assert!(yml.contains(&pushed), "linuxkit.yml names {pushed}:\n{yml}");
        let (name, digest) = pushed.split_once('@').unwrap();
        assert!(lock.contains(&format!("\"{name}\"")), "lock names {name}");
        assert!(lock.contains(digest), "lock pins {digest}");
        if let Some(skopeo) = testing::skopeo_or_skip() {
            let o = run_ok(
                Command::new(&skopeo)
                    .args(["inspect", "--tls-verify=false"])
                    .arg(format!("docker://{name}")),
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["Digest"].as_str(), Some(digest), "{name}");
            assert_eq!(v["Architecture"].as_str(), Some("amd64"), "{name}");
        }
    }
    assert!(out.join("packaged.tar").is_file());

    // A bad prefix is a usage error naming it.
    let o = assemble(
        &assembly,
        &work.path().join("bad"),
        &cache,
        &["--push-packages", "Not A/Registry"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--push-packages Not A/Registry"),
        "{}",
        stderr(&o)
    );
}
