//! A platform assembled by a program, with nothing but the library.
//!
//! 1. A registry: the built-in components, one more component given as manifest text
//!    (`site-agent`), and one implemented in Rust (`motd`, which checks its greeting and
//!    writes `/etc/motd` naming the kernel the platform boots).
//! 2. An assembly given as text that extends the built-in `linuxkit-base`.
//! 3. Resolve and validate it, render `linuxkit.yml` (stdout), and print the
//!    diagnostics exactly as the `stackwright` command line prints them (stderr:
//!    [`stackwright::report`]), exiting with the command line's exit code.
//!
//! Run it: `cargo run -p stackwright --example custom_platform` prints `linuxkit.yml`;
//! `cargo run -p stackwright --example custom_platform -- my-assembly.toml` assembles
//! that file's text instead (try a typo in a component name, or a greeting over 60
//! characters). `tests/custom_platform.rs` runs the same code.

use stackwright::types::diagnostic::{self, Diagnostic};
use stackwright::types::linuxkit::File;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;
use stackwright::{
    Assembled, Assembler, Component, ComponentContext, ComponentError, Contribution, Error,
    Registry, RegistryBuilder,
};

/// A component added as text, as a program might read it from its own configuration.
pub const SITE_AGENT: &str = r#"id = "site-agent"
category = "observability"
summary = "Reports the site's health to the fleet manager"
stage = "service"
arch = ["amd64", "arm64"]

[config.site]
type = "string"
default = "unnamed"

[[release]]
version = "0.3.0"
image = "registry.example/site-agent:0.3.0"
requires = { linuxkit-init = "*" }
"#;

/// The manifest of the Rust component: an onboot step with a typed greeting.
pub const MOTD: &str = r#"id = "motd"
category = "observability"
summary = "Writes /etc/motd"
stage = "onboot"
arch = ["amd64", "arm64"]

[config.greeting]
type = "string"
default = "welcome"

[[release]]
version = "1.0.0"
image = "registry.example/motd:1.0.0"
requires = { linuxkit-init = "*" }
"#;

/// The longest greeting a console shows on one line.
pub const MAX_GREETING: usize = 60;

/// `motd`: checks its greeting and writes `/etc/motd` from it and the chosen kernel.
#[derive(Debug)]
pub struct Motd(Manifest);

impl Motd {
    pub fn new() -> Self {
        let src = SourceText::in_memory("motd.toml", MOTD);
        Motd(Manifest::parse(&src, Some("motd")).expect("the example manifest parses"))
    }
}

impl Default for Motd {
    fn default() -> Self {
        Self::new()
    }
}

impl Component for Motd {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    fn validate(&self, ctx: &ComponentContext<'_>) -> Vec<Diagnostic> {
        let greeting = ctx.config["greeting"].as_str().unwrap_or_default();
        if greeting.chars().count() <= MAX_GREETING {
            return Vec::new();
        }
        vec![Diagnostic::error(
            diagnostic::COMPONENT_CHECK,
            format!("the motd greeting is over {MAX_GREETING} characters"),
        )
        .at_opt(ctx.given_config.get("greeting").map(|v| v.location.clone()))
        .hint("shorten it: the console shows one line")]
    }

    fn contribute(&self, ctx: &ComponentContext<'_>) -> Result<Contribution, ComponentError> {
        let mut out = Contribution::default();
        let greeting = ctx.config["greeting"].as_str().unwrap_or_default();
        let kernel = ctx
            .providers("kernel")
            .first()
            .map(|k| format!("{k} {}", ctx.components[*k].version))
            .unwrap_or_else(|| "no kernel".into());
        out.files.push(File {
            path: "etc/motd".into(),
            contents: Some(format!("{greeting}\n{} on {kernel}\n", ctx.assembly)),
            mode: Some("0644".into()),
            ..Default::default()
        });
        Ok(out)
    }
}

/// The assembly the program builds when given no file.
pub const ASSEMBLY: &str = r#"[assembly]
name = "edge"
extends = ["builtin:linuxkit-base"]

[components]
motd = { config = { greeting = "welcome to the edge" } }
site-agent = { config = { site = "berlin-1" } }
"#;

/// The built-in components, the text one and the Rust one, checked together.
pub fn registry() -> Result<Registry, Error> {
    let mut b = RegistryBuilder::with_builtin();
    b.add_text("site-agent.toml", SITE_AGENT)
        .add_component(Box::new(Motd::new()));
    Ok(b.build()?)
}

/// Resolves and validates the assembly `text`, named `name` in diagnostics.
pub fn assemble(name: &str, text: &str) -> Result<Assembled, Error> {
    Assembler::new()
        .with_registry(registry()?)
        .assemble_text_blocking(name, text)
}

/// What the program prints: `linuxkit.yml` (stdout), the diagnostics as the command line
/// prints them (stderr), and the exit code.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Assembles `text` and renders it, as the program does.
pub fn run(name: &str, text: &str) -> Run {
    let rendered = assemble(name, text).and_then(|a| {
        let yml = a.outputs()?.remove("linuxkit.yml").unwrap_or_default();
        Ok((a, yml))
    });
    match rendered {
        Ok((a, yml)) => Run {
            stdout: String::from_utf8_lossy(&yml).into_owned(),
            stderr: stackwright::report(a.warnings()),
            code: 0,
        },
        Err(e) => Run {
            stdout: String::new(),
            stderr: stackwright::report(&e.diagnostics()),
            code: e.exit_code(),
        },
    }
}

// An example is a program: it prints what it made (the library itself never does).
#[allow(dead_code, clippy::print_stdout, clippy::print_stderr)]
fn main() {
    let (name, text) = match std::env::args().nth(1) {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => (path, text),
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                std::process::exit(3);
            }
        },
        None => ("edge.toml".to_string(), ASSEMBLY.to_string()),
    };
    let r = run(&name, &text);
    print!("{}", r.stdout);
    eprint!("{}", r.stderr);
    std::process::exit(r.code);
}
