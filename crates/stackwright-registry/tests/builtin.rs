//! The built-in registry: loads with zero diagnostics, covers every category and the
//! catalog, and its manifests round-trip.

use stackwright_registry::{Registry, RegistryBuilder};
use stackwright_types::manifest::{Category, Manifest};
use stackwright_types::SourceText;

fn registry() -> Registry {
    match Registry::builtin() {
        Ok(r) => r,
        Err(e) => panic!(
            "built-in registry has problems:\n{}",
            stackwright_types::diagnostic::render_all(&e.diagnostics())
        ),
    }
}

#[test]
fn builtin_registry_loads_with_zero_diagnostics() {
    let r = registry();
    assert!(
        r.warnings().is_empty(),
        "{}",
        stackwright_types::diagnostic::render_all(r.warnings())
    );
}

#[test]
fn at_least_100_components_in_every_category() {
    let r = registry();
    assert!(r.len() >= 100, "only {} components", r.len());
    for cat in Category::ALL {
        assert!(
            r.manifests().any(|m| m.category == *cat),
            "no component in {cat}"
        );
    }
}

#[test]
fn every_catalog_id_exists() {
    // The catalog's `name` column, embedded so the test does not need ../shared.
    let ids = include_str!("catalog-ids.txt");
    let r = registry();
    let missing: Vec<&str> = ids
        .lines()
        .filter(|id| !id.is_empty() && r.get(id).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "catalog ids missing from the registry: {missing:?}"
    );
}

#[test]
fn every_capability_used_is_declared_and_has_a_provider() {
    let r = registry();
    for m in r.manifests() {
        for rel in &m.releases {
            for cap in rel.provides.keys() {
                assert!(
                    r.capability(cap).is_some(),
                    "{} provides undeclared {cap}",
                    m.id
                );
            }
        }
    }
    for name in r.capabilities().keys() {
        assert!(
            !r.providers(name).is_empty(),
            "capability `{name}` has no provider"
        );
    }
}

#[test]
fn manifests_round_trip() {
    let r = registry();
    for m in r.manifests() {
        let text = m.to_toml();
        let again = Manifest::parse(
            &SourceText::new(format!("{}.toml", m.id), text.clone()),
            Some(&m.id),
        )
        .unwrap_or_else(|e| panic!("{} does not re-parse: {:?}\n{text}", m.id, e.diagnostics()));
        assert_eq!(again.to_toml(), text, "{} changes on a round trip", m.id);
        assert_eq!(again.releases.len(), m.releases.len());
    }
}

#[test]
fn duplicates_need_override() {
    let mut b = RegistryBuilder::with_builtin();
    let getty = Registry::builtin()
        .unwrap()
        .manifest("getty")
        .unwrap()
        .to_toml();
    b.add_source(
        SourceText::new("mine/getty.toml", getty.clone()),
        stackwright_registry::ComponentOrigin::Directory("mine".into()),
    );
    let err = b.build().unwrap_err();
    let d = err.diagnostics();
    assert_eq!(d[0].code.0, "SW0201", "{d:?}");
    assert_eq!(d[0].location.as_ref().unwrap().file, "mine/getty.toml");

    let mut b = RegistryBuilder::with_builtin();
    let shadow = getty.replacen("id = \"getty\"", "id = \"getty\"\noverride = true", 1);
    b.add_source(
        SourceText::new("mine/getty.toml", shadow),
        stackwright_registry::ComponentOrigin::Directory("mine".into()),
    );
    let r = b.build().unwrap();
    assert_eq!(r.warnings()[0].code.0, "SW0201");
    assert!(r.manifest("getty").unwrap().override_);
}

#[test]
fn a_user_capability_is_declared_beside_the_users_components() {
    let component = r#"id = "gpu-plugin"
category = "runtime"
summary = "x"
stage = "service"
arch = ["amd64"]

[[release]]
version = "1.0.0"
provides = { gpu-device-plugin = "1.0.0" }
"#;
    let capabilities = r#"[gpu-device-plugin]
summary = "Exposes GPUs to pods"
cardinality = "many"
"#;
    let origin = stackwright_registry::ComponentOrigin::Directory("mine".into());
    // Without the declaration: the hint names the file beside the component.
    let mut b = RegistryBuilder::with_builtin();
    b.add_source(
        SourceText::new("mine/gpu-plugin.toml", component),
        origin.clone(),
    );
    let diags = b.build().unwrap_err().diagnostics();
    assert_eq!(diags.len(), 1, "{diags:?}");
    let hint = diags[0].hint.clone().unwrap_or_default();
    assert!(hint.contains("mine/capabilities.toml"), "{hint}");
    assert!(!hint.contains("components/capabilities.toml"), "{hint}");
    let at = diags[0].location.as_ref().unwrap();
    assert_eq!(at.line, 9, "span not on the provides entry: {at:?}");
    // With it: the registry loads and knows the provider.
    let mut b = RegistryBuilder::with_builtin();
    b.add_source(
        SourceText::new("mine/gpu-plugin.toml", component),
        origin.clone(),
    );
    b.add_source(
        SourceText::new("mine/capabilities.toml", capabilities),
        origin,
    );
    let r = b.build().unwrap();
    assert_eq!(r.providers("gpu-device-plugin"), ["gpu-plugin".to_string()]);
}
