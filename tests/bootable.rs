//! The bootable-platform rule: a rendered platform has a kernel and an init. Where the
//! assembly names none, the solver adds the capabilities' default providers and says so;
//! a base (`[assembly] base = true`) is checked as written and never rendered.

use std::path::Path;

use stackwright::solver::Why;

fn in_tests_dir() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
}

fn added(a: &stackwright::Assembled) -> Vec<(String, String)> {
    a.resolution
        .components
        .iter()
        .flat_map(|(id, c)| {
            c.why.iter().filter_map(move |w| match w {
                Why::Bootable { capability, .. } => Some((capability.clone(), id.clone())),
                _ => None,
            })
        })
        .collect()
}

#[test]
fn defaults_are_added_with_their_reason() {
    in_tests_dir();
    let a = stackwright::Assembler::new()
        .assemble_file_blocking(Path::new("bootable/dockerd-only.toml"))
        .expect("assembles");
    let mut got = added(&a);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("init".to_string(), "linuxkit-init".to_string()),
            ("kernel".to_string(), "linuxkit-kernel-6.12".to_string()),
        ]
    );
    let why = a.resolution.components["linuxkit-init"].why[0].summary();
    assert_eq!(
        why,
        "added to boot: the assembly names no init, default provider of init"
    );
    // The reason is in the plan and the lock, so a reader of the output sees it too.
    let out = a.outputs().unwrap();
    let plan = String::from_utf8(out["plan.json"].clone()).unwrap();
    assert!(
        plan.contains("added to boot: the assembly names no kernel"),
        "{plan}"
    );
    insta::assert_snapshot!("bootable-dockerd-only", a.resolution.render());
}

#[test]
fn named_kernel_and_init_are_kept_without_extra_reasons() {
    in_tests_dir();
    let a = stackwright::Assembler::new()
        .assemble_file_blocking(Path::new("../assemblies/linuxkit-base.toml"))
        .expect("assembles");
    assert!(added(&a).is_empty());
}

#[test]
fn a_base_is_checked_not_rendered() {
    in_tests_dir();
    let mut a = stackwright::Assembler::new()
        .assemble_file_blocking(Path::new("bootable/base.toml"))
        .expect("a base resolves and validates");
    assert!(a.loaded.assembly.is_base());
    assert!(added(&a).is_empty(), "a base is not made bootable");
    assert!(!a.resolution.components.contains_key("linuxkit-init"));
    let out = tempfile::tempdir().unwrap();
    let err = stackwright::output::write_blocking(
        &mut a,
        &out.path().join("engine-base"),
        &stackwright::output::WriteOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let text = err.diagnostics()[0].message.clone();
    assert!(text.contains("is a base"), "{text}");
    assert!(!out.path().join("engine-base").exists());

    // What extends it is not a base: it is made bootable.
    let child = stackwright::Assembler::new()
        .assemble_file_blocking(Path::new("bootable/child.toml"))
        .expect("assembles");
    assert!(!child.loaded.assembly.is_base());
    assert_eq!(added(&child).len(), 2);
}

struct NoProgress;
impl stackwright::Progress for NoProgress {}
