//! Lockfile reuse as a library user gets it (`Assembler::assemble_locked`, what
//! `stackwright assemble` calls): a rerun into the same output directory keeps the lock's
//! choices while the assembly allows them, resolves afresh (warning SW0403) where it no
//! longer does, ignores it with `update`, and never uses another assembly's lock.

use std::path::Path;

use stackwright::types::diagnostic;
use stackwright::{Assembled, Assembler, NoProgress};

/// A control plane of its own name over the built-in one, with `extra` `[components]`
/// lines (the built-in allows any coredns).
fn write_assembly(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("cp.toml");
    std::fs::write(
        &path,
        format!("[assembly]\nname = \"cp\"\nextends = [\"builtin:k8s-control-plane\"]\n\n[components]\n{extra}"),
    )
    .unwrap();
    path
}

fn write(a: &mut Assembled, out: &Path) {
    stackwright::output::write_blocking(a, out, &Default::default(), &NoProgress).unwrap();
}

fn version(a: &Assembled, id: &str) -> String {
    a.resolution.components[id].version.to_string()
}

fn stale(a: &Assembled) -> Vec<String> {
    a.warnings()
        .iter()
        .filter(|d| d.code == diagnostic::STALE_LOCK)
        .map(|d| d.message.clone())
        .collect()
}

/// Writes a first run into `out` and makes its lock say coredns 1.12.4 (an older release
/// the assembly allows), as if an earlier run had chosen it.
fn locked_to_an_older_coredns(path: &Path, out: &Path) -> String {
    let (mut a, dir) = Assembler::new()
        .assemble_locked_blocking(path, Some(out), false)
        .unwrap();
    assert_eq!(dir, out);
    assert_eq!(version(&a, "coredns"), "1.14.2");
    write(&mut a, out);
    let lock = std::fs::read_to_string(out.join("stackwright.lock")).unwrap();
    let edited = lock
        .replace("version = \"1.14.2\"", "version = \"1.12.4\"")
        .replace("coredns:v1.14.2", "coredns:v1.12.4");
    assert_ne!(edited, lock);
    std::fs::write(out.join("stackwright.lock"), &edited).unwrap();
    edited
}

#[test]
fn the_lock_is_kept_while_the_assembly_allows_it() {
    let work = tempfile::tempdir().unwrap();
    let path = write_assembly(work.path(), "");
    let out = work.path().join("out");
    let edited = locked_to_an_older_coredns(&path, &out);

    let locked = Assembler::new()
        .load_locked_blocking(&path, Some(&out), false)
        .unwrap();
    assert_eq!(locked.loaded.name, "cp");
    assert!(locked.lock.is_some());
    let (mut a, _) = Assembler::new()
        .assemble_locked_blocking(&path, Some(&out), false)
        .unwrap();
    assert_eq!(version(&a, "coredns"), "1.12.4");
    assert!(stale(&a).is_empty(), "{:?}", stale(&a));
    // The same inputs write the same lock again.
    write(&mut a, &out);
    assert_eq!(
        std::fs::read_to_string(out.join("stackwright.lock")).unwrap(),
        edited
    );

    // With `update` the lock is neither read nor used.
    let locked = Assembler::new()
        .load_locked_blocking(&path, Some(&out), true)
        .unwrap();
    assert!(locked.lock.is_none());
    let (a, _) = Assembler::new()
        .assemble_locked_blocking(&path, Some(&out), true)
        .unwrap();
    assert_eq!(version(&a, "coredns"), "1.14.2");
}

#[test]
fn a_lock_the_assembly_no_longer_allows_is_resolved_afresh_with_a_warning() {
    let work = tempfile::tempdir().unwrap();
    let path = write_assembly(work.path(), "");
    let out = work.path().join("out");
    locked_to_an_older_coredns(&path, &out);
    // The assembly now asks for a newer coredns than the lock's.
    write_assembly(work.path(), "coredns = \">=1.13\"\n");
    let (a, _) = Assembler::new()
        .assemble_locked_blocking(&path, Some(&out), false)
        .unwrap();
    assert_eq!(version(&a, "coredns"), "1.14.2");
    assert_eq!(
        stale(&a),
        ["the lock had coredns 1.12.4; the assembly no longer allows it, now 1.14.2"]
    );
}

#[test]
fn another_assemblys_lock_is_not_used() {
    let work = tempfile::tempdir().unwrap();
    let path = write_assembly(work.path(), "");
    let out = work.path().join("out");
    locked_to_an_older_coredns(&path, &out);
    let other = work.path().join("other.toml");
    std::fs::write(
        &other,
        "[assembly]\nname = \"other\"\nextends = [\"builtin:k8s-control-plane\"]\n",
    )
    .unwrap();
    let locked = Assembler::new()
        .load_locked_blocking(&other, Some(&out), false)
        .unwrap();
    assert!(locked.lock.is_none(), "the lock of `cp` is not `other`'s");
    let (a, _) = Assembler::new()
        .assemble_locked_blocking(&other, Some(&out), false)
        .unwrap();
    assert_eq!(version(&a, "coredns"), "1.14.2");
    assert!(stale(&a).is_empty(), "{:?}", stale(&a));
}

#[test]
fn a_broken_lock_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let path = write_assembly(work.path(), "");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("stackwright.lock"), "[[component]\n").unwrap();
    let err = Assembler::new()
        .assemble_locked_blocking(&path, Some(&out), false)
        .unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    let d = err.diagnostics();
    assert!(
        d[0].location
            .as_ref()
            .unwrap()
            .file
            .ends_with("stackwright.lock"),
        "{d:#?}"
    );
    // `update` does not read it.
    Assembler::new()
        .assemble_locked_blocking(&path, Some(&out), true)
        .unwrap();
}

#[test]
fn without_an_output_directory_the_lock_is_out_slash_name() {
    assert_eq!(
        stackwright::default_out_dir("cp"),
        Path::new("out").join("cp")
    );
}
