//! The `Component` trait as a Rust user meets it, through the example in
//! `examples/node_agent.rs`: a component implemented in Rust checks its own config in the
//! context of the assembly and contributes a generated file and container additions, and
//! they show up in the pipeline's results.

#[path = "../examples/node_agent.rs"]
mod node_agent;

use node_agent::{assemble, assembly, Agent};
use stackwright::types::diagnostic;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;
use stackwright::{Assembler, Component};

#[test]
fn a_rust_component_contributes_a_generated_file() {
    let a = assemble(&assembly("my-agent = { config = { interval = 10 } }")).unwrap();
    assert_eq!(
        a.resolution.components["my-agent"].version.to_string(),
        "1.2.0"
    );
    let yml = String::from_utf8(a.outputs().unwrap()["linuxkit.yml"].clone()).unwrap();
    assert!(yml.contains("path: etc/my-agent/config.toml"), "{yml}");
    assert!(yml.contains("interval = 10"), "{yml}");
    assert!(
        yml.contains("# generated for assembly \"edge\" (amd64)"),
        "{yml}"
    );
    // Its own container gained the env entry pointing at the file.
    assert!(
        yml.contains("MY_AGENT_CONFIG=/etc/my-agent/config.toml"),
        "{yml}"
    );
    assert!(
        yml.contains("image: registry.example/my-agent:1.2.0"),
        "{yml}"
    );
    // LinuxKit's init brings its containerd: the agent found it.
    assert!(yml.contains("name = \"linuxkit-containerd\""), "{yml}");
    assert!(yml.contains("/run/containerd:/run/containerd"), "{yml}");
}

#[test]
fn a_rust_component_sees_the_other_components_config() {
    let a = assemble(&assembly(
        "my-agent = \"*\"\nlinuxkit-containerd = { version = \"*\", config = { socket = \"/run/ctr/other.sock\" } }",
    ))
    .unwrap();
    let yml = String::from_utf8(a.outputs().unwrap()["linuxkit.yml"].clone()).unwrap();
    let ver = a.resolution.components["linuxkit-containerd"]
        .version
        .to_string();
    assert!(yml.contains(&format!("version = \"{ver}\"")), "{yml}");
    assert!(yml.contains("socket = \"/run/ctr/other.sock\""), "{yml}");
    assert!(yml.contains("/run/containerd:/run/containerd"), "{yml}");
}

#[test]
fn the_example_binary_prints_the_generated_file() {
    // The example as a user runs it (`cargo run --example node_agent`), built by cargo for
    // this test target's profile.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = dir.join(format!("node_agent{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        // nextest/cargo build examples alongside tests; a bare `cargo test --test` may not.
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "stackwright",
                "--example",
                "node_agent",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = std::process::Command::new(&bin).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("path: etc/my-agent/config.toml"), "{text}");
    assert!(text.contains("interval = 10"), "{text}");
}

#[test]
fn a_rust_component_rejects_its_own_bad_config_with_a_location() {
    let err = assemble(&assembly(
        "my-agent = { config = { endpoint = \"http://plain\", interval = 0 } }",
    ))
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
    let _ = Agent::new();
}

#[test]
fn overriding_validate_keeps_the_schema_checks() {
    // An override that checks nothing: the manifest's schema still refuses interval = 0.
    #[derive(Debug)]
    struct Lenient(Agent);
    impl Component for Lenient {
        fn manifest(&self) -> &Manifest {
            self.0.manifest()
        }
        fn validate(
            &self,
            _: &stackwright::ComponentContext<'_>,
        ) -> Vec<stackwright::types::Diagnostic> {
            Vec::new()
        }
    }
    let loaded = stackwright::assembly::load_str(
        "edge.toml",
        &assembly("my-agent = { config = { interval = 0 } }"),
    )
    .unwrap();
    let err = Assembler::new()
        .component(Lenient(Agent::new()))
        .assemble_loaded(loaded)
        .unwrap_err();
    let codes: Vec<&str> = err
        .diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.0)
        .collect();
    // SW0503: out of the schema's range (the agent's own https rule, SW0511, is gone).
    assert_eq!(codes, vec!["SW0503"]);
}
