//! Stackwright: assemble container platforms from pluggable components.
//!
//! This facade is what library users depend on. It re-exports the layers and runs the
//! pipeline: load the registry (built-ins, the assembly's `component_paths`, your
//! directories and your Rust [`Component`]s), read the assembly through its `extends`,
//! resolve it, validate it, and render the outputs ([`Assembler`], [`Assembled`]).
//! Writing them is atomic ([`output::write`]). With the `oci` feature, `share` publishes
//! assemblies to OCI registries, pulls them back, and reads `extends = ["oci://…"]` parents.
//!
//! Whatever may wait on the network is an `async fn` that runs on the caller's runtime
//! ([`Assembler::assemble_file`], [`output::write`], `share::push`/`pull`/`load`); each
//! has a `*_blocking` twin for synchronous callers, which refuses to run inside a runtime
//! ([`Error::BlockingInRuntime`]) rather than start one there. The signatures are the same
//! with and without the `oci` feature: what needs it is refused without it
//! ([`Error::NeedsFeature`]).
//!
//! ```no_run
//! let assembled = stackwright::Assembler::new()
//!     .assemble_file_blocking(std::path::Path::new("assemblies/k8s-worker.toml"))
//!     .expect("assembles");
//! for (name, bytes) in assembled.outputs().unwrap() {
//!     println!("{name}: {} bytes", bytes.len());
//! }
//! ```

mod blocking;
pub mod diff;
pub mod image_sbom;
mod locked;
pub mod output;
pub mod progress;
#[cfg(feature = "oci")]
pub mod share;
pub mod upgrade;

pub use locked::{default_out_dir, Locked};
pub use progress::{NoProgress, Progress};

pub use stackwright_assembly as assembly;
pub use stackwright_linuxkit as linuxkit;
#[cfg(feature = "oci")]
pub use stackwright_oci as oci;
pub use stackwright_registry as registry;
pub use stackwright_render as render;
pub use stackwright_solver as solver;
pub use stackwright_types as types;

#[doc(inline)]
pub use stackwright_registry::{
    Component, ComponentContext, ComponentError, Contribution, ManifestComponent,
    PlatformComponent, Registry, RegistryBuilder,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stackwright_assembly::{Loaded, Validated};
use stackwright_render::Platform;
use stackwright_solver::{ManifestProvider, Request};
use stackwright_types::diagnostic;

/// The types a program meets first, shown here by `cargo doc` (they live in the layer
/// crates re-exported above).
#[doc(inline)]
pub use stackwright_solver::Resolution;
#[doc(inline)]
pub use stackwright_types::diagnostic::Diagnostic;
/// Diagnostics as the command line prints them (`report`), and its closing line.
#[doc(inline)]
pub use stackwright_types::diagnostic::{report, summary_line};
#[doc(inline)]
pub use stackwright_types::linuxkit::File;
use stackwright_types::lock::Lockfile;
#[doc(inline)]
pub use stackwright_types::manifest::Manifest;

/// Errors of the pipeline, sorted by what the command line makes of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The assembly (or the registry) is invalid or cannot be assembled: exit code 1.
    #[error("{} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// The request itself does not fit (conflicting options, an unknown output format or
    /// category): exit code 2, as for a command line clap refuses.
    #[error("{} usage error(s)", .0.len())]
    Usage(Vec<Diagnostic>),
    /// A file or directory could not be read or written: exit code 3.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An OCI registry could not be reached, refused us, or sent bad data, or the blob
    /// cache failed: exit code 3. The OCI client's error is kept as it is (its variant says
    /// which). Named for the OCI side, not `Registry`: that is the registry of components.
    #[cfg(feature = "oci")]
    #[error(transparent)]
    Oci(#[from] stackwright_oci::OciError),
    /// A published (`oci://`) parent named in `extends` could not be fetched: exit code 3.
    #[cfg(feature = "oci")]
    #[error("{}cannot fetch the parent assembly {uri}: {source}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    Parent {
        uri: String,
        /// The `extends` entry naming it.
        location: Option<Box<stackwright_types::Location>>,
        #[source]
        source: Box<stackwright_oci::OciError>,
    },
    /// The root filesystem or a disk image could not be built: exit code 3 when the
    /// machine failed (I/O, a missing or failing tool), 1 when the platform's images or
    /// files are at fault ([`Error::exit_code`]).
    #[cfg(feature = "oci")]
    #[error("building the root filesystem: {source}")]
    Build {
        #[source]
        source: Box<stackwright_build::BuildError>,
        /// What to do about it, where there is something to say.
        hint: Option<String>,
    },
    /// A release file could not be fetched, or did not match its sha256, or is not in
    /// the cache with `--offline`: exit code 3, with what to do about it.
    #[error("{message}")]
    Download { message: String, hint: String },
    /// Rendering failed (e.g. an override breaks LinuxKit's schema): exit code 1.
    #[error(transparent)]
    Render(#[from] stackwright_render::RenderError),
    /// What was asked needs a cargo feature this build of `stackwright` lacks (`oci`:
    /// registries, pulls, builds, published parents): exit code 2.
    #[error(
        "{what} needs the `{feature}` feature of the `stackwright` crate, which this build lacks"
    )]
    NeedsFeature { feature: &'static str, what: String },
    /// A `*_blocking` function was called from inside an async runtime, where blocking
    /// would stall it (and starting a second runtime panics): exit code 2. Await the async
    /// function instead.
    #[error("{function} was called inside an async runtime: await {instead} there instead")]
    BlockingInRuntime {
        function: &'static str,
        instead: &'static str,
    },
}

impl Error {
    /// The diagnostics to show for this error.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Error::Invalid(d) | Error::Usage(d) => d.clone(),
            Error::Io { context, source } => vec![Diagnostic::error(
                diagnostic::IO_ERROR,
                format!("{context}: {source}"),
            )],
            #[cfg(feature = "oci")]
            Error::Oci(e) => vec![Diagnostic::error(diagnostic::IO_ERROR, e.to_string()).hint(
                "check the image reference, the network, credentials in ~/.docker/config.json, or --insecure-registry for plain HTTP",
            )],
            #[cfg(feature = "oci")]
            Error::Parent {
                uri,
                location,
                source,
            } => vec![Diagnostic::error(
                diagnostic::IO_ERROR,
                format!("cannot fetch the parent assembly {uri}: {source}"),
            )
            .at_opt(location.as_deref().cloned())
            .hint("check the reference, the network, credentials in ~/.docker/config.json, or --insecure-registry for plain HTTP")],
            #[cfg(feature = "oci")]
            Error::Build { hint, .. } => {
                let d = Diagnostic::error(diagnostic::IO_ERROR, self.to_string());
                vec![match hint {
                    Some(h) => d.hint(h.clone()),
                    None => d,
                }]
            }
            Error::Download { message, hint } => {
                vec![Diagnostic::error(diagnostic::IO_ERROR, message.clone()).hint(hint.clone())]
            }
            Error::Render(e) => vec![Diagnostic::error(diagnostic::SCHEMA, e.to_string())
                .hint("check the [container] overrides in the assembly against LinuxKit's fields")],
            Error::NeedsFeature { feature, .. } => {
                vec![Diagnostic::error(diagnostic::INVALID_VALUE, self.to_string()).hint(
                    format!("build stackwright with `--features {feature}` (the command line has it)"),
                )]
            }
            Error::BlockingInRuntime { .. } => {
                vec![Diagnostic::error(diagnostic::INVALID_VALUE, self.to_string())]
            }
        }
    }

    /// The exit code SPEC §7 assigns.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Render(_) => 1,
            Error::Usage(_) | Error::NeedsFeature { .. } | Error::BlockingInRuntime { .. } => 2,
            Error::Io { .. } | Error::Download { .. } => 3,
            #[cfg(feature = "oci")]
            Error::Oci(_) | Error::Parent { .. } => 3,
            #[cfg(feature = "oci")]
            Error::Build { source, .. } => build_exit_code(source),
        }
    }
}

impl From<stackwright_registry::RegistryError> for Error {
    fn from(e: stackwright_registry::RegistryError) -> Self {
        match e {
            stackwright_registry::RegistryError::Io { path, source } => Error::Io {
                context: format!("reading components from {path}"),
                source,
            },
            other => Error::Invalid(other.diagnostics()),
        }
    }
}

impl From<stackwright_assembly::AssemblyError> for Error {
    fn from(e: stackwright_assembly::AssemblyError) -> Self {
        match e {
            stackwright_assembly::AssemblyError::Io { path, source } => Error::Io {
                context: format!("reading {path}"),
                source,
            },
            stackwright_assembly::AssemblyError::Invalid(d) => Error::Invalid(d),
            // Without registry support every published parent is refused by the loader:
            // reported as the one missing-feature error.
            #[cfg(not(feature = "oci"))]
            stackwright_assembly::AssemblyError::Parent { uri, location, .. } => {
                Error::NeedsFeature {
                    feature: "oci",
                    what: match location {
                        Some(l) => format!("the published parent {uri} (extended at {l})"),
                        None => format!("the published parent {uri}"),
                    },
                }
            }
            // With it, `share::load` fetches parents itself; what the loader still refuses
            // is what a published parent holds (not text, no source files): its data is bad.
            #[cfg(feature = "oci")]
            e @ stackwright_assembly::AssemblyError::Parent { .. } => {
                Error::Invalid(e.diagnostics())
            }
        }
    }
}

/// Exit code 3 for failures of the machine (I/O, a disk tool missing or failing), 1 for
/// what the platform's images and files are to blame for.
#[cfg(feature = "oci")]
fn build_exit_code(e: &stackwright_build::BuildError) -> i32 {
    use stackwright_build::{BuildError, DiskError};
    match e {
        BuildError::Io { .. }
        | BuildError::Disk {
            source: DiskError::Missing { .. } | DiskError::Tool { .. } | DiskError::Io { .. },
            ..
        } => 3,
        _ => 1,
    }
}

/// Runs the pipeline with the registry and lock options given.
///
/// Everything can come from memory: a prebuilt [`Registry`] ([`Assembler::with_registry`]),
/// manifest and `capabilities.toml` texts ([`Assembler::component_text`]) and the assembly
/// itself ([`Assembler::assemble_text`]); diagnostics then name `<memory:NAME>` and the
/// line, never a path.
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    extra_dirs: Vec<PathBuf>,
    texts: Vec<(String, Arc<str>)>,
    components: Vec<Arc<dyn Component>>,
    builtin: bool,
    prebuilt: Option<Registry>,
    lock: Option<Lockfile>,
    /// How published (`oci://`) parents are fetched.
    #[cfg(feature = "oci")]
    share: share::ShareOptions,
}

impl Assembler {
    /// An assembler over the built-in registry.
    pub fn new() -> Self {
        Self {
            builtin: true,
            ..Default::default()
        }
    }

    /// Without the built-in components (tests, fully custom registries).
    pub fn without_builtin(mut self) -> Self {
        self.builtin = false;
        self
    }

    /// Starts from `registry` (already built and checked) instead of the built-in
    /// components; what the assembler and the assembly add is checked with it.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.prebuilt = Some(registry);
        self
    }

    /// Adds a component manifest, or capabilities (when `name` is `capabilities.toml`),
    /// held as text: `name` is what diagnostics call it (`<memory:kubelet.toml>:12:3`) and
    /// a manifest's id must be its stem ([`RegistryBuilder::add_text`]).
    pub fn component_text(mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        self.texts.push((name.into(), text.into()));
        self
    }

    /// Also loads the components under `dir`.
    pub fn component_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.extra_dirs.push(dir.into());
        self
    }

    /// Registers a component implemented in Rust.
    pub fn component(mut self, c: impl Component + 'static) -> Self {
        self.components.push(Arc::new(c));
        self
    }

    /// How published (`oci://`) parents are fetched (cache, plain-HTTP registries,
    /// credentials); the default is `ShareOptions::default()`.
    #[cfg(feature = "oci")]
    pub fn share_options(mut self, options: share::ShareOptions) -> Self {
        self.share = options;
        self
    }

    /// Keeps the choices of this lockfile where the assembly still allows them.
    pub fn with_lock(mut self, lock: Option<Lockfile>) -> Self {
        self.lock = lock;
        self
    }

    /// The registry for an assembly: built-ins, then `component_paths`, then the
    /// assembler's directories and Rust components.
    pub fn registry(&self, loaded: Option<&Loaded>) -> Result<Registry, Error> {
        let adds_nothing = self.extra_dirs.is_empty()
            && self.texts.is_empty()
            && self.components.is_empty()
            && loaded
                .is_none_or(|l| l.component_dirs.is_empty() && l.published_components.is_empty());
        let mut b = match &self.prebuilt {
            Some(r) if adds_nothing => return Ok(r.clone()),
            Some(r) => RegistryBuilder::from_registry(r),
            None if self.builtin => RegistryBuilder::with_builtin(),
            None => RegistryBuilder::new(),
        };
        if let Some(l) = loaded {
            for (dir, at) in &l.component_dirs {
                if !dir.is_dir() {
                    return Err(Error::Invalid(vec![Diagnostic::error(
                        diagnostic::MISSING_PARENT,
                        format!("component path {} is not a directory", dir.display()),
                    )
                    .at(at.clone())
                    .hint(
                        "component_paths are relative to the assembly file that names them",
                    )]));
                }
                b.add_dir(dir, &dir.display().to_string())?;
            }
            // Components published with `oci://` parents: checked like any directory's
            // (their blobs were verified against their digests when fetched).
            for (name, text) in &l.published_components {
                let origin = name.split('#').next().unwrap_or(name).to_string();
                b.add_source(
                    stackwright_types::SourceText::new(name.clone(), text.clone()),
                    stackwright_registry::ComponentOrigin::Directory(origin),
                );
            }
        }
        for dir in &self.extra_dirs {
            b.add_dir(dir, &dir.display().to_string())?;
        }
        for (name, text) in &self.texts {
            b.add_text(name, text.clone());
        }
        for c in &self.components {
            b.add_shared(c.clone());
        }
        Ok(b.build()?)
    }

    /// Reads the assembly at `path` through its `extends`. With the `oci` feature,
    /// published parents (`oci://host/repo:tag`) are fetched from their registries
    /// (Docker credentials, plain HTTP for loopback registries), pinned to this
    /// assembler's lock; see `share::load` for other registry options. Without it, an
    /// `oci://` parent is an error.
    pub async fn load(&self, path: &Path) -> Result<Loaded, Error> {
        self.load_pinned(path, self.lock.as_ref()).await
    }

    /// [`Assembler::load`] with published parents pinned to `lock`'s digests.
    async fn load_pinned(&self, path: &Path, lock: Option<&Lockfile>) -> Result<Loaded, Error> {
        #[cfg(feature = "oci")]
        return share::load(path, &self.share, lock).await;
        #[cfg(not(feature = "oci"))]
        {
            let _ = lock;
            Ok(stackwright_assembly::load(path)?)
        }
    }

    /// [`Assembler::load`] for synchronous callers (refused inside an async runtime:
    /// [`Error::BlockingInRuntime`]).
    pub fn load_blocking(&self, path: &Path) -> Result<Loaded, Error> {
        blocking::run(
            "Assembler::load_blocking",
            "Assembler::load",
            self.load(path),
        )?
    }

    /// Reads an assembly held as text, named `name` (see
    /// [`assembly::load_text`]: diagnostics show `<memory:NAME>` and the line). It may
    /// extend `builtin:` and, with the `oci` feature, `oci://` parents (fetched as
    /// [`Assembler::load`] fetches them); what needs a directory is refused at its line.
    pub async fn load_text(&self, name: &str, text: &str) -> Result<Loaded, Error> {
        #[cfg(feature = "oci")]
        return share::load_text(
            name,
            text,
            &share::ShareOptions::default(),
            self.lock.as_ref(),
        )
        .await;
        #[cfg(not(feature = "oci"))]
        Ok(stackwright_assembly::load_text(
            name,
            text,
            &stackwright_assembly::NoParentSource,
        )?)
    }

    /// Reads, resolves and validates an assembly held as text ([`Assembler::load_text`]).
    pub async fn assemble_text(&self, name: &str, text: &str) -> Result<Assembled, Error> {
        let loaded = self.load_text(name, text).await?;
        self.assemble_loaded(loaded)
    }

    /// [`Assembler::assemble_text`] for synchronous callers (refused inside an async
    /// runtime: [`Error::BlockingInRuntime`]).
    pub fn assemble_text_blocking(&self, name: &str, text: &str) -> Result<Assembled, Error> {
        blocking::run(
            "Assembler::assemble_text_blocking",
            "Assembler::assemble_text",
            self.assemble_text(name, text),
        )?
    }

    /// Reads, resolves and validates the assembly at `path`.
    pub async fn assemble_file(&self, path: &Path) -> Result<Assembled, Error> {
        let loaded = self.load(path).await?;
        self.assemble_loaded(loaded)
    }

    /// [`Assembler::assemble_file`] for synchronous callers (refused inside an async
    /// runtime: [`Error::BlockingInRuntime`]).
    pub fn assemble_file_blocking(&self, path: &Path) -> Result<Assembled, Error> {
        blocking::run(
            "Assembler::assemble_file_blocking",
            "Assembler::assemble_file",
            self.assemble_file(path),
        )?
    }

    /// Resolves and validates an assembly already read.
    ///
    /// A platform must boot: where the assembly (or what it brings in) has no provider of
    /// [`BOOT_CAPABILITIES`], the solver adds the capability's default provider and its
    /// reason says so ([`solver::Why::Bootable`]); an assembly asking for nothing at all is
    /// an error. A base (`[assembly] base = true`) is resolved and checked as written.
    pub fn assemble_loaded(&self, loaded: Loaded) -> Result<Assembled, Error> {
        let registry = self.registry(Some(&loaded))?;
        if loaded.assembly.is_empty() {
            return Err(Error::Invalid(vec![empty_assembly(&loaded)]));
        }
        self.assemble_request(registry, loaded, |_| {})
    }

    /// [`Assembler::assemble_loaded`] over a registry already built, with the solver's
    /// request adjusted by `adjust` after the assembly and the lock have filled it (used by
    /// [`upgrade`] to pin each step's versions).
    pub fn assemble_request(
        &self,
        registry: Registry,
        loaded: Loaded,
        adjust: impl FnOnce(&mut Request),
    ) -> Result<Assembled, Error> {
        let mut request = Request::from_assembly(&loaded.assembly);
        let mut digests = BTreeMap::new();
        let mut notes = Vec::new();
        if let Some(lock) = &self.lock {
            if lock.assembly == loaded.name {
                for c in &lock.components {
                    if let Ok(v) = semver::Version::parse(&c.version) {
                        request.locked.insert(c.id.clone(), v);
                    }
                    if let (Some(img), Some(d)) = (&c.image, &c.digest) {
                        digests.insert(img.clone(), d.clone());
                    }
                }
            }
        }
        adjust(&mut request);
        // Kernel needs that depend on config (Calico's WireGuard, falco's modern eBPF
        // driver) reach the solver's kernel check only for the values in effect.
        let empty = BTreeMap::new();
        let configured: Vec<stackwright_types::manifest::Manifest> = registry
            .manifests()
            .map(|m| {
                let given = loaded
                    .assembly
                    .components
                    .get(&m.id)
                    .map(|r| &r.config)
                    .unwrap_or(&empty);
                m.configured(&stackwright_registry::config::effective_config(m, given))
            })
            .collect();
        let provider = ManifestProvider::new(&configured, registry.capabilities());
        let mut resolution = stackwright_solver::resolve(&provider, &request)
            .map_err(|r| Error::Invalid(r.to_diagnostics()))?;
        if !loaded.assembly.is_base() {
            request.bootable = BOOT_CAPABILITIES
                .iter()
                .filter(|cap| !provides(&registry, &resolution, cap))
                .map(|c| c.to_string())
                .collect();
            if !request.bootable.is_empty() {
                resolution = stackwright_solver::resolve(&provider, &request)
                    .map_err(|r| Error::Invalid(r.to_diagnostics()))?;
            }
        }
        if let Some(lock) = self.lock.as_ref().filter(|l| l.assembly == loaded.name) {
            for c in &lock.components {
                let now = resolution
                    .components
                    .get(&c.id)
                    .map(|ch| ch.version.to_string());
                if now.as_deref() != Some(c.version.as_str()) {
                    notes.push(Diagnostic::warning(
                        diagnostic::STALE_LOCK,
                        match now {
                            Some(v) => format!(
                                "the lock had {} {}; the assembly no longer allows it, now {v}",
                                c.id, c.version
                            ),
                            None => format!(
                                "the lock had {} {}; it is no longer part of the platform",
                                c.id, c.version
                            ),
                        },
                    ));
                }
            }
        }
        let mut validated = stackwright_assembly::validate(&registry, &loaded, &resolution);
        validated.diagnostics.extend(notes);
        if validated.has_errors() {
            return Err(Error::Invalid(validated.diagnostics));
        }
        Ok(Assembled {
            registry,
            loaded,
            resolution,
            validated,
            digests,
            published: BTreeMap::new(),
            image_sboms: Default::default(),
        })
    }
}

/// The capabilities every rendered platform has a provider of: what boots and what runs
/// as PID 1.
pub const BOOT_CAPABILITIES: &[&str] = &["kernel", "init"];

/// Whether a chosen release provides `capability`.
fn provides(registry: &Registry, resolution: &Resolution, capability: &str) -> bool {
    resolution.components.iter().any(|(id, c)| {
        registry
            .manifest(id)
            .and_then(|m| m.release(&c.version))
            .is_some_and(|r| r.provides.contains_key(capability))
    })
}

/// The error for an assembly that asks for nothing (an empty file, only `[assembly]`).
fn empty_assembly(loaded: &Loaded) -> Diagnostic {
    Diagnostic::error(
        diagnostic::EMPTY_ASSEMBLY,
        format!(
            "assembly `{}` asks for nothing: a platform needs at least a kernel, an init and what they run",
            loaded.name
        ),
    )
    .at(stackwright_types::Location::file_only(
        loaded.assembly.source.clone(),
    ))
    .hint("name components under [components] (e.g. `dockerd = \"*\"`: the default kernel and init are added), or extend a platform: [assembly] extends = [\"linuxkit-base.toml\"]")
}

/// A resolved, validated platform, ready to render.
#[derive(Debug)]
pub struct Assembled {
    pub registry: Registry,
    pub loaded: Loaded,
    pub resolution: Resolution,
    pub validated: Validated,
    /// Image reference → digest, from the lock or from pinning.
    pub digests: BTreeMap<String, String>,
    /// Built images pushed with `--push-packages`: `stackwright.local/…` → the pushed
    /// name (see `stackwright_render::Platform::published`).
    pub published: BTreeMap<String, String>,
    /// The SPDX documents pulled images carry as attestations (filled by a pull in
    /// [`output::write`]), merged into the SPDX SBOM.
    pub image_sboms: image_sbom::ImageSboms,
}

impl Assembled {
    pub fn platform(&self) -> Platform<'_> {
        Platform {
            registry: &self.registry,
            loaded: &self.loaded,
            resolution: &self.resolution,
            validated: &self.validated,
            digests: &self.digests,
            published: &self.published,
        }
    }

    /// Warnings found along the way (errors stop the pipeline earlier).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.validated.diagnostics
    }

    /// Every image the platform runs (kernel, init, onboot, services, onshutdown), as
    /// written in the manifests or the assembly, or the `stackwright.local/…` reference of
    /// a packaged one (where it was pushed, once `--push-packages` did), sorted and unique.
    pub fn images(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .resolution
            .components
            .keys()
            .filter_map(|id| self.component_image(id))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The image a chosen component runs, as [`Assembled::images`] lists it: as written, or
    /// the name it was pushed under with `--push-packages`.
    pub fn component_image(&self, id: &str) -> Option<String> {
        let c = self.resolution.components.get(id)?;
        let r = self.registry.manifest(id)?.release(&c.version)?;
        stackwright_assembly::component_image(
            id,
            self.loaded.assembly.components.get(id),
            r,
            self.loaded.arch,
        )
        .map(|i| self.published.get(&i).cloned().unwrap_or(i))
    }

    /// The rendered outputs by file name: `stackwright.lock`, `linuxkit.yml`, `plan.json`,
    /// `graph.dot`, `graph.mmd`.
    pub fn outputs(&self) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let p = self.platform();
        let mut out = BTreeMap::new();
        out.insert(
            "stackwright.lock".to_string(),
            stackwright_render::lockfile(&p).to_toml().into_bytes(),
        );
        out.insert(
            "linuxkit.yml".to_string(),
            stackwright_render::linuxkit_yaml(&p)?.into_bytes(),
        );
        out.insert(
            "plan.json".to_string(),
            stackwright_render::plan_json(&p).into_bytes(),
        );
        out.insert(
            "graph.dot".to_string(),
            stackwright_render::graph_dot(&p).into_bytes(),
        );
        out.insert(
            "graph.mmd".to_string(),
            stackwright_render::graph_mermaid(&p).into_bytes(),
        );
        Ok(out)
    }

    /// The SBOMs, `<name>.spdx.json` (SPDX 2.3) and `<name>.cdx.json` (CycloneDX 1.6),
    /// created at `created` (RFC 3339 UTC; see [`output::sbom_time`]). The SPDX one has
    /// the pulled images' attested documents ([`Assembled::image_sboms`]) merged in; one
    /// that is not SPDX 2 JSON is an error naming its component.
    pub fn sboms(&self, created: &str) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let p = self.platform();
        let name = &self.loaded.name;
        Ok(BTreeMap::from([
            (
                format!("{name}.spdx.json"),
                self.spdx(created)?.into_bytes(),
            ),
            (
                format!("{name}.cdx.json"),
                stackwright_render::sbom_cyclonedx(&p, created).into_bytes(),
            ),
        ]))
    }

    /// The platform's SPDX document with the pulled images' attested ones merged in (as
    /// `sbom.spdx.json` at the root of a built tree, and `<name>.spdx.json`).
    pub fn spdx(&self, created: &str) -> Result<String, Error> {
        let placed = image_sbom::placed(self);
        let images: Vec<stackwright_render::ImageSbom<'_>> = placed
            .iter()
            .map(
                |(component, prefix, document)| stackwright_render::ImageSbom {
                    component,
                    prefix,
                    document,
                },
            )
            .collect();
        Ok(stackwright_render::sbom_spdx_with_images(
            &self.platform(),
            created,
            &images,
        )?)
    }

    /// The summary table of what was chosen and why.
    pub fn summary(&self) -> String {
        stackwright_render::summary_table(&self.platform())
    }
}

/// `SOURCE_DATE_EPOCH` from the environment (reproducible-builds.org), read the one way
/// every output uses it ([`stackwright_types::time::source_date_epoch`]): unset or empty is
/// `None`; a value that is not a number of seconds is an error (exit 1) naming the value,
/// never a silent 0. Packaged images, root filesystems, SBOMs and published artifacts all
/// take their time from here.
pub fn source_date_epoch() -> Result<Option<u64>, Error> {
    let name = stackwright_types::time::SOURCE_DATE_EPOCH;
    let value = std::env::var_os(name);
    let text = value.as_ref().map(|v| v.to_string_lossy());
    stackwright_types::time::source_date_epoch(text.as_deref()).map_err(|e| {
        Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            e.to_string(),
        )
        .hint(
            "unset it, or set it to seconds since 1970-01-01, e.g. $(git log -1 --format=%ct)",
        )])
    })
}

/// Reads the lockfile in `dir` if there is one. A broken lock is an error naming it
/// (never silently replaced: the user may want to see why).
pub fn read_lock(dir: &Path) -> Result<Option<Lockfile>, Error> {
    read_lock_file(&dir.join("stackwright.lock"))
}

/// Reads the lockfile at `path` if it exists (see [`read_lock`]).
pub fn read_lock_file(path: &Path) -> Result<Option<Lockfile>, Error> {
    let path = path.to_path_buf();
    match std::fs::read(&path) {
        Ok(bytes) => {
            // A damaged lock is a broken input (exit 1, SW0108), not an I/O failure.
            let text = String::from_utf8(bytes).map_err(|e| {
                Error::Invalid(vec![Diagnostic::error(
                    diagnostic::NOT_UTF8,
                    format!(
                        "{} is not UTF-8 text (invalid byte at offset {})",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    ),
                )
                .at(stackwright_types::Location::file_only(
                    path.display().to_string(),
                ))
                .hint("delete the lockfile or rerun with --update")])
            })?;
            let src = stackwright_types::SourceText::new(path.display().to_string(), text);
            Lockfile::parse(&src)
                .map(Some)
                .map_err(|e| Error::Invalid(e.into_diagnostics()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

/// `stackwright import linuxkit`: reads LinuxKit YAML files (merged in order, as
/// `linuxkit build a.yml b.yml` merges them) and writes `assembly.toml` (with its
/// `[linuxkit]` table) and `components/*.toml` into `out`. Returns how many files were
/// written, and the import's warnings (e.g. SW0603: a registry component the file maps to
/// requires something the file lacks).
pub fn import_linuxkit(
    registry: &Registry,
    files: &[PathBuf],
    out: &Path,
) -> Result<(usize, Vec<Diagnostic>), Error> {
    let linuxkit_error = |e: stackwright_linuxkit::LinuxkitError| match e {
        stackwright_linuxkit::LinuxkitError::Io { path, source } => Error::Io {
            context: format!("writing {}", path.display()),
            source,
        },
        other if other.diagnostics().is_empty() => Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            other.to_string(),
        )]),
        other => Error::Invalid(other.diagnostics().to_vec()),
    };
    let mut sources = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|source| Error::Io {
            context: format!("reading {}", f.display()),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::Invalid(vec![Diagnostic::error(
                diagnostic::NOT_UTF8,
                format!(
                    "{} is not UTF-8 text (invalid byte at offset {})",
                    f.display(),
                    e.utf8_error().valid_up_to()
                ),
            )])
        })?;
        sources.push(stackwright_types::SourceText::new(
            f.display().to_string(),
            text,
        ));
    }
    let manifests: Vec<stackwright_types::manifest::Manifest> =
        registry.manifests().cloned().collect();
    let import = stackwright_linuxkit::import(
        &sources,
        &manifests,
        &stackwright_linuxkit::ImportOptions::default(),
    )
    .map_err(linuxkit_error)?;
    let n = import.files().len();
    let staging = output::Staging::begin(out).map_err(|source| Error::Io {
        context: format!("staging {}", out.display()),
        source,
    })?;
    import.write_to(staging.path()).map_err(linuxkit_error)?;
    staging.commit().map_err(|source| Error::Io {
        context: format!("writing {}", out.display()),
        source,
    })?;
    Ok((n, import.warnings))
}

#[cfg(all(test, feature = "oci"))]
mod tests {
    use super::*;

    #[test]
    fn build_failures_of_the_machine_exit_3_and_of_the_platform_exit_1() {
        use stackwright_build::{BuildError, DiskError};
        let io = BuildError::Io {
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let missing = BuildError::Disk {
            file: "edge.raw".into(),
            source: DiskError::Missing {
                program: "grub-mkimage".into(),
                package: "grub-common",
            },
        };
        let kernel = BuildError::Kernel {
            image: "linuxkit/kernel".into(),
            reason: "no kernel file".into(),
        };
        let codes: Vec<i32> = [io, missing, kernel]
            .into_iter()
            .map(|e| {
                Error::Build {
                    source: Box::new(e),
                    hint: None,
                }
                .exit_code()
            })
            .collect();
        assert_eq!(codes, [3, 3, 1]);
    }

    #[test]
    fn registry_errors_keep_their_cause() {
        let e = Error::from(stackwright_oci::OciError::Offline {
            cache: "/c".into(),
            missing: vec!["busybox".into()],
        });
        assert_eq!(e.exit_code(), 3);
        assert!(matches!(
            e,
            Error::Oci(stackwright_oci::OciError::Offline { .. })
        ));
    }
}
