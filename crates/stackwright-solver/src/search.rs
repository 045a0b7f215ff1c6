//! The search: a CDCL solver over one boolean per release.
//!
//! Clauses (all "original" ones are owned by a release and added the first time that
//! release is set true, so the provider is only asked about what the search reaches):
//! - `requires N R` of release X: `¬X ∨ c1 ∨ … ∨ cn`, the candidates being every allowed
//!   release of N in R and every allowed release providing N at a version in R, in
//!   preference order (`[prefer]`, the default provider, N itself, others by name; the
//!   locked version, then newest first);
//! - `conflicts` / `constrains` / kernel needs: binary `¬X ∨ ¬T`;
//! - what the request asks: `c1 ∨ … ∨ cn` at level 0.
//!
//! "At most one release of a component" and "at most one provider of a `one`
//! capability" are native groups: setting a member true sets the others false.
//! Releases ruled out up front (excluded, wrong arch, privileged against the policy,
//! other versions of an `[external]` entry) are simply never candidates.
//!
//! Decisions go to the first requirement (in the order they became active) that no
//! chosen release meets yet, and pick its first candidate still open: this is what makes
//! the preferences of SPEC §4 hold greedily. Conflicts are analysed to the first unique
//! implication point; the learned clause keeps the list of clauses it was derived from, so
//! a refusal can be traced back to the original rules (see `explain`).

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use stackwright_types::manifest::{DepKind, KernelOption, Stage};
use stackwright_types::suggest::did_you_mean;
use stackwright_types::Location;

use crate::intern::FxMap;
use crate::provider::{CapabilityInfo, Provider, Range, ReleaseDetails};
use crate::refusal::{Refusal, Section, UnknownName};
use crate::request::Request;
use crate::resolution::{Chosen, Pick, Resolution, Stats, Why};

pub(crate) type Var = u32;
pub(crate) type Lit = u32;
pub(crate) const NONE: u32 = u32::MAX;
/// Initial capacities: enough for a real registry's resolution without regrowing.
const NAMES: usize = 128;
const VARS: usize = 512;

/// Backjumps longer than this many levels backtrack chronologically instead.
const CHRONO_THRESHOLD: u32 = 0;
/// The group id standing for "the releases of one component".
pub(crate) const PKG_GROUP: u32 = u32::MAX;

/// See `Solver::vkey`.
#[inline]
pub(crate) fn vkey(v: &Version) -> u64 {
    const LIM: u64 = 1 << 21;
    if v.pre.is_empty() && v.build.is_empty() && v.major < LIM && v.minor < LIM && v.patch < LIM {
        (v.major << 42) | (v.minor << 21) | v.patch
    } else {
        u64::MAX
    }
}

#[inline]
pub(crate) fn pos(v: Var) -> Lit {
    v << 1
}
#[inline]
pub(crate) fn neg(v: Var) -> Lit {
    (v << 1) | 1
}
#[inline]
pub(crate) fn var(l: Lit) -> Var {
    l >> 1
}
#[inline]
pub(crate) fn is_neg(l: Lit) -> bool {
    l & 1 == 1
}

/// Why a release can never be chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Forbid {
    No,
    Excluded,
    Arch,
    Privileged,
    External,
}

pub(crate) struct NameData<'a> {
    pub text: &'a str,
    pub loaded: bool,
    pub exists: bool,
    pub first: u32,
    pub n: u32,
    pub stage: Option<Stage>,
    pub privileged: bool,
    pub cap_loaded: bool,
    pub cap: Option<CapabilityInfo<'a>>,
    pub providers: Option<Vec<u32>>,
    pub group: u32,
}

pub(crate) struct VarData {
    pub name: u32,
    /// Position in the provider's release list; `NONE` for an `[external]` version the
    /// registry does not list.
    pub rel: u32,
    pub forbid: Forbid,
    pub details: u32,
    pub activated: bool,
    pub external: bool,
}

pub(crate) struct EdgeData<'a> {
    pub kind: DepKind,
    pub name: u32,
    pub range: Range<'a>,
    pub location: Option<&'a Location>,
}

pub(crate) struct RelData<'a> {
    pub edges: Vec<EdgeData<'a>>,
    pub provides: Vec<(u32, &'a Version)>,
    pub kernel_min: Option<&'a Version>,
    pub kernel_needs: &'a [KernelOption],
    pub kernel_config: &'a [KernelOption],
    pub location: Option<&'a Location>,
    /// The requirement clauses of this release: `req_first .. req_first + req_count`
    /// (requires edges sort first, so their clauses are added one after another).
    pub req_first: u32,
    pub req_count: u32,
}

#[derive(Clone, Debug)]
pub(crate) enum AskKind<'a> {
    Component,
    Capability,
    External,
    Recommended { by: &'a str, by_version: Version },
}

/// One thing the request (or an accepted recommendation) asks for.
#[derive(Clone, Debug)]
pub(crate) struct AskData<'a> {
    pub kind: AskKind<'a>,
    pub name: &'a str,
    pub range: Range<'a>,
    pub location: Option<&'a Location>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// What the request asks (index into `asks`).
    Ask(u32),
    /// A `requires` edge of a release.
    Requires { var: Var, edge: u32 },
    /// A `conflicts` or `constrains` edge of `var` ruling out `target`.
    Excludes { var: Var, edge: u32, target: Var },
    /// `var`'s kernel needs rule out kernel release `kernel`.
    Kernel { var: Var, kernel: Var },
    /// Learned: index into `proofs`.
    Learned(u32),
}

pub(crate) struct Clause {
    pub start: u32,
    pub len: u32,
    pub w: [u32; 2],
    pub origin: Origin,
    /// Offset of the first candidate (1 for requirement clauses, whose first literal is
    /// the owner's negation).
    pub cand: u8,
    pub hint: u32,
    /// For requirement and ask clauses: the name asked for (drives the decision order).
    pub target: u32,
    /// The next clause in the watch list of each watched literal.
    pub next: [u32; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    None,
    Clause(u32),
    /// Set false because `other` (in the same group) is true.
    Amo {
        other: Var,
        group: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ante {
    Clause(u32),
    Amo {
        a: Var,
        b: Var,
        group: u32,
    },
    /// A literal fixed at level 0: its own reason is part of the proof.
    Zero(Var),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Conflict {
    Clause(u32),
    Amo { a: Var, b: Var, group: u32 },
}

pub(crate) struct Group {
    pub cap: u32,
    pub members: Vec<Var>,
}

pub(crate) struct Solver<'a, P: Provider + ?Sized> {
    pub p: &'a P,
    pub req: &'a Request,
    pub asks: Vec<AskData<'a>>,
    pub index: FxMap<&'a str, u32>,
    pub names: Vec<NameData<'a>>,
    pub vars: Vec<VarData>,
    pub versions: Vec<Version>,
    /// Per release: `major.minor.patch` packed in 63 bits when the version is plain
    /// (no pre-release or build part, each number below 2^21), else `u64::MAX`.
    pub vkey: Vec<u64>,
    pub rels: Vec<RelData<'a>>,
    pub value: Vec<i8>,
    pub level: Vec<u32>,
    pub reason: Vec<Reason>,
    /// The `one`-capability groups a release belongs to (few releases are in any).
    pub var_groups: FxMap<Var, Vec<u32>>,
    pub groups: Vec<Group>,
    pub lits: Vec<Lit>,
    pub clauses: Vec<Clause>,
    /// Per literal: the first clause watching it (a list linked through `Clause::next`).
    pub watch_head: Vec<u32>,
    pub proofs: Vec<Vec<Ante>>,
    pub trail: Vec<Lit>,
    pub trail_lim: Vec<u32>,
    pub qhead: usize,
    pub active: Vec<u32>,
    pub active_lim: Vec<u32>,
    pub scan: usize,
    pub seen: Vec<bool>,
    pub final_proof: Vec<Ante>,
    pub stats: Stats,
    buf: ReleaseDetails<'a>,
    kernel_name: u32,
    pending: Vec<(u32, Option<Result<Lit, ()>>)>,
    scratch: Vec<Lit>,
    activity: Vec<f64>,
    hot: Vec<bool>,
    hot_active: Vec<u32>,
    bump_inc: f64,
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    pub fn new(p: &'a P, req: &'a Request, soft: &[AskData<'a>]) -> Self {
        let mut asks = Vec::new();
        for (name, a) in &req.components {
            asks.push(AskData {
                kind: AskKind::Component,
                name,
                range: Range::Req(&a.range),
                location: a.location.as_ref(),
            });
        }
        for (name, a) in &req.capabilities {
            asks.push(AskData {
                kind: AskKind::Capability,
                name,
                range: Range::Req(&a.range),
                location: a.location.as_ref(),
            });
        }
        for (name, v) in &req.external {
            asks.push(AskData {
                kind: AskKind::External,
                name,
                range: Range::Between {
                    min: Some(v.value.clone()),
                    below: None,
                },
                location: v.location.as_ref(),
            });
        }
        asks.extend(soft.iter().cloned());
        let mut s = Solver {
            p,
            req,
            asks,
            index: FxMap::with_capacity_and_hasher(NAMES, Default::default()),
            names: Vec::with_capacity(NAMES),
            vars: Vec::with_capacity(VARS),
            versions: Vec::with_capacity(VARS),
            vkey: Vec::with_capacity(VARS),
            rels: Vec::with_capacity(NAMES),
            value: Vec::with_capacity(VARS),
            level: Vec::with_capacity(VARS),
            reason: Vec::with_capacity(VARS),
            var_groups: FxMap::default(),
            groups: Vec::new(),
            lits: Vec::with_capacity(4 * VARS),
            clauses: Vec::with_capacity(NAMES),
            watch_head: Vec::with_capacity(2 * VARS),
            proofs: Vec::new(),
            trail: Vec::with_capacity(VARS),
            trail_lim: Vec::new(),
            qhead: 0,
            active: Vec::with_capacity(NAMES),
            active_lim: Vec::new(),
            scan: 0,
            seen: Vec::with_capacity(VARS),
            final_proof: Vec::new(),
            stats: Stats::default(),
            buf: ReleaseDetails::default(),
            kernel_name: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
            activity: Vec::with_capacity(NAMES),
            hot: Vec::with_capacity(NAMES),
            hot_active: Vec::new(),
            bump_inc: 1.0,
        };
        s.kernel_name = s.intern(crate::KERNEL_CAPABILITY);
        s
    }

    // ---------------------------------------------------------------------------------
    // Names, components, releases.

    pub fn intern(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(NameData {
            text: s,
            loaded: false,
            exists: false,
            first: 0,
            n: 0,
            stage: None,
            privileged: false,
            cap_loaded: false,
            cap: None,
            providers: None,
            group: NONE,
        });
        self.index.insert(s, i);
        self.activity.push(0.0);
        self.hot.push(false);
        i
    }

    /// Asks the provider for a component's releases (once) and creates their variables.
    pub fn load(&mut self, n: u32) {
        if self.names[n as usize].loaded {
            return;
        }
        self.names[n as usize].loaded = true;
        let text = self.names[n as usize].text;
        let Some(comp) = self.p.component(text) else {
            return;
        };
        self.stats.components_loaded += 1;
        let req = self.req;
        let excluded = req.exclude.contains_key(text);
        let priv_bad = comp.privileged && !req.privileged.value.allows(text);
        let external = req.external.get(text).map(|e| &e.value);
        let arch = req.arch.as_ref().map(|a| a.value);
        let (stage, privileged) = (comp.stage, comp.privileged);
        let mut heads: Vec<(Version, u32, Forbid)> = comp
            .releases
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let mut f = Forbid::No;
                if let (Some(a), Some(list)) = (arch, h.arch) {
                    if !list.contains(&a) {
                        f = Forbid::Arch;
                    }
                }
                if priv_bad {
                    f = Forbid::Privileged;
                }
                if excluded {
                    f = Forbid::Excluded;
                }
                if let Some(ev) = external {
                    f = if &h.version == ev {
                        Forbid::No
                    } else {
                        Forbid::External
                    };
                }
                (h.version, i as u32, f)
            })
            .collect();
        if let Some(ev) = external {
            if !heads.iter().any(|h| &h.0 == ev) {
                heads.push((ev.clone(), NONE, Forbid::No));
            }
        }
        // Newest first; equal versions (a careless provider) by release index. Providers
        // usually list releases in order already, one way or the other.
        if !heads.windows(2).all(|w| w[0].0 > w[1].0) {
            if heads.windows(2).all(|w| w[0].0 < w[1].0) {
                heads.reverse();
            } else {
                heads.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            }
        }
        let first = self.vars.len() as u32;
        for (v, rel, forbid) in heads {
            let is_ext = external.is_some_and(|e| *e == v);
            self.vars.push(VarData {
                name: n,
                rel,
                forbid,
                details: NONE,
                activated: false,
                external: is_ext,
            });
            self.vkey.push(vkey(&v));
            self.versions.push(v);
            self.value.push(0);
            self.level.push(0);
            self.reason.push(Reason::None);
            self.seen.push(false);
            self.watch_head.push(NONE);
            self.watch_head.push(NONE);
        }
        let nd = &mut self.names[n as usize];
        nd.exists = true;
        nd.first = first;
        nd.n = self.vars.len() as u32 - first;
        nd.stage = stage;
        nd.privileged = privileged;
    }

    pub fn cap(&mut self, n: u32) -> Option<&CapabilityInfo<'a>> {
        let nd = &mut self.names[n as usize];
        if !nd.cap_loaded {
            nd.cap_loaded = true;
            nd.cap = self.p.capability(nd.text);
        }
        self.names[n as usize].cap.as_ref()
    }

    fn ensure_providers(&mut self, n: u32) {
        if self.names[n as usize].providers.is_none() {
            self.providers(n);
        }
    }

    /// The other components providing name `n`, sorted by id.
    pub fn providers(&mut self, n: u32) -> Vec<u32> {
        if let Some(p) = &self.names[n as usize].providers {
            return p.clone();
        }
        let text = self.names[n as usize].text;
        let mut list: Vec<&'a str> = self.p.providers(text);
        list.sort_unstable();
        list.dedup();
        let ids: Vec<u32> = list
            .into_iter()
            .filter(|t| *t != text)
            .map(|t| self.intern(t))
            .collect();
        self.names[n as usize].providers = Some(ids.clone());
        ids
    }

    pub fn vars_of(&self, n: u32) -> std::ops::Range<u32> {
        let nd = &self.names[n as usize];
        nd.first..nd.first + nd.n
    }

    /// The details of a release (asked of the provider once).
    pub fn details(&mut self, v: Var) -> u32 {
        let d = self.vars[v as usize].details;
        if d != NONE {
            return d;
        }
        let vd = &self.vars[v as usize];
        let idx = self.rels.len() as u32;
        if vd.rel == NONE {
            self.rels.push(RelData {
                edges: Vec::new(),
                provides: Vec::new(),
                kernel_min: None,
                kernel_needs: &[],
                kernel_config: &[],
                location: None,
                req_first: 0,
                req_count: 0,
            });
            self.vars[v as usize].details = idx;
            return idx;
        }
        self.stats.releases_loaded += 1;
        let text = self.names[vd.name as usize].text;
        let rel = vd.rel as usize;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.p.release(text, rel, &mut buf);
        let mut edges: Vec<EdgeData<'a>> = Vec::with_capacity(buf.edges.len());
        for e in buf.edges.drain(..) {
            let name = self.intern(e.name);
            edges.push(EdgeData {
                kind: e.kind,
                name,
                range: e.range,
                location: e.location,
            });
        }
        // Edge order must not depend on how the provider listed them.
        let names = &self.names;
        let key = |e: &EdgeData<'a>| (e.kind, names[e.name as usize].text);
        if !edges.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
            edges.sort_by(|a, b| key(a).cmp(&key(b)));
        }
        let mut provides = Vec::with_capacity(buf.provides.len());
        for (c, ver) in buf.provides.drain(..) {
            provides.push((self.intern(c), ver));
        }
        provides.sort_by_key(|p| p.0);
        self.rels.push(RelData {
            edges,
            provides,
            kernel_min: buf.kernel_min,
            kernel_needs: buf.kernel_needs,
            kernel_config: buf.kernel_config,
            location: buf.location,
            req_first: 0,
            req_count: 0,
        });
        self.buf = buf;
        self.vars[v as usize].details = idx;
        idx
    }

    /// Whether release `v` is `n` at a version in `range`, directly or by providing it.
    pub fn release_matches(&mut self, v: Var, n: u32, range: &Range<'a>) -> bool {
        if self.vars[v as usize].name == n {
            return range.contains(&self.versions[v as usize]);
        }
        let d = self.details(v);
        self.rels[d as usize]
            .provides
            .iter()
            .any(|(c, pv)| *c == n && range.contains(pv))
    }

    /// Every release that is `n` in `range` (or, with `complement`, that is `n` or provides
    /// it *outside* `range`), allowed ones only, in preference order.
    pub fn matching(
        &mut self,
        n: u32,
        range: &Range<'a>,
        complement: bool,
        cap_pref: bool,
    ) -> Vec<Var> {
        self.load(n);
        self.ensure_providers(n);
        let no_providers = self.names[n as usize]
            .providers
            .as_ref()
            .is_some_and(|p| p.is_empty());
        if no_providers && self.req.locked.is_empty() {
            return self.own_matching(n, range, complement);
        }
        let mut groups: Vec<(u8, u32, Vec<Var>)> = Vec::new();
        // The component itself.
        let own = self.own_matching(n, range, complement);
        let prefer_pkg = if cap_pref {
            self.req
                .prefer
                .get(self.names[n as usize].text)
                .map(|p| p.value.as_str())
        } else {
            None
        };
        let default_pkg = if cap_pref {
            self.cap(n).and_then(|c| c.default)
        } else {
            None
        };
        let rank = |t: &str| -> u8 {
            if Some(t) == prefer_pkg {
                0
            } else if Some(t) == default_pkg {
                1
            } else {
                3
            }
        };
        if !own.is_empty() {
            let r = rank(self.names[n as usize].text).min(2);
            groups.push((r, n, own));
        }
        for q in self.providers(n) {
            self.load(q);
            let mut list = Vec::new();
            for v in self.vars_of(q) {
                if self.vars[v as usize].forbid != Forbid::No {
                    continue;
                }
                let d = self.details(v) as usize;
                let hit = self.rels[d]
                    .provides
                    .iter()
                    .any(|(c, pv)| *c == n && (range.contains(pv) != complement));
                if hit {
                    list.push(v);
                }
            }
            if !list.is_empty() {
                groups.push((rank(self.names[q as usize].text), q, list));
            }
        }
        if groups.len() > 1 {
            let names = &self.names;
            groups.sort_by(|a, b| {
                (a.0, names[a.1 as usize].text).cmp(&(b.0, names[b.1 as usize].text))
            });
        }
        let mut out = Vec::new();
        for (_, q, mut list) in groups {
            if let Some(lv) = self.req.locked.get(self.names[q as usize].text) {
                if let Some(i) = list.iter().position(|v| &self.versions[*v as usize] == lv) {
                    let v = list.remove(i);
                    list.insert(0, v);
                }
            }
            out.extend(list);
        }
        out
    }

    /// Appends the positive literals of `matching(n, range, false, true)` to `out`, without
    /// building intermediate lists when `n` has no other providers.
    fn matching_lits(&mut self, n: u32, range: &Range<'a>, out: &mut Vec<Lit>) {
        self.load(n);
        self.ensure_providers(n);
        let no_providers = self.names[n as usize]
            .providers
            .as_ref()
            .is_some_and(|p| p.is_empty());
        if no_providers && self.req.locked.is_empty() {
            let r = self.vars_of(n);
            let vs = &self.versions[r.start as usize..r.end as usize];
            let (lo, hi) = match range {
                Range::Any => (0, vs.len()),
                Range::Between { min, below } => {
                    let lo = below.as_ref().map_or(0, |b| vs.partition_point(|v| v >= b));
                    let hi = min
                        .as_ref()
                        .map_or(vs.len(), |m| vs.partition_point(|v| v >= m));
                    (lo, hi.max(lo))
                }
                Range::Req(_) => {
                    for (i, v) in vs.iter().enumerate() {
                        let var = r.start + i as u32;
                        if range.contains(v) && self.vars[var as usize].forbid == Forbid::No {
                            out.push(pos(var));
                        }
                    }
                    return;
                }
            };
            for i in lo..hi {
                let var = r.start + i as u32;
                if self.vars[var as usize].forbid == Forbid::No {
                    out.push(pos(var));
                }
            }
            return;
        }
        let cands = self.matching(n, range, false, true);
        out.extend(cands.iter().map(|&c| pos(c)));
    }

    fn own_matching(&self, n: u32, range: &Range<'a>, complement: bool) -> Vec<Var> {
        let r = self.vars_of(n);
        let vs = &self.versions[r.start as usize..r.end as usize];
        let mut out = Vec::new();
        let push = |i: usize, out: &mut Vec<Var>| {
            let v = r.start + i as u32;
            if self.vars[v as usize].forbid == Forbid::No {
                out.push(v);
            }
        };
        match (range, complement) {
            (Range::Any, false) => (0..vs.len()).for_each(|i| push(i, &mut out)),
            (Range::Any, true) => {}
            (Range::Between { min, below }, false) => {
                // Newest first: versions >= below come first, then the window, then < min.
                let lo = below.as_ref().map_or(0, |b| vs.partition_point(|v| v >= b));
                let hi = min
                    .as_ref()
                    .map_or(vs.len(), |m| vs.partition_point(|v| v >= m));
                (lo..hi.max(lo)).for_each(|i| push(i, &mut out));
            }
            _ => {
                for (i, v) in vs.iter().enumerate() {
                    if range.contains(v) != complement {
                        push(i, &mut out);
                    }
                }
            }
        }
        out
    }

    // ---------------------------------------------------------------------------------
    // Assignment and clauses.

    #[inline]
    pub fn lit_value(&self, l: Lit) -> i8 {
        let v = self.value[var(l) as usize];
        if is_neg(l) {
            -v
        } else {
            v
        }
    }

    #[inline]
    fn decision_level(&self) -> u32 {
        self.trail_lim.len() as u32
    }

    /// Assigns `l`. An implied literal takes the highest level among its reason's other
    /// literals, not the current one: with chronological backtracking (see `solve`) a
    /// literal may be implied below the current decision level.
    fn assign(&mut self, l: Lit, r: Reason) {
        let v = var(l) as usize;
        debug_assert_eq!(self.value[v], 0);
        let lvl = match r {
            Reason::None => self.decision_level(),
            Reason::Amo { other, .. } => self.level[other as usize],
            Reason::Clause(cid) => {
                let c = &self.clauses[cid as usize];
                self.lits[c.start as usize..(c.start + c.len) as usize]
                    .iter()
                    .filter(|x| var(**x) as usize != v)
                    .map(|x| self.level[var(*x) as usize])
                    .max()
                    .unwrap_or(0)
            }
        };
        self.value[v] = if is_neg(l) { -1 } else { 1 };
        self.level[v] = lvl;
        self.reason[v] = r;
        self.trail.push(l);
        self.stats.propagations += 1;
    }

    pub fn clause_lits(&self, c: u32) -> &[Lit] {
        let c = &self.clauses[c as usize];
        &self.lits[c.start as usize..(c.start + c.len) as usize]
    }

    /// Puts clause `cid` at the head of the watch list of its `k`-th watched literal.
    #[inline]
    fn watch(&mut self, cid: u32, k: usize) {
        let l = self.lits[self.clauses[cid as usize].w[k] as usize] as usize;
        self.clauses[cid as usize].next[k] = self.watch_head[l];
        self.watch_head[l] = cid;
    }

    /// Adds a clause and watches it according to the current assignment. Returns what it
    /// means right now: `Some(Ok(lit))` a unit to assign, `Some(Err(()))` a conflict.
    fn add_clause(
        &mut self,
        lits: &[Lit],
        origin: Origin,
        cand: u8,
    ) -> (u32, Option<Result<Lit, ()>>) {
        let cid = self.clauses.len() as u32;
        let start = self.lits.len() as u32;
        self.lits.extend_from_slice(lits);
        let len = lits.len() as u32;
        // Choose watches: true or open literals first, then false ones at the highest level.
        let mut best: [(i32, u32); 2] = [(i32::MIN, NONE), (i32::MIN, NONE)];
        for (i, &l) in lits.iter().enumerate() {
            let score = match self.lit_value(l) {
                1 => i32::MAX,
                0 => i32::MAX - 1,
                _ => self.level[var(l) as usize] as i32,
            };
            let p = start + i as u32;
            if score > best[0].0 {
                best[1] = best[0];
                best[0] = (score, p);
            } else if score > best[1].0 {
                best[1] = (score, p);
            }
        }
        let w = [
            best[0].1,
            if best[1].1 == NONE {
                best[0].1
            } else {
                best[1].1
            },
        ];
        self.clauses.push(Clause {
            start,
            len,
            w,
            origin,
            cand,
            hint: cand as u32,
            target: NONE,
            next: [NONE, NONE],
        });
        if len == 0 {
            return (cid, Some(Err(())));
        }
        self.watch(cid, 0);
        if w[1] != w[0] {
            self.watch(cid, 1);
        }
        let v0 = self.lit_value(self.lits[w[0] as usize]);
        let v1 = if len > 1 {
            self.lit_value(self.lits[w[1] as usize])
        } else {
            -1
        };
        // Met (a true literal) or open (two non-false ones): nothing to do now.
        let status = if v0 == 1 || (v0 == 0 && v1 != -1) {
            None
        } else if v0 == 0 {
            Some(Ok(self.lits[w[0] as usize]))
        } else {
            Some(Err(()))
        };
        (cid, status)
    }

    /// Sets up release `v` the first time it is true: its clauses and groups.
    fn activate(&mut self, v: Var) -> Option<Conflict> {
        self.vars[v as usize].activated = true;
        let d = self.details(v) as usize;
        let me = self.vars[v as usize].name;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        // `one` capability groups.
        for pi in 0..self.rels[d].provides.len() {
            let c = self.rels[d].provides[pi].0;
            if self.cap(c).is_some_and(|ci| ci.one) {
                self.ensure_group(c);
            }
        }
        let mut lits = std::mem::take(&mut self.scratch);
        if !self.vars[v as usize].external {
            let n_edges = self.rels[d].edges.len();
            for ei in 0..n_edges {
                let (kind, name, range) = {
                    let e = &self.rels[d].edges[ei];
                    (e.kind, e.name, e.range.clone())
                };
                match kind {
                    DepKind::Requires => {
                        lits.clear();
                        lits.push(neg(v));
                        self.matching_lits(name, &range, &mut lits);
                        let r = self.add_clause(
                            &lits,
                            Origin::Requires {
                                var: v,
                                edge: ei as u32,
                            },
                            1,
                        );
                        self.clauses[r.0 as usize].target = name;
                        let rd = &mut self.rels[d];
                        if rd.req_count == 0 {
                            rd.req_first = r.0;
                        }
                        debug_assert_eq!(rd.req_first + rd.req_count, r.0);
                        rd.req_count += 1;
                        pending.push(r);
                    }
                    DepKind::Conflicts | DepKind::Constrains => {
                        let targets =
                            self.matching(name, &range, kind == DepKind::Constrains, false);
                        for t in targets {
                            if self.vars[t as usize].name == me {
                                continue;
                            }
                            let r = self.add_clause(
                                &[neg(v), neg(t)],
                                Origin::Excludes {
                                    var: v,
                                    edge: ei as u32,
                                    target: t,
                                },
                                0,
                            );
                            pending.push(r);
                        }
                    }
                    DepKind::Recommends => {}
                }
            }
            let (kmin, kneeds) = (self.rels[d].kernel_min, self.rels[d].kernel_needs);
            if kmin.is_some() || !kneeds.is_empty() {
                let kn = self.kernel_name;
                let kernels = self.matching(kn, &Range::Any, false, false);
                for k in kernels {
                    if self.vars[k as usize].name == me || self.kernel_meets(k, v).is_none() {
                        continue;
                    }
                    let r =
                        self.add_clause(&[neg(v), neg(k)], Origin::Kernel { var: v, kernel: k }, 0);
                    pending.push(r);
                }
            }
        }
        self.scratch = lits;
        let mut conflict = None;
        for &(cid, st) in &pending {
            match st {
                None => {}
                Some(Err(())) => {
                    conflict = Some(Conflict::Clause(cid));
                    break;
                }
                Some(Ok(l)) => match self.lit_value(l) {
                    0 => self.assign(l, Reason::Clause(cid)),
                    1 => {}
                    _ => {
                        conflict = Some(Conflict::Clause(cid));
                        break;
                    }
                },
            }
        }
        self.pending = pending;
        conflict
    }

    /// `None` when kernel release `k` meets every kernel need of release `v`; otherwise
    /// the first need it misses, as text.
    pub fn kernel_meets(&mut self, k: Var, v: Var) -> Option<String> {
        let dv = self.details(v) as usize;
        let dk = self.details(k) as usize;
        let kn = self.kernel_name;
        let kver = self.rels[dk]
            .provides
            .iter()
            .find(|p| p.0 == kn)
            .map(|p| p.1.clone())
            .unwrap_or_else(|| self.versions[k as usize].clone());
        if let Some(min) = self.rels[dv].kernel_min {
            let mut plain = kver.clone();
            plain.pre = semver::Prerelease::EMPTY;
            plain.build = semver::BuildMetadata::EMPTY;
            if &plain < min {
                return Some(format!("a kernel >= {min}"));
            }
        }
        for need in self.rels[dv].kernel_needs {
            let have = self.rels[dk]
                .kernel_config
                .iter()
                .find(|o| o.name == need.name);
            match have {
                None => return Some(need.name.clone()),
                Some(h) if need.builtin && !h.builtin => return Some(format!("{}=y", need.name)),
                _ => {}
            }
        }
        None
    }

    fn ensure_group(&mut self, c: u32) {
        if self.names[c as usize].group != NONE {
            return;
        }
        let members = self.matching(c, &Range::Any, false, false);
        let g = self.groups.len() as u32;
        for &m in &members {
            self.var_groups.entry(m).or_default().push(g);
        }
        self.groups.push(Group { cap: c, members });
        self.names[c as usize].group = g;
    }

    fn propagate(&mut self) -> Option<Conflict> {
        while self.qhead < self.trail.len() {
            let l = self.trail[self.qhead];
            self.qhead += 1;
            if !is_neg(l) {
                let v = var(l);
                if !self.vars[v as usize].activated {
                    if let Some(c) = self.activate(v) {
                        return Some(c);
                    }
                }
                let d = self.vars[v as usize].details as usize;
                let (rf, rc) = (self.rels[d].req_first, self.rels[d].req_count);
                for cid in rf..rf + rc {
                    let t = self.clauses[cid as usize].target;
                    if self.hot[t as usize] {
                        self.hot_active.push(self.active.len() as u32);
                    }
                    self.active.push(cid);
                }
                // At most one release of this component.
                let n = self.vars[v as usize].name;
                for u in self.vars_of(n) {
                    if u == v {
                        continue;
                    }
                    match self.value[u as usize] {
                        1 => {
                            return Some(Conflict::Amo {
                                a: v,
                                b: u,
                                group: PKG_GROUP,
                            })
                        }
                        0 => self.assign(
                            neg(u),
                            Reason::Amo {
                                other: v,
                                group: PKG_GROUP,
                            },
                        ),
                        _ => {}
                    }
                }
                let gs: Vec<u32> = self.var_groups.get(&v).cloned().unwrap_or_default();
                for g in gs {
                    for mi in 0..self.groups[g as usize].members.len() {
                        let u = self.groups[g as usize].members[mi];
                        if u == v || self.vars[u as usize].name == n {
                            continue;
                        }
                        match self.value[u as usize] {
                            1 => {
                                return Some(Conflict::Amo {
                                    a: v,
                                    b: u,
                                    group: g,
                                })
                            }
                            0 => self.assign(neg(u), Reason::Amo { other: v, group: g }),
                            _ => {}
                        }
                    }
                }
            }
            let fl = l ^ 1;
            let mut prev = NONE;
            let mut prev_k = 0usize;
            let mut cur = self.watch_head[fl as usize];
            while cur != NONE {
                let cid = cur;
                let c = &self.clauses[cid as usize];
                let k = if self.lits[c.w[0] as usize] == fl {
                    0
                } else {
                    1
                };
                let next = c.next[k];
                let other_pos = c.w[1 - k];
                let other = self.lits[other_pos as usize];
                if other_pos != c.w[k] && self.lit_value(other) == 1 {
                    prev = cid;
                    prev_k = k;
                    cur = next;
                    continue;
                }
                let (start, end, wk) = (c.start, c.start + c.len, c.w[k]);
                let mut found = NONE;
                for p in start..end {
                    if p == wk || p == other_pos {
                        continue;
                    }
                    if self.lit_value(self.lits[p as usize]) != -1 {
                        found = p;
                        break;
                    }
                }
                if found != NONE {
                    // Move the watch: unlink here, link into the new literal's list.
                    if prev == NONE {
                        self.watch_head[fl as usize] = next;
                    } else {
                        self.clauses[prev as usize].next[prev_k] = next;
                    }
                    self.clauses[cid as usize].w[k] = found;
                    self.watch(cid, k);
                    cur = next;
                    continue;
                }
                prev = cid;
                prev_k = k;
                cur = next;
                if other_pos == wk {
                    return Some(Conflict::Clause(cid));
                }
                match self.lit_value(other) {
                    0 => self.assign(other, Reason::Clause(cid)),
                    -1 => return Some(Conflict::Clause(cid)),
                    _ => {}
                }
            }
        }
        None
    }

    fn conflict_lits(&self, c: Conflict, out: &mut Vec<Lit>) {
        out.clear();
        match c {
            Conflict::Clause(cid) => out.extend_from_slice(self.clause_lits(cid)),
            Conflict::Amo { a, b, .. } => {
                out.push(neg(a));
                out.push(neg(b));
            }
        }
    }

    fn reason_lits(&self, v: Var, out: &mut Vec<Lit>) -> Ante {
        out.clear();
        match self.reason[v as usize] {
            Reason::Clause(cid) => {
                out.extend(
                    self.clause_lits(cid)
                        .iter()
                        .copied()
                        .filter(|l| var(*l) != v),
                );
                Ante::Clause(cid)
            }
            Reason::Amo { other, group } => {
                out.push(neg(other));
                Ante::Amo {
                    a: other,
                    b: v,
                    group,
                }
            }
            Reason::None => unreachable!("decisions have no reason"),
        }
    }

    fn conflict_ante(c: Conflict) -> Ante {
        match c {
            Conflict::Clause(cid) => Ante::Clause(cid),
            Conflict::Amo { a, b, group } => Ante::Amo { a, b, group },
        }
    }

    /// 1-UIP analysis. Returns the learned clause (asserting literal first), the level to
    /// jump back to, and the antecedents it was derived from.
    fn analyze(&mut self, c: Conflict) -> (Vec<Lit>, u32, Vec<Ante>) {
        let cur = self.decision_level();
        let mut learnt: Vec<Lit> = vec![0];
        let mut ante = vec![Self::conflict_ante(c)];
        let mut buf = Vec::new();
        let mut to_clear: Vec<Var> = Vec::new();
        self.conflict_lits(c, &mut buf);
        let mut counter = 0usize;
        let mut idx = self.trail.len();
        loop {
            for &q in &buf {
                let v = var(q);
                if self.seen[v as usize] {
                    continue;
                }
                self.seen[v as usize] = true;
                to_clear.push(v);
                let lv = self.level[v as usize];
                if lv == 0 {
                    ante.push(Ante::Zero(v));
                } else if lv == cur {
                    counter += 1;
                } else {
                    learnt.push(q);
                }
            }
            // The next literal of the current level on the trail that takes part.
            let p = loop {
                idx -= 1;
                let t = self.trail[idx];
                if self.seen[var(t) as usize] && self.level[var(t) as usize] == cur {
                    break t;
                }
            };
            counter -= 1;
            if counter == 0 {
                learnt[0] = p ^ 1;
                break;
            }
            let a = self.reason_lits(var(p), &mut buf);
            ante.push(a);
        }
        for v in to_clear {
            self.seen[v as usize] = false;
            if self.level[v as usize] > 0 {
                let n = self.vars[v as usize].name;
                self.bump(n);
            }
        }
        self.bump_inc /= 0.95;
        let mut bt = 0;
        let mut bi = 0;
        for (i, &l) in learnt.iter().enumerate().skip(1) {
            let lv = self.level[var(l) as usize];
            if lv > bt {
                bt = lv;
                bi = i;
            }
        }
        if bi > 1 {
            learnt.swap(1, bi);
        }
        (learnt, bt, ante)
    }

    /// Undoes every assignment above level `lvl`. Assignments at or below it that sit
    /// higher on the trail (implied out of order) stay, moved down, and are propagated
    /// again so their requirements become active again.
    fn backjump(&mut self, lvl: u32) {
        if self.decision_level() <= lvl {
            return;
        }
        let t = self.trail_lim[lvl as usize] as usize;
        let mut w = t;
        for i in t..self.trail.len() {
            let l = self.trail[i];
            let v = var(l) as usize;
            if self.level[v] > lvl {
                self.value[v] = 0;
                self.reason[v] = Reason::None;
                self.stats.undone += 1;
            } else {
                self.trail[w] = l;
                w += 1;
            }
        }
        self.trail.truncate(w);
        self.qhead = t;
        let a = self.active_lim[lvl as usize] as usize;
        self.active.truncate(a);
        self.hot_active.retain(|p| (*p as usize) < a);
        self.trail_lim.truncate(lvl as usize);
        self.active_lim.truncate(lvl as usize);
        self.scan = 0;
    }

    fn conflict_max_level(&self, c: Conflict) -> u32 {
        let mut buf = Vec::new();
        self.conflict_lits(c, &mut buf);
        buf.iter()
            .map(|l| self.level[var(*l) as usize])
            .max()
            .unwrap_or(0)
    }

    /// Whether active clause `cid` is met; if not, its first open candidate.
    fn open_candidate(&mut self, cid: u32) -> Result<(), Option<Lit>> {
        let c = &self.clauses[cid as usize];
        let (start, cand, end) = (c.start, c.start + c.cand as u32, c.start + c.len);
        let hint = c.start + c.hint;
        if hint < end && self.lit_value(self.lits[hint as usize]) == 1 {
            return Ok(());
        }
        let mut open = NONE;
        for p in cand..end {
            match self.lit_value(self.lits[p as usize]) {
                1 => {
                    self.clauses[cid as usize].hint = p - start;
                    return Ok(());
                }
                0 if open == NONE => open = p,
                _ => {}
            }
        }
        Err((open != NONE).then(|| self.lits[open as usize]))
    }

    /// The next decision. The first active requirement no true candidate meets (in the
    /// order requirements became active) is the default; a requirement on a component
    /// that took part in recent conflicts (higher activity) goes first, as in resolvo and
    /// VSIDS. The chosen candidate is the requirement's first open one, so preferences
    /// hold.
    fn decide(&mut self) -> Option<Lit> {
        let mut best: Option<(u32, f64, Lit)> = None;
        while self.scan < self.active.len() {
            let cid = self.active[self.scan];
            match self.open_candidate(cid) {
                Ok(()) | Err(None) => self.scan += 1,
                Err(Some(l)) => {
                    let t = self.clauses[cid as usize].target;
                    best = Some((self.scan as u32, self.activity[t as usize], l));
                    break;
                }
            }
        }
        let (first, mut best_act, mut lit) = best?;
        let mut i = 0;
        while i < self.hot_active.len() {
            let pos = self.hot_active[i];
            i += 1;
            if pos <= first {
                continue;
            }
            let cid = self.active[pos as usize];
            let act = self.activity[self.clauses[cid as usize].target as usize];
            if act <= best_act {
                continue;
            }
            if let Err(Some(l)) = self.open_candidate(cid) {
                best_act = act;
                lit = l;
            }
        }
        Some(lit)
    }

    /// Raises the activity of a component taking part in a conflict.
    fn bump(&mut self, n: u32) {
        let a = &mut self.activity[n as usize];
        *a += self.bump_inc;
        if *a > 1e100 {
            for x in &mut self.activity {
                *x *= 1e-100;
            }
            self.bump_inc *= 1e-100;
        }
        if !self.hot[n as usize] {
            self.hot[n as usize] = true;
            for (pos, &cid) in self.active.iter().enumerate() {
                if self.clauses[cid as usize].target == n {
                    self.hot_active.push(pos as u32);
                }
            }
        }
    }

    /// Runs the search. `true`: a solution is assigned. `false`: refused; `final_proof`
    /// holds the antecedents of the level-0 conflict.
    pub fn solve(&mut self) -> bool {
        self.stats.searches += 1;
        // What the request asks, at level 0.
        let mut pending = Vec::new();
        for i in 0..self.asks.len() {
            let name = self.intern(self.asks[i].name);
            let range = self.asks[i].range.clone();
            let cands = match self.asks[i].kind {
                AskKind::External => {
                    self.load(name);
                    self.vars_of(name)
                        .filter(|v| self.vars[*v as usize].external)
                        .collect()
                }
                _ => self.matching(name, &range, false, true),
            };
            let lits: Vec<Lit> = cands.iter().map(|&c| pos(c)).collect();
            let r = self.add_clause(&lits, Origin::Ask(i as u32), 0);
            self.clauses[r.0 as usize].target = name;
            self.active.push(r.0);
            pending.push(r);
        }
        for (cid, st) in pending {
            let conflict = match st {
                None => None,
                Some(Err(())) => Some(Conflict::Clause(cid)),
                Some(Ok(l)) => match self.lit_value(l) {
                    0 => {
                        self.assign(l, Reason::Clause(cid));
                        None
                    }
                    1 => None,
                    _ => Some(Conflict::Clause(cid)),
                },
            };
            if let Some(c) = conflict {
                self.final_conflict(c);
                return false;
            }
        }
        loop {
            if let Some(c) = self.propagate() {
                self.stats.conflicts += 1;
                let maxl = self.conflict_max_level(c);
                if maxl == 0 {
                    self.final_conflict(c);
                    return false;
                }
                if maxl < self.decision_level() {
                    self.backjump(maxl);
                }
                let (learnt, bt, ante) = self.analyze(c);
                self.stats.learned_lits += learnt.len() as u64;
                // Chronological backtracking (Nadel & Ryvchin, 2018): a long jump would
                // throw away (and redo) every decision in between, most of them unrelated;
                // undo only the conflict's level and assert the learned literal out of order.
                let cur = self.decision_level();
                let target = if cur - bt > CHRONO_THRESHOLD {
                    cur - 1
                } else {
                    bt
                };
                self.stats.backjumped_levels += (cur - target) as u64;
                self.backjump(target);
                let proof = self.proofs.len() as u32;
                self.proofs.push(ante);
                self.stats.learned += 1;
                let assert_lit = learnt[0];
                let cid = self.clauses.len() as u32;
                let start = self.lits.len() as u32;
                self.lits.extend_from_slice(&learnt);
                let w = [start, if learnt.len() > 1 { start + 1 } else { start }];
                self.clauses.push(Clause {
                    start,
                    len: learnt.len() as u32,
                    w,
                    origin: Origin::Learned(proof),
                    cand: 0,
                    hint: 0,
                    target: NONE,
                    next: [NONE, NONE],
                });
                self.watch(cid, 0);
                if learnt.len() > 1 {
                    self.watch(cid, 1);
                }
                self.assign(assert_lit, Reason::Clause(cid));
                continue;
            }
            match self.decide() {
                None => return true,
                Some(l) => {
                    self.stats.decisions += 1;
                    self.trail_lim.push(self.trail.len() as u32);
                    self.active_lim.push(self.active.len() as u32);
                    self.assign(l, Reason::None);
                }
            }
        }
    }

    fn final_conflict(&mut self, c: Conflict) {
        let mut ante = vec![Self::conflict_ante(c)];
        let mut buf = Vec::new();
        self.conflict_lits(c, &mut buf);
        for l in buf {
            ante.push(Ante::Zero(var(l)));
        }
        self.final_proof = ante;
    }

    // ---------------------------------------------------------------------------------
    // After a solution.

    pub fn is_true(&self, v: Var) -> bool {
        self.value[v as usize] == 1
    }

    /// The true candidates of an active clause (`clause` must be a requirement or ask).
    fn true_cands(&self, cid: u32) -> impl Iterator<Item = Var> + '_ {
        let c = &self.clauses[cid as usize];
        self.lits[(c.start + c.cand as u32) as usize..(c.start + c.len) as usize]
            .iter()
            .filter(|l| self.lit_value(**l) == 1)
            .map(|l| var(*l))
    }

    /// Drops components nothing needs any more (a requirement met twice over, or a release
    /// set true by a learned clause that no requirement asks for), so the solution has as
    /// few components as the search allows. Returns the kept flag of every variable.
    pub fn prune(&self) -> Vec<bool> {
        let nv = self.vars.len();
        let mut kept: Vec<bool> = (0..nv).map(|v| self.value[v] == 1).collect();
        let mut count = vec![0u32; self.active.len()];
        let mut support = vec![0u32; nv];
        for (i, &cid) in self.active.iter().enumerate() {
            for v in self.true_cands(cid) {
                count[i] += 1;
                support[v as usize] += 1;
            }
        }
        let orphan = (0..nv).any(|v| kept[v] && support[v] == 0 && !self.vars[v].external);
        if !orphan && count.iter().all(|c| *c <= 1) {
            return kept;
        }
        // Which active clauses each true var supports, and which each var owns.
        let mut supports: FxMap<Var, Vec<usize>> = FxMap::default();
        let mut owns: FxMap<Var, Vec<usize>> = FxMap::default();
        for (i, &cid) in self.active.iter().enumerate() {
            for v in self.true_cands(cid) {
                supports.entry(v).or_default().push(i);
            }
            if let Origin::Requires { var, .. } = self.clauses[cid as usize].origin {
                owns.entry(var).or_default().push(i);
            }
        }
        let mut dead = vec![false; self.active.len()];
        // By name, so the result does not depend on search order.
        let mut order: Vec<Var> = (0..nv as u32)
            .filter(|v| kept[*v as usize] && !self.vars[*v as usize].external)
            .collect();
        order.sort_by(|a, b| {
            self.names[self.vars[*a as usize].name as usize]
                .text
                .cmp(self.names[self.vars[*b as usize].name as usize].text)
        });
        let mut changed = true;
        while changed {
            changed = false;
            for &v in &order {
                if !kept[v as usize] {
                    continue;
                }
                let sup = supports.get(&v).map(|s| s.as_slice()).unwrap_or(&[]);
                if sup.iter().any(|&i| !dead[i] && count[i] <= 1) {
                    continue;
                }
                kept[v as usize] = false;
                changed = true;
                for &i in sup {
                    count[i] = count[i].saturating_sub(1);
                }
                for &i in owns.get(&v).map(|s| s.as_slice()).unwrap_or(&[]) {
                    dead[i] = true;
                }
            }
        }
        kept
    }

    /// Builds the resolution from the current (complete) assignment.
    pub fn extract(&mut self) -> Result<Resolution, Refusal> {
        let kept = self.prune();
        let mut chosen: Vec<Option<Chosen>> = Vec::new();
        let mut slot: Vec<u32> = vec![NONE; self.vars.len()];
        let mut external = BTreeMap::new();
        for v in 0..self.vars.len() as u32 {
            if !kept[v as usize] {
                continue;
            }
            let vd = &self.vars[v as usize];
            let nd = &self.names[vd.name as usize];
            if vd.external {
                external.insert(nd.text.to_string(), self.versions[v as usize].clone());
                continue;
            }
            slot[v as usize] = chosen.len() as u32;
            chosen.push(Some(Chosen {
                version: self.versions[v as usize].clone(),
                release_index: vd.rel as usize,
                stage: nd.stage,
                why: Vec::new(),
            }));
        }
        // Why each is there, and the dependency edges among staged components.
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let active = std::mem::take(&mut self.active);
        for &cid in &active {
            let origin = self.clauses[cid as usize].origin;
            if let Origin::Requires { var, .. } = origin {
                if !kept[var as usize] {
                    continue;
                }
            }
            let cands: Vec<Var> = self.true_cands(cid).filter(|v| kept[*v as usize]).collect();
            if cands.is_empty() {
                continue;
            }
            // The parts shared by every candidate of this clause.
            let (template, via) = match origin {
                Origin::Ask(i) => {
                    let a = &self.asks[i as usize];
                    let range = a.range.to_text();
                    let location = a.location.cloned();
                    let via = match &a.kind {
                        AskKind::Capability => Some(self.index[a.name]),
                        _ => None,
                    };
                    let w = match &a.kind {
                        AskKind::Component | AskKind::External => Why::Asked { range, location },
                        AskKind::Capability => Why::AskedCapability {
                            capability: a.name.to_string(),
                            range,
                            pick: Pick::Other,
                            location,
                        },
                        AskKind::Recommended { by, by_version } => Why::Recommended {
                            by: by.to_string(),
                            by_version: by_version.clone(),
                            via: a.name.to_string(),
                            range,
                            location,
                        },
                    };
                    (w, via)
                }
                Origin::Requires { var: o, edge } => {
                    let d = self.vars[o as usize].details as usize;
                    let e = &self.rels[d].edges[edge as usize];
                    let (via, range, location) = (e.name, e.range.to_text(), e.location.cloned());
                    let owner = self.vars[o as usize].name;
                    let by = self.names[owner as usize].text;
                    if self.names[owner as usize].stage.is_some() {
                        for &c in &cands {
                            let cn = self.vars[c as usize].name as usize;
                            if self.names[cn].stage.is_some() {
                                deps.entry(by.to_string())
                                    .or_default()
                                    .insert(self.names[cn].text.to_string());
                            }
                        }
                    }
                    let w = Why::Required {
                        by: by.to_string(),
                        by_version: self.versions[o as usize].clone(),
                        via: self.names[via as usize].text.to_string(),
                        range,
                        pick: Pick::Other,
                        location,
                    };
                    (w, Some(via))
                }
                _ => continue,
            };
            let last = cands.len() - 1;
            let mut template = Some(template);
            for (ci, c) in cands.into_iter().enumerate() {
                let i = slot[c as usize];
                if i == NONE {
                    continue;
                }
                let i = i as usize;
                let mut w = if ci == last {
                    template.take().expect("moved once, last")
                } else {
                    template.clone().expect("present until last")
                };
                if let Some(via) = via {
                    let cname = self.names[self.vars[c as usize].name as usize].text;
                    let p = self.pick(via, cname);
                    match &mut w {
                        Why::Required { pick, .. } | Why::AskedCapability { pick, .. } => *pick = p,
                        _ => {}
                    }
                }
                if let Some(ch) = &mut chosen[i] {
                    ch.why.push(w);
                }
            }
        }
        self.active = active;
        let mut components: BTreeMap<String, Chosen> = BTreeMap::new();
        for v in 0..self.vars.len() as u32 {
            let i = slot[v as usize];
            if i != NONE {
                if let Some(mut ch) = chosen[i as usize].take() {
                    if ch.why.len() > 1 {
                        ch.why.sort();
                        ch.why.dedup();
                    }
                    let name = self.names[self.vars[v as usize].name as usize].text;
                    components.insert(name.to_string(), ch);
                }
            }
        }
        let start = crate::order::start_order(&components, &deps)?;
        Ok(Resolution {
            components,
            external,
            start,
            stats: self.stats,
        })
    }

    fn pick(&mut self, via: u32, chosen: &str) -> Pick {
        let via_text = self.names[via as usize].text;
        if via_text == chosen {
            return Pick::Other;
        }
        if self
            .req
            .prefer
            .get(via_text)
            .is_some_and(|p| p.value == chosen)
        {
            return Pick::Preferred;
        }
        if self.cap(via).and_then(|c| c.default) == Some(chosen) {
            return Pick::Default;
        }
        Pick::Other
    }

    /// Checks every name the request uses (loading what it names, as the search would).
    fn check_names(&mut self) -> Result<(), Refusal> {
        let req = self.req;
        let mut items: Vec<(&'a str, Section, Option<&'a Location>)> = Vec::new();
        items.extend(
            req.components
                .iter()
                .map(|(n, a)| (n.as_str(), Section::Components, a.location.as_ref())),
        );
        items.extend(
            req.capabilities
                .iter()
                .map(|(n, a)| (n.as_str(), Section::Capabilities, a.location.as_ref())),
        );
        for (n, v) in &req.prefer {
            items.push((n.as_str(), Section::PreferKey, v.location.as_ref()));
            items.push((v.value.as_str(), Section::PreferValue, v.location.as_ref()));
        }
        items.extend(
            req.external
                .iter()
                .map(|(n, v)| (n.as_str(), Section::External, v.location.as_ref())),
        );
        items.extend(
            req.exclude
                .iter()
                .map(|(n, l)| (n.as_str(), Section::Exclude, l.as_ref())),
        );
        let mut unknown = Vec::new();
        let mut ids: Option<Vec<&str>> = None;
        let mut caps: Option<Vec<&str>> = None;
        for (name, section, location) in items {
            let n = self.intern(name);
            let want_cap = section.wants_capability();
            let is_cap = |s: &mut Self| s.cap(n).is_some();
            let is_comp = |s: &mut Self| {
                s.load(n);
                s.names[n as usize].exists
            };
            if (want_cap && is_cap(self)) || (!want_cap && is_comp(self)) {
                continue;
            }
            let other_kind = if want_cap {
                is_comp(self)
            } else {
                is_cap(self)
            };
            let p = self.p;
            let pool = if want_cap {
                caps.get_or_insert_with(|| p.capability_names())
            } else {
                ids.get_or_insert_with(|| p.component_ids())
            };
            unknown.push(UnknownName {
                name: name.to_string(),
                section,
                location: location.cloned(),
                suggestion: did_you_mean(name, pool.iter().copied()).map(str::to_string),
                other_kind,
            });
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Unknown(unknown))
        }
    }

    /// The first `recommends` edge of a chosen release that the solution does not meet
    /// and that was not tried yet, in a stable order.
    pub fn next_recommendation(
        &mut self,
        tried: &BTreeSet<(String, String)>,
    ) -> Option<AskData<'a>> {
        let mut chosen: Vec<Var> = (0..self.vars.len() as u32)
            .filter(|v| self.is_true(*v))
            .collect();
        chosen.sort_by(|a, b| {
            self.names[self.vars[*a as usize].name as usize]
                .text
                .cmp(self.names[self.vars[*b as usize].name as usize].text)
        });
        for v in chosen {
            if self.vars[v as usize].external {
                continue;
            }
            let d = self.details(v) as usize;
            for ei in 0..self.rels[d].edges.len() {
                let e = &self.rels[d].edges[ei];
                if e.kind != DepKind::Recommends {
                    continue;
                }
                let by = self.names[self.vars[v as usize].name as usize].text;
                let key = (by.to_string(), self.names[e.name as usize].text.to_string());
                if tried.contains(&key) {
                    continue;
                }
                let (n, range, location) = (e.name, e.range.clone(), e.location);
                let met = {
                    self.load(n);
                    let mut all: Vec<Var> = self.vars_of(n).collect();
                    for q in self.providers(n) {
                        self.load(q);
                        all.extend(self.vars_of(q));
                    }
                    all.into_iter()
                        .filter(|u| self.is_true(*u))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .any(|u| self.release_matches(u, n, &range))
                };
                if met {
                    continue;
                }
                return Some(AskData {
                    kind: AskKind::Recommended {
                        by,
                        by_version: self.versions[v as usize].clone(),
                    },
                    name: self.names[n as usize].text,
                    range,
                    location,
                });
            }
        }
        None
    }
}

pub(crate) fn resolve<P: Provider + ?Sized>(p: &P, req: &Request) -> Result<Resolution, Refusal> {
    let mut soft: Vec<AskData<'_>> = Vec::new();
    let mut s = Solver::new(p, req, &soft);
    s.check_names()?;
    if !s.solve() {
        return Err(Refusal::Unsatisfiable(crate::explain::explain(&mut s)));
    }
    let mut stats = s.stats;
    if req.recommends {
        let mut tried = BTreeSet::new();
        while let Some(rec) = s.next_recommendation(&tried) {
            if let AskKind::Recommended { by, .. } = &rec.kind {
                tried.insert((by.to_string(), rec.name.to_string()));
            }
            soft.push(rec);
            let mut s2 = Solver::new(p, req, &soft);
            let ok = s2.solve();
            add_stats(&mut stats, &s2.stats);
            if ok {
                s = s2;
            } else {
                soft.pop();
            }
        }
    }
    s.stats = stats;
    s.extract()
}

fn add_stats(a: &mut Stats, b: &Stats) {
    a.decisions += b.decisions;
    a.propagations += b.propagations;
    a.conflicts += b.conflicts;
    a.learned += b.learned;
    a.components_loaded += b.components_loaded;
    a.releases_loaded += b.releases_loaded;
    a.searches += b.searches;
    a.undone += b.undone;
    a.learned_lits += b.learned_lits;
    a.backjumped_levels += b.backjumped_levels;
}
