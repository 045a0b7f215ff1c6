//! The `Component` trait as a Rust user meets it: a component implemented in Rust checks its
//! own config in the context of the assembly and contributes a generated file, and both show
//! up in the pipeline's results.

use stackwright::types::diagnostic::{self, Diagnostic};
use stackwright::types::linuxkit::File;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;
use stackwright::{Assembler, Component, ComponentContext, ComponentError};

/// A node agent whose config file is generated from typed config.
#[derive(Debug)]
struct Agent(Manifest);

impl Agent {
    fn new() -> Self {
        let text = r#"
id = "my-agent"
category = "observability"
summary = "An in-house node agent"
stage = "service"
arch = ["amd64", "arm64"]

[config.endpoint]
type = "string"
default = "https://collector.example:4317"

[config.interval]
type = "integer"
min = 1
max = 3600
default = 30

[[release]]
version = "1.2.0"
image = "registry.example/my-agent:1.2.0"
requires = { linuxkit-init = "*" }
"#;
        Agent(Manifest::parse(&SourceText::new("my-agent.toml", text), Some("my-agent")).unwrap())
    }
}

impl Component for Agent {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    fn validate(&self, ctx: &ComponentContext<'_>) -> Vec<Diagnostic> {
        // The schema check first, then a rule only Rust can express.
        let mut d = stackwright::registry::config::check_config(
            self.manifest(),
            ctx.given_config,
            ctx.location,
        );
        if let Some(e) = ctx.config.get("endpoint").and_then(|v| v.as_str()) {
            if !e.starts_with("https://") {
                d.push(
                    Diagnostic::error(
                        diagnostic::COMPONENT_CHECK,
                        format!("my-agent endpoint `{e}` is not https"),
                    )
                    .at_opt(ctx.given_config.get("endpoint").map(|v| v.location.clone()))
                    .hint("the collector only accepts TLS"),
                );
            }
        }
        d
    }

    fn contribute(&self, ctx: &ComponentContext<'_>) -> Result<Vec<File>, ComponentError> {
        let endpoint = ctx.config["endpoint"].as_str().unwrap_or_default();
        let interval = ctx.config["interval"].as_integer().unwrap_or_default();
        Ok(vec![File {
            path: "etc/my-agent/config.toml".into(),
            contents: Some(format!(
                "endpoint = {endpoint:?}\ninterval = {interval}\nnode = {:?}\n",
                ctx.assembly
            )),
            mode: Some("0644".into()),
            ..Default::default()
        }])
    }
}

fn assembly(agent: &str) -> String {
    format!(
        "[assembly]\nname = \"edge\"\n\n[components]\n\"linuxkit-kernel-6.12\" = \"*\"\nlinuxkit-init = \"*\"\n{agent}\n"
    )
}

#[test]
fn a_rust_component_contributes_a_generated_file() {
    let loaded = stackwright::assembly::load_str(
        "edge.toml",
        &assembly("my-agent = { config = { interval = 10 } }"),
    )
    .unwrap();
    let a = Assembler::new()
        .component(Agent::new())
        .assemble_loaded(loaded)
        .unwrap();
    assert_eq!(
        a.resolution.components["my-agent"].version.to_string(),
        "1.2.0"
    );
    let yml = String::from_utf8(a.outputs().unwrap()["linuxkit.yml"].clone()).unwrap();
    assert!(yml.contains("path: etc/my-agent/config.toml"), "{yml}");
    assert!(yml.contains("interval = 10"), "{yml}");
    assert!(
        yml.contains("image: registry.example/my-agent:1.2.0"),
        "{yml}"
    );
}

#[test]
fn a_rust_component_rejects_its_own_bad_config_with_a_location() {
    let loaded = stackwright::assembly::load_str(
        "edge.toml",
        &assembly("my-agent = { config = { endpoint = \"http://plain\", interval = 0 } }"),
    )
    .unwrap();
    let err = Assembler::new()
        .component(Agent::new())
        .assemble_loaded(loaded)
        .unwrap_err();
    let d = err.diagnostics();
    let codes: Vec<&str> = d
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.0)
        .collect();
    assert_eq!(codes, vec!["SW0511", "SW0503"], "{d:#?}");
    assert_eq!(d[0].location.as_ref().unwrap().line, 7);
}

#[test]
fn rust_components_are_registry_members_like_any_other() {
    // Duplicating a built-in id without `override` is refused, as for TOML components.
    #[derive(Debug)]
    struct FakeGetty(Manifest);
    impl Component for FakeGetty {
        fn manifest(&self) -> &Manifest {
            &self.0
        }
    }
    let text = "id = \"getty\"\ncategory = \"init-system\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\n";
    let m = Manifest::parse(&SourceText::new("getty.toml", text), None).unwrap();
    let err = Assembler::new()
        .component(FakeGetty(m))
        .registry(None)
        .unwrap_err();
    assert_eq!(err.diagnostics()[0].code, diagnostic::DUPLICATE_COMPONENT);
}
