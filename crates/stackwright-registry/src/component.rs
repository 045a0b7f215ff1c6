//! The [`Component`] extension trait and its TOML-backed implementation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use semver::Version;
use stackwright_types::assembly::Located;
use stackwright_types::linuxkit::File;
use stackwright_types::manifest::{Arch, Manifest, Release};
use stackwright_types::{Diagnostic, Location};

/// What a component sees of the assembly it is part of, after resolution.
#[derive(Clone, Debug)]
pub struct ComponentContext<'a> {
    /// The assembly's name.
    pub assembly: &'a str,
    pub arch: Arch,
    /// The chosen release of this component.
    pub release: &'a Release,
    /// The config values the assembly gave, with their locations.
    pub given_config: &'a BTreeMap<String, Located<toml::Value>>,
    /// Schema defaults overlaid with the given values.
    pub config: &'a BTreeMap<String, toml::Value>,
    /// Every chosen component (and external one) with its version.
    pub chosen: &'a BTreeMap<String, Version>,
    /// Where the assembly names this component, if it does.
    pub location: Option<&'a Location>,
}

/// A failure inside a component's own hook.
#[derive(Debug, thiserror::Error)]
#[error("component `{component}`: {message}")]
pub struct ComponentError {
    pub component: String,
    pub message: String,
}

/// A pluggable part of a platform.
///
/// Object-safe (held as `Box<dyn Component>`); every method but [`Component::manifest`]
/// has a default, so an implementation adds only the behaviour it needs.
#[async_trait]
pub trait Component: Send + Sync + std::fmt::Debug {
    /// Identity, releases, needs and settings.
    fn manifest(&self) -> &Manifest;

    fn id(&self) -> &str {
        &self.manifest().id
    }

    /// Checks this component's config in the context of the assembly. The default checks
    /// the values against the manifest's typed schema.
    fn validate(&self, ctx: &ComponentContext<'_>) -> Vec<Diagnostic> {
        crate::config::check_config(self.manifest(), ctx.given_config, ctx.location)
    }

    /// Files this component adds to the platform (LinuxKit `files` entries), e.g. a
    /// `etc/containerd/config.toml` generated from typed config.
    fn contribute(&self, _ctx: &ComponentContext<'_>) -> Result<Vec<File>, ComponentError> {
        Ok(Vec::new())
    }

    /// Work a component must do before outputs are written (fetching, generating keys…).
    async fn prepare(&self, _ctx: &ComponentContext<'_>) -> Result<(), ComponentError> {
        Ok(())
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
