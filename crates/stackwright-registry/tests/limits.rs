//! Count limits: a registry refuses more than `MAX_COMPONENTS` components with SW0107
//! instead of handing the solver an unbounded problem.

use stackwright_registry::{ComponentOrigin, RegistryBuilder};
use stackwright_types::diagnostic;
use stackwright_types::{SourceText, MAX_COMPONENTS};

fn manifest(id: &str) -> SourceText {
    SourceText::new(
        format!("extra/{id}.toml"),
        format!(
            "id = \"{id}\"\ncategory = \"runtime\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\n"
        ),
    )
}

#[test]
fn more_components_than_the_limit_is_an_input_limit_error() {
    let mut b = RegistryBuilder::new();
    for i in 0..=MAX_COMPONENTS {
        b.add_source(
            manifest(&format!("c-{i}")),
            ComponentOrigin::Directory("extra".into()),
        );
    }
    let err = b.build().unwrap_err();
    let diags = err.diagnostics();
    assert_eq!(diags[0].code, diagnostic::INPUT_LIMIT, "{diags:?}");
    assert!(
        diags[0].message.contains("10001 components"),
        "{}",
        diags[0].message
    );
}

#[test]
fn exactly_the_limit_is_accepted() {
    let mut b = RegistryBuilder::new();
    for i in 0..MAX_COMPONENTS {
        b.add_source(
            manifest(&format!("c-{i}")),
            ComponentOrigin::Directory("extra".into()),
        );
    }
    assert_eq!(b.build().unwrap().len(), MAX_COMPONENTS);
}
