//! Build progress as a library user receives it: `output::write` with `--format` reports
//! the build's plan (images, layers, bytes), each layer applied, each image unpacked and
//! each output written, through the same `Progress` the pull reports to. Against a real
//! registry on 127.0.0.1 (Debian's `docker-registry`; skipped with
//! STACKWRIGHT_SKIP_REGISTRY_TESTS=1).

use std::sync::Mutex;

use stackwright::output::{self, Format, WriteOptions};
use stackwright::{Assembler, Progress};
use stackwright_testkit::{self as testing, LocalRegistry};

/// Every event, in order, as text.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn push(&self, e: String) {
        self.0.lock().unwrap().push(e);
    }
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Progress for Recorder {
    fn blob_finished(&self, digest: &str, _size: u64, _cached: bool) {
        self.push(format!("pulled {digest}"));
    }
    fn build_planned(&self, images: usize, layers: usize, bytes: u64) {
        self.push(format!("planned {images} {layers} {bytes}"));
    }
    fn layer_unpacked(&self, image: &str, digest: &str, bytes: u64) {
        self.push(format!("layer {image} {digest} {bytes}"));
    }
    fn image_unpacked(&self, image: &str) {
        self.push(format!("image {image}"));
    }
    fn output_written(&self, file: &str, bytes: u64) {
        self.push(format!("wrote {file} {bytes}"));
    }
}

#[test]
fn a_build_reports_its_plan_layers_images_and_outputs() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let host = reg.addr().to_string();
    // LinuxKit's kernel image layout: `kernel` and `kernel.tar` (an empty tar: no modules).
    let empty_tar = [0u8; 1024];
    let kernel = testing::image(
        "amd64",
        vec![testing::layer(&[
            ("kernel", b"not really a kernel"),
            ("kernel.tar", &empty_tar),
        ])],
    );
    let init = testing::image(
        "amd64",
        vec![testing::layer(&[("sbin/init", b"#!/bin/sh\n")])],
    );
    let service = testing::image(
        "amd64",
        vec![
            testing::layer(&[("bin/sh", b"#!/bin/sh\n")]),
            testing::layer(&[("etc/svc.conf", b"x = 1\n")]),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (repo, img) in [("kernel", &kernel), ("init", &init), ("svc", &service)] {
        rt.block_on(reg.push_image(repo, "1", img)).unwrap();
    }
    drop(rt);

    let manifest = |id: &str, category: &str, stage: &str, repo: &str, provides: &str| {
        format!(
            "id = \"{id}\"\ncategory = \"{category}\"\nsummary = \"{id}\"\nstage = \"{stage}\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"1.0.0\"\nimage = \"{host}/{repo}:1\"\n{provides}"
        )
    };
    let assembler = Assembler::new()
        .without_builtin()
        .component_text(
            "capabilities.toml",
            "[kernel]\nsummary = \"k\"\ncardinality = \"one\"\n\n[init]\nsummary = \"i\"\ncardinality = \"one\"\n",
        )
        .component_text(
            "k.toml",
            manifest("k", "kernel", "kernel", "kernel", "provides = { kernel = \"1.0.0\" }\n"),
        )
        .component_text(
            "i.toml",
            manifest("i", "init-system", "init", "init", "provides = { init = \"1.0.0\" }\n"),
        )
        .component_text("svc.toml", manifest("svc", "observability", "service", "svc", ""));
    let mut a = assembler
        .assemble_text_blocking(
            "tiny.toml",
            "[components]\nk = \"*\"\ni = \"*\"\nsvc = \"*\"\n",
        )
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let opts = WriteOptions {
        formats: vec![Format::Tar, Format::KernelInitrd],
        cache: Some(work.path().join("cache")),
        insecure: vec![host.clone()],
        ..Default::default()
    };
    let progress = Recorder::default();
    output::write_blocking(&mut a, &out, &opts, &progress).unwrap();
    let events = progress.events();

    // The plan counts every image and layer, by the layers' stored sizes.
    let layer_bytes: u64 = [&kernel, &init, &service]
        .iter()
        .flat_map(|i| i.layers.iter().map(|l| l.bytes.len() as u64))
        .sum();
    let builds: Vec<&String> = events
        .iter()
        .filter(|e| !e.starts_with("pulled "))
        .collect();
    assert_eq!(
        *builds[0],
        format!("planned 3 4 {layer_bytes}"),
        "{events:#?}"
    );
    // The build comes after the pull.
    let first_build = events
        .iter()
        .position(|e| e.starts_with("planned"))
        .unwrap();
    assert!(events[..first_build]
        .iter()
        .all(|e| e.starts_with("pulled ")));
    assert!(first_build > 0);
    // Each layer, then its image: kernel, init, the service.
    let layer = |repo: &str, img: &testing::TestImage, i: usize| {
        format!(
            "layer {host}/{repo}:1 {} {}",
            img.layers[i].digest,
            img.layers[i].bytes.len()
        )
    };
    let want_unpack = vec![
        layer("kernel", &kernel, 0),
        format!("image {host}/kernel:1"),
        layer("init", &init, 0),
        format!("image {host}/init:1"),
        layer("svc", &service, 0),
        layer("svc", &service, 1),
        format!("image {host}/svc:1"),
    ];
    let got_unpack: Vec<String> = builds[1..8].iter().map(|s| s.to_string()).collect();
    assert_eq!(got_unpack, want_unpack, "{events:#?}");
    // Every output, with the size it has on disk, in format order.
    let written: Vec<&String> = builds[8..].to_vec();
    let names = ["tiny.tar", "tiny-kernel", "tiny-cmdline", "tiny-initrd.img"];
    assert_eq!(written.len(), names.len(), "{events:#?}");
    for (e, name) in written.iter().zip(names) {
        let size = std::fs::metadata(out.join(name)).unwrap().len();
        assert_eq!(**e, format!("wrote {name} {size}"));
    }
}
