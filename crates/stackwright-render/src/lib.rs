//! Stackwright's outputs, rendered from a resolved and validated platform ([`Platform`]):
//! `stackwright.lock`, `linuxkit.yml` (checked against LinuxKit's schema), `plan.json`,
//! `graph.dot`, `graph.mmd`, the summary table printed after assembling, and the
//! differences between two locks (`stackwright diff`), upgrade plans
//! (`stackwright upgrade`), and SBOMs (SPDX 2.3 and CycloneDX 1.6).
//!
//! Invariants: pure functions of their inputs — no I/O, no clock, no environment — and
//! deterministic to the byte (maps are ordered, lists sorted or in start order).

mod describe;
mod diff;
mod graph;
mod linuxkit;
mod lock;
mod plan;
mod sbom;
mod upgrade;

pub use describe::{
    capability_providers, describe_capability, describe_component, CapabilityProvider,
};
pub use diff::{diff_json, diff_text};
pub use sbom::{sbom_cyclonedx, sbom_spdx, sbom_spdx_with_images, ImageSbom};
pub use upgrade::{upgrade_json, upgrade_text};

pub use graph::{graph_dot, graph_mermaid};
pub use linuxkit::{check_linuxkit_layout, check_linuxkit_schema, linuxkit_config, linuxkit_yaml};
pub use lock::lockfile;
pub use plan::{check_plan_schema, plan_json, summary_table, text_table};

use std::collections::BTreeMap;

use stackwright_assembly::{Loaded, Validated};
use stackwright_registry::Registry;
use stackwright_solver::Resolution;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The rendered linuxkit.yml breaks LinuxKit's schema (a bug, or a bad override).
    #[error("linuxkit.yml does not pass LinuxKit's schema: {0}")]
    Schema(String),
    /// A `plan.json` breaks the plan's schema (`schema/plan-schema.json`).
    #[error("plan.json does not pass its schema: {0}")]
    PlanSchema(String),
    #[error("cannot serialize {what}: {message}")]
    Serialize { what: &'static str, message: String },
    /// The assembly's `[linuxkit]` table lists components the platform does not have.
    #[error("the [linuxkit] table does not fit the platform: {}", .0.iter().map(|d| match &d.location {
        Some(l) => format!("{} ({}:{})", d.message, l.file, l.line),
        None => d.message.clone(),
    }).collect::<Vec<_>>().join("; "))]
    Layout(Vec<stackwright_types::Diagnostic>),
    /// A pulled image's attested SBOM is not an SPDX 2.x JSON document.
    #[error("the SBOM attested by {component}'s image is not an SPDX 2 JSON document: {reason}")]
    ImageSbom { component: String, reason: String },
}

/// Everything the outputs are rendered from.
#[derive(Clone, Copy, Debug)]
pub struct Platform<'a> {
    pub registry: &'a Registry,
    pub loaded: &'a Loaded,
    pub resolution: &'a Resolution,
    pub validated: &'a Validated,
    /// Image reference (as written) → pinned digest (`sha256:…`), from `--pin` or the lock.
    pub digests: &'a BTreeMap<String, String>,
    /// Images Stackwright built and pushed (`--push-packages`): the
    /// `stackwright.local/…` reference → where it was pushed (`REGISTRY/PREFIX/<id>:<tag>`,
    /// the name written into linuxkit.yml and the lock).
    pub published: &'a BTreeMap<String, String>,
}

impl Platform<'_> {
    /// The image reference to write for a component: pinned as `name:tag@sha256:…` when a
    /// digest is known.
    pub fn image_ref(&self, id: &str) -> Option<String> {
        let c = self.resolution.components.get(id)?;
        let m = self.registry.manifest(id)?;
        let release = m.release(&c.version)?;
        let img = self.published_name(stackwright_assembly::component_image(
            id,
            self.loaded.assembly.components.get(id),
            release,
            self.loaded.arch,
        )?);
        Some(match self.digests.get(&img) {
            Some(d) if !img.contains('@') => format!("{img}@{d}"),
            _ => img,
        })
    }

    /// A component image's name as written into the outputs: where it was pushed, for a
    /// built image that was (`published`), else as given.
    pub fn published_name(&self, image: String) -> String {
        self.published.get(&image).cloned().unwrap_or(image)
    }

    /// The component whose process this part runs in (`built_into`: swarmkit and the
    /// overlay driver are parts of dockerd). Such a part has no image, is not started on
    /// its own and starts with its host.
    pub fn built_into(&self, id: &str) -> Option<&str> {
        self.registry.manifest(id)?.built_into.as_deref()
    }

    /// For an image of stage `sandbox` (pause): the chosen CRI runtimes, the components
    /// providing `cri`, which pull it for every pod sandbox; no LinuxKit section runs it.
    /// `None` for any other stage.
    pub fn pulled_by(&self, id: &str) -> Option<Vec<String>> {
        if self.registry.manifest(id)?.stage != stackwright_types::manifest::Stage::Sandbox {
            return None;
        }
        Some(
            self.resolution
                .components
                .iter()
                .filter(|(cri, c)| {
                    self.registry
                        .manifest(cri)
                        .and_then(|m| m.release(&c.version))
                        .is_some_and(|r| r.provides.contains_key("cri"))
                })
                .map(|(cri, _)| cri.clone())
                .collect(),
        )
    }

    /// The one-line reason a component is there (its first, most direct reason), without
    /// file locations so outputs do not depend on where the assembly lives.
    pub fn reason(&self, id: &str) -> String {
        self.resolution
            .components
            .get(id)
            .and_then(|c| c.why.first())
            .map(|w| w.summary())
            .unwrap_or_else(|| "chosen".into())
    }
}
