//! The `stackwright` command line (also run by `cargo xtask`).
//!
//! This is the only crate that knows the terminal: it parses arguments (clap), prints
//! tables and diagnostics (human-readable on stderr, or JSON lines on stdout with
//! `--message-format json`) and maps failures to exit codes: 0 success; 1 cannot be
//! assembled or invalid; 2 usage; 3 I/O or registry failures.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the terminal is this crate's job

mod commands;
mod ops;
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
    version,
    about = "Assemble container platforms from pluggable components"
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
    Assemble(commands::AssembleArgs),
    /// Resolve and validate; write nothing.
    Check {
        #[arg(required = true)]
        assemblies: Vec<std::path::PathBuf>,
    },
    /// Why each component is in, as a tree.
    Explain { assembly: std::path::PathBuf },
    /// The chain that brings one component in.
    Why {
        assembly: std::path::PathBuf,
        component: String,
    },
    /// The registry as a table.
    Components {
        #[arg(long)]
        category: Option<String>,
    },
    /// One component (its releases, capabilities and needs), or one capability (its
    /// cardinality, default and providers).
    Show { name: String },
    /// Import from another format.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Publish an assembly (its sources, lock, linuxkit.yml and plan.json) as one OCI artifact.
    Push(share::PushArgs),
    /// Fetch a published assembly into a directory, verified.
    Pull(share::PullArgs),
    /// What changed between two platforms (locks or output directories).
    Diff(ops::DiffArgs),
    /// A plan from the locked platform to target versions, in steps the rules accept.
    Upgrade(ops::UpgradeArgs),
    /// Boot a platform (`run qemu out/NAME`) and report how it went.
    #[command(subcommand)]
    Run(run::RunCommand),
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// A LinuxKit YAML (several merge as `linuxkit build a.yml b.yml` does) as an assembly.
    Linuxkit {
        #[arg(required = true)]
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

/// Runs the command line; returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
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
            for d in diags.iter().filter(shown) {
                ui::eline(ui::paint(d));
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            let warnings = diags.len() - errors;
            if errors > 0 {
                ui::eline(format!("{errors} error(s), {warnings} warning(s)"));
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
