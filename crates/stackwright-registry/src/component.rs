//! The [`Component`] extension trait and its TOML-backed implementation.

use std::collections::BTreeMap;

use semver::Version;
use stackwright_types::assembly::Located;
pub use stackwright_types::generate::Contribution;
use stackwright_types::manifest::{Arch, Manifest, Release};
use stackwright_types::{Diagnostic, Location};

/// One component of the resolved platform as another component sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlatformComponent {
    pub version: Version,
    /// Its effective config (schema defaults overlaid with the assembly's values). Empty
    /// for `[external]` entries.
    pub config: BTreeMap<String, toml::Value>,
    /// The image it runs (the assembly's override, else its release's).
    pub image: Option<String>,
    /// An `[external]` entry: present elsewhere, not installed here.
    pub external: bool,
    /// The capabilities its chosen release provides, sorted.
    pub provides: Vec<String>,
}

/// What a component sees of the assembly it is part of, after resolution.
#[derive(Clone, Debug)]
pub struct ComponentContext<'a> {
    /// The assembly's name.
    pub assembly: &'a str,
    pub arch: Arch,
    /// This component's id.
    pub id: &'a str,
    /// The chosen release of this component.
    pub release: &'a Release,
    /// The config values the assembly gave, with their locations.
    pub given_config: &'a BTreeMap<String, Located<toml::Value>>,
    /// Schema defaults overlaid with the given values.
    pub config: &'a BTreeMap<String, toml::Value>,
    /// Every chosen component (and `[external]` one) with its version, config and image.
    pub components: &'a BTreeMap<String, PlatformComponent>,
    /// Where the assembly names this component, if it does.
    pub location: Option<&'a Location>,
}

impl ComponentContext<'_> {
    /// The chosen components (and externals) providing `capability`, sorted.
    pub fn providers(&self, capability: &str) -> Vec<&str> {
        self.components
            .iter()
            .filter(|(_, c)| c.provides.iter().any(|p| p == capability))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The context templates see (docs/manifest-format.md, "Generated files"):
    /// `assembly`, `arch`, `this`, `config`, `components`, `providers`.
    pub fn template_context(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let component = |id: &str, c: &PlatformComponent| {
            json!({
                "id": id,
                "version": c.version.to_string(),
                "major": c.version.major,
                "minor": c.version.minor,
                "patch": c.version.patch,
                "image": c.image,
                "external": c.external,
                "provides": c.provides,
                "config": config_json(&c.config),
            })
        };
        let mut components = Map::new();
        let mut providers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, c) in self.components {
            components.insert(id.clone(), component(id, c));
            for p in &c.provides {
                providers.entry(p).or_default().push(id);
            }
        }
        let this = match self.components.get(self.id) {
            Some(c) => component(self.id, c),
            None => component(
                self.id,
                &PlatformComponent {
                    version: self.release.version.clone(),
                    config: self.config.clone(),
                    image: self.release.image.clone(),
                    external: false,
                    provides: self.release.provides.keys().cloned().collect(),
                },
            ),
        };
        json!({
            "assembly": { "name": self.assembly, "arch": self.arch.as_str() },
            "arch": self.arch.as_str(),
            "this": this,
            "config": config_json(self.config),
            "components": Value::Object(components),
            "providers": providers,
        })
    }
}

fn config_json(c: &BTreeMap<String, toml::Value>) -> serde_json::Value {
    serde_json::to_value(c).unwrap_or(serde_json::Value::Null)
}

/// A failure inside a component's own hook.
#[derive(Debug, thiserror::Error)]
#[error("component `{component}`: {message}")]
pub struct ComponentError {
    pub component: String,
    pub message: String,
}

/// What a manifest's `[[generate]]` entries make in `ctx` (the default
/// [`Component::contribute`]; a Rust component can call it and add its own parts).
pub fn generate_from_manifest(manifest: &Manifest, ctx: &ComponentContext<'_>) -> Contribution {
    if manifest.generate.is_empty() {
        return Contribution::default();
    }
    stackwright_generate::render(&manifest.id, &manifest.generate, &ctx.template_context())
}

/// A pluggable part of a platform.
///
/// Object-safe (held as `Box<dyn Component>`); every method but [`Component::manifest`]
/// has a default, so an implementation adds only the behaviour it needs. Both hooks run
/// after resolution, during validation, once per chosen component, and do no I/O: they
/// see the same [`ComponentContext`].
pub trait Component: Send + Sync + std::fmt::Debug {
    /// Identity, releases, needs and settings.
    fn manifest(&self) -> &Manifest;

    fn id(&self) -> &str {
        &self.manifest().id
    }

    /// Checks this component's config in the context of the assembly, beyond the
    /// manifest's typed schema: the schema checks ([`crate::config::check_config`]) always
    /// run before this, whether or not it is overridden, so an override only adds rules.
    /// The default adds none.
    fn validate(&self, _ctx: &ComponentContext<'_>) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// What this component adds to the platform: files (LinuxKit `files` entries, e.g. an
    /// `etc/containerd/config.toml` made from typed config), additions to its own
    /// container (command, env, binds) and diagnostics. The default renders the
    /// manifest's `[[generate]]` entries ([`generate_from_manifest`]). An `Err` is a
    /// failure of the hook itself; problems with the config are error diagnostics.
    fn contribute(&self, ctx: &ComponentContext<'_>) -> Result<Contribution, ComponentError> {
        Ok(generate_from_manifest(self.manifest(), ctx))
    }
}

/// A component described entirely by its TOML manifest.
#[derive(Clone, Debug)]
pub struct ManifestComponent {
    manifest: Manifest,
}

impl ManifestComponent {
    pub fn new(manifest: Manifest) -> Self {
        Self { manifest }
    }
}

impl Component for ManifestComponent {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}
