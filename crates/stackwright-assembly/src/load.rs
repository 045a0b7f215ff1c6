//! Following `extends` from a child to its parents, and merging them.
//!
//! Parents are files (paths relative to the file that names them) or published
//! assemblies (`oci://host/repo:tag`). This crate does no network I/O: published
//! parents come through a [`ParentSource`] the caller provides (the `stackwright`
//! facade implements it over OCI registries); [`load`] refuses them. Assemblies built
//! into Stackwright (the repository's `assemblies/*.toml`, embedded at build time) are
//! named `builtin:NAME`, as a parent or as the path given to [`load`]; inside one, a
//! relative `extends` (`linuxkit-base.toml`) names another built-in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackwright_types::assembly::{AssemblyFile, Located};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::manifest::Arch;
use stackwright_types::{Location, SourceText};

use crate::AssemblyError;

/// Longest `extends` chain followed; deeper is an error (and a loop is caught earlier).
pub const MAX_EXTENDS_DEPTH: usize = 32;

/// The scheme of `extends` entries that name a published assembly.
pub const OCI_SCHEME: &str = "oci://";

/// The scheme of `extends` entries (and of paths given to [`load`]) that name an assembly
/// built into Stackwright: `builtin:linuxkit-base`.
pub const BUILTIN_SCHEME: &str = "builtin:";

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin_assemblies.rs"));
}

/// The names of the built-in assemblies (the repository's `assemblies/*.toml`), sorted.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    embedded::BUILTIN.iter().map(|(n, _)| *n)
}

/// The text of the built-in assembly `name` (without the `builtin:` prefix).
pub fn builtin(name: &str) -> Option<&'static str> {
    embedded::BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

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
    /// Files of published parents are named `oci://…#<title>`.
    pub sources: Vec<(String, String)>,
    /// `component_paths`, resolved against the file that names them.
    pub component_dirs: Vec<(PathBuf, Location)>,
    /// The directory of the top file, against which `files` sources are resolved.
    pub base_dir: PathBuf,
    /// The published (`oci://`) parents read, in the order first met, each once.
    pub parents: Vec<RemoteParent>,
    /// Component manifests and `capabilities.toml` files published with those parents,
    /// under the `component_paths` their assembly files name, as (display name
    /// `oci://…#<title>`, text), each once: the parent's own components, to be loaded
    /// into the registry like a component directory.
    pub published_components: Vec<(String, String)>,
}

impl Loaded {
    /// The sources read from local files (not from published parents, not built in, not
    /// held in memory).
    pub fn local_sources(&self) -> impl Iterator<Item = &(String, String)> {
        self.sources.iter().filter(|(n, _)| {
            !n.starts_with(OCI_SCHEME)
                && !n.starts_with(BUILTIN_SCHEME)
                && stackwright_types::source::memory_source(n).is_none()
        })
    }
}

/// A published parent as it was read: what `extends` said and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteParent {
    /// `oci://host/repo:tag`, as written in `extends`.
    pub uri: String,
    /// The digest of what was read (the artifact's manifest digest).
    pub digest: String,
}

/// A published assembly's files, as a [`ParentSource`] returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedParent {
    /// What identifies this content (for OCI: the manifest digest); recorded in
    /// [`Loaded::parents`] and from there in the lockfile.
    pub digest: String,
    /// The title of the assembly file itself among `files`.
    pub entry: String,
    /// (relative title, text) of every source file, the entry's own parents included.
    pub files: Vec<(String, String)>,
    /// (relative title, text) of the component manifests and `capabilities.toml` files
    /// published with it (the directories its `component_paths` name).
    pub components: Vec<(String, String)>,
    /// A local directory holding the `files` sources published with it, each at its title
    /// (the entry's directory joined with the source as written, the way `stackwright
    /// push` titles them); the fetcher writes them there (the facade: under its cache, by
    /// the artifact's digest). `None` when the artifact carries none: then a published
    /// `files` entry with a `source` is refused, since the child's directory holds nothing
    /// of the parent's.
    pub files_dir: Option<std::path::PathBuf>,
}

/// Where published (`oci://`) parents come from. Object-safe, so callers can pass
/// whatever fetches them (a registry client, a test double, an offline mirror).
pub trait ParentSource {
    /// The files of the published assembly `uri` (`oci://…` as written). The error is
    /// a sentence saying why it could not be fetched.
    fn fetch(&self, uri: &str) -> Result<FetchedParent, String>;
}

/// Refuses every published parent: what [`load`] uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoParentSource;

impl ParentSource for NoParentSource {
    fn fetch(&self, _uri: &str) -> Result<FetchedParent, String> {
        Err(
            "published (oci://) parents need registry support, which this build lacks \
             (the `stackwright` crate's `oci` feature)"
                .into(),
        )
    }
}

/// Reads the assembly at `path` and every parent it extends; `oci://` parents are refused.
pub fn load(path: &Path) -> Result<Loaded, AssemblyError> {
    load_with(path, &NoParentSource)
}

/// Reads the assembly at `path` and every parent it extends, published parents
/// through `parents` (each fetched once however often it is named).
pub fn load_with(path: &Path, parents: &dyn ParentSource) -> Result<Loaded, AssemblyError> {
    let mut r = Reader::new(parents);
    let builtin = path.to_str().and_then(|p| p.strip_prefix(BUILTIN_SCHEME));
    let (merged, stem, base_dir) = match builtin {
        Some(name) => (
            r.read_builtin(name, None)?,
            name.to_string(),
            PathBuf::new(),
        ),
        None => (
            r.read_local(path, None)?,
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "assembly".into()),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
    };
    r.finish(merged, stem, base_dir)
}

/// Parses an assembly a program holds as text, shown in diagnostics as `<memory:NAME>`
/// (`<memory:edge.toml>:3:1`), with no published parents (see [`load_text`]).
pub fn load_str(name: &str, text: &str) -> Result<Loaded, AssemblyError> {
    load_text(name, text, &NoParentSource)
}

/// Reads an assembly a program holds as text, named `name` (its stem is the assembly's
/// name unless `[assembly] name` says otherwise; diagnostics show `<memory:NAME>` and the
/// line). It may extend built-in (`builtin:NAME`) and published (`oci://…`, through
/// `parents`) assemblies; what needs a directory is refused at its line: a relative
/// `extends` entry, `component_paths` (add the components to the registry instead), a
/// `files` entry whose `source` is a relative path.
pub fn load_text(
    name: &str,
    text: &str,
    parents: &dyn ParentSource,
) -> Result<Loaded, AssemblyError> {
    let mut r = Reader::new(parents);
    let merged = r.read_memory(name, text)?;
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "assembly".into());
    r.finish(merged, stem, PathBuf::new())
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
        parents: Vec::new(),
        published_components: Vec::new(),
    })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Where a file's relative `extends` entries are resolved.
enum Base {
    Dir(PathBuf),
    /// Inside a built-in assembly: relative entries name other built-ins.
    Builtin,
    /// Inside an assembly held in memory: there is no directory, relative entries are
    /// refused.
    Memory,
    /// Inside a published assembly: its URI and the directory (title prefix) of the file.
    Published {
        uri: String,
        dir: String,
    },
}

/// `dir/rel` inside a published assembly, `..` resolved; `None` if it climbs out.
fn join_title(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Points the `files` sources of a published assembly's file at the copies published with
/// it. Sources are resolved against the top file's directory, and at `push` that was the
/// published entry's; in a child they would be resolved against the child's, which holds
/// nothing of the parent's. So each becomes the absolute path of its published copy in
/// [`FetchedParent::files_dir`]; a source that was not published is an error at its line.
fn published_file_sources(
    file: &mut AssemblyFile,
    uri: &str,
    fetched: &FetchedParent,
) -> Result<(), AssemblyError> {
    let entry_dir = fetched
        .entry
        .rsplit_once('/')
        .map_or("", |(d, _)| d)
        .to_string();
    let mut errors = Vec::new();
    for f in &mut file.files {
        let Some(source) = f.value.source.as_mut() else {
            continue;
        };
        let copy = join_title(&entry_dir, source).and_then(|title| {
            let dir = fetched.files_dir.as_ref()?;
            let p = dir.join(&title);
            p.is_file().then_some(p)
        });
        match copy {
            Some(p) => *source = p.display().to_string(),
            None => errors.push(
                Diagnostic::error(
                    diagnostic::MISSING_PARENT,
                    format!(
                        "the published assembly {uri} has a files entry with source `{source}`, which was not published with it"
                    ),
                )
                .at(f.location.clone())
                .hint("publish the parent again with `stackwright push` (it publishes files sources under its directory), or give the entry `contents` instead"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AssemblyError::Invalid(errors))
    }
}

/// What in an assembly held in memory would need the directory of its file: relative
/// `extends` entries, `component_paths`, relative `files` sources; one error at each.
fn needs_a_directory(file: &AssemblyFile) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for parent in &file.extends {
        let v = &parent.value;
        if !v.starts_with(OCI_SCHEME) && !v.starts_with(BUILTIN_SCHEME) {
            errors.push(
                Diagnostic::error(
                    diagnostic::MISSING_PARENT,
                    format!("`extends` names the file `{v}`, and an assembly held in memory has no directory to find it in"),
                )
                .at(parent.location.clone())
                .hint(match builtin(v.strip_suffix(".toml").unwrap_or(v)) {
                    Some(_) => format!(
                        "for the built-in assembly write `{BUILTIN_SCHEME}{}`",
                        v.strip_suffix(".toml").unwrap_or(v)
                    ),
                    None => format!(
                        "extend a built-in (`{BUILTIN_SCHEME}NAME`) or published (`{OCI_SCHEME}…`) assembly, or load the assembly from a file"
                    ),
                }),
            );
        }
    }
    errors.extend(file
        .component_paths
        .iter()
        .map(|cp| {
            Diagnostic::error(
                diagnostic::MISSING_PARENT,
                format!(
                    "component_paths `{}` names a directory, and an assembly held in memory has none to resolve it against",
                    cp.value
                ),
            )
            .at(cp.location.clone())
            .hint("add the components to the registry instead (Assembler::component_text, RegistryBuilder::add_text or add_dir), or load the assembly from a file")
        })
        );
    for f in &file.files {
        if let Some(source) = f
            .value
            .source
            .as_deref()
            .filter(|s| !Path::new(s).is_absolute())
        {
            errors.push(
                Diagnostic::error(
                    diagnostic::MISSING_PARENT,
                    format!(
                        "the files source `{source}` is a relative path, and an assembly held in memory has no directory to resolve it against"
                    ),
                )
                .at(f.location.clone())
                .hint("give the entry `contents`, or an absolute `source` path"),
            );
        }
    }
    errors
}

struct Reader<'a> {
    source: &'a dyn ParentSource,
    fetched: BTreeMap<String, FetchedParent>,
    parents: Vec<RemoteParent>,
    /// What is being read, outermost first: (identity, as shown). The identity is the
    /// canonical path or `oci://…#title`; messages show the path as the user wrote it, so
    /// they do not depend on where the checkout lives.
    stack: Vec<(String, String)>,
    sources: Vec<(String, String)>,
    dirs: Vec<(PathBuf, Location)>,
    published_components: Vec<(String, String)>,
}

impl<'a> Reader<'a> {
    fn new(source: &'a dyn ParentSource) -> Self {
        Reader {
            source,
            fetched: BTreeMap::new(),
            parents: Vec::new(),
            stack: Vec::new(),
            sources: Vec::new(),
            dirs: Vec::new(),
            published_components: Vec::new(),
        }
    }

    /// The [`Loaded`] of what was read, `merged` being the top file merged over its
    /// parents.
    fn finish(
        self,
        merged: AssemblyFile,
        stem: String,
        base_dir: PathBuf,
    ) -> Result<Loaded, AssemblyError> {
        let mut loaded = finish(merged, stem, self.sources, self.dirs, base_dir)?;
        loaded.parents = self.parents;
        loaded.published_components = self.published_components;
        Ok(loaded)
    }

    /// The top file given as text, and its parents. What would need the file's directory
    /// is an error at its line (all of them at once).
    fn read_memory(&mut self, name: &str, text: &str) -> Result<AssemblyFile, AssemblyError> {
        let src = SourceText::in_memory(name, text);
        let key = src.name.clone();
        let file =
            AssemblyFile::parse(&src).map_err(|e| AssemblyError::Invalid(e.into_diagnostics()))?;
        let errors = needs_a_directory(&file);
        if !errors.is_empty() {
            return Err(AssemblyError::Invalid(errors));
        }
        self.stack.push((key.clone(), key.clone()));
        let merged = self.read_parents(&file, &Base::Memory);
        self.stack.pop();
        let merged = merged?;
        self.sources.push((key, text.to_string()));
        Ok(match merged {
            Some(m) => m.merge(file),
            None => file,
        })
    }

    /// Refuses loops and over-deep chains before `key` is read.
    fn enter(
        &self,
        key: &str,
        shown: &str,
        named_at: Option<&Location>,
    ) -> Result<(), AssemblyError> {
        if let Some(pos) = self.stack.iter().position(|(k, _)| k == key) {
            let mut chain: Vec<String> = self.stack[pos..].iter().map(|(_, s)| s.clone()).collect();
            chain.push(shown.to_string());
            return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::EXTENDS_CYCLE,
                format!("`extends` loops: {}", chain.join(" → ")),
            )
            .at_opt(named_at.cloned())
            .hint("remove one of the `extends` entries so the chain ends")]));
        }
        if self.stack.len() >= MAX_EXTENDS_DEPTH {
            return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::INPUT_LIMIT,
                format!("`extends` is nested more than {MAX_EXTENDS_DEPTH} files deep"),
            )
            .at_opt(named_at.cloned())
            .hint("flatten the chain of parents")]));
        }
        Ok(())
    }

    fn read_local(
        &mut self,
        path: &Path,
        named_at: Option<&Location>,
    ) -> Result<AssemblyFile, AssemblyError> {
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            Err(e) => {
                // A missing `linuxkit-base.toml` beside a user's file is most likely
                // the built-in one, written as the repository's examples write it.
                let hint = match path
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .filter(|n| builtin(n).is_some())
                {
                    Some(n) => format!(
                        "`extends` paths are relative to the file that names them; for the built-in assembly write `extends = [\"{BUILTIN_SCHEME}{n}\"]`"
                    ),
                    None => "`extends` paths are relative to the file that names them".into(),
                };
                return Err(match named_at {
                    Some(at) => AssemblyError::Invalid(vec![Diagnostic::error(
                        diagnostic::MISSING_PARENT,
                        format!("the parent assembly {} cannot be read: {e}", display(path)),
                    )
                    .at(at.clone())
                    .hint(hint)]),
                    None => AssemblyError::Io {
                        path: display(path),
                        source: e,
                    },
                });
            }
        };
        let key = display(&canonical);
        self.enter(&key, &display(path), named_at)?;
        let bytes = std::fs::read(path).map_err(|source| match named_at {
            // A parent that exists but cannot be read as a file (a directory, a
            // device) is a mistake in the child, not an I/O failure of the run.
            Some(at) => AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::MISSING_PARENT,
                format!(
                    "the parent assembly {} cannot be read: {source}",
                    display(path)
                ),
            )
            .at(at.clone())
            .hint("`extends` names assembly files, relative to the file that names them")]),
            None => AssemblyError::Io {
                path: display(path),
                source,
            },
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
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push((key, display(path)));
        let merged = self.read_parents(&file, &Base::Dir(dir.clone()));
        self.stack.pop();
        let merged = merged?;
        for cp in &file.component_paths {
            self.dirs.push((dir.join(&cp.value), cp.location.clone()));
        }
        self.sources.push((name, text));
        Ok(match merged {
            Some(m) => m.merge(file),
            None => file,
        })
    }

    /// The built-in assembly `name` and its parents.
    fn read_builtin(
        &mut self,
        name: &str,
        named_at: Option<&Location>,
    ) -> Result<AssemblyFile, AssemblyError> {
        let key = format!("{BUILTIN_SCHEME}{name}");
        let Some(text) = builtin(name) else {
            let hint = match stackwright_types::suggest::did_you_mean(name, builtin_names()) {
                Some(s) => format!("did you mean `{BUILTIN_SCHEME}{s}`?"),
                None => format!(
                    "the built-in assemblies are {}",
                    builtin_names()
                        .map(|n| format!("`{BUILTIN_SCHEME}{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::MISSING_PARENT,
                format!("there is no built-in assembly `{key}`"),
            )
            .at_opt(named_at.cloned())
            .hint(hint)]));
        };
        self.enter(&key, &key, named_at)?;
        let src = SourceText::new(key.clone(), text.to_string());
        let file =
            AssemblyFile::parse(&src).map_err(|e| AssemblyError::Invalid(e.into_diagnostics()))?;
        if let Some(cp) = file.component_paths.first() {
            // Built-ins use the built-in components only; there is no directory to name.
            return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("the built-in assembly `{key}` names component_paths"),
            )
            .at(cp.location.clone())
            .hint("built-in assemblies use the built-in components only")]));
        }
        self.stack.push((key.clone(), key.clone()));
        let merged = self.read_parents(&file, &Base::Builtin);
        self.stack.pop();
        let merged = merged?;
        self.sources.push((key, text.to_string()));
        Ok(match merged {
            Some(m) => m.merge(file),
            None => file,
        })
    }

    /// A file of the published assembly `uri`: `title`, or its entry when `None`.
    fn read_published(
        &mut self,
        uri: &str,
        title: Option<String>,
        named_at: Option<&Location>,
    ) -> Result<AssemblyFile, AssemblyError> {
        if !self.fetched.contains_key(uri) {
            // Each published parent is fetched once; a loop through it is caught below,
            // when its entry file is met again on the stack.
            let fetched = self
                .source
                .fetch(uri)
                .map_err(|message| AssemblyError::Parent {
                    uri: uri.to_string(),
                    location: named_at.cloned(),
                    message,
                })?;
            self.parents.push(RemoteParent {
                uri: uri.to_string(),
                digest: fetched.digest.clone(),
            });
            self.fetched.insert(uri.to_string(), fetched);
        }
        let fetched = &self.fetched[uri];
        let title = title.unwrap_or_else(|| fetched.entry.clone());
        let key = format!("{uri}#{title}");
        let Some((_, text)) = fetched.files.iter().find(|(t, _)| *t == title) else {
            return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                diagnostic::MISSING_PARENT,
                format!("the published assembly {uri} has no file `{title}`"),
            )
            .at_opt(named_at.cloned())
            .hint(
                "`extends` inside a published assembly can only name files published with it",
            )]));
        };
        let text = text.clone();
        self.enter(&key, &key, named_at)?;
        let src = SourceText::new(key.clone(), text.clone());
        let mut file =
            AssemblyFile::parse(&src).map_err(|e| AssemblyError::Invalid(e.into_diagnostics()))?;
        published_file_sources(&mut file, uri, fetched)?;
        let dir = title.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        // The published assembly's own components: the files published under each of
        // its component_paths (titled relative to the same root as its sources).
        for cp in &file.component_paths {
            let prefix = join_title(&dir, &cp.value);
            let found: Vec<(String, String)> = match &prefix {
                Some(p) => fetched
                    .components
                    .iter()
                    .filter(|(t, _)| p.is_empty() || t.starts_with(&format!("{p}/")))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            if found.is_empty() {
                return Err(AssemblyError::Invalid(vec![Diagnostic::error(
                    diagnostic::MISSING_PARENT,
                    format!(
                        "the published assembly {uri} lists component_paths `{}`, but no component was published under it",
                        cp.value
                    ),
                )
                .at(cp.location.clone())
                .hint("publish it again with `stackwright push` (which publishes its components), or extend a local copy")]));
            }
            for (t, text) in found {
                let name = format!("{uri}#{t}");
                if !self.published_components.iter().any(|(n, _)| *n == name) {
                    self.published_components.push((name, text));
                }
            }
        }
        self.stack.push((key.clone(), key.clone()));
        let merged = self.read_parents(
            &file,
            &Base::Published {
                uri: uri.to_string(),
                dir,
            },
        );
        self.stack.pop();
        let merged = merged?;
        self.sources.push((key, text));
        Ok(match merged {
            Some(m) => m.merge(file),
            None => file,
        })
    }

    /// Reads and merges `file`'s parents, in order; every invalid parent is reported.
    fn read_parents(
        &mut self,
        file: &AssemblyFile,
        base: &Base,
    ) -> Result<Option<AssemblyFile>, AssemblyError> {
        let mut merged: Option<AssemblyFile> = None;
        let mut errors = Vec::new();
        for parent in &file.extends {
            let at = Some(&parent.location);
            let read = if parent.value.starts_with(OCI_SCHEME) {
                self.read_published(&parent.value, None, at)
            } else if let Some(name) = parent.value.strip_prefix(BUILTIN_SCHEME) {
                self.read_builtin(name, at)
            } else {
                match base {
                    Base::Dir(dir) => self.read_local(&dir.join(&parent.value), at),
                    Base::Builtin => {
                        let name = parent.value.strip_suffix(".toml").unwrap_or(&parent.value);
                        self.read_builtin(name, at)
                    }
                    // Refused before the parents are read (`read_memory`).
                    Base::Memory => continue,
                    Base::Published { uri, dir } => match join_title(dir, &parent.value) {
                        Some(t) => self.read_published(uri, Some(t), at),
                        None => Err(AssemblyError::Invalid(vec![Diagnostic::error(
                            diagnostic::MISSING_PARENT,
                            format!(
                                "`{}` climbs out of the published assembly {uri}",
                                parent.value
                            ),
                        )
                        .at(parent.location.clone())
                        .hint("`extends` inside a published assembly can only name files published with it")])),
                    },
                }
            };
            match read {
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
        if !errors.is_empty() {
            return Err(AssemblyError::Invalid(errors));
        }
        Ok(merged)
    }
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
    fn builtins_are_the_repository_examples_and_load_alone() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assemblies");
        let mut files: Vec<String> = std::fs::read_dir(&repo)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "toml").then(|| p.file_stem().unwrap().to_string_lossy().into())
            })
            .collect();
        files.sort();
        let names: Vec<&str> = builtin_names().collect();
        assert_eq!(names, files);
        assert!(names.contains(&"linuxkit-base") && names.contains(&"k8s-worker"));
        for name in names {
            let from_file = load(&repo.join(format!("{name}.toml"))).unwrap();
            let built_in = load(Path::new(&format!("builtin:{name}"))).unwrap();
            assert_eq!(built_in.name, from_file.name, "{name}");
            assert_eq!(
                format!(
                    "{:?}",
                    built_in.assembly.components.keys().collect::<Vec<_>>()
                ),
                format!(
                    "{:?}",
                    from_file.assembly.components.keys().collect::<Vec<_>>()
                ),
            );
            assert_eq!(
                built_in.sources.iter().map(|(_, t)| t).collect::<Vec<_>>(),
                from_file.sources.iter().map(|(_, t)| t).collect::<Vec<_>>(),
                "{name}: the same texts, parents first"
            );
            assert!(built_in
                .sources
                .iter()
                .all(|(n, _)| n.starts_with(BUILTIN_SCHEME)));
            assert_eq!(built_in.local_sources().count(), 0);
        }
        let worker = load(Path::new("builtin:k8s-worker")).unwrap();
        assert_eq!(worker.sources[0].0, "builtin:linuxkit-base");
        assert_eq!(worker.sources[1].0, "builtin:k8s-worker");
    }

    #[test]
    fn a_file_extends_a_builtin() {
        let d = tempfile::tempdir().unwrap();
        let child = write(
            d.path(),
            "edge.toml",
            "[assembly]\nname = \"edge\"\nextends = [\"builtin:linuxkit-base\"]\n[components]\nsshd = \"*\"\n",
        );
        let l = load(&child).unwrap();
        assert_eq!(l.name, "edge");
        let base = load(Path::new("builtin:linuxkit-base")).unwrap();
        for id in base.assembly.components.keys() {
            assert!(l.assembly.components.contains_key(id), "{id} not inherited");
        }
        assert!(l.assembly.components.contains_key("sshd"));
        assert_eq!(
            l.local_sources()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [child.display().to_string()]
        );
        // A near miss is named, at the `extends` entry.
        write(
            d.path(),
            "typo.toml",
            "[assembly]\nextends = [\"builtin:linuxkit-bsae\"]\n",
        );
        let e = load(&d.path().join("typo.toml")).unwrap_err().diagnostics();
        assert_eq!(e[0].code, diagnostic::MISSING_PARENT);
        assert_eq!(e[0].location.as_ref().unwrap().line, 2);
        assert_eq!(
            e[0].hint.as_deref(),
            Some("did you mean `builtin:linuxkit-base`?")
        );
        let e = load(Path::new("builtin:nothing-like-it"))
            .unwrap_err()
            .diagnostics();
        assert!(
            e[0].hint
                .as_deref()
                .unwrap()
                .contains("`builtin:k8s-worker`"),
            "{:?}",
            e[0].hint
        );
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

    /// Published assemblies held in memory; counts fetches.
    struct Fake {
        artifacts: BTreeMap<String, FetchedParent>,
        calls: std::cell::RefCell<Vec<String>>,
    }

    /// (uri, entry title, files as (title, text)).
    type Published<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    impl Fake {
        fn new(list: &[Published<'_>]) -> Fake {
            Fake {
                artifacts: list
                    .iter()
                    .map(|(uri, entry, files)| {
                        (
                            uri.to_string(),
                            FetchedParent {
                                digest: format!("sha256:{}", uri.len()),
                                entry: entry.to_string(),
                                files: files
                                    .iter()
                                    .map(|(t, x)| (t.to_string(), x.to_string()))
                                    .collect(),
                                components: Vec::new(),
                                files_dir: None,
                            },
                        )
                    })
                    .collect(),
                calls: Default::default(),
            }
        }
    }

    impl ParentSource for Fake {
        fn fetch(&self, uri: &str) -> Result<FetchedParent, String> {
            self.calls.borrow_mut().push(uri.to_string());
            self.artifacts
                .get(uri)
                .cloned()
                .ok_or_else(|| format!("{uri}: manifest unknown"))
        }
    }

    #[test]
    fn published_parents_come_from_the_source_with_their_own_relative_parents() {
        let d = tempfile::tempdir().unwrap();
        let fake = Fake::new(&[(
            "oci://reg/base:1",
            "edge/base.toml",
            &[
                ("common/c.toml", "[assembly]\narch = \"arm64\"\n[components]\ngetty = \"*\"\n"),
                (
                    "edge/base.toml",
                    "[assembly]\nname = \"base\"\nextends = [\"../common/c.toml\"]\n[components]\nsshd = \"*\"\n",
                ),
            ],
        )]);
        let child = write(
            d.path(),
            "child.toml",
            "[assembly]\nname = \"edge\"\nextends = [\"oci://reg/base:1\", \"oci://reg/base:1\"]\n[components]\nsshd = \"=0.0.0\"\n",
        );
        let l = load_with(&child, &fake).unwrap();
        assert_eq!(l.name, "edge");
        assert_eq!(l.arch, Arch::Arm64);
        assert_eq!(l.assembly.components.len(), 2);
        assert_eq!(l.assembly.components["sshd"].range().to_string(), "=0.0.0");
        assert_eq!(*fake.calls.borrow(), ["oci://reg/base:1"], "fetched once");
        assert_eq!(
            l.parents,
            vec![RemoteParent {
                uri: "oci://reg/base:1".into(),
                digest: "sha256:16".into()
            }]
        );
        let names: Vec<&str> = l.sources.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "oci://reg/base:1#common/c.toml");
        assert_eq!(names[1], "oci://reg/base:1#edge/base.toml");
        assert_eq!(l.local_sources().count(), 1);
        assert!(l.local_sources().all(|(n, _)| n.ends_with("child.toml")));
    }

    /// A published parent's `files` sources point at the copies published with it (titled
    /// under the entry's directory), not at the child's directory; without a copy the
    /// entry is an error at its line.
    #[test]
    fn published_files_sources_point_at_the_published_copies() {
        let d = tempfile::tempdir().unwrap();
        let published = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(published.path().join("edge/etc")).unwrap();
        std::fs::write(published.path().join("edge/etc/motd"), "parent's motd\n").unwrap();
        let base = "[assembly]\nname = \"base\"\n[components]\nsshd = \"*\"\n\n[[files]]\npath = \"etc/motd\"\nsource = \"etc/motd\"\n";
        let mut fake = Fake::new(&[(
            "oci://reg/base:1",
            "edge/base.toml",
            &[("edge/base.toml", base)],
        )]);
        // The child's directory has a file of the same name: it must not be used.
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/motd"), "child's\n").unwrap();
        let child = write(
            d.path(),
            "child.toml",
            "[assembly]\nname = \"edge\"\nextends = [\"oci://reg/base:1\"]\n",
        );
        // Published without its files: refused at the entry's line.
        let e = load_with(&child, &fake).unwrap_err().diagnostics();
        assert_eq!(e[0].code, diagnostic::MISSING_PARENT);
        assert!(e[0].message.contains("`etc/motd`"), "{}", e[0].message);
        assert_eq!(e[0].location.as_ref().unwrap().line, 6);
        assert!(e[0]
            .location
            .as_ref()
            .unwrap()
            .file
            .contains("oci://reg/base:1#edge/base.toml"));

        fake.artifacts
            .get_mut("oci://reg/base:1")
            .unwrap()
            .files_dir = Some(published.path().to_path_buf());
        let l = load_with(&child, &fake).unwrap();
        let f = &l.assembly.files[0].value;
        let source = std::path::PathBuf::from(f.source.as_ref().unwrap());
        assert!(source.is_absolute());
        assert_eq!(std::fs::read_to_string(source).unwrap(), "parent's motd\n");
    }

    #[test]
    fn published_parents_are_refused_without_a_source_and_checked_with_one() {
        let d = tempfile::tempdir().unwrap();
        let child = write(
            d.path(),
            "child.toml",
            "[assembly]\nextends = [\"oci://reg/missing:1\"]\n",
        );
        match load(&child).unwrap_err() {
            AssemblyError::Parent {
                uri,
                location,
                message,
            } => {
                assert_eq!(uri, "oci://reg/missing:1");
                assert_eq!(location.unwrap().line, 2);
                assert!(message.contains("oci"), "{message}");
            }
            e => panic!("expected a parent error, got {e}"),
        }
        let fake = Fake::new(&[
            (
                "oci://reg/a:1",
                "a.toml",
                &[("a.toml", "[assembly]\nextends = [\"oci://reg/b:1\"]\n")],
            ),
            (
                "oci://reg/b:1",
                "b.toml",
                &[("b.toml", "[assembly]\nextends = [\"oci://reg/a:1\"]\n")],
            ),
            (
                "oci://reg/up:1",
                "x/u.toml",
                &[("x/u.toml", "[assembly]\nextends = [\"../../etc/passwd\"]\n")],
            ),
            (
                "oci://reg/cp:1",
                "c.toml",
                &[("c.toml", "[assembly]\ncomponent_paths = [\"mine\"]\n")],
            ),
            ("oci://reg/gone:1", "c.toml", &[]),
        ]);
        let e = load_with(&child, &fake).unwrap_err();
        assert!(matches!(e, AssemblyError::Parent { .. }), "{e}");
        assert!(
            e.to_string().contains("manifest unknown") && e.to_string().contains("child.toml:2"),
            "{e}"
        );

        let cycle = write(
            d.path(),
            "cy.toml",
            "[assembly]\nextends = [\"oci://reg/a:1\"]\n",
        );
        let e = load_with(&cycle, &fake).unwrap_err().diagnostics();
        assert_eq!(e[0].code, diagnostic::EXTENDS_CYCLE);
        assert!(
            e[0].message
                .contains("oci://reg/a:1#a.toml → oci://reg/b:1#b.toml → oci://reg/a:1#a.toml"),
            "{}",
            e[0].message
        );

        for (uri, what) in [
            ("oci://reg/up:1", "climbs out"),
            ("oci://reg/cp:1", "component_paths"),
            ("oci://reg/gone:1", "has no file"),
        ] {
            let f = write(
                d.path(),
                "f.toml",
                &format!("[assembly]\nextends = [\"{uri}\"]\n"),
            );
            let e = load_with(&f, &fake).unwrap_err().diagnostics();
            assert_eq!(e[0].code, diagnostic::MISSING_PARENT, "{uri}");
            assert!(e[0].message.contains(what), "{uri}: {}", e[0].message);
        }
    }

    #[test]
    fn titles_join_inside_the_artifact_only() {
        assert_eq!(join_title("a/b", "../c.toml").as_deref(), Some("a/c.toml"));
        assert_eq!(join_title("", "./x/y.toml").as_deref(), Some("x/y.toml"));
        assert_eq!(join_title("a", "../../x"), None);
        assert_eq!(join_title("a", "/etc/x"), None);
        assert_eq!(join_title("", ".."), None);
    }
}
