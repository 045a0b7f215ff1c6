//! Sharing assemblies through OCI registries (feature `oci`).
//!
//! An assembly is published as one OCI artifact ([`stackwright_oci::artifact`]): its
//! local source files (every file read through `extends`, titled by their paths relative
//! to the directory that holds them all), the component manifests and `capabilities.toml`
//! files of its local `component_paths` (their own media types, titled the same way, so a
//! child that extends it loads them as the parent did), `stackwright.lock`,
//! `linuxkit.yml` and `plan.json`. The manifest carries the assembly's name, arch, entry file and version,
//! and a creation time only when one is given (`SOURCE_DATE_EPOCH`), so publishing the
//! same assembly twice gives the same digest.
//!
//! - [`push_assembled`], [`push_dir`], [`push`]: publish; the digest comes back.
//! - [`pull`]: the same bytes back into a directory, verified, written atomically.
//! - [`load`]: reads an assembly whose `extends` names published parents
//!   (`oci://host/repo:tag`), pinned to the lockfile's digests.
//!
//! Each is an `async fn` run on the caller's runtime, with a `*_blocking` twin for
//! synchronous callers (refused inside a runtime: [`Error::BlockingInRuntime`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use stackwright_assembly::{FetchedParent, Loaded, ParentSource, OCI_SCHEME};
use stackwright_oci::artifact::{self as art, Artifact};
use stackwright_oci::{
    Cache, Credentials, OciError, PulledArtifact, PushedArtifact, RegistryClient, RegistryOptions,
};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::lock::Lockfile;

use crate::blocking;
use crate::output::Staging;
use crate::progress::{Forward, Progress};
use crate::{Assembled, Error};

/// The outputs published with an assembly, with their media types.
pub const PUBLISHED_OUTPUTS: [(&str, &str); 3] = [
    ("stackwright.lock", art::LOCK_MEDIA_TYPE),
    ("linuxkit.yml", art::LINUXKIT_MEDIA_TYPE),
    ("plan.json", art::PLAN_MEDIA_TYPE),
];

/// How to reach registries, for pushing, pulling and published parents.
#[derive(Clone, Debug)]
pub struct ShareOptions {
    /// `None`: Docker's `config.json` at its default location.
    pub credentials: Option<Credentials>,
    /// Registries (`HOST:PORT`) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Plain HTTP for `localhost` and `127.0.0.0/8` too (default: yes, as Docker does).
    pub insecure_loopback: bool,
    /// The blob cache (default: [`Cache::default_dir`]).
    pub cache: Option<PathBuf>,
    /// Seconds since the epoch for `org.opencontainers.image.created`; `None` leaves the
    /// annotation out (reproducible digests). The CLI takes it from `SOURCE_DATE_EPOCH`.
    pub created: Option<u64>,
}

impl Default for ShareOptions {
    fn default() -> Self {
        ShareOptions {
            credentials: None,
            insecure: Vec::new(),
            insecure_loopback: true,
            cache: None,
            created: None,
        }
    }
}

impl ShareOptions {
    fn registry(&self) -> Result<RegistryClient, Error> {
        let credentials = match &self.credentials {
            Some(c) => c.clone(),
            None => Credentials::from_default_location().map_err(registry_error)?,
        };
        Ok(RegistryClient::new(RegistryOptions {
            credentials,
            insecure: self.insecure.clone(),
            insecure_loopback: self.insecure_loopback,
            ..RegistryOptions::default()
        }))
    }

    fn cache(&self) -> Result<Cache, Error> {
        self.cache
            .clone()
            .or_else(Cache::default_dir)
            .map(Cache::new)
            .ok_or_else(|| {
                Error::Invalid(vec![Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    "no cache directory: neither XDG_CACHE_HOME nor HOME is set",
                )
                .hint("pass --cache DIR")])
            })
    }
}

fn registry_error(e: OciError) -> Error {
    match e {
        OciError::WrongArtifactType {
            image,
            digest,
            found,
            ..
        } => Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            format!("{image} ({digest}) is not a published Stackwright assembly: it is `{found}`"),
        )
        .hint(format!(
            "publish assemblies with `stackwright push`; their artifactType is {}",
            art::ASSEMBLY_ARTIFACT_TYPE
        ))]),
        OciError::InvalidReference { .. } | OciError::InvalidArtifact { .. } => Error::Invalid(
            vec![Diagnostic::error(diagnostic::INVALID_VALUE, e.to_string())],
        ),
        e => Error::Oci(e),
    }
}

/// A registry reference without the optional `oci://` scheme.
pub fn registry_reference(s: &str) -> &str {
    s.strip_prefix(OCI_SCHEME).unwrap_or(s)
}

/// `path` made absolute (against the current directory) with `.` and `..` resolved
/// lexically — as the loader joined them.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The local sources as (title, text), titled relative to the deepest directory that
/// holds them all — so every relative `extends` between them still resolves — in the
/// order read (parents first, the assembly itself last), each file once.
pub fn source_titles(loaded: &Loaded) -> Result<Vec<(String, String)>, Error> {
    Ok(published_files(loaded)?.0)
}

/// The local sources (as [`source_titles`]) and the files of the assembly's local
/// `component_paths` (component manifests and `capabilities.toml`), all titled relative
/// to one root, the deepest directory that holds every one of them, so a published
/// `component_paths` entry still names its files.
fn published_files(loaded: &Loaded) -> Result<(Titled, Titled, TitledBytes), Error> {
    let files: Vec<(PathBuf, &String)> = loaded
        .local_sources()
        .map(|(name, text)| (absolute(Path::new(name)), text))
        .collect();
    let Some((first, _)) = files.first() else {
        return Err(Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            format!("assembly `{}` has no source files to publish", loaded.name),
        )
        .hint("publish an assembly read from a file")]));
    };
    let mut components: Vec<(PathBuf, String)> = Vec::new();
    for (dir, _) in &loaded.component_dirs {
        let (texts, diags) =
            stackwright_registry::load_dir(dir, &absolute(dir).display().to_string())?;
        if let Some(d) = diags.into_iter().find(|d| d.is_error()) {
            return Err(Error::Invalid(vec![d]));
        }
        for t in texts {
            components.push((PathBuf::from(&t.name), t.text.to_string()));
        }
    }
    // `[[files]]` sources, resolved as a build resolves them (against the top file's
    // directory). Absolute ones are not published: a child would find nothing there (the
    // loader refuses them at their line); those of published parents are absolute paths
    // into the cache and are carried by the parent's own artifact.
    let mut file_sources: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for f in &loaded.assembly.files {
        let Some(source) = f.value.source.as_deref() else {
            continue;
        };
        if Path::new(source).is_absolute() {
            continue;
        }
        let path = absolute(&loaded.base_dir.join(source));
        if file_sources.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Invalid(vec![Diagnostic::error(
                diagnostic::IO_ERROR,
                format!(
                    "the files source {} cannot be published: {e}",
                    path.display()
                ),
            )
            .at(f.location.clone())])
        })?;
        file_sources.push((path, bytes));
    }
    let mut root = first.parent().map(Path::to_path_buf).unwrap_or_default();
    for p in files
        .iter()
        .map(|(p, _)| p)
        .chain(components.iter().map(|(p, _)| p))
        .chain(file_sources.iter().map(|(p, _)| p))
    {
        while !p.starts_with(&root) {
            if !root.pop() {
                break;
            }
        }
    }
    let title = |p: &Path| {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (p, text) in files {
        let t = title(&p);
        // A file named by two parents is read twice; it is published once. The assembly
        // itself is read last and never twice (that would be a loop), so it stays last.
        if !out.iter().any(|(x, _)| *x == t) {
            out.push((t, text.clone()));
        }
    }
    let mut comps: Vec<(String, String)> = Vec::new();
    for (p, text) in components {
        let t = title(&p);
        if !comps.iter().any(|(x, _)| *x == t) {
            comps.push((t, text));
        }
    }
    let sources = file_sources
        .into_iter()
        .map(|(p, bytes)| (title(&p), bytes))
        .collect();
    Ok((out, comps, sources))
}

/// Files as (title, text).
type Titled = Vec<(String, String)>;
/// Files as (title, bytes).
type TitledBytes = Vec<(String, Vec<u8>)>;

/// The media type a published component file gets.
fn component_media_type(title: &str) -> &'static str {
    if title.rsplit('/').next() == Some("capabilities.toml") {
        art::CAPABILITIES_MEDIA_TYPE
    } else {
        art::COMPONENT_MEDIA_TYPE
    }
}

/// The artifact for an assembly and its outputs (`stackwright.lock`, `linuxkit.yml`,
/// `plan.json` are taken from `outputs`; other outputs are not published).
pub fn artifact(
    loaded: &Loaded,
    outputs: &BTreeMap<String, Vec<u8>>,
    created: Option<u64>,
) -> Result<Artifact, Error> {
    let mut a = Artifact::new(art::ASSEMBLY_ARTIFACT_TYPE);
    let (sources, components, file_sources) = published_files(loaded)?;
    let entry = sources.last().map(|(t, _)| t.clone()).unwrap_or_default();
    for (title, text) in sources {
        a.add(title, art::SOURCE_MEDIA_TYPE, text.into_bytes());
    }
    // The assembly's own components, so a child that extends it resolves as it did.
    for (title, text) in components {
        let media_type = component_media_type(&title);
        a.add(title, media_type, text.into_bytes());
    }
    // The local files its `[[files]]` entries name, so a child builds them as it did.
    for (title, bytes) in file_sources {
        a.add(title, art::FILE_MEDIA_TYPE, bytes);
    }
    for (name, media_type) in PUBLISHED_OUTPUTS {
        let bytes = outputs.get(name).ok_or_else(|| {
            Error::Invalid(vec![Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("there is no {name} to publish"),
            )])
        })?;
        a.add(name, media_type, bytes.clone());
    }
    a.annotations
        .insert(art::ASSEMBLY_NAME.into(), loaded.name.clone());
    a.annotations
        .insert(art::ASSEMBLY_ARCH.into(), loaded.arch.to_string());
    a.annotations.insert(art::ASSEMBLY_ENTRY.into(), entry);
    if let Some(v) = &loaded.assembly.version {
        a.annotations
            .insert(art::VERSION.into(), v.value.to_string());
    }
    if let Some(t) = created {
        a.annotations
            .insert(art::CREATED.into(), stackwright_types::time::rfc3339(t));
    }
    // Checked now, so a bad title is an invalid assembly, not a registry failure.
    a.manifest().map_err(|reason| {
        Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            format!("assembly `{}` cannot be published: {reason}", loaded.name),
        )])
    })?;
    Ok(a)
}

/// Publishes an assembled platform: its sources and freshly rendered outputs.
pub async fn push_assembled(
    assembled: &Assembled,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    let outputs = assembled.outputs()?;
    let a = artifact(&assembled.loaded, &outputs, opts.created)?;
    push(&a, reference, opts, progress).await
}

/// [`push_assembled`] for synchronous callers.
pub fn push_assembled_blocking(
    assembled: &Assembled,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    blocking::run(
        "share::push_assembled_blocking",
        "share::push_assembled",
        push_assembled(assembled, reference, opts, progress),
    )?
}

/// Publishes an assembly's sources with the outputs already written in `dir` (by
/// `stackwright assemble`): its lock must be this assembly's.
pub async fn push_dir(
    loaded: &Loaded,
    dir: &Path,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    let mut outputs = BTreeMap::new();
    for (name, _) in PUBLISHED_OUTPUTS {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        outputs.insert(name.to_string(), bytes);
    }
    match crate::read_lock(dir)? {
        Some(lock) if lock.assembly != loaded.name => {
            return Err(Error::Invalid(vec![Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!(
                    "{} is the output of assembly `{}`, not `{}`",
                    dir.display(),
                    lock.assembly,
                    loaded.name
                ),
            )
            .hint("pass the assembly that was assembled into that directory")]))
        }
        _ => {}
    }
    let a = artifact(loaded, &outputs, opts.created)?;
    push(&a, reference, opts, progress).await
}

/// [`push_dir`] for synchronous callers.
pub fn push_dir_blocking(
    loaded: &Loaded,
    dir: &Path,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    blocking::run(
        "share::push_dir_blocking",
        "share::push_dir",
        push_dir(loaded, dir, reference, opts, progress),
    )?
}

/// Publishes an artifact under `reference` (`host/repo:tag`, `oci://` optional).
pub async fn push(
    artifact: &Artifact,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    let registry = opts.registry()?;
    registry
        .push_artifact(registry_reference(reference), artifact, &Forward(progress))
        .await
        .map_err(registry_error)
}

/// [`push`] for synchronous callers.
pub fn push_blocking(
    artifact: &Artifact,
    reference: &str,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PushedArtifact, Error> {
    blocking::run(
        "share::push_blocking",
        "share::push",
        push(artifact, reference, opts, progress),
    )?
}

/// Fetches a published assembly (by `digest` when given), verified, into memory.
/// Anything but a Stackwright assembly artifact is refused.
pub async fn fetch(
    reference: &str,
    digest: Option<&str>,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<PulledArtifact, Error> {
    let registry = opts.registry()?;
    let cache = opts.cache()?;
    fetch_with(&registry, &cache, reference, digest, progress)
        .await
        .map_err(registry_error)
}

async fn fetch_with(
    registry: &RegistryClient,
    cache: &Cache,
    reference: &str,
    digest: Option<&str>,
    progress: &dyn Progress,
) -> Result<PulledArtifact, OciError> {
    registry
        .pull_artifact(
            registry_reference(reference),
            art::ASSEMBLY_ARTIFACT_TYPE,
            digest,
            cache,
            &Forward(progress),
        )
        .await
}

/// What [`pull`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    pub digest: String,
    /// `name:tag@sha256:…`.
    pub pinned: String,
    /// The assembly's name, from the manifest.
    pub name: Option<String>,
    pub dir: PathBuf,
    /// The titles written, in layer order.
    pub files: Vec<String>,
}

/// Pulls a published assembly into `out` (replacing it only once every file is
/// fetched and verified; on any error `out` is left as it was).
pub async fn pull(
    reference: &str,
    out: &Path,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<Pulled, Error> {
    let pulled = fetch(reference, None, opts, progress).await?;
    let io = |context: String| move |source| Error::Io { context, source };
    let staging = Staging::begin(out).map_err(io(format!(
        "creating a staging directory for {}",
        out.display()
    )))?;
    for f in &pulled.artifact.files {
        // The oci crate refused unsafe titles already; this stays true if it changes.
        art::check_title(&f.title).map_err(|reason| {
            Error::Invalid(vec![Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("{reference}: a file of the artifact has an unsafe title: {reason}"),
            )])
        })?;
        staging
            .write(&f.title, &f.bytes)
            .map_err(io(format!("writing {}", f.title)))?;
    }
    let dir = staging.commit().map_err(io(format!(
        "moving the pulled files into {}",
        out.display()
    )))?;
    Ok(Pulled {
        digest: pulled.digest.clone(),
        pinned: pulled.pinned.clone(),
        name: pulled.artifact.annotations.get(art::ASSEMBLY_NAME).cloned(),
        dir,
        files: pulled
            .artifact
            .files
            .iter()
            .map(|f| f.title.clone())
            .collect(),
    })
}

/// [`pull`] for synchronous callers.
pub fn pull_blocking(
    reference: &str,
    out: &Path,
    opts: &ShareOptions,
    progress: &dyn Progress,
) -> Result<Pulled, Error> {
    blocking::run(
        "share::pull_blocking",
        "share::pull",
        pull(reference, out, opts, progress),
    )?
}

/// Published parents already fetched, handed to the (synchronous) loader; a parent not
/// fetched yet is noted in `missing` and refused, so [`load`] can fetch it and read again.
struct Fetched {
    parents: BTreeMap<String, FetchedParent>,
    missing: RefCell<Option<String>>,
}

impl ParentSource for Fetched {
    fn fetch(&self, uri: &str) -> Result<FetchedParent, String> {
        match self.parents.get(uri) {
            Some(p) => Ok(p.clone()),
            None => {
                self.missing
                    .borrow_mut()
                    .get_or_insert_with(|| uri.to_string());
                Err("not fetched yet".into())
            }
        }
    }
}

/// A published assembly's files as the loader takes them. Its `[[files]]` sources are
/// written under `cache` (`assembly-files/<digest>/<title>`, swapped in whole, reused when
/// there) so the loader can point the entries at them and a build read them from disk.
fn parent_files(pulled: PulledArtifact, cache: &Cache) -> Result<FetchedParent, String> {
    let a = &pulled.artifact;
    let files = a
        .files_of_type(art::SOURCE_MEDIA_TYPE)
        .map(|f| {
            String::from_utf8(f.bytes.clone())
                .map(|t| (f.title.clone(), t))
                .map_err(|_| format!("{}: `{}` is not UTF-8 text", pulled.pinned, f.title))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut components = Vec::new();
    for media_type in [art::COMPONENT_MEDIA_TYPE, art::CAPABILITIES_MEDIA_TYPE] {
        for f in a.files_of_type(media_type) {
            let text = String::from_utf8(f.bytes.clone())
                .map_err(|_| format!("{}: `{}` is not UTF-8 text", pulled.pinned, f.title))?;
            components.push((f.title.clone(), text));
        }
    }
    components.sort();
    let entry = a
        .annotations
        .get(art::ASSEMBLY_ENTRY)
        .cloned()
        .or_else(|| files.last().map(|(t, _)| t.clone()))
        .ok_or_else(|| format!("{} has no assembly source files", pulled.pinned))?;
    let mut sources = a.files_of_type(art::FILE_MEDIA_TYPE).peekable();
    let files_dir = if sources.peek().is_some() {
        let dir = cache
            .root()
            .join("assembly-files")
            .join(pulled.digest.replace(':', "-"));
        if !dir.is_dir() {
            let io = |e: std::io::Error| format!("writing {}: {e}", dir.display());
            let staging = stackwright_staging::Staging::begin(&dir).map_err(io)?;
            for f in sources {
                // Titles were checked when the artifact was read (relative, no `..`).
                staging.write(&f.title, &f.bytes).map_err(io)?;
            }
            staging.commit().map_err(io)?;
        }
        Some(dir)
    } else {
        None
    };
    Ok(FetchedParent {
        digest: pulled.digest,
        entry,
        files,
        components,
        files_dir,
    })
}

/// Reads the assembly at `path`; published (`oci://`) parents are fetched from their
/// registries — by the digest `lock` recorded for them when there is one (a cached
/// artifact then needs no network), else by their tags.
///
/// The loader itself is synchronous and does no network I/O: it is run, each parent it
/// meets that is not fetched yet is fetched (awaited on the caller's runtime), and it is
/// run again, until every parent in the chain is there. Local files are read once per
/// published parent in the chain; each parent is fetched once. An assembly without
/// published parents is read once and never touches a registry.
pub async fn load(
    path: &Path,
    opts: &ShareOptions,
    lock: Option<&Lockfile>,
) -> Result<Loaded, Error> {
    load_via(|s| stackwright_assembly::load_with(path, s), opts, lock).await
}

/// [`load`] for an assembly held as text, named `name`
/// ([`stackwright_assembly::load_text`]).
pub async fn load_text(
    name: &str,
    text: &str,
    opts: &ShareOptions,
    lock: Option<&Lockfile>,
) -> Result<Loaded, Error> {
    load_via(
        |s| stackwright_assembly::load_text(name, text, s),
        opts,
        lock,
    )
    .await
}

/// Runs `loader` until every published parent it meets is fetched (see [`load`]).
async fn load_via(
    loader: impl Fn(&dyn ParentSource) -> Result<Loaded, stackwright_assembly::AssemblyError>,
    opts: &ShareOptions,
    lock: Option<&Lockfile>,
) -> Result<Loaded, Error> {
    let known: BTreeMap<&str, &str> = lock
        .map(|l| {
            l.parents
                .iter()
                .map(|p| (p.uri.as_str(), p.digest.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let mut source = Fetched {
        parents: BTreeMap::new(),
        missing: RefCell::new(None),
    };
    // Made on first use: an assembly without published parents costs nothing.
    let mut client: Option<(RegistryClient, Cache)> = None;
    loop {
        let error = match loader(&source) {
            Ok(loaded) => return Ok(loaded),
            Err(e) => e,
        };
        let Some(uri) = source.missing.borrow_mut().take() else {
            return Err(error.into());
        };
        let stackwright_assembly::AssemblyError::Parent { location, .. } = &error else {
            return Err(error.into());
        };
        if client.is_none() {
            client = Some((opts.registry()?, opts.cache()?));
        }
        let (registry, cache) = client.as_ref().expect("just made");
        let digest = known.get(uri.as_str()).copied();
        let pulled = fetch_with(registry, cache, &uri, digest, &crate::NoProgress)
            .await
            .map_err(|source| Error::Parent {
                uri: uri.clone(),
                location: location.clone().map(Box::new),
                source: Box::new(source),
            })?;
        let fetched = parent_files(pulled, cache).map_err(|message| {
            Error::from(stackwright_assembly::AssemblyError::Parent {
                uri: uri.clone(),
                location: location.clone(),
                message,
            })
        })?;
        source.parents.insert(uri, fetched);
    }
}

/// [`load`] for synchronous callers.
pub fn load_blocking(
    path: &Path,
    opts: &ShareOptions,
    lock: Option<&Lockfile>,
) -> Result<Loaded, Error> {
    blocking::run(
        "share::load_blocking",
        "share::load",
        load(path, opts, lock),
    )?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_keep_relative_extends_working() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("base")).unwrap();
        std::fs::create_dir_all(d.path().join("edge")).unwrap();
        std::fs::write(d.path().join("base/common.toml"), "[assembly]\n").unwrap();
        std::fs::write(
            d.path().join("base/b.toml"),
            "[assembly]\nextends = [\"common.toml\"]\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("edge/e.toml"),
            "[assembly]\nextends = [\"../base/b.toml\", \"../base/common.toml\"]\n",
        )
        .unwrap();
        let loaded = stackwright_assembly::load(&d.path().join("edge/e.toml")).unwrap();
        let titles: Vec<String> = source_titles(&loaded)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(titles, ["base/common.toml", "base/b.toml", "edge/e.toml"]);
    }
}
