//! What a successful resolution returns: [`Resolution`].

use std::collections::BTreeMap;

use semver::Version;
use stackwright_types::manifest::Stage;
use stackwright_types::Location;

/// A successful resolution: the releases chosen, why each is there, and the start order.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// Component id → the chosen release. `[external]` entries are not here.
    pub components: BTreeMap<String, Chosen>,
    /// `[external]` entries, present but not installed.
    pub external: BTreeMap<String, Version>,
    /// The order components start in (and stop in, for `onshutdown`).
    pub start: StartOrder,
    /// Counters of the search, for benchmarks and curiosity.
    pub stats: Stats,
}

impl Resolution {
    /// The chosen version of a component (or of an `[external]` entry).
    pub fn version(&self, id: &str) -> Option<&Version> {
        self.components
            .get(id)
            .map(|c| &c.version)
            .or_else(|| self.external.get(id))
    }

    /// A stable, readable text of the whole resolution (for snapshots and `plan` output):
    /// one line per component with its reasons, then the start order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (id, c) in &self.components {
            out.push_str(&format!("{id} {}\n", c.version));
            for w in &c.why {
                out.push_str(&format!("  - {}\n", w.describe()));
            }
        }
        for (id, v) in &self.external {
            out.push_str(&format!("{id} {v} (external, not installed)\n"));
        }
        let s = &self.start;
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        out.push_str("start order:\n");
        out.push_str(&format!("  kernel: {}\n", list(&s.kernel)));
        out.push_str(&format!("  init: {}\n", list(&s.init)));
        out.push_str(&format!("  onboot: {}\n", list(&s.onboot)));
        if s.services.is_empty() {
            out.push_str("  services: -\n");
        }
        for (i, level) in s.services.iter().enumerate() {
            out.push_str(&format!("  services[{i}]: {}\n", level.join(", ")));
        }
        out.push_str(&format!("  onshutdown: {}\n", list(&s.onshutdown)));
        out
    }
}

/// One chosen release.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub version: Version,
    /// Its position in the provider's [`Component::releases`](crate::Component::releases).
    pub release_index: usize,
    pub stage: Option<Stage>,
    /// Every reason it is there, most direct first (asked for, then required, then
    /// recommended), each group sorted.
    pub why: Vec<Why>,
}

/// How a capability's provider was picked among several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pick {
    /// The assembly's `[prefer]` names it.
    Preferred,
    /// It is the capability's default provider.
    Default,
    /// The only provider allowed, or the first by name and newest version.
    Other,
}

/// Why a component is in the resolution.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// `[components]` asks for it.
    Asked {
        range: String,
        location: Option<Location>,
    },
    /// `[capabilities]` asks for a capability it provides.
    AskedCapability {
        capability: String,
        range: String,
        pick: Pick,
        location: Option<Location>,
    },
    /// The platform must boot and the assembly named nothing providing `capability`
    /// (`kernel`, `init`): the solver added a provider.
    Bootable { capability: String, pick: Pick },
    /// A chosen release `requires` it, by id (`via == id`) or through capability `via`.
    Required {
        by: String,
        by_version: Version,
        via: String,
        range: String,
        pick: Pick,
        location: Option<Location>,
    },
    /// A chosen release `recommends` it, and adding it keeps every rule.
    Recommended {
        by: String,
        by_version: Version,
        via: String,
        range: String,
        location: Option<Location>,
    },
}

impl Why {
    /// One line a person can read, e.g. `required by kubelet 1.36.4 (cri *, default provider)`,
    /// with the assembly line when the reason has one.
    pub fn describe(&self) -> String {
        self.describe_with(true)
    }

    /// The same line without file locations: for outputs that must not depend on where the
    /// assembly file lives (the lockfile, plan.json, published artifacts).
    pub fn summary(&self) -> String {
        self.describe_with(false)
    }

    fn describe_with(&self, locations: bool) -> String {
        let pick = |p: &Pick, via: &str, ok: bool| -> String {
            if !ok {
                return String::new();
            }
            match p {
                Pick::Preferred => format!(", preferred provider of {via}"),
                Pick::Default => format!(", default provider of {via}"),
                Pick::Other => String::new(),
            }
        };
        let at = |l: &Option<Location>| match l {
            Some(l) if locations => format!(" at {l}"),
            _ => String::new(),
        };
        match self {
            Why::Asked { range, location } => format!("asked for ({range}){}", at(location)),
            Why::AskedCapability {
                capability,
                range,
                pick: p,
                location,
            } => format!(
                "provides {capability} {range}, asked for{}{}",
                at(location),
                pick(p, capability, true)
            ),
            Why::Required {
                by,
                by_version,
                via,
                range,
                pick: p,
                ..
            } => format!(
                "required by {by} {by_version} ({via} {range}{})",
                pick(p, via, true)
            ),
            Why::Recommended {
                by,
                by_version,
                via,
                range,
                ..
            } => format!("recommended by {by} {by_version} ({via} {range})"),
            Why::Bootable {
                capability,
                pick: p,
            } => format!(
                "added to boot: the assembly names no {capability}{}",
                pick(p, capability, true)
            ),
        }
    }
}

/// The start order (SPEC §4): kernel; init in dependency order; onboot in dependency order
/// (sequential); services in dependency levels (each level may start in parallel);
/// onshutdown in reverse dependency order. Components without a stage are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOrder {
    pub kernel: Vec<String>,
    pub init: Vec<String>,
    pub onboot: Vec<String>,
    pub services: Vec<Vec<String>>,
    pub onshutdown: Vec<String>,
}

/// Search counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub decisions: u64,
    pub propagations: u64,
    pub conflicts: u64,
    pub learned: u64,
    /// Components whose release list was asked of the provider.
    pub components_loaded: u64,
    /// Releases whose details were asked of the provider.
    pub releases_loaded: u64,
    /// Separate searches run (the first, then one per recommendation tried).
    pub searches: u64,
    /// Assignments undone by backjumps (work the search threw away).
    pub undone: u64,
    /// Literals in all learned clauses together.
    pub learned_lits: u64,
    /// Decision levels jumped back over, in total.
    pub backjumped_levels: u64,
}
