//! Whole-platform builds: LinuxKit's layout, config.json, formats, reproducibility,
//! atomic outputs.

mod common;

use std::io::Read;
use std::path::Path;

use common::*;
use stackwright_build::{build, BuildError, BuildOptions, Format};
use stackwright_types::container::{Container, IdOrName};
use stackwright_types::linuxkit::{Config, File, Image, Kernel};

const PIN: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A layout whose names are spelled canonically (as stackwright-oci writes them) while
/// the config uses short and pinned forms.
fn layout(dir: &Path) {
    let mut w = LayoutWriter::new(dir);
    let modules = tar_of(&[
        E::Dir("lib", 0o755),
        E::Dir("lib/modules", 0o755),
        E::Dir("lib/modules/6.6.1", 0o755),
        file(
            "lib/modules/6.6.1/modules.dep",
            "kernel/fs/overlay.ko:\n",
            0o644,
        ),
    ]);
    w.image(
        "docker.io/linuxkit/kernel:6.6.1",
        &[gzip(&tar_of(&[
            file("kernel", "KERNEL-BZIMAGE", 0o644),
            E::File("kernel.tar".into(), modules, 0o644),
            file("System.map", "ignored", 0o644),
        ]))],
        serde_json::json!({}),
    );
    w.image(
        "docker.io/linuxkit/init:v1",
        &[gzip(&tar_of(&[
            E::Dir("sbin", 0o755),
            file("sbin/init", "#!init", 0o755),
            E::Dir("etc", 0o755),
            file("etc/resolv.conf", "nameserver 8.8.8.8", 0o644),
            file(".dockerenv", "", 0o644),
        ]))],
        serde_json::json!({}),
    );
    w.image(
        "docker.io/linuxkit/runc:v1",
        &[tar_of(&[
            E::Dir("usr", 0o755),
            E::Dir("usr/bin", 0o755),
            file("usr/bin/runc", "#!runc", 0o755),
        ])],
        serde_json::json!({}),
    );
    w.image(
        "docker.io/linuxkit/sysctl:v1",
        &[gzip(&tar_of(&[E::Dir("usr", 0o755), file("usr/sysctl", "#!s", 0o755)]))],
        serde_json::json!({"Entrypoint": ["/usr/sysctl"], "Env": ["PATH=/usr/bin"],
            "Labels": {"org.mobyproject.config": "{\"net\": \"host\", \"capabilities\": [\"CAP_SYS_ADMIN\"]}"}}),
    );
    w.image(
        &format!("docker.io/linuxkit/getty:v1@{PIN}"),
        &[gzip(&tar_of(&[
            E::Dir("etc", 0o755),
            file(
                "etc/passwd",
                "root:x:0:0::/root:/bin/sh\ngetty:x:42:42::/:/bin/false\n",
                0o644,
            ),
            file("etc/hostname", "builder", 0o644),
            E::Dir("usr", 0o755),
            file("usr/getty", "#!g", 0o755),
        ]))],
        serde_json::json!({"Cmd": ["/usr/getty"], "WorkingDir": "/"}),
    );
    w.image(
        "docker.io/library/alpine:3.20",
        &[gzip(&tar_of(&[
            E::Dir("bin", 0o755),
            file("bin/sh", "#!sh", 0o755),
        ]))],
        serde_json::json!({"Cmd": ["/bin/sh"]}),
    );
}

fn config() -> Config {
    Config {
        kernel: Some(Kernel {
            image: Some("linuxkit/kernel:6.6.1".into()),
            cmdline: Some("console=ttyS0 console=tty0".into()),
            ..Default::default()
        }),
        init: vec!["linuxkit/init:v1".into(), "linuxkit/runc:v1".into()],
        onboot: vec![Image {
            name: "sysctl".into(),
            image: "linuxkit/sysctl:v1".into(),
            container: Container {
                sysctl: Some([("net.ipv4.ip_forward".to_string(), "1".to_string())].into()),
                readonly: Some(true),
                ..Default::default()
            },
        }],
        services: vec![Image {
            name: "getty".into(),
            image: format!("linuxkit/getty:v1@{PIN}"),
            container: Container {
                capabilities: Some(vec!["all".into()]),
                binds: Some(vec!["/etc/getty.shadow:/etc/shadow".into()]),
                env: Some(vec!["INSECURE=true".into()]),
                uid: Some(IdOrName::Name("getty".into())),
                rlimits: Some(vec!["nofile,1024,2048".into()]),
                oom_score_adj: Some(-500),
                pid: Some("host".into()),
                ..Default::default()
            },
        }],
        onshutdown: vec![Image {
            name: "bye".into(),
            image: "alpine:3.20".into(),
            container: Container {
                command: Some(vec!["/bin/sh".into(), "-c".into(), "echo bye".into()]),
                ..Default::default()
            },
        }],
        files: vec![
            File {
                path: "etc/motd".into(),
                contents: Some("welcome\n".into()),
                mode: Some("0644".into()),
                ..Default::default()
            },
            File {
                path: "/var/lib/stack/state".into(),
                directory: Some(true),
                uid: Some(IdOrName::Name("getty".into())),
                ..Default::default()
            },
            File {
                path: "etc/localtime".into(),
                symlink: Some("/usr/share/zoneinfo/UTC".into()),
                ..Default::default()
            },
            File {
                path: "etc/issue".into(),
                source: Some("issue.txt".into()),
                mode: Some("0644".into()),
                ..Default::default()
            },
            File {
                path: "etc/gone".into(),
                source: Some("missing.txt".into()),
                optional: Some(true),
                ..Default::default()
            },
            File {
                path: "etc/linuxkit.yml".into(),
                metadata: Some("yaml".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    layout: std::path::PathBuf,
    base: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("images");
    layout(&layout_dir);
    let base = dir.path().join("assembly");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("issue.txt"), "Stackwright test\n").unwrap();
    Fixture {
        layout: layout_dir,
        base,
        _dir: dir,
    }
}

fn opts(f: &Fixture, out: &Path, formats: Vec<Format>) -> BuildOptions {
    let mut o = BuildOptions::new("plat", out, formats);
    o.files_base = f.base.clone();
    o.temp_dir = Some(std::env::temp_dir());
    o.mtime = 0;
    o
}

#[test]
fn tar_has_linuxkit_layout() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let res = build(
        &config(),
        &f.layout,
        &opts(&f, out.path(), vec![Format::Tar]),
    )
    .unwrap();
    assert_eq!(res.files, vec![out.path().join("plat.tar")]);
    let data = std::fs::read(out.path().join("plat.tar")).unwrap();
    insta::assert_snapshot!("tar_listing", tar_listing(&data).join("\n"));

    let text = |n: &str| {
        String::from_utf8(tar_file(&data, n).unwrap_or_else(|| panic!("{n} missing"))).unwrap()
    };
    assert_eq!(text("boot/kernel"), "KERNEL-BZIMAGE");
    assert_eq!(text("boot/cmdline"), "console=ttyS0 console=tty0");
    assert_eq!(
        text("lib/modules/6.6.1/modules.dep"),
        "kernel/fs/overlay.ko:\n"
    );
    assert_eq!(text("etc/issue"), "Stackwright test\n");
    assert!(text("etc/linuxkit.yml").contains("linuxkit/getty:v1@sha256:1111"));
    // The init's resolv.conf becomes LinuxKit's symlink, .dockerenv goes away.
    let listing = tar_listing(&data);
    assert!(listing
        .iter()
        .any(|l| l.starts_with("etc/resolv.conf 0777 0:0 symlink -> /run/resolvconf/resolv.conf")));
    assert!(!listing.iter().any(|l| l.starts_with(".dockerenv")));
    assert!(!listing.iter().any(|l| l.contains("etc/hostname")));
    // Container names are uids: onboot sysctl=100, onshutdown bye=101, services getty=102.
    assert!(
        listing
            .iter()
            .any(|l| l == "var/lib/stack/state/ 0700 102:0 dir"),
        "{listing:#?}"
    );

    let getty: serde_json::Value =
        serde_json::from_str(&text("containers/services/getty/config.json")).unwrap();
    insta::assert_json_snapshot!("getty_config", getty);
    let sysctl: serde_json::Value =
        serde_json::from_str(&text("containers/onboot/000-sysctl/config.json")).unwrap();
    insta::assert_json_snapshot!("sysctl_config", sysctl);
    let runtime: serde_json::Value =
        serde_json::from_str(&text("containers/onboot/000-sysctl/runtime.json")).unwrap();
    assert_eq!(
        runtime["mounts"][0]["source"],
        "/containers/onboot/000-sysctl/rootfs"
    );
}

/// Like `linuxkit build`, the tree carries the SBOM at its root as `sbom.spdx.json`
/// (0644, owned by root), and only when one is given (LinuxKit's `--no-sbom`).
#[test]
fn the_sbom_sits_at_the_root_like_linuxkits() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let mut o = opts(&f, out.path(), vec![Format::Tar]);
    let doc = br#"{"spdxVersion": "SPDX-2.3"}"#.to_vec();
    o.sbom = Some(doc.clone());
    build(&config(), &f.layout, &o).unwrap();
    let data = std::fs::read(out.path().join("plat.tar")).unwrap();
    assert_eq!(tar_file(&data, "sbom.spdx.json"), Some(doc));
    let listing = tar_listing(&data);
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("sbom.spdx.json 0644 0:0 file")),
        "{listing:#?}"
    );
    o.sbom = None;
    build(&config(), &f.layout, &o).unwrap();
    let data = std::fs::read(out.path().join("plat.tar")).unwrap();
    assert_eq!(tar_file(&data, "sbom.spdx.json"), None);
}

#[test]
fn kernel_initrd_matches_the_tar_tree() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let res = build(
        &config(),
        &f.layout,
        &opts(&f, out.path(), vec![Format::Tar, Format::KernelInitrd]),
    )
    .unwrap();
    let names: Vec<String> = res
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["plat.tar", "plat-kernel", "plat-cmdline", "plat-initrd.img"]
    );
    assert_eq!(
        std::fs::read(out.path().join("plat-kernel")).unwrap(),
        b"KERNEL-BZIMAGE"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("plat-cmdline")).unwrap(),
        "console=ttyS0 console=tty0"
    );
    let gz = std::fs::read(out.path().join("plat-initrd.img")).unwrap();
    // Fixed gzip header: no mtime, no name, OS unknown.
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut cpio)
        .unwrap();
    let in_cpio: Vec<String> = cpio_names(&cpio).into_iter().map(|(n, _)| n).collect();
    let tar = std::fs::read(out.path().join("plat.tar")).unwrap();
    let in_tar: Vec<String> = tar_listing(&tar)
        .into_iter()
        .map(|l| {
            l.split(' ')
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_string()
        })
        .filter(|n| !n.starts_with("boot/"))
        .collect();
    assert_eq!(in_cpio, in_tar);
    assert!(in_cpio.contains(&"containers/services/getty/rootfs/usr/getty".to_string()));
}

#[test]
fn same_inputs_same_bytes() {
    let f = fixture();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let formats = vec![Format::Tar, Format::KernelInitrd];
    build(&config(), &f.layout, &opts(&f, a.path(), formats.clone())).unwrap();
    // A second fixture: same content, other paths, other inode numbers.
    let f2 = fixture();
    build(&config(), &f2.layout, &opts(&f2, b.path(), formats)).unwrap();
    for n in ["plat.tar", "plat-kernel", "plat-cmdline", "plat-initrd.img"] {
        let x = std::fs::read(a.path().join(n)).unwrap();
        let y = std::fs::read(b.path().join(n)).unwrap();
        assert!(x == y, "{n} differs between two builds");
    }
}

#[test]
fn mtime_is_fixed_and_configurable() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let mut o = opts(&f, out.path(), vec![Format::Tar]);
    o.mtime = 1_700_000_000;
    build(&config(), &f.layout, &o).unwrap();
    let data = std::fs::read(out.path().join("plat.tar")).unwrap();
    let mut ar = tar::Archive::new(data.as_slice());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        assert_eq!(e.header().username_bytes(), Some(&b""[..]));
    }
}

#[test]
fn failed_build_leaves_previous_outputs_alone() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("plat.tar"), "OLD").unwrap();
    let mut c = config();
    c.services[0].image = "linuxkit/absent:v9".into();
    let err = build(
        &c,
        &f.layout,
        &opts(&f, out.path(), vec![Format::Tar, Format::KernelInitrd]),
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::ImageNotFound { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("plat.tar")).unwrap(),
        "OLD"
    );
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn container_errors_name_the_container() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let mut c = config();
    c.services[0].container.capabilities = Some(vec!["CAP_TELEPORT".into()]);
    let err = build(&c, &f.layout, &opts(&f, out.path(), vec![Format::Tar])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("services[0] `getty`") && msg.contains("CAP_TELEPORT"),
        "{msg}"
    );
    let mut c = config();
    c.files.push(File {
        path: "etc/bad".into(),
        source: Some("nope.txt".into()),
        ..Default::default()
    });
    let err = build(&c, &f.layout, &opts(&f, out.path(), vec![Format::Tar])).unwrap_err();
    assert!(err.to_string().starts_with("files[6] `etc/bad`"), "{err}");
}

#[test]
fn kernel_initrd_needs_a_kernel() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let mut c = config();
    c.kernel = None;
    assert!(build(
        &c,
        &f.layout,
        &opts(&f, out.path(), vec![Format::KernelInitrd])
    )
    .is_err());
    assert!("iso".parse::<Format>().is_err());
    assert_eq!(
        "kernel+initrd".parse::<Format>().unwrap(),
        Format::KernelInitrd
    );
}
