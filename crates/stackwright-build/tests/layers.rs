//! Layer application and safe unpacking, each rule with a crafted layer.

mod common;

use common::*;
use stackwright_build::{
    image_tree, unpack_image, BuildError, LimitKind, Limits, NodeKind, NoteKind, Policy,
    UnpackOptions,
};

fn opts() -> UnpackOptions {
    UnpackOptions {
        temp_dir: Some(std::env::temp_dir()),
        ..Default::default()
    }
}

fn layout_with(layers: Vec<Vec<u8>>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut w = LayoutWriter::new(dir.path());
    w.image("test:1", &layers, serde_json::json!({"Cmd": ["/x"]}));
    dir
}

fn tree_of(
    layers: Vec<Vec<u8>>,
    o: &UnpackOptions,
) -> Result<(stackwright_build::Tree, Vec<stackwright_build::Note>), BuildError> {
    let dir = layout_with(layers);
    image_tree(dir.path(), "test:1", o)
}

#[test]
fn layers_apply_in_order_with_whiteouts_and_opaque_dirs() {
    let l1 = tar_of(&[
        E::Dir("etc", 0o755),
        file("etc/a", "a1", 0o644),
        file("etc/b", "b1", 0o644),
        E::Dir("opt", 0o755),
        file("opt/old1", "x", 0o644),
        E::Dir("opt/sub", 0o755),
        file("opt/sub/old2", "x", 0o644),
        E::Dir("var", 0o755),
        file("var/f", "x", 0o644),
    ]);
    let l2 = gzip(&tar_of(&[
        file("etc/a", "a2", 0o600),
        file("etc/.wh.b", "", 0o644),
        // Same-layer content survives the opaque marker, wherever it sits in the stream.
        file("opt/new-before", "n", 0o644),
        file("opt/.wh..wh..opq", "", 0o644),
        file("opt/sub/new-after", "n", 0o644),
        // A file replaces a directory and its children.
        file("var", "now a file", 0o644),
    ]));
    let (t, _) = tree_of(vec![l1, l2], &opts()).unwrap();
    assert_eq!(t.read_file("etc/a").unwrap(), b"a2");
    assert_eq!(t.get("etc/a").unwrap().mode, 0o600);
    assert!(t.get("etc/b").is_none());
    assert!(t.get("opt/old1").is_none());
    assert!(t.get("opt/sub/old2").is_none());
    assert!(t.get("opt/new-before").is_some());
    assert!(t.get("opt/sub/new-after").is_some());
    assert!(t.get("var/f").is_none());
    assert_eq!(t.read_file("var").unwrap(), b"now a file");
    // Whiteout markers themselves never appear.
    assert!(t
        .iter()
        .all(|(k, _)| !String::from_utf8_lossy(k).contains(".wh.")));
}

#[test]
fn dotdot_names_are_refused() {
    let err = tree_of(vec![tar_of(&[file("../evil", "x", 0o644)])], &opts()).unwrap_err();
    assert!(
        matches!(&err, BuildError::UnsafeEntry { path, .. } if path == "../evil"),
        "{err}"
    );
    let err = tree_of(vec![tar_of(&[file("a/../../evil", "x", 0o644)])], &opts()).unwrap_err();
    assert!(matches!(err, BuildError::UnsafeEntry { .. }));
}

#[test]
fn absolute_names_land_inside_the_root() {
    let (t, _) = tree_of(vec![tar_of(&[file("/etc/abs", "x", 0o644)])], &opts()).unwrap();
    assert!(t.get("etc/abs").is_some());
}

#[test]
fn writing_through_a_symlink_that_points_out_stays_inside() {
    let dir = layout_with(vec![
        tar_of(&[
            E::Symlink("escape", "/../../../../tmp/sw-outside"),
            E::Symlink("rel", "../../.."),
        ]),
        tar_of(&[
            file("escape/pwned", "x", 0o644),
            file("rel/tmp/pwned2", "y", 0o644),
        ]),
    ]);
    let (t, _) = image_tree(dir.path(), "test:1", &opts()).unwrap();
    assert!(t.get("tmp/sw-outside/pwned").is_some(), "{t:?}");
    assert!(t.get("tmp/pwned2").is_some(), "{t:?}");
    // And on disk: nothing outside the destination.
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path().join("rootfs");
    unpack_image(dir.path(), "test:1", &root, &opts()).unwrap();
    assert!(root.join("tmp/sw-outside/pwned").is_file());
    assert!(!std::path::Path::new("/tmp/sw-outside/pwned").exists());
    assert!(!std::path::Path::new("/tmp/pwned2").exists());
    assert_eq!(
        std::fs::read_link(root.join("escape")).unwrap().to_str(),
        Some("/../../../../tmp/sw-outside")
    );
}

#[test]
fn hard_links_must_stay_inside_and_exist() {
    let err = tree_of(
        vec![tar_of(&[E::Hardlink("l", "../../etc/passwd")])],
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::UnsafeEntry { .. }), "{err}");
    // Through a symlink pointing out: resolves inside the root, where there is nothing.
    let err = tree_of(
        vec![tar_of(&[
            E::Symlink("up", "/../.."),
            E::Hardlink("l", "up/etc/shadow"),
        ])],
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = tree_of(
        vec![tar_of(&[E::Dir("d", 0o755), E::Hardlink("l", "d")])],
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
    // A good one shares the inode.
    let (t, _) = tree_of(
        vec![tar_of(&[file("a", "data", 0o755), E::Hardlink("b", "a")])],
        &opts(),
    )
    .unwrap();
    let ino = |k: &str| match &t.get(k).unwrap().kind {
        NodeKind::File { inode, .. } => *inode,
        _ => panic!(),
    };
    assert_eq!(ino("a"), ino("b"));
    assert_eq!(t.read_file("b").unwrap(), b"data");
}

#[test]
fn hard_links_unpack_as_hard_links() {
    use std::os::unix::fs::MetadataExt;
    let dir = layout_with(vec![tar_of(&[
        file("a", "data", 0o755),
        E::Hardlink("b", "a"),
    ])]);
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path().join("r");
    unpack_image(dir.path(), "test:1", &root, &opts()).unwrap();
    assert_eq!(
        std::fs::metadata(root.join("a")).unwrap().ino(),
        std::fs::metadata(root.join("b")).unwrap().ino()
    );
}

#[test]
fn device_nodes_are_skipped_unless_allowed() {
    let layer = tar_of(&[E::Char("dev/kmsg", 1, 11), E::Fifo("run/fifo")]);
    let (t, notes) = tree_of(vec![layer.clone()], &opts()).unwrap();
    assert!(t.get("dev/kmsg").is_none());
    assert!(matches!(t.get("run/fifo").unwrap().kind, NodeKind::Fifo));
    assert!(notes
        .iter()
        .any(|n| n.what == NoteKind::DeviceSkipped && n.path == "dev/kmsg"));
    let allow = UnpackOptions {
        policy: Policy {
            allow_devices: true,
            ..Default::default()
        },
        ..opts()
    };
    let (t, _) = tree_of(vec![layer], &allow).unwrap();
    assert_eq!(
        t.get("dev/kmsg").unwrap().kind,
        NodeKind::CharDevice {
            major: 1,
            minor: 11
        }
    );
}

#[test]
fn setuid_is_cleared_unless_allowed() {
    let layer = tar_of(&[
        file("bin/su", "x", 0o4755),
        file("bin/wall", "x", 0o2755),
        E::Dir("shared", 0o2775),
    ]);
    let (t, notes) = tree_of(vec![layer.clone()], &opts()).unwrap();
    assert_eq!(t.get("bin/su").unwrap().mode, 0o755);
    assert_eq!(t.get("bin/wall").unwrap().mode, 0o755);
    assert_eq!(
        t.get("shared").unwrap().mode,
        0o2775,
        "setgid directories are harmless"
    );
    assert_eq!(
        notes
            .iter()
            .filter(|n| matches!(n.what, NoteKind::SetuidCleared { .. }))
            .count(),
        2
    );
    let allow = UnpackOptions {
        policy: Policy {
            allow_setuid: true,
            ..Default::default()
        },
        ..opts()
    };
    let (t, _) = tree_of(vec![layer], &allow).unwrap();
    assert_eq!(t.get("bin/su").unwrap().mode, 0o4755);
}

fn with_limits(l: Limits) -> UnpackOptions {
    UnpackOptions {
        limits: l,
        ..opts()
    }
}

#[test]
fn decompression_bomb_hits_the_total_bytes_limit() {
    // 64 MiB of zeros gzip to ~64 KiB.
    let bomb = gzip(&tar_of(&[E::File(
        "zeros".into(),
        vec![0u8; 64 << 20],
        0o644,
    )]));
    assert!(bomb.len() < 1 << 20);
    let o = with_limits(Limits {
        max_total_bytes: 8 << 20,
        ..Limits::default()
    });
    let err = tree_of(vec![bomb], &o).unwrap_err();
    match err {
        BuildError::LimitExceeded { kind, max, .. } => {
            assert_eq!(kind, LimitKind::TotalBytes);
            assert_eq!(max, 8 << 20);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn limits_on_entries_file_size_and_path_length() {
    let many: Vec<E> = (0..50)
        .map(|i| file(&format!("f{i}"), "x", 0o644))
        .collect();
    let err = tree_of(
        vec![tar_of(&many)],
        &with_limits(Limits {
            max_entries: 20,
            ..Limits::default()
        }),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::LimitExceeded {
                kind: LimitKind::Entries,
                ..
            }
        ),
        "{err}"
    );

    let err = tree_of(
        vec![tar_of(&[E::File("big".into(), vec![1u8; 100_000], 0o644)])],
        &with_limits(Limits {
            max_file_size: 1000,
            ..Limits::default()
        }),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::LimitExceeded {
                kind: LimitKind::FileSize,
                value: 100_000,
                ..
            }
        ),
        "{err}"
    );

    let long = format!("{}/f", "d".repeat(300));
    let err = tree_of(vec![tar_of(&[E::File(long, vec![], 0o644)])], &opts()).unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::LimitExceeded {
                kind: LimitKind::PathLength,
                ..
            }
        ),
        "{err}"
    );
    let deep = format!("{}f", "abcdefgh/".repeat(600));
    let err = tree_of(vec![tar_of(&[E::File(deep, vec![], 0o644)])], &opts()).unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::LimitExceeded {
                kind: LimitKind::PathLength,
                ..
            }
        ),
        "{err}"
    );
    // The message says what to do.
    assert!(err.to_string().contains("limit exceeded"));
}

#[test]
fn symlink_loops_are_an_error_not_a_hang() {
    let err = tree_of(
        vec![tar_of(&[
            E::Symlink("a", "b"),
            E::Symlink("b", "a"),
            file("a/x", "x", 0o644),
        ])],
        &opts(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::LimitExceeded {
                kind: LimitKind::SymlinkHops,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn corrupted_blobs_are_detected() {
    let dir = layout_with(vec![gzip(&tar_of(&[file("a", "data", 0o644)]))]);
    // Flip a byte in the layer blob (the largest file under blobs/ is not the layer,
    // so find it through the manifest).
    let layout = stackwright_build::SourceLayout::open(dir.path()).unwrap();
    let src = layout
        .image("test:1", stackwright_build::host_arch())
        .unwrap();
    let d = src.layers()[0].digest().to_string();
    let p = layout.blob_path("test:1", &d).unwrap();
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len();
    data[n - 5] ^= 0xff; // in the gzip trailer: decompression may still succeed
    std::fs::write(&p, data).unwrap();
    let err = image_tree(dir.path(), "test:1", &opts()).unwrap_err();
    assert!(
        matches!(err, BuildError::Blob { .. } | BuildError::Archive { .. }),
        "{err}"
    );
}

#[test]
fn missing_image_lists_what_the_layout_has() {
    let dir = layout_with(vec![tar_of(&[file("a", "x", 0o644)])]);
    let err = image_tree(dir.path(), "nope:1", &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("nope:1") && msg.contains("test:1"), "{msg}");
}

#[test]
fn unpacked_rootfs_has_owners_modes_and_fixed_times() {
    use std::os::unix::fs::MetadataExt;
    let dir = layout_with(vec![tar_of(&[
        E::Dir("ro", 0o555),
        E::Owned("ro/f".into(), b"x".to_vec(), 0o640, 1234, 5678),
        E::Symlink("ro/l", "f"),
    ])]);
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path().join("r");
    let o = UnpackOptions {
        mtime: 1_000_000,
        ..opts()
    };
    unpack_image(dir.path(), "test:1", &root, &o).unwrap();
    let m = std::fs::metadata(root.join("ro/f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.mtime(), 1_000_000);
    if unsafe_is_root() {
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    }
    assert_eq!(
        std::fs::metadata(root.join("ro")).unwrap().mode() & 0o7777,
        0o555
    );
    assert_eq!(
        std::fs::symlink_metadata(root.join("ro/l"))
            .unwrap()
            .mtime(),
        1_000_000
    );
    // Refuses a non-empty destination.
    assert!(unpack_image(dir.path(), "test:1", &root, &o).is_err());
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// A PAX extended header ('x') carrying `records`, for the entry that follows.
fn pax_entry(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        let mut len = base + 1;
        while len != base + len.to_string().len() {
            len = base + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {k}=").as_bytes());
        body.extend_from_slice(v);
        body.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn xattrs_survive_into_the_tar_output() {
    let cap: &[u8] = &[
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut layer = pax_entry(&[("SCHILY.xattr.security.capability", cap)]);
    let rest = tar_of(&[file("bin/ping", "elf", 0o755)]);
    layer.extend_from_slice(&rest);
    let (t, _) = tree_of(vec![layer], &opts()).unwrap();
    assert_eq!(
        t.get("bin/ping")
            .unwrap()
            .xattrs
            .get("security.capability")
            .map(Vec::as_slice),
        Some(cap)
    );
    let out = tempfile::tempdir().unwrap();
    let mut o =
        stackwright_build::BuildOptions::new("x", out.path(), vec![stackwright_build::Format::Tar]);
    o.mtime = 0;
    stackwright_build::write_formats(&t, &o).unwrap();
    let data = std::fs::read(out.path().join("x.tar")).unwrap();
    let mut ar = tar::Archive::new(data.as_slice());
    let mut found = false;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == b"bin/ping" {
            for x in e.pax_extensions().unwrap().unwrap() {
                let x = x.unwrap();
                if x.key().unwrap() == "SCHILY.xattr.security.capability" {
                    assert_eq!(x.value_bytes(), cap);
                    found = true;
                }
            }
        }
    }
    assert!(found);
}

#[test]
fn blank_numeric_fields_read_as_zero() {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..1].copy_from_slice(b"f");
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum(); // uid, gid and mtime left blank, as some writers do
    let mut layer = h.as_bytes().to_vec();
    layer.extend_from_slice(&[0u8; 1024]);
    let (t, _) = tree_of(vec![layer], &opts()).unwrap();
    assert_eq!((t.get("f").unwrap().uid, t.get("f").unwrap().gid), (0, 0));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a",
            "b",
            "c",
            "a/b",
            "b/c",
            "a/b/c",
            "c/a",
            ".wh.a",
            "a/.wh.b",
            "a/.wh..wh..opq",
            "/a/c",
        ])
    }

    fn entry() -> impl Strategy<Value = E> {
        prop_oneof![
            name().prop_map(|n| file(n, "x", 0o644)),
            name().prop_map(|n| E::Dir(n, 0o755)),
            (
                name(),
                prop::sample::select(vec![
                    "/",
                    "/..",
                    "../../..",
                    "a",
                    "/a/b",
                    "b/../../..",
                    "/tmp",
                    "c"
                ])
            )
                .prop_map(|(n, t)| E::Symlink(n, t)),
            (name(), name()).prop_map(|(n, t)| E::Hardlink(n, t)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Whatever the layers hold, the tree never has a key below a non-directory
        /// (so no write can go through a symlink), and it unpacks inside its root.
        #[test]
        fn no_entry_ever_passes_through_a_symlink(layers in prop::collection::vec(prop::collection::vec(entry(), 0..8), 1..4)) {
            let raw: Vec<Vec<u8>> = layers.iter().map(|l| tar_of(l)).collect();
            let Ok((t, _)) = tree_of(raw, &opts()) else { return Ok(()) };
            for (k, _) in t.iter() {
                let k = String::from_utf8_lossy(k).into_owned();
                let mut prefix = String::new();
                for c in k.split('/').collect::<Vec<_>>().iter().rev().skip(1).rev() {
                    if !prefix.is_empty() { prefix.push('/'); }
                    prefix.push_str(c);
                    prop_assert!(t.get(&prefix).is_some_and(|n| n.is_dir()), "{k}: {prefix} is not a directory");
                }
            }
            let dest = tempfile::tempdir().unwrap();
            stackwright_build::write_dir(&t, &dest.path().join("r"), Policy::default(), 0).unwrap();
        }
    }
}
