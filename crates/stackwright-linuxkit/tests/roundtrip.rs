//! Properties over generated LinuxKit configurations: any valid configuration, written
//! as YAML, reads back unchanged; and its import, written to disk and read back, stands
//! for exactly that configuration — whatever names, images and collisions with registry
//! ids or capability names it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proptest::prelude::*;
use stackwright_linuxkit::{import, parse, reconstruct_dir, ImportOptions};
use stackwright_types::container::{Container, IdOrName};
use stackwright_types::linuxkit::{Config, File, Image, Kernel, Trust, Volume};
use stackwright_types::manifest::Manifest;
use stackwright_types::SourceText;

fn registry() -> Vec<Manifest> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/linuxkit/registry");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            Manifest::parse(
                &SourceText::new(stem, std::fs::read_to_string(p).unwrap()),
                Some(stem),
            )
            .unwrap()
        })
        .collect()
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        // Registry ids and capability names, to force id collisions.
        prop::sample::select(vec![
            "getty", "sshd", "dhcpcd", "mount", "format", "rngd", "init", "kernel", "console",
            "cri"
        ])
        .prop_map(String::from),
        "[a-z][a-z0-9_-]{0,8}",
        // Not digits-and-underscores alone: LinuxKit (yaml.v3) reads `1_0` as a number,
        // and serde_yaml does not quote it (see `linuxkit_reads_as_integer`).
        "[A-Z_][A-Za-z0-9_.]{0,6}",
    ]
}

fn image() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0",
            "docker.io/linuxkit/sshd:08e5d4a46603eff485d5d1b14001cc932a530858",
            "linuxkit/dhcpcd:b87e9ececac55a65eaa592f4dd8b4e0c3009afdb",
            "linuxkit/mount:bd1c3bb45e48e68e47a9456d1669f7119f855184",
            "linuxkit/rngd:0000000000000000000000000000000000000000",
            "linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a",
        ])
        .prop_map(String::from),
        (
            "[a-z]{1,6}",
            "[a-z]{1,6}",
            "[0-9]{1,2}\\.[0-9]{1,2}(\\.[0-9])?"
        )
            .prop_map(|(a, b, t)| format!("registry.example.org/{a}/{b}:{t}")),
        ("[a-z]{1,6}", "[0-9a-f]{64}").prop_map(|(a, d)| format!("{a}@sha256:{d}")),
        "[a-z]{1,6}:latest",
    ]
}

fn kernel_image() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("linuxkit/kernel:6.6.71".to_string()),
        Just("linuxkit/kernel:6.12.80".to_string()),
        Just("example.org/k/kernel:5.15.1-x".to_string()),
    ]
}

fn container() -> impl Strategy<Value = Container> {
    (
        proptest::option::of(prop::collection::vec("[A-Z]{1,4}=[a-z0-9]{0,4}", 0..3)),
        proptest::option::of(prop::collection::vec("[a-z/-]{1,8}", 1..4)),
        proptest::option::of(
            prop::sample::select(vec!["host", "none", "/run/netns/x"]).prop_map(String::from),
        ),
        proptest::option::of(prop::collection::vec(
            prop::sample::select(vec!["all", "CAP_SYS_ADMIN", "CAP_NET_RAW"])
                .prop_map(String::from),
            0..3,
        )),
        proptest::option::of(prop::collection::btree_map(
            "[a-z]{1,5}\\.[a-z]{1,5}",
            "[0-9]{1,4}",
            0..3,
        )),
        proptest::option::of(any::<bool>()),
        proptest::option::of(prop_oneof![
            (0i64..70000).prop_map(IdOrName::Id),
            "[a-z]{1,6}".prop_map(IdOrName::Name)
        ]),
        proptest::option::of(-1000i64..1000),
    )
        .prop_map(
            |(env, command, net, capabilities, sysctl, readonly, uid, oom)| Container {
                env,
                command,
                net,
                capabilities,
                sysctl,
                readonly,
                uid,
                oom_score_adj: oom,
                ..Default::default()
            },
        )
}

fn images(max: usize) -> impl Strategy<Value = Vec<Image>> {
    prop::collection::vec((name(), image(), container()), 0..max).prop_map(|v| {
        let mut seen = BTreeSet::new();
        v.into_iter()
            .filter(|(n, _, _)| seen.insert(n.clone()))
            .map(|(name, image, container)| Image {
                name,
                image,
                container,
            })
            .collect()
    })
}

fn config() -> impl Strategy<Value = Config> {
    let kernel = proptest::option::of((
        proptest::option::of(kernel_image()),
        proptest::option::of("[a-z=0-9 ]{1,20}"),
        proptest::option::of(Just("bzImage".to_string())),
        proptest::option::of(
            prop::sample::select(vec!["none", "kernel.tar"]).prop_map(String::from),
        ),
        proptest::option::of(Just("ucode.cpio".to_string())),
    ))
    .prop_map(|k| {
        k.map(|(image, cmdline, binary, tar, ucode)| Kernel {
            image,
            cmdline,
            binary,
            tar,
            ucode,
        })
    });
    let files = prop::collection::btree_map("[a-z]{1,5}(/[a-z]{1,5})?", "[ -~]{0,12}", 0..3)
        .prop_map(|m: BTreeMap<String, String>| {
            m.into_iter()
                .map(|(path, contents)| File {
                    path,
                    contents: Some(contents),
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        });
    let volumes = prop::collection::btree_set("[a-z][a-z0-9_-]{0,5}", 0..3).prop_map(|s| {
        s.into_iter()
            .map(|name| Volume {
                name,
                format: Some("filesystem".into()),
                ..Default::default()
            })
            .collect::<Vec<_>>()
    });
    let trust = proptest::option::of(proptest::option::of(prop::collection::vec(
        "[a-z]{1,6}",
        0..3,
    )))
    .prop_map(|t| t.map(|org| Trust { image: None, org }));
    (
        kernel,
        prop::collection::vec(image(), 0..4),
        images(5),
        images(3),
        images(5),
        trust,
        files,
        volumes,
    )
        .prop_map(
            |(kernel, init, onboot, onshutdown, services, trust, files, volumes)| Config {
                kernel,
                init,
                onboot,
                onshutdown,
                services,
                trust,
                files,
                volumes,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_config_survives_yaml_and_import(config in config()) {
        let yaml = serde_yaml::to_string(&config).unwrap();
        let src = SourceText::new("gen.yml", yaml.clone());
        let parsed = parse(&src).map_err(|d| TestCaseError::fail(format!("{yaml}\n{}", stackwright_types::diagnostic::render_all(&d))))?;
        prop_assert_eq!(&parsed.config, &config);

        let registry = registry();
        let imp = import(&[src], &registry, &ImportOptions::default()).unwrap();
        let ids: BTreeSet<&str> = imp.mappings.iter().map(|m| m.component.as_str()).collect();
        prop_assert_eq!(ids.len(), imp.mappings.len(), "one component per image");
        let tmp = tempfile::tempdir().unwrap();
        imp.write_to(tmp.path()).unwrap();
        let back = reconstruct_dir(tmp.path(), &registry)
            .map_err(|e| TestCaseError::fail(format!("{e}: {:?}\n{}", e.diagnostics(), imp.assembly)))?;
        prop_assert_eq!(back, config);
    }
}
