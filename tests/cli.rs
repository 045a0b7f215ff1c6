//! The command line's exit codes and outputs (SPEC §7), run in-process.

use std::path::Path;

fn run(args: &[&str]) -> i32 {
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
    stackwright_cli::run(std::iter::once("stackwright").chain(args.iter().copied()))
}

#[test]
fn exit_codes() {
    assert_eq!(run(&["check", "assemblies/k8s-worker.toml"]), 0);
    assert_eq!(
        run(&[
            "check",
            "tests/assemblies-bad/two-pod-networks/assembly.toml"
        ]),
        1
    );
    assert_eq!(run(&["check", "--no-such-flag"]), 2);
    assert_eq!(run(&["check", "does/not/exist.toml"]), 3);
    assert_eq!(run(&["show", "kubelet"]), 0);
    assert_eq!(run(&["show", "kubelett"]), 1);
    // A capability is shown too; a near miss of one still gets did-you-mean (exit 1).
    assert_eq!(run(&["show", "cri"]), 0);
    assert_eq!(run(&["show", "pod-netwrk"]), 1);
    assert_eq!(run(&["components", "--category", "runtime"]), 0);
    // Usage mistakes are exit 2 (SPEC §7), like a flag clap refuses, and are found before
    // any assembly is read.
    assert_eq!(run(&["components", "--category", "nope"]), 2);
    assert_eq!(
        run(&[
            "assemble",
            "assemblies/k8s-worker.toml",
            "--offline",
            "--pin"
        ]),
        2
    );
    assert_eq!(
        run(&["assemble", "assemblies/k8s-worker.toml", "--format", "iso9"]),
        2
    );
    assert_eq!(
        run(&["assemble", "does/not/exist.toml", "--format", "tar,nope"]),
        2
    );
}

#[test]
fn assemble_writes_every_output_and_keeps_the_old_one_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    let out_s = out.to_str().unwrap();
    assert_eq!(
        run(&["assemble", "assemblies/k8s-worker.toml", "--out", out_s]),
        0
    );
    for f in [
        "stackwright.lock",
        "linuxkit.yml",
        "plan.json",
        "graph.dot",
        "graph.mmd",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let lock = std::fs::read(out.join("stackwright.lock")).unwrap();
    // A failing run into the same directory leaves it untouched.
    assert_eq!(
        run(&[
            "assemble",
            "tests/assemblies-bad/two-pod-networks/assembly.toml",
            "--out",
            out_s
        ]),
        1
    );
    assert_eq!(std::fs::read(out.join("stackwright.lock")).unwrap(), lock);
    // A rerun with the lock present keeps its choices and writes the same lock.
    assert_eq!(
        run(&["assemble", "assemblies/k8s-worker.toml", "--out", out_s]),
        0
    );
    assert_eq!(std::fs::read(out.join("stackwright.lock")).unwrap(), lock);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "staging left behind: {leftovers:?}");
}

#[test]
fn a_lock_pinning_an_old_version_is_kept_while_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    let out_s = out.to_str().unwrap();
    assert_eq!(
        run(&[
            "assemble",
            "assemblies/k8s-control-plane.toml",
            "--out",
            out_s
        ]),
        0
    );
    let lock = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    // Pretend an earlier run chose etcd 3.6.14 and coredns 1.12.4; the assembly allows
    // coredns "*", so the lock's coredns must be kept.
    let edited = lock.replace("version = \"1.14.2\"", "version = \"1.12.4\"");
    assert_ne!(edited, lock);
    std::fs::write(out.join("stackwright.lock"), &edited).unwrap();
    assert_eq!(
        run(&[
            "assemble",
            "assemblies/k8s-control-plane.toml",
            "--out",
            out_s
        ]),
        0
    );
    let after = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    assert!(
        after.contains("version = \"1.12.4\""),
        "lock choice not kept:\n{after}"
    );
    assert_eq!(
        run(&[
            "assemble",
            "assemblies/k8s-control-plane.toml",
            "--update",
            "--out",
            out_s
        ]),
        0
    );
    let updated = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    assert!(
        updated.contains("version = \"1.14.2\""),
        "--update did not refresh:\n{updated}"
    );
}
