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
