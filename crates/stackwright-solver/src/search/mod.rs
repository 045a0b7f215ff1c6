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

use std::collections::BTreeSet;

use semver::Version;

use crate::intern::FxMap;
use crate::provider::{Provider, Range, ReleaseDetails};
use crate::refusal::Refusal;
use crate::request::Request;
use crate::resolution::{Resolution, Stats};

mod asks;
mod candidates;
mod clauses;
mod decisions;
mod extract;
mod fewest;
mod learn;
mod literal;
mod policy;
mod propagate;
mod recommend;
mod universe;

pub(crate) use asks::{AskData, AskKind};
pub(crate) use clauses::{Clause, Group, Origin, RuleKey, PKG_GROUP};
pub(crate) use decisions::Reason;
pub(crate) use learn::{Ante, Conflict};
pub(crate) use literal::{is_neg, neg, plain_vkey, pos, var, vkey, Lit, Var, NONE};
pub(crate) use universe::{EdgeData, Forbid, NameData, RelData, RelExtra, VarData};

/// Initial capacities: enough for a real registry's resolution without regrowing.
const NAMES: usize = 128;
const SLOTS: usize = 512;
const VARS: usize = 256;
const LEVELS: usize = 64;

/// Backjumps longer than this many levels backtrack chronologically instead.
const CHRONO_THRESHOLD: u32 = 0;

pub(crate) struct Solver<'a, P: Provider + ?Sized> {
    pub p: &'a P,
    pub req: &'a Request,
    pub asks: Vec<AskData<'a>>,
    pub index: FxMap<&'a str, u32>,
    /// Where a name's text lives → its index (see `intern`).
    pub by_address: FxMap<usize, u32>,
    pub names: Vec<NameData<'a>>,
    /// Per slot (every release of every loaded component, see `NameData::first`): its
    /// version, why it is ruled out up front, and its variable (`NONE` until made).
    pub slot_version: Vec<&'a Version>,
    pub slot_forbid: Vec<Forbid>,
    pub slot_var: Vec<Var>,
    /// The release index of each slot of a component the provider did not list in
    /// order (`Listed::Sorted`).
    pub slot_rel: FxMap<u32, u32>,
    /// Per variable (see `VarData`); variables are made only for releases that are
    /// candidates somewhere (`var_at`), the search's state below is per variable.
    pub vars: Vec<VarData>,
    pub versions: Vec<&'a Version>,
    pub rels: Vec<RelData<'a>>,
    pub rel_extra: Vec<RelExtra<'a>>,
    /// Declared capabilities asked of the provider so far (see `NameData::cap_loaded`).
    pub caps: FxMap<u32, crate::provider::CapabilityInfo<'a>>,
    /// Provider lists (see `NameData::providers`); 0 is the empty list.
    pub provider_lists: Vec<Vec<u32>>,
    /// Every loaded release's edges, one release after another (see `RelData`).
    pub edges: Vec<EdgeData<'a>>,
    /// Whether any loaded release has a `recommends` edge (else none is tried).
    pub any_recommends: bool,
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
    /// Whether learned clauses keep the antecedents they came from (`proofs`). Only a
    /// refusal reads them (to explain it); the searches that try a recommendation, whose
    /// refusals are never explained, run without.
    pub record: bool,
    pub trail: Vec<Lit>,
    pub trail_lim: Vec<u32>,
    pub qhead: usize,
    pub active: Vec<u32>,
    pub active_lim: Vec<u32>,
    pub scan: usize,
    pub seen: Vec<bool>,
    pub final_proof: Vec<Ante>,
    pub stats: Stats,
    /// When set, the only rules the search uses (see `RuleKey`).
    pub allow: Option<BTreeSet<RuleKey<'a>>>,
    /// The component bound of an optimising search (see `fewest`); `None` in the others.
    pub bound: Option<fewest::Bound<'a>>,
    /// How many releases (not `[external]` ones) are true: the components chosen so far.
    pub chosen_count: u32,
    /// Per name, marks for the bound's check (all false between uses).
    scratch_names: Vec<bool>,
    /// The names marked in `scratch_names`, and the requirements the bound's check took.
    scratch_marked: Vec<u32>,
    scratch_taken: Vec<u32>,
    buf: ReleaseDetails<'a>,
    kernel_name: u32,
    pending: Vec<(u32, Option<Result<Lit, ()>>)>,
    scratch: Vec<Lit>,
    /// `analyze`'s literal buffer and the variables it marked, kept between conflicts.
    analyze_buf: Vec<Lit>,
    analyze_clear: Vec<Var>,
    activity: Vec<f64>,
    hot: Vec<bool>,
    hot_active: Vec<u32>,
    bump_inc: f64,
}

static STAR: semver::VersionReq = semver::VersionReq::STAR;

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    pub fn new(p: &'a P, req: &'a Request, soft: &[AskData<'a>]) -> Self {
        let mut asks = Vec::with_capacity(
            req.components.len()
                + req.capabilities.len()
                + req.bootable.len()
                + req.external.len()
                + soft.len(),
        );
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
        for name in &req.bootable {
            asks.push(AskData {
                kind: AskKind::Bootable,
                name,
                range: Range::Req(&STAR),
                location: None,
            });
        }
        for (name, v) in &req.external {
            asks.push(AskData {
                kind: AskKind::External,
                name,
                range: Range::Between {
                    min: Some(&v.value),
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
            by_address: FxMap::with_capacity_and_hasher(NAMES, Default::default()),
            names: Vec::with_capacity(NAMES),
            slot_version: Vec::with_capacity(SLOTS),
            slot_forbid: Vec::with_capacity(SLOTS),
            slot_var: Vec::with_capacity(SLOTS),
            slot_rel: FxMap::default(),
            vars: Vec::with_capacity(VARS),
            versions: Vec::with_capacity(VARS),
            rels: Vec::with_capacity(NAMES),
            rel_extra: Vec::new(),
            caps: FxMap::default(),
            provider_lists: vec![Vec::new()],
            edges: Vec::with_capacity(4 * NAMES),
            any_recommends: false,
            value: Vec::with_capacity(VARS),
            level: Vec::with_capacity(VARS),
            reason: Vec::with_capacity(VARS),
            var_groups: FxMap::default(),
            groups: Vec::new(),
            lits: Vec::with_capacity(4 * VARS),
            clauses: Vec::with_capacity(NAMES),
            watch_head: Vec::with_capacity(2 * VARS),
            proofs: Vec::new(),
            record: true,
            trail: Vec::with_capacity(VARS),
            trail_lim: Vec::with_capacity(LEVELS),
            qhead: 0,
            active: Vec::with_capacity(NAMES),
            active_lim: Vec::with_capacity(LEVELS),
            scan: 0,
            seen: Vec::with_capacity(VARS),
            final_proof: Vec::new(),
            stats: Stats::default(),
            allow: None,
            bound: None,
            chosen_count: 0,
            scratch_names: Vec::new(),
            scratch_marked: Vec::new(),
            scratch_taken: Vec::new(),
            buf: ReleaseDetails::default(),
            kernel_name: 0,
            pending: Vec::with_capacity(16),
            scratch: Vec::with_capacity(16),
            analyze_buf: Vec::new(),
            analyze_clear: Vec::new(),
            activity: Vec::with_capacity(NAMES),
            hot: Vec::with_capacity(NAMES),
            hot_active: Vec::new(),
            bump_inc: 1.0,
        };
        s.kernel_name = s.intern(crate::KERNEL_CAPABILITY);
        s
    }
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// Runs the search. `true`: a solution is assigned. `false`: refused; `final_proof`
    /// holds the antecedents of the level-0 conflict.
    pub(crate) fn solve(&mut self) -> bool {
        self.stats.searches += 1;
        // What the request asks, at level 0.
        let mut pending = Vec::with_capacity(self.asks.len());
        let mut lits = std::mem::take(&mut self.scratch);
        for i in 0..self.asks.len() {
            let pinned = matches!(self.asks[i].kind, AskKind::External);
            if !pinned && !self.allowed(&RuleKey::Ask(i as u32)) {
                continue;
            }
            let name = self.intern(self.asks[i].name);
            let range = self.asks[i].range.clone();
            lits.clear();
            match self.asks[i].kind {
                AskKind::External => {
                    // The pinned release: the only one not ruled out.
                    self.load(name);
                    for slot in self.slots_of(name) {
                        if self.slot_forbid[slot as usize] == Forbid::No {
                            lits.push(pos(self.var_at(name, slot)));
                        }
                    }
                }
                _ => self.matching_lits(name, &range, &mut lits),
            }
            let r = self.add_clause(&lits, Origin::Ask(i as u32), 0);
            self.set_target(r.0, name);
            self.active.push(r.0);
            pending.push(r);
        }
        self.scratch = lits;
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
        self.search()
    }

    /// The search from the current assignment on (see `solve`; `fewest` calls it again
    /// after tightening the bound).
    pub(crate) fn search(&mut self) -> bool {
        loop {
            let conflict = match self.propagate() {
                None if self.bound.is_some() => match self.bound_conflict() {
                    Ok(c) => c,
                    Err(fewest::OutOfBudget) => return false,
                },
                c => c,
            };
            if let Some(c) = conflict {
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
                if self.record {
                    self.proofs.push(ante);
                }
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
                    pref: 0,
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
}

pub(crate) fn resolve<P: Provider + ?Sized>(p: &P, req: &Request) -> Result<Resolution, Refusal> {
    let mut soft: Vec<AskData<'_>> = Vec::new();
    let mut s = Solver::new(p, req, &soft);
    s.check_names()?;
    if !s.solve() {
        if let Some(refusal) = policy::privileged_refusal(p, req, &s) {
            return Err(refusal);
        }
        let mut s = crate::explain::minimise(p, req, s);
        return Err(Refusal::Unsatisfiable(crate::explain::explain(&mut s)));
    }
    if req.recommends && s.any_recommends {
        s = recommend::recommendations(p, req, s, &mut soft);
    }
    let (mut s, kept) = fewest::fewest(&soft, s);
    s.extract_kept(kept)
}
