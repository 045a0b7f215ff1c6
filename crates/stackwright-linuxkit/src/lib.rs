//! LinuxKit import: `stackwright import linuxkit a.yml [b.yml …] --out DIR`.
//!
//! - [`parse`] reads one `linuxkit.yml` into [`Config`] with LinuxKit's own rules —
//!   its JSON schema (unknown keys anywhere, wrong types), unique service and volume names,
//!   valid files entries and image references — every problem a [`Diagnostic`] at its
//!   file, line and column (codes SW0601 syntax/type, SW0602 duplicate name, SW0102
//!   unknown key).
//! - [`merge`] appends several files as `linuxkit build a.yml b.yml` does.
//! - [`import`] does both and maps the result onto a registry: an [`Import`] holding
//!   `assembly.toml` (with a `[linuxkit]` table: sections, order, names and LinuxKit's own
//!   fields) and generated `components/<id>.toml`; [`Import::write_to`] writes them
//!   atomically.
//! - [`read_back`] / [`table::reconstruct`] turn a written import back into the
//!   [`Config`] it stands for: the reference the renderer's round trip is held to.
//!
//! The registry comes in as plain manifests, so this crate does not depend on the registry
//! crate. Nothing here prints.
//!
//! # How a LinuxKit file maps to an assembly
//!
//! - Every image (kernel, each init image, each onboot/onshutdown/service entry) becomes
//!   exactly one entry of `[components]`.
//! - An image whose repository (normalised: `docker.io` default, `library/` for official
//!   images) is a registry component's release image repository maps to that component:
//!   `version = "=<release>"` when a release has this very reference, else `"*"`;
//!   `image = "<the reference exactly as written>"`; `container = { <the entry's
//!   per-image settings> }`, which render alone (`inherit_container = false`). Kernels match kernel components only, and nothing else does.
//!   Among several candidates: an exact release, then the same stage, then the same
//!   `major.minor` as the tag, then the smallest id. An entry in its component's own stage
//!   is matched first, so a component used in two sections keeps its id where it belongs.
//! - Every other image — and every further use of a registry component, since an
//!   assembly lists an id once — becomes a generated component `components/<id>.toml`:
//!   the image as written, stage from its section,
//!   `verified = false`, facts copied from the registry component when it is a reuse.
//!   Generated ids come from the LinuxKit name (kebab-cased), else `<name>-<section>`,
//!   else numbered; they never collide with a registry id or a capability name. A generated
//!   kernel provides `kernel` at its tag's version when the registry declares that
//!   capability. Generated init/onboot entries `require` the entry before them (onshutdown:
//!   the one after), so dependency order is file order. Their per-image settings go to
//!   the assembly's `container`, as for registry components (the manifest has none).
//! - `kernel.cmdline` goes to `[kernel] cmdline`, `files` to `[[files]]` in order.
//! - Everything else — which section and order each component is in (every section
//!   written, so nothing the solver adds is rendered), LinuxKit names that differ from
//!   ids, `kernel.binary`/`tar`/`ucode` (`kernel = false` when the file has no kernel
//!   section), `trust`, `volumes`, and `inherit_container =
//!   false` (components render with exactly the file's settings) — goes to the
//!   assembly's `[linuxkit]` table ([`LinuxkitTable`]).

pub mod import;
pub mod merge;
pub mod parse;
pub mod table;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackwright_types::diagnostic::Diagnostic;
use stackwright_types::linuxkit::Config;
use stackwright_types::manifest::Manifest;
use stackwright_types::{SourceText, TypesError};

pub use import::{map, Import, ImportOptions, Mapping};
pub use merge::{merge, Merged};
pub use parse::{parse, Origins, Parsed, SCHEMA};
pub use table::{reconstruct, LinuxkitTable, ReadBack, TableKernel, TableKernelEntry};

/// Whether LinuxKit's YAML reader takes this unquoted scalar for an integer (`0644`,
/// `1_000`, `0x1F`); see [`stackwright_types::linuxkit::reads_as_integer`].
pub fn linuxkit_reads_as_integer(plain: &str) -> bool {
    stackwright_types::linuxkit::reads_as_integer(plain)
}

/// Warning: a registry component the file maps to requires something the file does not
/// have.
pub use stackwright_types::diagnostic::LINUXKIT_UNMET;

/// Errors of the LinuxKit import.
#[derive(Debug, thiserror::Error)]
pub enum LinuxkitError {
    /// The files were read and found wrong; every problem is listed.
    #[error("{} problem(s) in {}", diagnostics.len(), files.join(", "))]
    Invalid {
        files: Vec<String>,
        diagnostics: Vec<Diagnostic>,
    },
    /// A written import that does not read back (a file missing or edited by hand).
    #[error("{dir}: {message}")]
    ReadBack { dir: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LinuxkitError {
    /// The diagnostics of an [`LinuxkitError::Invalid`] (empty otherwise).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LinuxkitError::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

fn invalid(sources: &[SourceText], diagnostics: Vec<Diagnostic>) -> LinuxkitError {
    LinuxkitError::Invalid {
        files: sources.iter().map(|s| s.name.clone()).collect(),
        diagnostics,
    }
}

/// Reads and merges `sources` (in order). Every file is checked, and all problems of all
/// files are reported together.
pub fn load(sources: &[SourceText]) -> Result<Merged, LinuxkitError> {
    let mut parsed = Vec::new();
    let mut diags = Vec::new();
    for src in sources {
        match parse::parse(src) {
            Ok(p) => parsed.push(p),
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(invalid(sources, diags));
    }
    merge::merge(parsed).map_err(|d| invalid(sources, d))
}

/// Reads, merges and maps `sources` onto `registry`.
pub fn import(
    sources: &[SourceText],
    registry: &[Manifest],
    opts: &ImportOptions,
) -> Result<Import, LinuxkitError> {
    let merged = load(sources)?;
    Ok(import::map(&merged, registry, opts))
}

impl Import {
    /// Every file of the import, relative to the output directory, in path order.
    pub fn files(&self) -> BTreeMap<PathBuf, &str> {
        let mut out = BTreeMap::new();
        out.insert(PathBuf::from("assembly.toml"), self.assembly.as_str());
        for (id, text) in &self.components {
            out.insert(
                Path::new("components").join(format!("{id}.toml")),
                text.as_str(),
            );
        }
        out
    }

    /// Writes the import into `dir`: into a staging directory beside it first, swapped
    /// into place when complete (`stackwright-staging`), so a failure never leaves a
    /// half-written import nor touches a previous one.
    pub fn write_to(&self, dir: &Path) -> Result<(), LinuxkitError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LinuxkitError::Io { path, source }
        };
        let staging = stackwright_staging::Staging::begin(dir).map_err(io(dir))?;
        for (rel, text) in self.files() {
            staging
                .write(&rel, text.as_bytes())
                .map_err(io(&staging.path().join(&rel)))?;
        }
        staging.commit().map_err(io(dir))?;
        Ok(())
    }

    /// The import as it would read back from disk, without writing it.
    pub fn read_back(&self) -> Result<ReadBack, LinuxkitError> {
        let texts: BTreeMap<PathBuf, String> = self
            .files()
            .into_iter()
            .map(|(p, t)| (p, t.to_string()))
            .collect();
        read_back_texts(Path::new("."), &texts)
    }
}

/// Reads a written import (`assembly.toml`, `components/*.toml`) from `dir`.
pub fn read_back(dir: &Path) -> Result<ReadBack, LinuxkitError> {
    let mut texts = BTreeMap::new();
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|source| LinuxkitError::Io {
            path: p.clone(),
            source,
        })
    };
    texts.insert(
        PathBuf::from("assembly.toml"),
        read(dir.join("assembly.toml"))?,
    );
    let comp_dir = dir.join("components");
    if comp_dir.is_dir() {
        let entries = std::fs::read_dir(&comp_dir).map_err(|source| LinuxkitError::Io {
            path: comp_dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LinuxkitError::Io {
                path: comp_dir.clone(),
                source,
            })?;
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "toml") {
                let rel = Path::new("components").join(entry.file_name());
                texts.insert(rel, read(p)?);
            }
        }
    }
    read_back_texts(dir, &texts)
}

fn read_back_texts(
    dir: &Path,
    texts: &BTreeMap<PathBuf, String>,
) -> Result<ReadBack, LinuxkitError> {
    let bad = |message: String| LinuxkitError::ReadBack {
        dir: dir.to_path_buf(),
        message,
    };
    let types = |e: TypesError| {
        let mut diags = e.into_diagnostics();
        stackwright_types::diagnostic::sort(&mut diags);
        LinuxkitError::Invalid {
            files: diags
                .iter()
                .filter_map(|d| d.location.as_ref().map(|l| l.file.clone()))
                .collect(),
            diagnostics: diags,
        }
    };
    let asm_text = texts
        .get(Path::new("assembly.toml"))
        .ok_or_else(|| bad("no assembly.toml".into()))?;
    let assembly = stackwright_types::assembly::AssemblyFile::parse(&SourceText::new(
        "assembly.toml",
        asm_text.as_str(),
    ))
    .map_err(types)?;
    if assembly.linuxkit.is_none() {
        return Err(bad("assembly.toml has no [linuxkit] table".into()));
    }
    let mut generated = BTreeMap::new();
    for (rel, text) in texts {
        if !rel.starts_with("components") {
            continue;
        }
        let stem = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let m = Manifest::parse(
            &SourceText::new(rel.to_string_lossy(), text.as_str()),
            Some(&stem),
        )
        .map_err(types)?;
        generated.insert(m.id.clone(), m);
    }
    Ok(ReadBack {
        assembly,
        generated,
    })
}

/// The configuration a written import stands for (see [`table::reconstruct`]).
pub fn reconstruct_dir(dir: &Path, registry: &[Manifest]) -> Result<Config, LinuxkitError> {
    let read = read_back(dir)?;
    reconstruct(&read, registry).map_err(|message| LinuxkitError::ReadBack {
        dir: dir.to_path_buf(),
        message,
    })
}
