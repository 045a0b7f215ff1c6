//! What a resolution is asked for: [`Request`], built from parts or from an assembly.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use stackwright_types::assembly::{AssemblyFile, PrivilegedPolicy};
use stackwright_types::manifest::Arch;
use stackwright_types::Location;

/// A version range asked for, and where it was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    pub range: VersionReq,
    pub location: Option<Location>,
}

impl Ask {
    pub fn new(range: VersionReq) -> Self {
        Self {
            range,
            location: None,
        }
    }

    pub fn any() -> Self {
        Self::new(VersionReq::STAR)
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

/// A value with an optional place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed<T> {
    pub value: T,
    pub location: Option<Location>,
}

impl<T> Placed<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            location: None,
        }
    }

    pub fn at(value: T, location: Location) -> Self {
        Self {
            value,
            location: Some(location),
        }
    }
}

/// Everything the solver is asked (SPEC §3's `[components]`, `[capabilities]`, `[prefer]`,
/// `[external]`, `[exclude]`, `policy.privileged`, `arch`), plus lockfile preferences.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Component id → range: each must be present at a version in range.
    pub components: BTreeMap<String, Ask>,
    /// Capability → range: some provider must provide a version in range.
    pub capabilities: BTreeMap<String, Ask>,
    /// Capability → the component id to pick when several fit.
    pub prefer: BTreeMap<String, Placed<String>>,
    /// Component id → the exact version present outside the platform (never installed).
    pub external: BTreeMap<String, Placed<Version>>,
    /// Component ids never to pick.
    pub exclude: BTreeMap<String, Option<Location>>,
    /// Who may run privileged.
    pub privileged: Placed<PrivilegedPolicy>,
    /// The architecture every release must support; `None` checks none.
    pub arch: Option<Placed<Arch>>,
    /// Component id → version from a lockfile: chosen again while still allowed.
    pub locked: BTreeMap<String, Version>,
    /// Whether `recommends` edges are followed (default true).
    pub recommends: bool,
    /// Capabilities the platform needs to boot (`kernel`, `init`) that nothing named: asked
    /// for like `[capabilities]` entries, each provider's reason saying why
    /// ([`Why::Bootable`](crate::Why::Bootable)). Filled by the facade, not by assemblies.
    pub bootable: std::collections::BTreeSet<String>,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            components: BTreeMap::new(),
            capabilities: BTreeMap::new(),
            prefer: BTreeMap::new(),
            external: BTreeMap::new(),
            exclude: BTreeMap::new(),
            privileged: Placed::new(PrivilegedPolicy::Any),
            arch: None,
            locked: BTreeMap::new(),
            recommends: true,
            bootable: Default::default(),
        }
    }
}

impl Request {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a component at a range (builder style, for tests and library users).
    pub fn component(mut self, id: impl Into<String>, range: VersionReq) -> Self {
        self.components.insert(id.into(), Ask::new(range));
        self
    }

    pub fn capability(mut self, name: impl Into<String>, range: VersionReq) -> Self {
        self.capabilities.insert(name.into(), Ask::new(range));
        self
    }

    /// The request an assembly file (already merged through `extends`) makes.
    pub fn from_assembly(a: &AssemblyFile) -> Self {
        let mut r = Request::default();
        for (id, c) in &a.components {
            let (range, location) = match &c.req {
                Some(l) => (l.value.clone(), l.location.clone()),
                None => (VersionReq::STAR, c.location.clone()),
            };
            r.components.insert(
                id.clone(),
                Ask {
                    range,
                    location: Some(location),
                },
            );
        }
        for (name, l) in &a.capabilities {
            r.capabilities.insert(
                name.clone(),
                Ask {
                    range: l.value.clone(),
                    location: Some(l.location.clone()),
                },
            );
        }
        for (cap, l) in &a.prefer {
            r.prefer
                .insert(cap.clone(), Placed::at(l.value.clone(), l.location.clone()));
        }
        for (id, l) in &a.external {
            r.external
                .insert(id.clone(), Placed::at(l.value.clone(), l.location.clone()));
        }
        for (id, l) in &a.exclude {
            r.exclude.insert(id.clone(), Some(l.clone()));
        }
        if let Some(p) = &a.privileged {
            r.privileged = Placed::at(p.value.clone(), p.location.clone());
        }
        if let Some(arch) = &a.arch {
            r.arch = Some(Placed::at(arch.value, arch.location.clone()));
        }
        r
    }
}
