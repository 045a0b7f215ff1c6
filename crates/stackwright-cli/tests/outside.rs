//! The installed binary outside the repository: run from an empty temporary directory, the
//! built-in examples are reachable by name, a user's assembly can extend a built-in base
//! (`extends = ["builtin:linuxkit-base"]`), and the built-in components are there.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("HOME", dir)
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("run stackwright")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn examples_and_bases_work_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        !d.starts_with(repo.canonicalize().unwrap()),
        "the temp dir must be outside the repository"
    );
    assert!(!d.join("assemblies").exists());

    // A built-in example by name, and by its explicit builtin: form.
    let o = run_in(d, &["check", "k8s-worker", "builtin:linuxkit-minimal"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("builtin:k8s-worker: ok ("), "{}", text(&o));
    assert!(
        out.contains("builtin:linuxkit-minimal: ok ("),
        "{}",
        text(&o)
    );
    for args in [
        vec!["explain", "k8s-worker"],
        vec!["why", "k8s-worker", "pause"],
        vec!["show", "kubelet"],
        vec!["components"],
    ] {
        let o = run_in(d, &args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }

    // assemble writes out/<name>/ here, with the same lock as from the repository's file.
    let o = run_in(d, &["assemble", "k8s-worker"]);
    assert!(o.status.success(), "{}", text(&o));
    let here = std::fs::read_to_string(d.join("out/k8s-worker/stackwright.lock")).unwrap();
    let o = Command::new(BIN)
        .args(["assemble", "assemblies/k8s-worker.toml", "--out"])
        .arg(d.join("from-repo"))
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let from_repo = std::fs::read_to_string(d.join("from-repo/stackwright.lock")).unwrap();
    assert_eq!(
        here, from_repo,
        "a built-in gives the same lock as its file"
    );

    // A user's assembly extends a built-in base.
    std::fs::write(
        d.join("edge.toml"),
        "[assembly]\nname = \"edge\"\nextends = [\"builtin:linuxkit-base\"]\n\n[components]\nsshd = \"*\"\n",
    )
    .unwrap();
    let o = run_in(d, &["assemble", "edge.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let lock = std::fs::read_to_string(d.join("out/edge/stackwright.lock")).unwrap();
    for id in ["linuxkit-init", "getty", "sshd"] {
        assert!(lock.contains(&format!("id = \"{id}\"")), "{id}:\n{lock}");
    }

    // The relative form names a file, which is not here: a diagnostic says how to reach
    // the built-in instead.
    std::fs::write(
        d.join("old.toml"),
        "[assembly]\nname = \"old\"\nextends = [\"linuxkit-base.toml\"]\n",
    )
    .unwrap();
    let o = run_in(d, &["check", "old.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("builtin:linuxkit-base"),
        "{}",
        text(&o)
    );

    // An unknown name is still an unknown file (exit 3), and a near miss of a built-in
    // is named.
    assert_eq!(
        run_in(d, &["check", "nothing-like-it"]).status.code(),
        Some(3)
    );
    let o = run_in(d, &["check", "builtin:k8s-wroker"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean `builtin:k8s-worker`?"),
        "{}",
        text(&o)
    );
}
