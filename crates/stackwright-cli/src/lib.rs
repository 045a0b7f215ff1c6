//! The `stackwright` command line (also run by `cargo xtask`).
//!
//! This is the only crate that knows the terminal: it parses arguments (clap), prints
//! tables and diagnostics (human-readable on stderr, or JSON lines on stdout with
//! `--message-format json`) and maps failures to exit codes: 0 success; 1 cannot be
//! assembled or invalid; 2 usage; 3 I/O or registry failures.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the terminal is this crate's job

mod commands;
mod ops;
mod progress;
mod run;
mod share;
mod stdout;
mod ui;

use std::ffi::OsString;

use clap::{Parser, Subcommand, ValueEnum};
use stackwright::types::{diagnostic, Diagnostic};
use stdout::outln;

#[derive(Parser, Debug)]
#[command(
    name = "stackwright",
    version = env!("STACKWRIGHT_VERSION"),
    about = "Assemble container platforms from pluggable components",
    after_help = "Examples:
  stackwright check k8s-worker                    # a built-in example, from any directory
  stackwright assemble my-platform.toml --pin     # lock, linuxkit.yml, plan.json with digests
  stackwright show kubelet
  stackwright completions bash > ~/.local/share/bash-completion/completions/stackwright"
)]
pub struct Cli {
    /// How to print diagnostics: `human` (default) or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, global = true)]
    pub message_format: MessageFormat,
    /// Extra component directories to load (repeatable).
    #[arg(long = "components", value_name = "DIR", global = true)]
    pub component_dirs: Vec<std::path::PathBuf>,
    /// Fail (exit 1) when any warning is reported, after printing it: for CI, where a
    /// warning such as SW0510 must be able to stop a build.
    #[arg(long, global = true)]
    pub deny_warnings: bool,
    /// Print only errors: no progress, no summaries, no warnings (unless --deny-warnings).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: every image resolved and every blob and file, cached or fetched.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Colour diagnostics: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ui::ColorWhen::Auto, global = true)]
    pub color: ui::ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Resolve, validate and write the outputs (lock, linuxkit.yml, plan.json, graphs).
    #[command(after_help = "Examples:
  stackwright assemble k8s-worker                          # into out/k8s-worker/
  stackwright assemble my-platform.toml --out build/my-platform
  stackwright assemble k8s-worker --pin --pull             # digests from the registries, images into out/k8s-worker/images
  stackwright assemble linuxkit-base --pull --format tar,kernel+initrd,sbom
  stackwright assemble k8s-worker --offline --pull --cache /srv/cache   # from a filled cache, no network")]
    Assemble(commands::AssembleArgs),
    /// Resolve and validate; write nothing.
    #[command(after_help = "Examples:
  stackwright check k8s-worker
  stackwright check my-platform.toml other.toml --deny-warnings   # CI: a warning fails too
  stackwright check my-platform.toml --components ./components --message-format json")]
    Check {
        /// Assembly files (or names of built-in examples, e.g. k8s-worker).
        #[arg(required = true, value_name = "ASSEMBLY")]
        assemblies: Vec<std::path::PathBuf>,
    },
    /// Why each component is in, as a tree.
    #[command(after_help = "Examples:
  stackwright explain k8s-worker
  stackwright explain my-platform.toml --message-format json   # the plan as JSON")]
    Explain {
        /// The assembly file (or the name of a built-in example).
        assembly: std::path::PathBuf,
    },
    /// The chain that brings one component in.
    #[command(after_help = "Examples:
  stackwright why k8s-worker pause
  stackwright why my-platform.toml runc")]
    Why {
        /// The assembly file (or the name of a built-in example).
        assembly: std::path::PathBuf,
        /// The component whose reasons to follow back to the assembly.
        component: String,
    },
    /// The registry as a table.
    #[command(after_help = "Examples:
  stackwright components
  stackwright components --category runtime
  stackwright components --components ./components --message-format json")]
    Components {
        /// Only this category (kernel, init, runtime, network, storage, orchestration, …).
        #[arg(long)]
        category: Option<String>,
    },
    /// One component (its releases, capabilities and needs), or one capability (its
    /// cardinality, default and providers).
    #[command(after_help = "Examples:
  stackwright show kubelet       # releases, skew rules, kernel and cgroup needs, ports, config
  stackwright show cri           # a capability: cardinality, default, providers")]
    Show {
        /// A component id or a capability name.
        name: String,
    },
    /// Import from another format.
    #[command(
        subcommand,
        after_help = "Examples:
  stackwright import linuxkit my.yml --out my-assembly"
    )]
    Import(ImportCommand),
    /// Publish an assembly (its sources, lock, linuxkit.yml and plan.json) as one OCI artifact.
    #[command(after_help = "Examples:
  stackwright push assemblies/k8s-worker.toml registry.example/platform/k8s-worker:1
  stackwright push my.toml localhost:5000/platform/my:1 --from out/my --insecure-registry localhost:5000")]
    Push(share::PushArgs),
    /// Fetch a published assembly into a directory, verified.
    #[command(after_help = "Examples:
  stackwright pull registry.example/platform/k8s-worker:1 --out k8s-worker
  stackwright pull localhost:5000/platform/my@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef --out my --insecure-registry localhost:5000")]
    Pull(share::PullArgs),
    /// What changed between two platforms (locks or output directories).
    #[command(after_help = "Examples:
  stackwright diff out/old out/new
  stackwright diff a.lock b.lock --output json
  stackwright diff a.lock b.lock --exit-code     # exit 1 when they differ")]
    Diff(ops::DiffArgs),
    /// A plan from the locked platform to target versions, in steps the rules accept.
    #[command(after_help = "Examples:
  stackwright upgrade k8s-worker --to kubelet=1.36
  stackwright upgrade cp.toml --lock cp.lock --to kube-apiserver=1.36 --to kubelet=1.36 --output json --write-steps steps")]
    Upgrade(ops::UpgradeArgs),
    /// Boot a platform (`run qemu out/NAME`) and report how it went.
    #[command(
        subcommand,
        after_help = "Examples:
  stackwright run qemu out/my-platform
  stackwright run qemu out/my-platform/my-platform-efi.img --timeout 300"
    )]
    Run(run::RunCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  stackwright completions bash > ~/.local/share/bash-completion/completions/stackwright
  stackwright completions zsh > ~/.zfunc/_stackwright      # with fpath+=(~/.zfunc) before compinit
  stackwright completions fish > ~/.config/fish/completions/stackwright.fish")]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// A LinuxKit YAML (several merge as `linuxkit build a.yml b.yml` does) as an assembly.
    #[command(after_help = "Examples:
  stackwright import linuxkit my.yml --out my-assembly
  stackwright import linuxkit base.yml extra.yml --out merged")]
    Linuxkit {
        /// LinuxKit YAML files, merged in order.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        /// Where to write assembly.toml and components/.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// What a command leaves for the caller: its exit code and its diagnostics.
pub(crate) struct Outcome {
    pub code: i32,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn ok() -> Self {
        Self {
            code: 0,
            diagnostics: Vec::new(),
        }
    }
}

/// The `--color` asked for on the command line (the last one wins, as clap takes it),
/// before anything is parsed.
fn clap_color(args: &[OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(w) = words.next() {
        let value = match w.strip_prefix("--color") {
            _ if w == "--" => break,
            Some("") => words.next().map(|v| v.into_owned()),
            Some(v) => v.strip_prefix('=').map(str::to_string),
            None => None,
        };
        match value.as_deref() {
            Some("always") => choice = clap::ColorChoice::Always,
            Some("never") => choice = clap::ColorChoice::Never,
            Some("auto") => choice = clap::ColorChoice::Auto,
            _ => {}
        }
    }
    choice
}

/// Runs the command line; returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // clap's own help and usage errors follow --color too (it is read before parsing).
    let cmd = <Cli as clap::CommandFactory>::command().color(clap_color(&args));
    let parsed = cmd
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    stdout::reset();
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => ui::Verbosity::Quiet,
        (false, true) => ui::Verbosity::Verbose,
        (false, false) => ui::Verbosity::Normal,
    };
    ui::configure(verbosity, cli.color, cli.deny_warnings);
    let format = cli.message_format;
    let mut outcome = commands::dispatch(cli);
    print_diagnostics(format, &outcome.diagnostics);
    let warnings = outcome.diagnostics.iter().filter(|d| !d.is_error()).count();
    if ui::deny_warnings() && warnings > 0 && outcome.code == 0 {
        // Exit 1 like any other reason the platform cannot be accepted as it is.
        outcome.code = 1;
        if format == MessageFormat::Human {
            ui::eline(ui::error_line(&format!(
                "{warnings} warning(s) denied by --deny-warnings"
            )));
        }
    }
    match stdout::finish() {
        stdout::State::Open | stdout::State::Closed => {}
        stdout::State::Failed(e) => {
            let d = Diagnostic::error(diagnostic::IO_ERROR, format!("writing to stdout: {e}"))
                .hint("check where stdout goes (a full disk, a closed terminal)");
            ui::eline(ui::paint(&d));
            outcome.code = outcome.code.max(3);
        }
    }
    outcome.code
}

/// Diagnostics on stderr (coloured per `--color`), or as JSON lines on stdout. Under `-q`
/// warnings are left out, unless `--deny-warnings` makes them count.
pub(crate) fn print_diagnostics(format: MessageFormat, diags: &[Diagnostic]) {
    let shown = |d: &&Diagnostic| d.is_error() || !ui::quiet() || ui::deny_warnings();
    match format {
        MessageFormat::Human => {
            // `diagnostic::report`'s text, painted: each rendered diagnostic, then the
            // summary line.
            for d in diags.iter().filter(shown) {
                ui::eline(ui::paint(d));
            }
            if let Some(line) = diagnostic::summary_line(diags) {
                ui::eline(line);
            }
        }
        // Machine-read: every diagnostic, whatever -q says.
        MessageFormat::Json => {
            for d in diags {
                outln!("{}", d.to_json_line());
            }
        }
    }
}
