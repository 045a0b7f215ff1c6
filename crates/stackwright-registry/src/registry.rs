//! The registry and its builder, with the whole-registry checks.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use stackwright_types::capability::{parse_capabilities, Capability};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::manifest::Manifest;
use stackwright_types::suggest::did_you_mean;
use stackwright_types::SourceText;

use crate::component::{Component, ManifestComponent};
use crate::RegistryError;

/// Where a component came from (and so where a fix to it belongs: the hint for an
/// undeclared capability names the `capabilities.toml` of the same origin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentOrigin {
    /// Shipped with Stackwright (`components/` at build time).
    Builtin,
    /// A user directory (as shown in diagnostics).
    Directory(String),
    /// Text a program handed over ([`RegistryBuilder::add_text`]), under the name it
    /// chose; its diagnostics name `<memory:NAME>`.
    Memory(String),
    /// Registered from Rust code.
    Rust,
}

/// A checked set of components and capabilities.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    components: BTreeMap<String, (Arc<dyn Component>, ComponentOrigin)>,
    capabilities: BTreeMap<String, Capability>,
    providers: BTreeMap<String, Vec<String>>,
    warnings: Vec<Diagnostic>,
}

impl Registry {
    /// The built-in registry alone.
    pub fn builtin() -> Result<Registry, RegistryError> {
        RegistryBuilder::with_builtin().build()
    }

    pub fn get(&self, id: &str) -> Option<&dyn Component> {
        self.components.get(id).map(|(c, _)| c.as_ref())
    }

    pub fn manifest(&self, id: &str) -> Option<&Manifest> {
        self.get(id).map(|c| c.manifest())
    }

    pub fn origin(&self, id: &str) -> Option<&ComponentOrigin> {
        self.components.get(id).map(|(_, o)| o)
    }

    /// Every component, by id.
    pub fn components(&self) -> impl Iterator<Item = &dyn Component> {
        self.components.values().map(|(c, _)| c.as_ref())
    }

    pub fn manifests(&self) -> impl Iterator<Item = &Manifest> {
        self.components().map(|c| c.manifest())
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.components.len()
    }

    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    pub fn capabilities(&self) -> &BTreeMap<String, Capability> {
        &self.capabilities
    }

    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.get(name)
    }

    /// Ids of the components whose releases provide `capability` (any release), sorted.
    pub fn providers(&self, capability: &str) -> &[String] {
        self.providers
            .get(capability)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Non-fatal findings from loading (e.g. shadowed built-ins).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// A closest-name suggestion among component ids and capabilities.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        did_you_mean(
            name,
            self.components
                .keys()
                .chain(self.capabilities.keys())
                .map(String::as_str),
        )
    }
}

/// Gathers components and capabilities, then checks them all at once.
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    entries: BTreeMap<String, (Arc<dyn Component>, ComponentOrigin)>,
    capabilities: BTreeMap<String, Capability>,
    diags: Vec<Diagnostic>,
}

impl RegistryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder holding the built-in components and capabilities.
    pub fn with_builtin() -> Self {
        let mut b = Self::new();
        for (path, text) in crate::builtin::BUILTIN {
            b.add_source(SourceText::new(*path, *text), ComponentOrigin::Builtin);
        }
        b
    }

    /// A builder holding what `registry` holds (components with their origins, and
    /// capabilities), to add more to and check again: a prebuilt registry extended by an
    /// assembly's own `component_paths`.
    pub fn from_registry(registry: &Registry) -> Self {
        Self {
            entries: registry.components.clone(),
            capabilities: registry.capabilities.clone(),
            diags: Vec::new(),
        }
    }

    /// Adds one file's text: `capabilities.toml` declares capabilities, anything else is a
    /// component manifest whose id must match the file stem.
    pub fn add_source(&mut self, src: SourceText, origin: ComponentOrigin) -> &mut Self {
        let stem = file_stem(&src.name);
        self.add_named(src, &stem, origin)
    }

    /// Adds a text held in memory, as [`RegistryBuilder::add_source`] adds a file: `name`
    /// is what the caller calls it (`kubelet.toml`; `capabilities.toml` declares
    /// capabilities, any other name is a manifest whose id is its stem), and diagnostics
    /// name it `<memory:kubelet.toml>` with the line, never a path that does not exist.
    pub fn add_text(&mut self, name: &str, text: impl Into<std::sync::Arc<str>>) -> &mut Self {
        let stem = file_stem(name);
        self.add_named(
            SourceText::in_memory(name, text),
            &stem,
            ComponentOrigin::Memory(name.to_string()),
        )
    }

    fn add_named(&mut self, src: SourceText, stem: &str, origin: ComponentOrigin) -> &mut Self {
        if stem == "capabilities" {
            match parse_capabilities(&src) {
                Ok(caps) => {
                    for (name, cap) in caps {
                        if let Some(prev) = self.capabilities.get(&name) {
                            self.diags.push(
                                Diagnostic::error(
                                    diagnostic::DUPLICATE_COMPONENT,
                                    format!("capability `{name}` is declared twice"),
                                )
                                .at(cap.location.clone())
                                .hint(format!(
                                    "it is already declared at {}; remove one",
                                    prev.location
                                )),
                            );
                        } else {
                            self.capabilities.insert(name, cap);
                        }
                    }
                }
                Err(e) => self.diags.extend(e.into_diagnostics()),
            }
            return self;
        }
        match Manifest::parse(&src, Some(stem)) {
            Ok(m) => {
                self.insert(Arc::new(ManifestComponent::new(m)), origin);
            }
            Err(e) => self.diags.extend(e.into_diagnostics()),
        }
        self
    }

    /// Adds every `*.toml` under `dir` (reading the disk).
    pub fn add_dir(
        &mut self,
        dir: &Path,
        display_prefix: &str,
    ) -> Result<&mut Self, RegistryError> {
        let (texts, diags) = crate::load::load_dir(dir, display_prefix)?;
        self.diags.extend(diags);
        for t in texts {
            self.add_source(t, ComponentOrigin::Directory(dir.display().to_string()));
        }
        Ok(self)
    }

    /// Adds a component implemented in Rust.
    pub fn add_component(&mut self, component: Box<dyn Component>) -> &mut Self {
        self.insert(Arc::from(component), ComponentOrigin::Rust);
        self
    }

    /// Adds a component shared with the caller (for registries built more than once).
    pub fn add_shared(&mut self, component: Arc<dyn Component>) -> &mut Self {
        self.insert(component, ComponentOrigin::Rust);
        self
    }

    fn insert(&mut self, c: Arc<dyn Component>, origin: ComponentOrigin) {
        let id = c.id().to_string();
        match self.entries.get(&id) {
            Some((prev, prev_origin)) => {
                if c.manifest().override_ {
                    if *prev_origin == ComponentOrigin::Builtin {
                        self.diags.push(
                            Diagnostic::warning(
                                diagnostic::DUPLICATE_COMPONENT,
                                format!("`{id}` overrides the built-in component"),
                            )
                            .at(c.manifest().location.clone()),
                        );
                    }
                    self.entries.insert(id, (c, origin));
                } else {
                    self.diags.push(
                        Diagnostic::error(
                            diagnostic::DUPLICATE_COMPONENT,
                            format!("component `{id}` is defined twice"),
                        )
                        .at(c.manifest().location.clone())
                        .note(format!("first defined at {}", prev.manifest().location))
                        .hint("rename one, or set `override = true` in the one that should win"),
                    );
                }
            }
            None => {
                self.entries.insert(id, (c, origin));
            }
        }
    }

    /// Checks everything together and returns the registry, or every problem found.
    pub fn build(self) -> Result<Registry, RegistryError> {
        let RegistryBuilder {
            entries,
            capabilities,
            mut diags,
        } = self;
        if entries.len() > stackwright_types::MAX_COMPONENTS {
            diags.push(
                Diagnostic::error(
                    diagnostic::INPUT_LIMIT,
                    format!(
                        "the registry holds {} components, over the limit of {}",
                        entries.len(),
                        stackwright_types::MAX_COMPONENTS
                    ),
                )
                .hint("load only the component directories this assembly needs"),
            );
            return Err(RegistryError::Invalid(diags));
        }
        let mut providers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, (c, origin)) in &entries {
            let m = c.manifest();
            if let Some(cap) = capabilities.get(id) {
                diags.push(
                    Diagnostic::error(
                        diagnostic::NAME_CLASH,
                        format!("`{id}` is both a component id and a capability"),
                    )
                    .at(m.location.clone())
                    .note(format!("the capability is declared at {}", cap.location))
                    .hint("component ids and capabilities share one namespace: rename one"),
                );
            }
            // Template syntax, at the manifest line (rendering waits for a platform).
            diags.extend(stackwright_generate::check(&m.generate));
            if let Some(host) = &m.built_into {
                if !entries.contains_key(host) {
                    diags.push(
                        Diagnostic::error(
                            diagnostic::UNKNOWN_NAME,
                            format!("`{id}` is built into `{host}`, which is not a component"),
                        )
                        .at(m.location.clone())
                        .hint("name the component whose process runs this part"),
                    );
                }
            }
            for r in &m.releases {
                let known = Known {
                    entries: &entries,
                    capabilities: &capabilities,
                };
                known.check_release(id, r, origin, &m.location.file, &mut providers, &mut diags);
            }
        }
        for list in providers.values_mut() {
            list.sort();
            list.dedup();
        }
        check_default_providers(&entries, &capabilities, &providers, &mut diags);
        stackwright_types::diagnostic::sort(&mut diags);
        let (errors, warnings): (Vec<_>, Vec<_>) = diags.into_iter().partition(|d| d.is_error());
        if !errors.is_empty() {
            let mut all = errors;
            all.extend(warnings);
            return Err(RegistryError::Invalid(all));
        }
        Ok(Registry {
            components: entries,
            capabilities,
            providers,
            warnings,
        })
    }
}

/// The names a registry has: its components and its capabilities.
struct Known<'a> {
    entries: &'a BTreeMap<String, (Arc<dyn Component>, ComponentOrigin)>,
    capabilities: &'a BTreeMap<String, Capability>,
}

impl Known<'_> {
    /// One release's names: what it provides is a declared capability (and makes it a
    /// provider), what its edges name is a component or a capability.
    fn check_release(
        &self,
        id: &str,
        r: &stackwright_types::manifest::Release,
        origin: &ComponentOrigin,
        manifest_file: &str,
        providers: &mut BTreeMap<String, Vec<String>>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let Known {
            entries,
            capabilities,
        } = self;
        for cap in r.provides.keys() {
            if !capabilities.contains_key(cap) {
                let mut d = Diagnostic::error(
                    diagnostic::UNDECLARED_CAPABILITY,
                    format!(
                        "`{id}` {} provides `{cap}`, which is not a declared capability",
                        r.version
                    ),
                )
                .at(r
                    .provides_at
                    .get(cap)
                    .cloned()
                    .unwrap_or_else(|| r.location.clone()));
                let file = capabilities_file_for(origin, manifest_file);
                d = match did_you_mean(cap, capabilities.keys().map(String::as_str)) {
                    Some(s) => d.hint(format!(
                        "did you mean `{s}`? otherwise declare it in {file}"
                    )),
                    None => d.hint(format!(
                        "declare it in {file} (a table with summary and cardinality)"
                    )),
                };
                diags.push(d);
            }
            let list = providers.entry(cap.clone()).or_default();
            if list.last().map(String::as_str) != Some(id) {
                list.push(id.to_string());
            }
        }
        for (kind, dep) in r.edges() {
            if entries.contains_key(&dep.name) || capabilities.contains_key(&dep.name) {
                continue;
            }
            let mut d = Diagnostic::error(
                diagnostic::UNKNOWN_NAME,
                format!(
                    "`{id}` {} {} `{}`, which is neither a component nor a capability",
                    r.version,
                    kind.as_str(),
                    dep.name
                ),
            )
            .at(dep.location.clone());
            d = match did_you_mean(
                &dep.name,
                entries
                    .keys()
                    .chain(capabilities.keys())
                    .map(String::as_str),
            ) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint("add the component, declare the capability, or remove the entry"),
            };
            diags.push(d);
        }
    }
}

/// Each capability's default provider is a component that provides it.
fn check_default_providers(
    entries: &BTreeMap<String, (Arc<dyn Component>, ComponentOrigin)>,
    capabilities: &BTreeMap<String, Capability>,
    providers: &BTreeMap<String, Vec<String>>,
    diags: &mut Vec<Diagnostic>,
) {
    for (name, cap) in capabilities {
        if let Some(def) = &cap.default {
            let ok = providers.get(name).is_some_and(|p| p.contains(def));
            if !ok {
                let why = if entries.contains_key(def) {
                    format!("`{def}` does not provide `{name}`")
                } else {
                    format!("there is no component `{def}`")
                };
                diags.push(
                    Diagnostic::error(
                        diagnostic::BAD_DEFAULT_PROVIDER,
                        format!("default provider of `{name}`: {why}"),
                    )
                    .at(cap
                        .default_location
                        .clone()
                        .unwrap_or_else(|| cap.location.clone()))
                    .hint("name a component that lists the capability under `provides`"),
                );
            }
        }
    }
}

/// Where a component's new capability belongs: the built-in `components/capabilities.toml`
/// for a built-in component, else a `capabilities.toml` beside the user's own components
/// (loaded with them), never the built-in file.
fn capabilities_file_for(origin: &ComponentOrigin, manifest_file: &str) -> String {
    match origin {
        ComponentOrigin::Builtin => "components/capabilities.toml".to_string(),
        ComponentOrigin::Directory(_) => {
            let beside = Path::new(manifest_file).with_file_name("capabilities.toml");
            format!("{} beside this component", beside.display())
        }
        ComponentOrigin::Memory(_) => {
            "a capabilities.toml text added with your components (RegistryBuilder::add_text)"
                .to_string()
        }
        ComponentOrigin::Rust => {
            "a capabilities.toml added with your components (RegistryBuilder::add_source)"
                .to_string()
        }
    }
}

/// The stem of a file name (`kubelet` of `dir/kubelet.toml`), the id a manifest must have.
fn file_stem(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
