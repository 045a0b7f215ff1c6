//! Following `extends` from a child to its parents, and merging them.

use std::path::{Path, PathBuf};

use stackwright_types::assembly::{AssemblyFile, Located};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::manifest::Arch;
use stackwright_types::{Location, SourceText};

use crate::AssemblyError;

/// Longest `extends` chain followed; deeper is an error (and a loop is caught earlier).
pub const MAX_EXTENDS_DEPTH: usize = 32;

/// An assembly read through its parents and merged.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The merged assembly. `name` and `arch` are always set (from the file stem and
    /// `amd64` when no file gives them).
    pub assembly: AssemblyFile,
    /// The assembly's name.
    pub name: String,
    pub arch: Arch,
    /// Every file read, parents first, as (display name, text): the assembly's sources.
    pub sources: Vec<(String, String)>,
    /// `component_paths`, resolved against the file that names them.
    pub component_dirs: Vec<(PathBuf, Location)>,
    /// The directory of the top file, against which `files` sources are resolved.
    pub base_dir: PathBuf,
}

/// Reads the assembly at `path` and every parent it extends.
pub fn load(path: &Path) -> Result<Loaded, AssemblyError> {
    let mut stack = Vec::new();
    let mut sources = Vec::new();
    let mut dirs = Vec::new();
    let merged = read_chain(path, None, &mut stack, &mut sources, &mut dirs)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "assembly".into());
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    finish(merged, stem, sources, dirs, base_dir)
}

/// Parses an assembly from text alone (no `extends`, no component paths): for library
/// users who build assemblies in memory.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, AssemblyError> {
    let src = SourceText::new(name, text);
    let a = AssemblyFile::parse(&src).map_err(|e| AssemblyError::Invalid(e.into_diagnostics()))?;
    if let Some(e) = a.extends.first() {
        return Err(AssemblyError::Invalid(vec![Diagnostic::error(
            diagnostic::MISSING_PARENT,
            "an assembly given as text cannot `extends` files",
        )
        .at(e.location.clone())
        .hint(
            "load it from a file with `load`, or merge the parent yourself",
        )]));
    }
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "assembly".into());
    finish(
        a,
        stem,
        vec![(name.to_string(), text.to_string())],
        Vec::new(),
        PathBuf::new(),
    )
}

fn finish(
    mut merged: AssemblyFile,
    stem: String,
    sources: Vec<(String, String)>,
    component_dirs: Vec<(PathBuf, Location)>,
    base_dir: PathBuf,
) -> Result<Loaded, AssemblyError> {
    let name = merged
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or(stem);
    let arch = merged.arch.as_ref().map(|a| a.value).unwrap_or(Arch::Amd64);
    if merged.name.is_none() {
        merged.name = Some(Located::new(
            name.clone(),
            Location::file_only(merged.source.clone()),
        ));
    }
    Ok(Loaded {
        assembly: merged,
        name,
        arch,
        sources,
        component_dirs,
        base_dir,
    })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn read_chain(
    path: &Path,
    named_at: Option<&Location>,
    stack: &mut Vec<PathBuf>,
    sources: &mut Vec<(String, String)>,
    dirs: &mut Vec<(PathBuf, Location)>,
) -> Result<AssemblyFile, AssemblyError> {
    let canonical = match path.canonicalize() {
        Ok(c) => c,
        Err(e) => {
            return Err(match named_at {
                Some(at) => AssemblyError::Invalid(vec![Diagnostic::error(
                    diagnostic::MISSING_PARENT,
                    format!("the parent assembly {} cannot be read: {e}", display(path)),
                )
                .at(at.clone())
                .hint("`extends` paths are relative to the file that names them")]),
                None => AssemblyError::Io {
                    path: display(path),
                    source: e,
                },
            })
        }
    };
    if let Some(pos) = stack.iter().position(|p| *p == canonical) {
        let mut chain: Vec<String> = stack[pos..].iter().map(|p| display(p)).collect();
        chain.push(display(&canonical));
        return Err(AssemblyError::Invalid(vec![Diagnostic::error(
            diagnostic::EXTENDS_CYCLE,
            format!("`extends` loops: {}", chain.join(" → ")),
        )
        .at_opt(named_at.cloned())
        .hint("remove one of the `extends` entries so the chain ends")]));
    }
    if stack.len() >= MAX_EXTENDS_DEPTH {
        return Err(AssemblyError::Invalid(vec![Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            format!("`extends` is nested more than {MAX_EXTENDS_DEPTH} files deep"),
        )
        .at_opt(named_at.cloned())
        .hint("flatten the chain of parents")]));
    }
    let bytes = std::fs::read(path).map_err(|source| AssemblyError::Io {
        path: display(path),
        source,
    })?;
    let name = display(path);
    let text = String::from_utf8(bytes).map_err(|e| {
        AssemblyError::Invalid(vec![Diagnostic::error(
            diagnostic::NOT_UTF8,
            format!(
                "{name} is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
        .at(Location::file_only(name.clone()))
        .hint("save the file as UTF-8")])
    })?;
    let src = SourceText::new(name.clone(), text.clone());
    let file =
        AssemblyFile::parse(&src).map_err(|e| AssemblyError::Invalid(e.into_diagnostics()))?;
    stack.push(canonical);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut merged: Option<AssemblyFile> = None;
    let mut errors = Vec::new();
    for parent in &file.extends {
        let ppath = dir.join(&parent.value);
        match read_chain(&ppath, Some(&parent.location), stack, sources, dirs) {
            Ok(p) => {
                merged = Some(match merged {
                    Some(m) => m.merge(p),
                    None => p,
                })
            }
            Err(AssemblyError::Invalid(d)) => errors.extend(d),
            Err(e) => return Err(e),
        }
    }
    stack.pop();
    if !errors.is_empty() {
        return Err(AssemblyError::Invalid(errors));
    }
    for cp in &file.component_paths {
        dirs.push((dir.join(&cp.value), cp.location.clone()));
    }
    sources.push((name, text));
    Ok(match merged {
        Some(m) => m.merge(file),
        None => file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn extends_merges_parents_first() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "base.toml",
            "[assembly]\narch = \"arm64\"\n[components]\ngetty = \"*\"\nsshd = \"*\"\n",
        );
        let child = write(
            d.path(),
            "child.toml",
            "[assembly]\nname = \"edge\"\nextends = [\"base.toml\"]\n[components]\nsshd = \"=0.0.0\"\n",
        );
        let l = load(&child).unwrap();
        assert_eq!(l.name, "edge");
        assert_eq!(l.arch, Arch::Arm64);
        assert_eq!(l.assembly.components.len(), 2);
        assert_eq!(l.assembly.components["sshd"].range().to_string(), "=0.0.0");
        assert_eq!(l.sources.len(), 2);
    }

    #[test]
    fn loops_and_missing_parents_are_errors() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.toml", "[assembly]\nextends = [\"b.toml\"]\n");
        let b = write(d.path(), "b.toml", "[assembly]\nextends = [\"a.toml\"]\n");
        let e = load(&b).unwrap_err().diagnostics();
        assert_eq!(e[0].code, diagnostic::EXTENDS_CYCLE);
        assert!(e[0].message.contains("a.toml → "), "{}", e[0].message);

        let c = write(
            d.path(),
            "c.toml",
            "[assembly]\nextends = [\"nope.toml\"]\n",
        );
        let e = load(&c).unwrap_err().diagnostics();
        assert_eq!(e[0].code, diagnostic::MISSING_PARENT);
        assert_eq!(e[0].location.as_ref().unwrap().line, 2);
    }
}
