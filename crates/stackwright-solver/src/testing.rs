//! A tiny in-memory [`Provider`] for the unit tests of the search and explanation modules
//! (the integration tests use the real manifest model instead).

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use stackwright_types::manifest::DepKind;

use crate::provider::{
    CapabilityInfo, ComponentHead, Edge, Provider, Range, ReleaseDetails, ReleaseHead,
};

/// One release: its version, edges (kind, name, range) and provided names.
pub(crate) struct Rel {
    pub version: Version,
    pub edges: Vec<(DepKind, String, VersionReq)>,
    pub provides: Vec<(String, Version)>,
}

#[derive(Default)]
pub(crate) struct Tiny {
    pub comps: BTreeMap<String, Vec<Rel>>,
    /// Capability → (`one`, default provider).
    pub caps: BTreeMap<String, (bool, Option<String>)>,
}

pub(crate) fn v(s: &str) -> Version {
    Version::parse(s).expect("test version")
}

pub(crate) fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).expect("test range")
}

impl Tiny {
    /// Adds component `id` with one release per version, each with `edges` (`"requires
    /// name range"`, `"conflicts name range"`, `"constrains name range"`, `"recommends
    /// name range"`, `"provides name version"`).
    pub fn comp(mut self, id: &str, versions: &[&str], edges: &[&str]) -> Self {
        let rels = versions
            .iter()
            .map(|ver| {
                let mut r = Rel {
                    version: v(ver),
                    edges: Vec::new(),
                    provides: Vec::new(),
                };
                for e in edges {
                    let parts: Vec<&str> = e.splitn(3, ' ').collect();
                    let kind = match parts[0] {
                        "requires" => DepKind::Requires,
                        "conflicts" => DepKind::Conflicts,
                        "constrains" => DepKind::Constrains,
                        "recommends" => DepKind::Recommends,
                        "provides" => {
                            r.provides.push((parts[1].to_string(), v(parts[2])));
                            continue;
                        }
                        other => panic!("unknown edge kind {other}"),
                    };
                    r.edges.push((kind, parts[1].to_string(), req(parts[2])));
                }
                r
            })
            .collect();
        self.comps.insert(id.to_string(), rels);
        self
    }

    /// Adds one `requires name range` edge to release `version` of `id` only.
    pub fn edge(mut self, id: &str, version: &str, name: &str, range: &str) -> Self {
        let rel = self
            .comps
            .get_mut(id)
            .and_then(|rels| rels.iter_mut().find(|r| r.version == v(version)))
            .expect("a release added before");
        rel.edges
            .push((DepKind::Requires, name.to_string(), req(range)));
        self
    }

    pub fn cap(mut self, name: &str, one: bool, default: Option<&str>) -> Self {
        self.caps
            .insert(name.to_string(), (one, default.map(str::to_string)));
        self
    }
}

impl Provider for Tiny {
    fn component(&self, id: &str) -> Option<ComponentHead<'_>> {
        let rels = self.comps.get(id)?;
        Some(ComponentHead {
            releases: rels
                .iter()
                .map(|r| ReleaseHead::new(&r.version))
                .collect::<Vec<_>>()
                .into(),
            stage: None,
            privileged: false,
            location: None,
        })
    }

    fn release<'p>(&'p self, id: &str, index: usize, out: &mut ReleaseDetails<'p>) {
        let r = &self.comps[id][index];
        for (kind, name, range) in &r.edges {
            out.edges.push(Edge {
                kind: *kind,
                name,
                range: Range::Req(range),
                location: None,
            });
        }
        out.provides
            .extend(r.provides.iter().map(|(n, pv)| (n.as_str(), pv)));
    }

    fn capability(&self, name: &str) -> Option<CapabilityInfo<'_>> {
        self.caps.get(name).map(|(one, default)| CapabilityInfo {
            one: *one,
            default: default.as_deref(),
            location: None,
        })
    }

    fn providers(&self, name: &str) -> Vec<&str> {
        self.comps
            .iter()
            .filter(|(_, rels)| rels.iter().any(|r| r.provides.iter().any(|p| p.0 == name)))
            .map(|(id, _)| id.as_str())
            .collect()
    }
}
