//! [`ManifestProvider`]: the [`Provider`] over the real model (checked [`Manifest`]s and
//! declared [`Capability`]s), as the registry loads them.

use std::collections::{BTreeMap, BTreeSet};

use stackwright_types::capability::{Capability, Cardinality};
use stackwright_types::manifest::Manifest;

use crate::intern::FxMap;
use crate::provider::{
    CapabilityInfo, ComponentHead, Edge, Provider, Range, ReleaseDetails, ReleaseHead,
};

/// Components and capabilities, indexed for the solver (hashed: the solver asks by name
/// again and again, and sorts what it needs sorted itself). Borrows the manifests.
pub struct ManifestProvider<'m> {
    manifests: FxMap<&'m str, &'m Manifest>,
    capabilities: FxMap<&'m str, &'m Capability>,
    /// Name → the components providing it (in any release), sorted.
    providers: FxMap<&'m str, Vec<&'m str>>,
}

impl<'m> ManifestProvider<'m> {
    /// Indexes `manifests` (when two share an id, the later one wins, as an `override`
    /// would) and the declared `capabilities`.
    pub fn new<I>(manifests: I, capabilities: &'m BTreeMap<String, Capability>) -> Self
    where
        I: IntoIterator<Item = &'m Manifest>,
    {
        let mut by_id: BTreeMap<&'m str, &'m Manifest> = BTreeMap::new();
        for m in manifests {
            by_id.insert(m.id.as_str(), m);
        }
        let mut providers: BTreeMap<&'m str, BTreeSet<&'m str>> = BTreeMap::new();
        for (id, m) in &by_id {
            for r in &m.releases {
                for cap in r.provides.keys() {
                    providers.entry(cap.as_str()).or_default().insert(id);
                }
            }
        }
        Self {
            manifests: by_id.into_iter().collect(),
            capabilities: capabilities.iter().map(|(k, c)| (k.as_str(), c)).collect(),
            providers: providers
                .into_iter()
                .map(|(k, ids)| (k, ids.into_iter().collect()))
                .collect(),
        }
    }

    pub fn manifest(&self, id: &str) -> Option<&'m Manifest> {
        self.manifests.get(id).copied()
    }
}

impl Provider for ManifestProvider<'_> {
    fn component(&self, id: &str) -> Option<ComponentHead<'_>> {
        let m = self.manifests.get(id)?;
        Some(ComponentHead {
            releases: m
                .releases
                .iter()
                .map(|r| ReleaseHead {
                    version: &r.version,
                    arch: Some(r.arch.as_deref().unwrap_or(&m.arch)),
                })
                .collect::<Vec<_>>()
                .into(),
            stage: Some(m.stage),
            privileged: m.privileged,
            location: Some(&m.location),
        })
    }

    fn release<'p>(&'p self, id: &str, index: usize, out: &mut ReleaseDetails<'p>) {
        let Some(m) = self.manifests.get(id) else {
            return;
        };
        let Some(r) = m.releases.get(index) else {
            return;
        };
        for (kind, d) in r.edges() {
            out.edges.push(Edge {
                kind,
                name: &d.name,
                range: Range::Req(&d.req),
                location: Some(&d.location),
            });
        }
        out.provides
            .extend(r.provides.iter().map(|(k, v)| (k.as_str(), v)));
        out.kernel_min = r.kernel.min.as_ref();
        out.kernel_needs = &r.kernel.config;
        out.kernel_config = &r.kernel_config;
        out.location = Some(&r.location);
    }

    fn capability(&self, name: &str) -> Option<CapabilityInfo<'_>> {
        let c = self.capabilities.get(name)?;
        Some(CapabilityInfo {
            one: c.cardinality == Cardinality::One,
            default: c.default.as_deref(),
            location: Some(&c.location),
        })
    }

    fn providers(&self, name: &str) -> Vec<&str> {
        self.providers.get(name).cloned().unwrap_or_default()
    }

    fn component_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.manifests.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn capability_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.capabilities.keys().copied().collect();
        names.sort_unstable();
        names
    }
}
