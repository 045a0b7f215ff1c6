//! Operating a platform over time: `diff` (and, next to it, `upgrade`).

use std::path::PathBuf;

use clap::ValueEnum;
use stackwright::Error;

use crate::stdout::out;
use crate::Outcome;

/// How a command prints its result.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The platform before: a stackwright.lock, or an output directory holding one.
    pub a: PathBuf,
    /// The platform after.
    pub b: PathBuf,
    /// `text` (default) or `json`.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Exit with 1 when the two differ (as `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

pub(crate) fn diff(args: &DiffArgs) -> Result<Outcome, Error> {
    let d = stackwright::diff::diff_paths(&args.a, &args.b)?;
    let a = stackwright::diff::lock_path(&args.a).display().to_string();
    let b = stackwright::diff::lock_path(&args.b).display().to_string();
    match args.output {
        Output::Text => out!("{}", stackwright::render::diff_text(&d, &a, &b)),
        Output::Json => out!("{}", stackwright::render::diff_json(&d, &a, &b)),
    }
    let mut out = Outcome::ok();
    if args.exit_code && !d.is_empty() {
        out.code = 1;
    }
    Ok(out)
}

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The assembly file, or a built-in example's name (k8s-worker, or builtin:k8s-worker).
    pub assembly: PathBuf,
    /// A target, ID=VERSION: an exact release, or a minor (1.36) meaning its newest
    /// release (repeatable).
    #[arg(long = "to", value_name = "ID=VERSION", required = true)]
    pub to: Vec<stackwright::upgrade::Target>,
    /// The platform now (default: out/<name>/stackwright.lock); a lock or an output directory.
    #[arg(long)]
    pub lock: Option<PathBuf>,
    /// `text` (default) or `json`.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Write each step's platform as DIR/step-N/stackwright.lock.
    #[arg(long, value_name = "DIR")]
    pub write_steps: Option<PathBuf>,
}

pub(crate) fn upgrade(
    assembler: &stackwright::Assembler,
    args: &UpgradeArgs,
) -> Result<Outcome, Error> {
    let path = crate::commands::resolve_assembly_path(&args.assembly);
    let loaded = assembler.load_blocking(&path)?;
    let lock_at = args
        .lock
        .clone()
        .unwrap_or_else(|| std::path::Path::new("out").join(&loaded.name));
    let current = stackwright::diff::read_side(&lock_at)?;
    let plan = stackwright::upgrade::plan(assembler, loaded, &current, &args.to)?;
    if let Some(dir) = &args.write_steps {
        stackwright::upgrade::write_steps(&plan, dir)?;
    }
    match args.output {
        Output::Text => out!("{}", stackwright::render::upgrade_text(&plan)),
        Output::Json => out!("{}", stackwright::render::upgrade_json(&plan)),
    }
    Ok(Outcome::ok())
}
