//! A component implemented in Rust that generates its own config file.
//!
//! `my-agent` ships a node agent. Its manifest declares typed config (`endpoint`,
//! `interval`); the Rust side checks a rule the schema cannot express (https only), and
//! `contribute` writes `etc/my-agent/config.toml` from the effective config and the
//! platform around it (which container runtime was chosen, and its version and config),
//! points its own container at that file with an `env` entry, and binds the runtime's
//! socket into it.
//!
//! Run it: `cargo run -p stackwright --example node_agent` prints the generated file and
//! the agent's container from the rendered `linuxkit.yml`. `tests/rust_component.rs` runs
//! the same code.

use stackwright::types::diagnostic::{self, Diagnostic};
use stackwright::types::linuxkit::File;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;
use stackwright::{
    Assembled, Assembler, Component, ComponentContext, ComponentError, Contribution,
};

/// The agent's manifest: identity, releases, and its typed config.
pub const MANIFEST: &str = r#"
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

/// A node agent whose config file is generated from typed config.
#[derive(Debug)]
pub struct Agent(Manifest);

impl Agent {
    pub fn new() -> Self {
        let m = Manifest::parse(
            &SourceText::new("my-agent.toml", MANIFEST),
            Some("my-agent"),
        )
        .expect("the example manifest parses");
        Agent(m)
    }
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Component for Agent {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    fn validate(&self, ctx: &ComponentContext<'_>) -> Vec<Diagnostic> {
        // The schema checks ran already (they always do); this is a rule only Rust can
        // express.
        let mut d = Vec::new();
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

    fn contribute(&self, ctx: &ComponentContext<'_>) -> Result<Contribution, ComponentError> {
        // Anything the manifest declares with [[generate]] (nothing here), then ours.
        let mut out = stackwright::registry::generate_from_manifest(self.manifest(), ctx);
        let endpoint = ctx.config["endpoint"].as_str().unwrap_or_default();
        let interval = ctx.config["interval"].as_integer().unwrap_or_default();
        let mut text = format!(
            "# generated for assembly {:?} ({})\nendpoint = {endpoint:?}\ninterval = {interval}\n",
            ctx.assembly, ctx.arch
        );
        // The platform around it: the chosen container runtime daemon, with its config.
        if let Some(rt) = ctx.providers("container-runtime-daemon").first() {
            let c = &ctx.components[*rt];
            text.push_str(&format!(
                "\n[runtime]\nname = {rt:?}\nversion = \"{}\"\n",
                c.version
            ));
            for key in ["socket", "snapshotter"] {
                if let Some(v) = c.config.get(key).and_then(|v| v.as_str()) {
                    text.push_str(&format!("{key} = {v:?}\n"));
                }
            }
            out.binds.push("/run/containerd:/run/containerd".into());
        }
        out.files.push(File {
            path: "etc/my-agent/config.toml".into(),
            contents: Some(text),
            mode: Some("0644".into()),
            ..Default::default()
        });
        out.env
            .push("MY_AGENT_CONFIG=/etc/my-agent/config.toml".into());
        Ok(out)
    }
}

/// An assembly with the agent, configured by `agent` (a `[components]` line).
pub fn assembly(agent: &str) -> String {
    format!(
        "[assembly]\nname = \"edge\"\n\n[components]\n\"linuxkit-kernel-6.12\" = \"*\"\nlinuxkit-init = \"*\"\n{agent}\n"
    )
}

/// Assembles `text` with the agent registered.
pub fn assemble(text: &str) -> Result<Assembled, stackwright::Error> {
    let loaded = stackwright::assembly::load_str("edge.toml", text)?;
    Assembler::new()
        .component(Agent::new())
        .assemble_loaded(loaded)
}

// An example is a program: it prints what it made (the library itself never does).
#[allow(dead_code, clippy::print_stdout, clippy::print_stderr)]
fn main() {
    let a = assemble(&assembly("my-agent = { config = { interval = 10 } }")).unwrap_or_else(|e| {
        eprintln!(
            "{}",
            stackwright::types::diagnostic::render_all(&e.diagnostics())
        );
        std::process::exit(1)
    });
    let out = a.outputs().expect("renders");
    print!("{}", String::from_utf8_lossy(&out["linuxkit.yml"]));
}
