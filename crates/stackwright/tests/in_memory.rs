//! The pipeline with nothing on disk: a registry built from texts, an assembly given as
//! text, resolved and rendered; diagnostics name `<memory:NAME>` and the line the
//! problem is on, never a path that does not exist.

use stackwright::registry::ComponentOrigin;
use stackwright::types::diagnostic;
use stackwright::{Assembler, Diagnostic, RegistryBuilder};

const CAPABILITIES: &str = r#"[kernel]
summary = "The kernel"
cardinality = "one"
default = "tiny-kernel"

[init]
summary = "PID 1"
cardinality = "one"
default = "tiny-init"
"#;

const KERNEL: &str = r#"id = "tiny-kernel"
category = "kernel"
summary = "A kernel"
stage = "kernel"
arch = ["amd64"]

[[release]]
version = "6.12.0"
image = "registry.example/kernel:6.12.0"
provides = { kernel = "6.12.0" }
"#;

const INIT: &str = r#"id = "tiny-init"
category = "init-system"
summary = "An init"
stage = "init"
arch = ["amd64"]

[[release]]
version = "1.0.0"
image = "registry.example/init:1.0.0"
provides = { init = "1.0.0" }
"#;

/// A service whose line 12 names a capability nobody declared (when `provides` is set).
fn service(provides: &str) -> String {
    format!(
        r#"id = "web"
category = "observability"
summary = "A web server"
stage = "service"
arch = ["amd64"]

[[release]]
version = "2.0.0"
image = "registry.example/web:2.0.0"
requires = {{ tiny-init = "*" }}

{provides}
"#
    )
}

fn registry_from_texts() -> stackwright::Registry {
    let mut b = RegistryBuilder::new();
    b.add_text("capabilities.toml", CAPABILITIES)
        .add_text("tiny-kernel.toml", KERNEL)
        .add_text("tiny-init.toml", INIT)
        .add_text("web.toml", service(""));
    b.build().expect("the texts make a registry")
}

fn at(d: &Diagnostic) -> (String, u32) {
    let l = d.location.as_ref().expect("a location");
    (l.file.clone(), l.line)
}

#[test]
fn a_registry_from_texts_and_an_assembly_from_text_resolve_and_render() {
    let registry = registry_from_texts();
    assert_eq!(registry.len(), 3);
    assert_eq!(
        registry.origin("web"),
        Some(&ComponentOrigin::Memory("web.toml".into()))
    );
    let a = Assembler::new()
        .with_registry(registry)
        .assemble_text_blocking("edge.toml", "[components]\nweb = \"*\"\n")
        .unwrap();
    assert_eq!(a.loaded.name, "edge");
    let chosen: Vec<&str> = a.resolution.components.keys().map(String::as_str).collect();
    assert_eq!(chosen, ["tiny-init", "tiny-kernel", "web"]);
    let out = a.outputs().unwrap();
    let yml = String::from_utf8(out["linuxkit.yml"].clone()).unwrap();
    assert!(
        yml.contains("\nkernel:\n  image: registry.example/kernel:6.12.0\n"),
        "{yml}"
    );
    assert!(
        yml.contains("\ninit:\n- registry.example/init:1.0.0\n"),
        "{yml}"
    );
    assert!(yml.contains("image: registry.example/web:2.0.0"), "{yml}");
    assert_eq!(a.loaded.sources[0].0, "<memory:edge.toml>");
}

#[test]
fn a_bad_manifest_text_is_named_with_its_line() {
    let mut b = RegistryBuilder::new();
    b.add_text("capabilities.toml", CAPABILITIES)
        .add_text("tiny-kernel.toml", KERNEL)
        .add_text("tiny-init.toml", INIT)
        .add_text(
            "web.toml",
            service("provides = { http-server = \"2.0.0\" }"),
        );
    let d = b.build().unwrap_err().diagnostics();
    assert_eq!(d[0].code, diagnostic::UNDECLARED_CAPABILITY, "{d:#?}");
    assert_eq!(at(&d[0]), ("<memory:web.toml>".into(), 12));
    let hint = d[0].hint.as_deref().unwrap();
    assert!(hint.contains("RegistryBuilder::add_text"), "{hint}");
    assert!(
        d[0].render().contains("<memory:web.toml>:12:"),
        "{}",
        d[0].render()
    );
    // A manifest whose id is not its name's stem, through the assembler.
    let err = Assembler::new()
        .without_builtin()
        .component_text("capabilities.toml", CAPABILITIES)
        .component_text("tiny-kernel.toml", KERNEL)
        .component_text("tiny-init.toml", INIT)
        .component_text("webserver.toml", service(""))
        .registry(None)
        .unwrap_err();
    let d = err.diagnostics();
    assert_eq!(at(&d[0]).0, "<memory:webserver.toml>", "{d:#?}");
    assert_eq!(at(&d[0]).1, 1, "{d:#?}");
}

#[test]
fn a_bad_assembly_text_is_named_with_its_line() {
    let err = Assembler::new()
        .with_registry(registry_from_texts())
        .assemble_text_blocking(
            "edge.toml",
            "[assembly]\nname = \"edge\"\n\n[components]\nwbe = \"*\"\n",
        )
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let d = err.diagnostics();
    assert_eq!(d[0].code, diagnostic::UNKNOWN_COMPONENT, "{d:#?}");
    assert_eq!(at(&d[0]), ("<memory:edge.toml>".into(), 5));
    assert!(
        d[0].render().contains("<memory:edge.toml>:5:7"),
        "{}",
        d[0].render()
    );
}

#[test]
fn what_needs_a_directory_is_refused_at_its_line() {
    let text = "[assembly]\nextends = [\"linuxkit-base.toml\", \"../other.toml\"]\ncomponent_paths = [\"components\"]\n\n[components]\ngetty = \"*\"\n\n[[files]]\npath = \"etc/motd\"\nsource = \"motd\"\n";
    let err = Assembler::new()
        .assemble_text_blocking("edge.toml", text)
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let d = err.diagnostics();
    let places: Vec<(String, u32)> = d.iter().map(at).collect();
    assert_eq!(
        places,
        [
            ("<memory:edge.toml>".into(), 2),
            ("<memory:edge.toml>".into(), 2),
            ("<memory:edge.toml>".into(), 3),
            ("<memory:edge.toml>".into(), 8),
        ],
        "{d:#?}"
    );
    assert!(d.iter().all(|d| d.code == diagnostic::MISSING_PARENT));
    // The built-in of that name is pointed at.
    assert!(
        d.iter().any(|d| d.hint.as_deref()
            == Some("for the built-in assembly write `builtin:linuxkit-base`")),
        "{d:#?}"
    );
}

#[test]
fn an_assembly_text_extends_a_builtin_over_the_builtin_registry() {
    let text = "[assembly]\nname = \"console\"\nextends = [\"builtin:linuxkit-base\"]\n\n[components]\ngetty = \"*\"\n";
    let a = Assembler::new()
        .assemble_text_blocking("mine.toml", text)
        .unwrap();
    assert_eq!(a.loaded.name, "console");
    assert!(a.resolution.components.contains_key("getty"));
    assert!(a.resolution.components.contains_key("linuxkit-init"));
    let names: Vec<&str> = a.loaded.sources.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["builtin:linuxkit-base", "<memory:mine.toml>"]);
    // Held in memory, it has no local files: nothing to publish from disk.
    assert_eq!(a.loaded.local_sources().count(), 0);
    // The same text from a file assembles to the same linuxkit.yml.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, text).unwrap();
    let from_file = Assembler::new().assemble_file_blocking(&path).unwrap();
    assert_eq!(
        a.outputs().unwrap()["linuxkit.yml"],
        from_file.outputs().unwrap()["linuxkit.yml"]
    );
}

#[test]
fn a_prebuilt_registry_is_extended_by_texts_and_rust_components() {
    // The built-in registry, built once, reused by two assemblers; one adds a text.
    let builtin = stackwright::Registry::builtin().unwrap();
    let extra = r#"id = "motd"
category = "observability"
summary = "Says hello"
stage = "onboot"
arch = ["amd64"]

[[release]]
version = "0.1.0"
image = "registry.example/motd:0.1.0"
requires = { linuxkit-init = "*" }
"#;
    let with_motd = Assembler::new()
        .with_registry(builtin.clone())
        .component_text("motd.toml", extra);
    let a = with_motd
        .assemble_text_blocking("edge.toml", "[components]\nmotd = \"*\"\n")
        .unwrap();
    assert!(a.resolution.components.contains_key("motd"));
    assert!(a.resolution.components.contains_key("linuxkit-kernel-6.12"));
    assert_eq!(a.registry.len(), builtin.len() + 1);
    // The prebuilt registry alone does not know it.
    let err = Assembler::new()
        .with_registry(builtin)
        .assemble_text_blocking("edge.toml", "[components]\nmotd = \"*\"\n")
        .unwrap_err();
    assert_eq!(at(&err.diagnostics()[0]), ("<memory:edge.toml>".into(), 2));
}
