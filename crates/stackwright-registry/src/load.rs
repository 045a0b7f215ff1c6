//! Reading component files from disk (the only I/O in this crate).

use std::path::{Path, PathBuf};

use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::{Location, SourceText};

use crate::RegistryError;

/// The path prefix under which built-in components are shown in diagnostics.
pub const BUILTIN_ROOT: &str = "components";

/// Hard cap on files read from one directory: a user pointing `component_paths` at `/`
/// gets an error, not a minutes-long walk.
const MAX_FILES: usize = 10_000;

/// Every `*.toml` under `dir` (recursively, sorted), as texts named by `display_prefix`
/// joined with the relative path. Unreadable or non-UTF-8 files become diagnostics.
pub fn load_dir(
    dir: &Path,
    display_prefix: &str,
) -> Result<(Vec<SourceText>, Vec<Diagnostic>), RegistryError> {
    if !dir.is_dir() {
        return Err(RegistryError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|source| RegistryError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    files.sort();
    let mut diags = Vec::new();
    if files.len() > MAX_FILES {
        return Err(RegistryError::Invalid(vec![Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            format!(
                "{} holds {} .toml files, over the limit of {MAX_FILES}",
                dir.display(),
                files.len()
            ),
        )
        .at(Location::file_only(dir.display().to_string()))
        .hint("point component_paths at the folder of your components only")]));
    }
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f);
        let name = Path::new(display_prefix).join(rel).display().to_string();
        match std::fs::read(&f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => out.push(SourceText::new(name, text)),
                Err(e) => diags.push(
                    Diagnostic::error(
                        diagnostic::NOT_UTF8,
                        format!(
                            "{name} is not UTF-8 text (invalid byte at offset {})",
                            e.utf8_error().valid_up_to()
                        ),
                    )
                    .at(Location::file_only(name.clone()))
                    .hint("save the file as UTF-8"),
                ),
            },
            Err(e) => diags.push(
                Diagnostic::error(diagnostic::IO_ERROR, format!("cannot read {name}: {e}"))
                    .at(Location::file_only(name.clone())),
            ),
        }
    }
    Ok((out, diags))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ty = e.file_type()?;
        let p = e.path();
        if ty.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
        if out.len() > MAX_FILES {
            break;
        }
    }
    Ok(())
}
