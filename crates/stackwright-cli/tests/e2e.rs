#![allow(clippy::print_stderr)] // says why it skips
//! End to end with Debian-built parts (issue 20).
//!
//! The component library `tests/e2e/components/` describes Debian 12's kernel, runc,
//! containerd, CNI plugins and etcd as ordinary manifests whose release files are Debian's
//! `.deb`s (URL on Debian's archive, sha256 from its signed index). `cargo xtask fetch`
//! downloads them into `target/e2e-debs/`, checked against that index.
//!
//! - `the_debian_library_packages_into_images_whose_programs_run`: every library component
//!   loads with the built-in registry; its files' sha256 are the cached files' own; its
//!   image, built by `stackwright-package` from the `.deb`s by the manifest's rules, holds
//!   the files `tests/e2e/checks.toml` lists, and its programs run from the unpacked image
//!   under `chroot` (so with the libraries the image carries, none of the host's).
//!
//! - `debian_containerd_configures_as_the_builtin_containerd`: the copied typed config and
//!   `[[generate]]` stay the built-in containerd's.
//! - `a_debian_built_platform_boots_and_containerd_runs_a_container`: the whole mission
//!   (`testkit::debian::E2ePlatform`: tests/e2e/platform.toml plus the test's OCI archive):
//!   assembled with `--pull --format kernel+initrd` through the test's proxy (the only
//!   network), booted with `run qemu`; asserted from the console and the proxy's log.
//!
//! Needs the fetched packages, root (chroot) and qemu; missing one is a failure with the
//! command to run, unless `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use stackwright::oci::Cache;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;
use stackwright_testkit::debian;

fn skip(why: &str) -> bool {
    if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
        eprintln!("skipping the end-to-end test: {why}");
        return true;
    }
    panic!("{why}");
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The library's manifests, by id.
fn library() -> BTreeMap<String, (PathBuf, Manifest)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(debian::library()).expect("tests/e2e/components") {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let src = SourceText::new(path.display().to_string(), text);
        let m = Manifest::parse(&src, Some(&stem))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.insert(stem, (path, m));
    }
    out
}

/// Every release file of the library is fetched, or why not.
fn missing_files(lib: &BTreeMap<String, (PathBuf, Manifest)>) -> Option<String> {
    lib.values()
        .flat_map(|(_, m)| m.releases.iter().flat_map(|r| r.files.iter()))
        .find(|f| debian::cached(&f.url).is_none())
        .map(|f| debian::fetch_hint(&f.url))
}

fn sha256_file(p: &Path) -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(p).unwrap());
    stackwright::types::hex::encode(&h.finalize())
}

/// The image of the manifest's (only) release for amd64, built into `cache` from the
/// cached `.deb`s with its `[package]` entrypoint.
fn build_image(m: &Manifest, cache: &Cache) -> stackwright_package::BuiltImage {
    assert_eq!(m.releases.len(), 1, "{}: one release", m.id);
    let mut b = stackwright_package::LocalImage::builder("amd64");
    if let Some(ep) = &m.package.entrypoint {
        b = b.entrypoint(ep.clone());
    }
    for f in &m.releases[0].files {
        let path = debian::cached(&f.url).expect("checked");
        b = stackwright_package::add_release_file(b, f, &path, Default::default())
            .unwrap_or_else(|e| panic!("{}: packaging {}: {e}", m.id, f.url));
    }
    b.build(cache).unwrap_or_else(|e| panic!("{}: {e}", m.id))
}

fn unpack(cache: &Cache, img: &stackwright_package::BuiltImage, into: &Path) {
    for l in &img.layers {
        let f = std::fs::File::open(cache.blob_path(&l.digest)).unwrap();
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
        a.set_preserve_permissions(true);
        a.unpack(into).unwrap();
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    bzimage: Option<String>,
    #[serde(default)]
    run: Vec<Run>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    argv: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    expect: String,
}

#[test]
fn the_debian_library_packages_into_images_whose_programs_run() {
    let lib = library();
    assert!(
        lib.len() >= 5,
        "the library has the kernel, runc, containerd, CNI plugins, etcd"
    );
    if let Some(why) = missing_files(&lib) {
        if skip(&why) {
            return;
        }
    }
    if !is_root() && skip("running the packaged programs with chroot needs root") {
        return;
    }
    // The library loads with the built-in components (capabilities known, no clashes).
    let mut reg = stackwright::RegistryBuilder::with_builtin();
    reg.add_dir(&debian::library(), "tests/e2e/components/")
        .expect("reading tests/e2e/components");
    reg.build()
        .unwrap_or_else(|e| panic!("the library does not load with the built-ins: {e:?}"));
    let checks: BTreeMap<String, Check> = toml::from_str(
        &std::fs::read_to_string(debian::workspace().join("tests/e2e/checks.toml")).unwrap(),
    )
    .expect("tests/e2e/checks.toml");
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    for (id, (path, m)) in &lib {
        let check = checks
            .get(id)
            .unwrap_or_else(|| panic!("tests/e2e/checks.toml has no [{id}]"));
        for f in m.releases.iter().flat_map(|r| r.files.iter()) {
            let want = f.sha256.as_ref().map(|s| s.to_string());
            let got = sha256_file(&debian::cached(&f.url).unwrap());
            assert_eq!(
                want.as_deref(),
                Some(got.as_str()),
                "{}: sha256 of {}",
                path.display(),
                f.url
            );
            assert!(
                f.checksum_source.as_deref().is_some_and(|s| s
                    .starts_with("http://deb.debian.org/")
                    && s.ends_with("/Packages.xz")),
                "{}: the checksum's source is Debian's index",
                path.display()
            );
        }
        let img = build_image(m, &cache);
        if id == "debian-runc" {
            // Built twice, the same digest (reproducible packaging of real .debs).
            assert_eq!(
                build_image(m, &cache).manifest.digest,
                img.manifest.digest,
                "{id}"
            );
        }
        let root = dir.path().join(id);
        std::fs::create_dir_all(&root).unwrap();
        unpack(&cache, &img, &root);
        for f in &check.files {
            assert!(
                root.join(f).symlink_metadata().is_ok(),
                "{id}: the image has no {f}"
            );
        }
        if let Some(k) = &check.bzimage {
            let bytes = std::fs::read(root.join(k)).unwrap();
            assert_eq!(&bytes[0x202..0x206], b"HdrS", "{id}: {k} is a bzImage");
        }
        for r in &check.run {
            let out = Command::new("/usr/sbin/chroot")
                .arg(&root)
                .args(&r.argv)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .envs(r.env.iter().filter_map(|e| e.split_once('=')))
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains(&r.expect),
                "{id}: `{}` in the image printed\n{text}\n(expected `{}`)",
                r.argv.join(" "),
                r.expect
            );
        }
    }
}

/// `debian-containerd` is configured exactly as the built-in containerd is: the same
/// `[config]` schema and the same `[[generate]]` entries (copied, and kept equal here), so
/// the end-to-end boot proves the built-in component's generated config.toml.
#[test]
fn debian_containerd_configures_as_the_builtin_containerd() {
    let read = |p: PathBuf| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let builtin = read(debian::workspace().join("components/runtime/containerd.toml"));
    let debian = read(debian::library().join("debian-containerd.toml"));
    for key in ["config", "generate"] {
        assert!(
            builtin.contains_key(key),
            "the built-in containerd has `{key}`"
        );
        assert_eq!(
            builtin.get(key),
            debian.get(key),
            "tests/e2e/components/debian-containerd.toml's `{key}` must be components/runtime/containerd.toml's: copy it again"
        );
    }
}
const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

/// The whole mission (issue 20): the Debian-built platform is assembled (`--pull --format
/// kernel+initrd`: its images packaged from the .debs, downloaded through the test's
/// server), booted under qemu, and containerd runs the test's container while etcd answers.
/// Nothing else is contacted: the only way out is the test's proxy, whose log must hold
/// exactly the platform's release files, fetched once each, and no CONNECT (HTTPS).
#[test]
fn a_debian_built_platform_boots_and_containerd_runs_a_container() {
    let lib = library();
    if let Some(why) = missing_files(&lib) {
        if skip(&why) {
            return;
        }
    }
    if stackwright_testkit::boot::which("qemu-system-x86_64").is_none()
        && skip("qemu-system-x86_64 is needed: apt-get install -y qemu-system-x86")
    {
        return;
    }
    let p = debian::E2ePlatform::new();
    let out = p.dir.path().join("out");
    let started = std::time::Instant::now();
    let a = p
        .assemble(Path::new(BIN), &out)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let assembled = started.elapsed();
    assert!(
        a.status.success(),
        "assemble failed:\n{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&a.stderr)
    );
    // Every image is one Stackwright built: no registry image at all.
    let yml = std::fs::read_to_string(out.join("linuxkit.yml")).unwrap();
    let yml: serde_yaml::Value = serde_yaml::from_str(&yml).unwrap();
    let mut images: Vec<&str> = vec![yml["kernel"]["image"].as_str().unwrap()];
    images.extend(
        yml["init"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap()),
    );
    for section in ["onboot", "services", "onshutdown"] {
        if let Some(list) = yml[section].as_sequence() {
            images.extend(list.iter().map(|c| c["image"].as_str().unwrap()));
        }
    }
    assert_eq!(images.len(), 9, "{images:?}");
    for img in images {
        assert!(
            img.starts_with("stackwright.local/") && img.contains("@sha256:"),
            "{img}"
        );
    }
    // The proxy saw exactly the platform's files, once each, and no HTTPS tunnel.
    let mut want: Vec<String> = lib
        .values()
        .flat_map(|(_, m)| m.releases.iter().flat_map(|r| r.files.iter()))
        .map(|f| f.url.clone())
        .chain([debian::HELLO_URL.to_string()])
        .collect();
    want.sort();
    want.dedup();
    let mut got: Vec<String> = p
        .server
        .requests()
        .into_iter()
        .map(|r| {
            assert_eq!(r.method, "GET", "only downloads: {r:?}");
            assert_eq!(r.status, 200, "{r:?}");
            r.path
        })
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "the downloads are the platform's release files, once each"
    );

    let booted = std::time::Instant::now();
    let r = Command::new(BIN)
        .args(["run", "qemu", "--kvm", "auto"])
        .arg(&out)
        .args(debian::E2E_RUN_ARGS)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let ran = booted.elapsed();
    let console = String::from_utf8_lossy(&r.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
    let all = format!("{console}\n--- stderr\n{stderr}");
    eprintln!(
        "e2e: assemble {:.1} s, run {:.1} s (assemble-to-workload {:.1} s)",
        assembled.as_secs_f64(),
        ran.as_secs_f64(),
        (assembled + ran).as_secs_f64()
    );
    let has = |needle: &str| {
        assert!(
            console.contains(needle),
            "`{needle}` is not on the console:\n{all}"
        );
    };
    // containerd started from our generated config: its own lines name the Debian build,
    // the snapshotter and CNI directory config.toml sets (its defaults would be overlayfs).
    has("[debian-containerd] ");
    has("msg=\"starting containerd\" revision=\"1.6.20~ds1-1+deb12u3\" version=\"1.6.20~ds1\"");
    has("Start cri plugin with config {PluginConfig:{ContainerdConfig:{Snapshotter:native ");
    has("/var/lib/containerd/io.containerd.snapshotter.v1.native");
    has("no network config found in /etc/cni/net.d");
    // The workload: the image imported, the container ran and printed its marker.
    has("[e2e-workload] e2e: imported stackwright.test/e2e-hello:1");
    has("[e2e-workload] e2e-hello: hello from a container, pid 1");
    has("[e2e-workload] e2e: container exited 0");
    // etcd answered a real client request.
    has("http://127.0.0.1:2379 is healthy");
    has("[e2e-workload] e2e: workload done");
    assert!(!console.contains("FAILED"), "{all}");
    assert_eq!(r.status.code(), Some(0), "run qemu exit code\n{all}");
    assert!(stderr.contains("powered off cleanly"), "{all}");
}
