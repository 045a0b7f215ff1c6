//! Writing an assembled platform: the text outputs always, plus what `--pin`, `--pull`
//! and `--format` add — all into one staging directory swapped into place at the end.

use std::path::{Path, PathBuf};

use crate::output::Staging;
use crate::{Assembled, Error};

/// What to do beyond the text outputs.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    pub pin: bool,
    pub pull: bool,
    /// `tar`, `kernel+initrd`.
    pub formats: Vec<String>,
    pub cache: Option<PathBuf>,
    pub insecure: Vec<String>,
    pub update: bool,
}

/// Writes the platform's outputs into `out` atomically. Returns the directory written.
pub fn write(assembled: &Assembled, out: &Path, extras: &Extras) -> Result<PathBuf, Error> {
    for f in &extras.formats {
        if f != "tar" && f != "kernel+initrd" {
            return Err(Error::Invalid(vec![stackwright_types::Diagnostic::error(
                stackwright_types::diagnostic::INVALID_VALUE,
                format!("unknown --format `{f}`"),
            )
            .hint("use tar, kernel+initrd, or both: --format tar,kernel+initrd")]));
        }
    }
    if extras.pin || extras.pull || !extras.formats.is_empty() {
        return Err(Error::Invalid(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            "--pin, --pull and --format need the registry and build support, which this build does not include",
        )]));
    }
    let io = |context: String| move |source| Error::Io { context, source };
    let staging = Staging::begin(out).map_err(io(format!(
        "creating a staging directory for {}",
        out.display()
    )))?;
    for (name, bytes) in assembled.outputs()? {
        staging
            .write(&name, &bytes)
            .map_err(io(format!("writing {name}")))?;
    }
    staging
        .commit()
        .map_err(io(format!("moving the output into {}", out.display())))
}

/// A short listing of what a written output directory holds.
pub fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(", ")
}
