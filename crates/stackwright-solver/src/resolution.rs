//! What a successful resolution returns: [`Resolution`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use semver::{Version, VersionReq};
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
    /// Its position in the provider's [`ComponentHead::releases`](crate::ComponentHead::releases).
    pub release_index: usize,
    pub stage: Option<Stage>,
    /// Every reason it is there, most direct first (asked for, then required, then
    /// recommended), each group sorted. Read it as a `[Why]` slice: the texts are only
    /// built the first time someone looks (see [`Whys`]).
    pub why: Whys,
}

/// The reasons of one chosen component, built when first read.
///
/// A resolution of thousands of components has thousands of reasons, most of which
/// nobody reads (a lockfile writes one line each, a benchmark none). The search leaves
/// them as compact records in one table shared by every component of the resolution;
/// dereferencing (`&c.why[0]`, `for w in &c.why`, `c.why.len()`) turns this component's
/// records into sorted [`Why`] values once and keeps them.
#[derive(Default)]
pub struct Whys {
    lazy: Option<(Arc<WhyTable>, u32, u32)>,
    built: OnceLock<Vec<Why>>,
}

impl Whys {
    pub(crate) fn lazy(table: Arc<WhyTable>, first: u32, len: u32) -> Self {
        Self {
            lazy: Some((table, first, len)),
            built: OnceLock::new(),
        }
    }

    fn get(&self) -> &[Why] {
        self.built.get_or_init(|| match &self.lazy {
            None => Vec::new(),
            Some((t, first, len)) => {
                let mut v: Vec<Why> = t.order[*first as usize..(*first + *len) as usize]
                    .iter()
                    .map(|&r| t.why(&t.records[r as usize]))
                    .collect();
                if v.len() > 1 {
                    v.sort();
                    v.dedup();
                }
                v
            }
        })
    }
}

impl From<Vec<Why>> for Whys {
    fn from(v: Vec<Why>) -> Self {
        Self {
            lazy: None,
            built: OnceLock::from(v),
        }
    }
}

impl std::ops::Deref for Whys {
    type Target = [Why];
    fn deref(&self) -> &[Why] {
        self.get()
    }
}

impl<'w> IntoIterator for &'w Whys {
    type Item = &'w Why;
    type IntoIter = std::slice::Iter<'w, Why>;
    fn into_iter(self) -> Self::IntoIter {
        self.get().iter()
    }
}

impl Clone for Whys {
    fn clone(&self) -> Self {
        Self {
            lazy: self.lazy.clone(),
            built: self.built.clone(),
        }
    }
}

impl PartialEq for Whys {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for Whys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.get()).finish()
    }
}

/// A range as the provider gave it, kept past the search (whose ranges are borrowed).
#[derive(Clone, Debug)]
pub(crate) enum OwnedRange {
    Req(VersionReq),
    Between {
        min: Option<Version>,
        below: Option<Version>,
    },
}

/// A version in a reason record: packed (see `search::vkey`) when plain, else an index
/// into [`WhyTable::versions`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum VerRecord {
    Packed(u64),
    At(u32),
}

/// A range in a reason record: `*`, two packed bounds (`u64::MAX`: no bound), or an
/// index into [`WhyTable::ranges`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum RangeRecord {
    Any,
    Packed { min: u64, below: u64 },
    At(u32),
}

/// The kind of one reason record (names are indexes into the table's names).
#[derive(Clone, Copy, Debug)]
pub(crate) enum WhyKind {
    Asked,
    AskedCapability {
        capability: u32,
    },
    Bootable {
        capability: u32,
    },
    Required {
        by: u32,
        by_version: VerRecord,
        via: u32,
    },
    Recommended {
        by: u32,
        by_version: VerRecord,
        via: u32,
    },
}

/// One reason, compact (a few words): what [`Why`] says, with everything by index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WhyRecord {
    pub kind: WhyKind,
    pub range: RangeRecord,
    pub pick: Pick,
    /// Index into [`WhyTable::locations`], or `u32::MAX` for none.
    pub location: u32,
}

/// Every reason record of one resolution, grouped by component, and what they refer to.
#[derive(Debug, Default)]
pub(crate) struct WhyTable {
    /// All names, one after another; `spans[i]` is where name `i` is.
    pub text: String,
    pub spans: Vec<(u32, u32)>,
    pub records: Vec<WhyRecord>,
    /// Record indexes grouped by component: a component's reasons are
    /// `order[first..first + len]`.
    pub order: Vec<u32>,
    pub versions: Vec<Version>,
    pub ranges: Vec<OwnedRange>,
    pub locations: Vec<Location>,
}

const FIELD: u64 = (1 << 21) - 1;

fn unpack(k: u64) -> Version {
    Version::new(k >> 42, (k >> 21) & FIELD, k & FIELD)
}

impl WhyTable {
    /// The table index of solver name `n` (text `t`), added on first use.
    #[inline]
    pub(crate) fn add(&mut self, index: &mut [u32], n: u32, t: &str) -> u32 {
        if index[n as usize] != u32::MAX {
            return index[n as usize];
        }
        let a = self.text.len() as u32;
        self.text.push_str(t);
        self.spans.push((a, self.text.len() as u32));
        let i = self.spans.len() as u32 - 1;
        index[n as usize] = i;
        i
    }

    #[inline]
    pub(crate) fn version(&mut self, v: &Version) -> VerRecord {
        let k = crate::search::vkey(v);
        if k != u64::MAX {
            return VerRecord::Packed(k);
        }
        self.versions.push(v.clone());
        VerRecord::At(self.versions.len() as u32 - 1)
    }

    #[inline]
    pub(crate) fn range(&mut self, r: &crate::provider::Range<'_>) -> RangeRecord {
        use crate::provider::Range;
        match r {
            Range::Any => RangeRecord::Any,
            Range::Between { min, below } => {
                let pack = |b: &Option<&Version>| {
                    b.map_or(Some(u64::MAX), |v| {
                        let k = crate::search::vkey(v);
                        (k != u64::MAX).then_some(k)
                    })
                };
                if let (Some(min), Some(below)) = (pack(min), pack(below)) {
                    return RangeRecord::Packed { min, below };
                }
                self.ranges.push(OwnedRange::Between {
                    min: min.cloned(),
                    below: below.cloned(),
                });
                RangeRecord::At(self.ranges.len() as u32 - 1)
            }
            // `*` reads the same as `Any` (and keeps no copy).
            Range::Req(q) if q.comparators.is_empty() => RangeRecord::Any,
            Range::Req(q) => {
                self.ranges.push(OwnedRange::Req((*q).clone()));
                RangeRecord::At(self.ranges.len() as u32 - 1)
            }
        }
    }

    #[inline]
    pub(crate) fn location(&mut self, l: Option<&Location>) -> u32 {
        match l {
            None => u32::MAX,
            Some(l) => {
                self.locations.push(l.clone());
                self.locations.len() as u32 - 1
            }
        }
    }

    fn name(&self, i: u32) -> String {
        let (a, b) = self.spans[i as usize];
        self.text[a as usize..b as usize].to_string()
    }

    fn ver(&self, v: VerRecord) -> Version {
        match v {
            VerRecord::Packed(k) => unpack(k),
            VerRecord::At(i) => self.versions[i as usize].clone(),
        }
    }

    fn range_text(&self, r: RangeRecord) -> String {
        use crate::provider::Range;
        match r {
            RangeRecord::Any => Range::Any.to_text(),
            RangeRecord::Packed { min, below } => {
                let b = |k: u64| (k != u64::MAX).then(|| unpack(k));
                let (min, below) = (b(min), b(below));
                Range::Between {
                    min: min.as_ref(),
                    below: below.as_ref(),
                }
                .to_text()
            }
            RangeRecord::At(i) => match &self.ranges[i as usize] {
                OwnedRange::Req(q) => Range::Req(q).to_text(),
                OwnedRange::Between { min, below } => Range::Between {
                    min: min.as_ref(),
                    below: below.as_ref(),
                }
                .to_text(),
            },
        }
    }

    fn why(&self, r: &WhyRecord) -> Why {
        let range = self.range_text(r.range);
        let location = self.locations.get(r.location as usize).cloned();
        match r.kind {
            WhyKind::Asked => Why::Asked { range, location },
            WhyKind::AskedCapability { capability } => Why::AskedCapability {
                capability: self.name(capability),
                range,
                pick: r.pick,
                location,
            },
            WhyKind::Bootable { capability } => Why::Bootable {
                capability: self.name(capability),
                pick: r.pick,
            },
            WhyKind::Required {
                by,
                by_version,
                via,
            } => Why::Required {
                by: self.name(by),
                by_version: self.ver(by_version),
                via: self.name(via),
                range,
                pick: r.pick,
                location,
            },
            WhyKind::Recommended {
                by,
                by_version,
                via,
            } => Why::Recommended {
                by: self.name(by),
                by_version: self.ver(by_version),
                via: self.name(via),
                range,
                location,
            },
        }
    }
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
    /// Separate searches run (the first, one per recommendation the answer could not
    /// simply be extended with, and the bounded ones of `fewest_searches`).
    pub searches: u64,
    /// Assignments undone by backjumps (work the search threw away).
    pub undone: u64,
    /// Literals in all learned clauses together.
    pub learned_lits: u64,
    /// Decision levels jumped back over, in total.
    pub backjumped_levels: u64,
    /// Searches run to find fewer components than the first answer had (each with a bound
    /// on the count), and whether the count is proven the fewest (SPEC §4; see the
    /// solver's module doc). Not proven only when those searches ran out of their budget.
    pub fewest_searches: u64,
    pub fewest_proven: bool,
}
