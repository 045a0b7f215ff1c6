//! Built images: reproducible across caches and machines, read by skopeo and umoci, and
//! run by runc from a root filesystem built like any pulled image's.
//!
//! Needs `skopeo`, `umoci` (else STACKWRIGHT_SKIP_REGISTRY_TESTS=1), `runc`, root and gcc's
//! static libc (else STACKWRIGHT_SKIP_RUNC_TESTS=1).

use std::path::Path;
use std::process::Command;

use stackwright_oci::{Cache, NoProgress, PullRequest, RegistryClient, RegistryOptions};
use stackwright_package::{BuiltImage, LocalImage};
use stackwright_testkit as testing;

const HELLO: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *g = getenv("GREETING");
    printf("packaged hello: %s GREETING=%s\n", argc > 1 ? argv[1] : "-", g ? g : "(unset)");
    return 0;
}
"#;

fn sample(cache: &Cache, big: &Path) -> BuiltImage {
    LocalImage::builder("amd64")
        .file("etc/hello.conf", 0o644, b"greeting = hi\n".to_vec())
        .file_from_disk("usr/bin/big", 0o755, big)
        .symlink("usr/bin/big-link", "big")
        .dir("var/lib/hello", 0o700)
        .entrypoint(["/usr/bin/big"])
        .cmd(["--serve"])
        .env("PATH=/usr/bin:/bin")
        .workdir("/")
        .mtime(0)
        .build(cache)
        .unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn digest_depends_only_on_the_inputs() {
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    std::fs::write(&big, testing::SplitMix64::new(7).bytes(3 << 20)).unwrap();
    let a = sample(&Cache::new(work.path().join("cache-a")), &big);
    let b = sample(&Cache::new(work.path().join("elsewhere/cache-b")), &big);
    assert_eq!(a, b, "two caches, one image");
    // The order entries are given in does not matter.
    let c = LocalImage::builder("amd64")
        .dir("var/lib/hello", 0o700)
        .env("PATH=/usr/bin:/bin")
        .symlink("usr/bin/big-link", "big")
        .file_from_disk("usr/bin/big", 0o755, &big)
        .file("etc/hello.conf", 0o644, b"greeting = hi\n".to_vec())
        .entrypoint(["/usr/bin/big"])
        .cmd(["--serve"])
        .workdir("/")
        .mtime(0)
        .build(&Cache::new(work.path().join("cache-c")))
        .unwrap();
    assert_eq!(a.manifest.digest, c.manifest.digest);
    // Every input shows: the time, a mode, a byte.
    let later = LocalImage::builder("amd64")
        .file("etc/hello.conf", 0o644, b"greeting = hi\n".to_vec())
        .mtime(1_700_000_000)
        .build(&Cache::new(work.path().join("cache-d")))
        .unwrap();
    let epoch = LocalImage::builder("amd64")
        .file("etc/hello.conf", 0o644, b"greeting = hi\n".to_vec())
        .mtime(0)
        .build(&Cache::new(work.path().join("cache-d")))
        .unwrap();
    let mode = LocalImage::builder("amd64")
        .file("etc/hello.conf", 0o600, b"greeting = hi\n".to_vec())
        .mtime(0)
        .build(&Cache::new(work.path().join("cache-d")))
        .unwrap();
    let arm = LocalImage::builder("arm64")
        .file("etc/hello.conf", 0o644, b"greeting = hi\n".to_vec())
        .mtime(0)
        .build(&Cache::new(work.path().join("cache-d")))
        .unwrap();
    let digests = [&later, &epoch, &mode, &arm].map(|i| i.manifest.digest.clone());
    let mut unique = digests.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{digests:?}");
    assert_eq!(
        epoch.layers, arm.layers,
        "the arch is in the config, not the layer"
    );

    // The layer itself: sorted entries, root-owned, mtime 0, the fixed gzip header.
    let layer =
        std::fs::read(Cache::new(work.path().join("cache-a")).blob_path(&a.layers[0].digest))
            .unwrap();
    assert_eq!(&layer[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let listing: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            format!(
                "{} {:o} {}:{} {} {}",
                e.path().unwrap().display(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                h.username().unwrap().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        listing,
        [
            "etc/ 755 0:0 0 ",
            "etc/hello.conf 644 0:0 0 ",
            "usr/ 755 0:0 0 ",
            "usr/bin/ 755 0:0 0 ",
            "usr/bin/big 755 0:0 0 ",
            "usr/bin/big-link 777 0:0 0 ",
            "var/ 755 0:0 0 ",
            "var/lib/ 755 0:0 0 ",
            "var/lib/hello/ 700 0:0 0 ",
        ]
    );
    let config: serde_json::Value = serde_json::from_slice(&a.config_json).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/big");
    assert_eq!(config["rootfs"]["diff_ids"][0], a.diff_ids[0].as_str());
}

/// Built images go into a layout through the same path as pulled ones: "pulling"
/// `stackwright.local/…` by digest is served by the cache, and never by a network.
async fn layout_of(cache: &Cache, reference: &str, built: &BuiltImage, dir: &Path) {
    let registry = RegistryClient::new(RegistryOptions::default());
    let report = registry
        .pull_into(
            &[PullRequest::with_digest(reference, &built.manifest.digest)],
            "amd64",
            cache,
            dir,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_downloaded, 0);
    assert_eq!(report.manifests_downloaded, 0);
    assert_eq!(report.images[0].manifest.digest, built.manifest.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_and_umoci_read_the_layout() {
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    std::fs::write(&big, b"#!/bin/sh\necho big\n").unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let built = sample(&cache, &big);
    let reference = "stackwright.local/hello:1.0.0";
    let out = work.path().join("images");
    layout_of(&cache, reference, &built, &out).await;

    if let Some(skopeo) = testing::skopeo_or_skip() {
        let text = run(Command::new(skopeo)
            .arg("inspect")
            .arg(format!("oci:{}:{reference}", out.display())));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["Digest"], built.manifest.digest.as_str());
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Layers"][0], built.layers[0].digest.as_str());
        assert_eq!(v["Env"][0], "PATH=/usr/bin:/bin");
    }
    if let Some(umoci) = testing::umoci_or_skip() {
        let refs = run(Command::new(&umoci).args(["ls", "--layout"]).arg(&out));
        assert_eq!(refs.trim(), reference);
        let bundle = work.path().join("bundle");
        run(Command::new(&umoci)
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:{reference}", out.display()))
            .arg(&bundle));
        let root = bundle.join("rootfs");
        assert_eq!(
            std::fs::read(root.join("usr/bin/big")).unwrap(),
            b"#!/bin/sh\necho big\n"
        );
        assert_eq!(
            std::fs::read_link(root.join("usr/bin/big-link")).unwrap(),
            Path::new("big")
        );
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["process"]["args"][0], "/usr/bin/big");
        assert_eq!(cfg["process"]["args"][1], "--serve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_image_missing_from_the_cache_is_not_fetched() {
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::new(work.path().join("cache"));
    let registry = RegistryClient::new(RegistryOptions::default());
    let digest = format!("sha256:{}", "ab".repeat(32));
    let err = registry
        .pull_into(
            &[PullRequest::with_digest(
                "stackwright.local/kubelet:1.36.4",
                &digest,
            )],
            "amd64",
            &cache,
            &work.path().join("images"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, stackwright_oci::OciError::NotBuilt { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("stackwright.local/kubelet:1.36.4") && msg.contains(&digest),
        "{msg}"
    );
    assert!(!work.path().join("images").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_runs_the_packaged_program_from_the_built_root_filesystem() {
    let Some(runc) = testing::runc_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let hello = testing::static_program(work.path(), "hello", HELLO);
    let cache = Cache::new(work.path().join("cache"));
    let built = LocalImage::builder(stackwright_build::host_arch())
        .file_from_disk("usr/bin/hello", 0o755, &hello)
        .entrypoint(["/usr/bin/hello"])
        .cmd(["from-image"])
        .env("GREETING=packaged")
        .build(&cache)
        .unwrap();
    let reference = "stackwright.local/hello:1.0.0";
    let layout = work.path().join("images");
    let registry = RegistryClient::new(RegistryOptions::default());
    registry
        .pull_into(
            &[PullRequest::with_digest(reference, &built.manifest.digest)],
            stackwright_build::host_arch(),
            &cache,
            &layout,
            &NoProgress,
        )
        .await
        .unwrap();

    // The platform names the image as linuxkit.yml does: the local reference pinned.
    let config = stackwright_types::linuxkit::Config {
        services: vec![stackwright_types::linuxkit::Image {
            name: "hello".into(),
            image: built.pinned(reference),
            container: Default::default(),
        }],
        ..Default::default()
    };
    let out = work.path().join("out");
    let mut opts =
        stackwright_build::BuildOptions::new("plat", &out, vec![stackwright_build::Format::Tar]);
    opts.temp_dir = Some(work.path().to_path_buf());
    stackwright_build::build(&config, &layout, &opts).unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run(Command::new("tar")
        .arg("-xpf")
        .arg(out.join("plat.tar"))
        .arg("--numeric-owner")
        .arg("-C")
        .arg(&root));
    let state = work.path().join("runc-state");
    let id = format!("sw-pkg-{}", std::process::id());
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
        "packaged hello: from-image GREETING=packaged"
    );
}
