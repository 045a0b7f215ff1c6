//! The fewest components, as a proven optimum (SPEC §4's third criterion).
//!
//! SPEC §4 ranks the solutions by the user's `prefer`, then the capability's default
//! provider, then the fewest components, then the newest versions. The first search meets
//! the first two greedily (a requirement's candidates come in that order, see
//! `candidates`) and the last by the order it tries versions in; this module makes the
//! third exact.
//!
//! **The order, exactly.** A requirement on a name (something the request asks, or a
//! `requires` edge of a chosen release) has a *first choice* when the user's `prefer`
//! names a provider with an allowed release meeting it (then those releases), or else the
//! name's default provider has one (then those). A solution *leaves* a capability when one
//! of its requirements on it has a first choice and none of those releases is chosen. For
//! the answer `S` and any other solution `T`: if `T` leaves no capability `S` keeps
//! (`left(T) ⊆ left(S)`, i.e. `T` is at least as good on the first two criteria), then
//! `T` has at least as many components as `S`. `[external]` entries are not counted.
//! Only solutions `T` that keep what ranks above everything are compared: a component the
//! lockfile names and the first answer chose at its locked version stays at it, and so
//! does a component whose recommendation was accepted (the recommended name is asked
//! for, like the request's own asks).
//! Among the solutions with that fewest count, the answer is the one the search reaches
//! first in its usual order (first requirement, first candidate: prefer, default, by
//! name, newest first), so ties are broken as before and the answer is deterministic.
//!
//! **How.** After the first answer (`n` components), a lower bound is computed (the
//! components every solution has: what the request names, and what every allowed release
//! of one of those requires by name when nothing else provides it). While `n` is above it,
//! the search goes on with "at most `n - 1` components" and with every requirement on a
//! capability `S` keeps limited to its first choice. A solution gives a new, smaller `n`;
//! a refusal proves `n` the fewest. The bound is a native constraint of the search: the
//! number of true releases is kept as they are assigned (`Solver::chosen_count`); once it
//! reaches the bound, a requirement no true release meets is a conflict, explained by the
//! clause "not all of these true releases, or one of the requirement's false candidates"
//! (implied by the requirement and the bound), which the usual 1-UIP learning takes from
//! there.
//!
//! **One solver.** The bounded searches are the first search carried on, not new ones,
//! with what it had: variables, clauses, the provider's answers, learned clauses,
//! activities. A clause learned under a bound holds under every tighter one, and the bound
//! only tightens. When a solution is found, the bound drops below it and the search goes
//! on from that very assignment: the bound's check finds it over the bound and learning
//! backs out of it as far as that takes (a restart from level 0 would only make the same
//! decisions again). Only when the first answer kept a first choice or a locked version
//! does it start over from level 0: the requirements whose first choice it kept are cut to
//! that first choice (their candidates come in preference order, so the cut clause is a
//! prefix of the old one, and every clause learned from the old one still follows), the
//! clauses are watched again, and the locked releases set. The best answer so far is kept
//! as the values and active requirements `extract` reads (with the first answer's clause
//! lengths), and put back at the end.
//!
//! **Cost.** Proving an optimum is NP-hard in general, so the bounded searches together
//! may spend a quarter of the propagations of the searches before them, and at least
//! `BUDGET_FLOOR`; the literals of the clauses the bound's check makes count as
//! propagations (on a large answer each is as long as the answer). When they run out, the
//! smallest answer found is returned and `Stats::fewest_proven` says it is not proven
//! (the synthetic universes of `cargo xtask bench` are such cases; `cargo xtask bench
//! --stats` prints the counters). A search carried on from the answer whose budget is less
//! than `HOPELESS` (2) bound clauses over the whole answer is not started at all: its first
//! step would spend half the budget or more on that one clause (the W=2 bench universes,
//! whose first search is nearly conflict-free and whose answer is large next to it, spent
//! up to 15 % of a resolution there and never found a smaller answer).

use std::collections::BTreeSet;

use semver::Version;
use stackwright_types::manifest::DepKind;

use crate::provider::Provider;

use super::{
    is_neg, neg, pos, var, AskData, AskKind, Conflict, Forbid, Origin, Reason, Solver, Var, NONE,
};

/// The bounded searches may spend a quarter of the propagations of the searches before
/// them (the extra cost of an answer that is not proven: at most a quarter again)...
const BUDGET_DIVISOR: u64 = 4;
/// ... and at least this many. Every example assembly is proven by the lower bound alone
/// (no bounded search: `cargo xtask bench registry --stats`); the tiny registries of the
/// property test need up to about 50 (at 25 some are not proven).
const BUDGET_FLOOR: u64 = 100;

/// A bounded search carried on from the answer is not started when its budget is less than
/// this many times the answer's component count (see `fewest`).
const HOPELESS: u64 = 2;

/// The bound of an optimising search.
pub(crate) struct Bound<'a> {
    /// At most this many components.
    pub max: u32,
    /// The capabilities the first answer leaves (see the module doc): their requirements
    /// keep every candidate. Every other capability's requirements keep only their first
    /// choice.
    pub free: BTreeSet<&'a str>,
    /// Work (propagations, and the literals of the clauses the bound's check made) after
    /// which the search gives up.
    pub limit: u64,
    /// The literals of the clauses the bound's check made so far.
    pub clause_work: u64,
}

/// A bounded search ran out of its budget.
#[derive(Debug)]
pub(crate) struct OutOfBudget;

/// What `extract` reads of a solution: the values and the active requirements, and the
/// lengths of the clauses shortened since (see `first_choice_cuts`), to be restored; and
/// what pruning kept of it (so `extract` need not prune it again).
struct Snapshot {
    value: Vec<i8>,
    active: Vec<u32>,
    lens: Vec<(u32, u32)>,
    kept: Vec<bool>,
}

/// Turns the solved search `s` into one whose answer has the fewest components (see the
/// module doc). `soft` are the recommendations accepted so far, asked like the request.
/// The bounded searches run in `s` itself, one after another: the clauses, the variables,
/// what the provider answered and the clauses learned stay (each is implied by the rules
/// and a bound at least as loose as the next one, the bound only ever tightening).
/// Returns the solver with the answer assigned, and what pruning keeps of that answer
/// (`prune`'s flags, for `extract_kept`).
pub(crate) fn fewest<'a, P: Provider + ?Sized>(
    soft: &[AskData<'a>],
    mut s: Solver<'a, P>,
) -> (Solver<'a, P>, Vec<bool>) {
    let kept = s.prune();
    let mut count = s.components_in(&kept);
    let lower = s.lower_bound();
    if count <= lower {
        s.stats.fewest_proven = true;
        return (s, kept);
    }
    // What stays chosen, at its version: what the lockfile kept, and the components whose
    // recommendations were accepted (the recommended ones are asked for).
    let mut locks: Vec<(&'a str, &Version)> = s.kept_locks(&kept);
    locks.extend(recommenders(soft));
    let budget = BUDGET_FLOOR.max(s.stats.propagations / BUDGET_DIVISOR);
    let limit = s.stats.propagations + budget;
    if locks.is_empty() && budget < HOPELESS * u64::from(count) && !s.any_first_choice() {
        // The test below, without working out the capabilities left and the cuts: with
        // no first choice anywhere there is nothing to cut.
        s.stats.fewest_proven = false;
        return (s, kept);
    }
    let free = s.left_capabilities(&kept);
    s.bound = Some(Bound {
        max: count - 1,
        free,
        limit,
        clause_work: 0,
    });
    let cuts = s.first_choice_cuts();
    if cuts.is_empty() && locks.is_empty() && budget < HOPELESS * u64::from(count) {
        // Carried on from the answer, the search's first step is the bound's conflict
        // over the whole answer, a clause of `count` literals paid from the budget: a
        // budget that cannot pay for a few of those cannot refute the bound nor, in
        // practice, find a smaller answer. The answer stands, not proven.
        s.bound = None;
        s.stats.fewest_proven = false;
        return (s, kept);
    }
    let mut best = Snapshot {
        value: s.value.clone(),
        active: s.active.clone(),
        lens: Vec::new(),
        kept,
    };
    // The answer stands: the proofs of its learned clauses are read only to explain a
    // refusal, and the bounded searches are never explained.
    s.record = false;
    s.proofs = Vec::new();
    let mut proven = None;
    if !cuts.is_empty() || !locks.is_empty() {
        // Clauses cut under their watches and units to set: from level 0.
        s.backjump(0);
        for &(cid, len) in &cuts {
            best.lens.push((cid, s.clauses[cid as usize].len));
            s.clauses[cid as usize].len = len;
        }
        if !cuts.is_empty() && !s.rewatch() {
            // A clause is already false at level 0: no answer keeps those preferences
            // with fewer components.
            proven = Some(true);
        }
        s.keep_chosen(&locks);
    }
    // Otherwise the search goes on from the answer itself: the bound's check finds it
    // over the bound, and learning backs out of it as far as that takes.
    let proven = proven.unwrap_or_else(|| loop {
        s.stats.searches += 1;
        s.stats.fewest_searches += 1;
        if !s.search() {
            break !s.out_of_budget();
        }
        let kept = s.prune();
        count = s.components_in(&kept);
        best = Snapshot {
            value: s.value.clone(),
            active: s.active.clone(),
            lens: Vec::new(),
            kept,
        };
        if count <= lower {
            break true;
        }
        if let Some(b) = s.bound.as_mut() {
            b.max = count - 1;
        }
    });
    s.stats.fewest_proven = proven;
    // Back to the best answer, as `extract` reads it.
    s.value = best.value;
    s.value.resize(s.vars.len(), 0);
    s.active = best.active;
    for (cid, len) in best.lens {
        s.clauses[cid as usize].len = len;
    }
    // Variables made since are unassigned in it, so not kept.
    let mut kept = best.kept;
    kept.resize(s.vars.len(), false);
    (s, kept)
}

/// The components (and versions) whose recommendations `soft` asks for.
pub(crate) fn recommenders<'s, 'a>(soft: &'s [AskData<'a>]) -> Vec<(&'a str, &'s Version)> {
    soft.iter()
        .filter_map(|a| match &a.kind {
            AskKind::Recommended { by, by_version } => Some((*by, by_version)),
            _ => None,
        })
        .collect()
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// How many components (releases that are not `[external]` ones) `kept` holds.
    fn components_in(&self, kept: &[bool]) -> u32 {
        (0..self.vars.len())
            .filter(|&v| kept[v] && !self.vars[v].external)
            .count() as u32
    }

    /// The components `kept` holds at the version the lockfile gives.
    fn kept_locks(&self, kept: &[bool]) -> Vec<(&'a str, &'a Version)> {
        if self.req.locked.is_empty() {
            return Vec::new();
        }
        (0..self.vars.len())
            .filter(|&v| kept[v])
            .filter_map(|v| {
                let text = self.names[self.vars[v].name as usize].text;
                let version = self.versions[v];
                (self.req.locked.get(text) == Some(version)).then_some((text, version))
            })
            .collect()
    }

    /// Sets the releases of `locks` true at level 0, before the search: a bounded search
    /// keeps what the lockfile kept in the first answer, and the recommenders of accepted
    /// recommendations (see the module doc).
    pub(crate) fn keep_chosen(&mut self, locks: &[(&'a str, &Version)]) {
        for &(text, version) in locks {
            let n = self.intern(text);
            self.load(n);
            let Some(slot) = self.slots_of(n).find(|&i| {
                *self.slot_version[i as usize] == *version
                    && self.slot_forbid[i as usize] == Forbid::No
            }) else {
                continue;
            };
            let v = self.var_at(n, slot);
            if self.value[v as usize] == 0 {
                let (cid, _) = self.add_clause(&[pos(v)], Origin::Learned(NONE), 0);
                self.assign(pos(v), Reason::Clause(cid));
            }
        }
    }

    /// Whether any requirement can have a first choice (a `[prefer]`red or default
    /// provider) to cut to: never without a `[prefer]` entry or a declared capability
    /// with a default. Every requirement with candidates of more than one component (the
    /// only kind a cut shortens) has its name's capability loaded already: `matching`
    /// asks for it when it makes the list.
    fn any_first_choice(&self) -> bool {
        !self.req.prefer.is_empty() || self.caps.values().any(|c| c.default.is_some())
    }

    /// Every requirement (and ask) on a name whose first choice the first answer kept,
    /// with the length that keeps only that first choice, as `matching` makes them once
    /// the bound is set (see `keeps_preference`). Its candidates come in preference order,
    /// the first choice leading, so the cut clause is a prefix of the old one and implies
    /// it: what was learned from the old one stays true.
    fn first_choice_cuts(&mut self) -> Vec<(u32, u32)> {
        let mut cuts = Vec::new();
        for cid in 0..self.clauses.len() as u32 {
            let c = &self.clauses[cid as usize];
            match c.origin {
                Origin::Requires { .. } => {}
                Origin::Ask(a) if !matches!(self.asks[a as usize].kind, AskKind::External) => {}
                _ => continue,
            }
            let (target, start, cand, len) = (c.target, c.start, c.cand as u32, c.len);
            if target == NONE || len <= cand + 1 || !self.keeps_preference(target) {
                continue;
            }
            let from = (start + cand) as usize;
            let first = self.vars[var(self.lits[from]) as usize].name;
            let first_text = self.names[first as usize].text;
            let target_text = self.names[target as usize].text;
            let preferred = self.req.prefer.get(target_text).map(|p| p.value.as_str());
            let first_choice = preferred == Some(first_text)
                || self.cap(target).and_then(|ci| ci.default) == Some(first_text);
            if !first_choice {
                continue;
            }
            let k = self.lits[from..(start + len) as usize]
                .iter()
                .take_while(|l| self.vars[var(**l) as usize].name == first)
                .count() as u32;
            if cand + k < len {
                cuts.push((cid, cand + k));
            }
        }
        cuts
    }

    /// Watches every clause again from scratch, at level 0 (after `first_choice_cuts`
    /// moved clause ends under their watches), assigning the clauses that are units now.
    /// `false`: a clause is false at level 0.
    fn rewatch(&mut self) -> bool {
        debug_assert_eq!(self.decision_level(), 0);
        self.watch_head.fill(NONE);
        for cid in 0..self.clauses.len() as u32 {
            let c = &self.clauses[cid as usize];
            let (start, len) = (c.start, c.len);
            let mut best: [(i32, u32); 2] = [(i32::MIN, NONE), (i32::MIN, NONE)];
            for p in start..start + len {
                let score = match self.lit_value(self.lits[p as usize]) {
                    1 => 2,
                    0 => 1,
                    _ => 0,
                };
                if score > best[0].0 {
                    best[1] = best[0];
                    best[0] = (score, p);
                } else if score > best[1].0 {
                    best[1] = (score, p);
                }
            }
            if best[0].1 == NONE {
                return false;
            }
            let w1 = if best[1].1 == NONE {
                best[0].1
            } else {
                best[1].1
            };
            let c = &mut self.clauses[cid as usize];
            c.w = [best[0].1, w1];
            c.next = [NONE, NONE];
            self.watch(cid, 0);
            if w1 != best[0].1 {
                self.watch(cid, 1);
            }
            match (best[0].0, best[1].0) {
                (2, _) | (1, 1) => {}
                (1, _) => {
                    let l = self.lits[best[0].1 as usize];
                    self.assign(l, Reason::Clause(cid));
                }
                _ => return false,
            }
        }
        true
    }

    /// Whether the bounded search spent its budget.
    fn out_of_budget(&self) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|b| self.stats.propagations + b.clause_work > b.limit)
    }

    /// Whether requirements on `n` keep only their first choice in this search.
    pub(crate) fn keeps_preference(&self, n: u32) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|b| !b.free.contains(self.names[n as usize].text))
    }

    /// The bound's check, once propagation is done. Requirements no true release meets
    /// each need a component not chosen yet; those whose open candidates are of disjoint
    /// components need that many different ones. When the components chosen plus those
    /// are more than the bound, that is a conflict, explained by the clause "not all of
    /// these true releases, or one of those requirements' false candidates" (implied by the
    /// requirements, the one-release-per-component groups and the bound).
    pub(crate) fn bound_conflict(&mut self) -> Result<Option<Conflict>, OutOfBudget> {
        let Some(b) = self.bound.as_ref() else {
            return Ok(None);
        };
        if self.out_of_budget() {
            return Err(OutOfBudget);
        }
        let max = b.max;
        let mut taken_list = std::mem::take(&mut self.scratch_taken);
        taken_list.clear();
        if self.chosen_count <= max {
            let room = max - self.chosen_count;
            // Requirements before `scan` are met (see `decide`).
            let from = self.scan.min(self.active.len());
            if self.active.len() - from <= room as usize {
                // Even if none of them is met, they cannot need more than the room left.
                self.scratch_taken = taken_list;
                return Ok(None);
            }
            let mut used = std::mem::take(&mut self.scratch_names);
            used.resize(self.names.len(), false);
            let mut marked = std::mem::take(&mut self.scratch_marked);
            marked.clear();
            for i in from..self.active.len() {
                let cid = self.active[i];
                let c = &self.clauses[cid as usize];
                let cands =
                    &self.lits[(c.start + c.cand as u32) as usize..(c.start + c.len) as usize];
                let mut met = false;
                let mut disjoint = true;
                for l in cands {
                    match self.lit_value(*l) {
                        1 => {
                            met = true;
                            break;
                        }
                        0 if used[self.vars[var(*l) as usize].name as usize] => disjoint = false,
                        _ => {}
                    }
                }
                if met || !disjoint {
                    continue;
                }
                for l in cands {
                    if self.lit_value(*l) == 0 {
                        let n = self.vars[var(*l) as usize].name;
                        if !used[n as usize] {
                            used[n as usize] = true;
                            marked.push(n);
                        }
                    }
                }
                taken_list.push(cid);
                if taken_list.len() > room as usize {
                    break;
                }
            }
            for &n in &marked {
                used[n as usize] = false;
            }
            self.scratch_names = used;
            self.scratch_marked = marked;
            if taken_list.len() <= room as usize {
                self.scratch_taken = taken_list;
                return Ok(None);
            }
        }
        // Not all of the true releases, or one of the taken requirements' false candidates.
        let mut lits = std::mem::take(&mut self.scratch);
        lits.clear();
        for &cid in &taken_list {
            let c = &self.clauses[cid as usize];
            let cands = &self.lits[(c.start + c.cand as u32) as usize..(c.start + c.len) as usize];
            lits.extend(cands.iter().filter(|l| self.lit_value(**l) == -1));
        }
        self.scratch_taken = taken_list;
        for &l in &self.trail {
            if !is_neg(l) && !self.vars[var(l) as usize].external {
                lits.push(neg(var(l)));
            }
        }
        if let Some(b) = self.bound.as_mut() {
            b.clause_work += lits.len() as u64;
        }
        // Implied (see above), never explained: no proof of its own.
        let (cid, status) = self.add_clause(&lits, Origin::Learned(NONE), 0);
        self.scratch = lits;
        debug_assert!(matches!(status, Some(Err(()))), "every literal is false");
        Ok(Some(Conflict::Clause(cid)))
    }

    /// Components every solution has: the components the request asks for (when nothing
    /// else provides them), and what a component of those with a single allowed release
    /// requires (again when nothing else provides it). Components with more releases are
    /// not followed: asking the provider about every release of each costs more than the
    /// searches the bound could save. `[external]` entries are not counted.
    fn lower_bound(&mut self) -> u32 {
        // Marks in `scratch_names` (all false between uses), the marked in `scratch_marked`.
        let mut seen = std::mem::take(&mut self.scratch_names);
        let mut marked = std::mem::take(&mut self.scratch_marked);
        marked.clear();
        marked.reserve(self.asks.len());
        seen.resize(self.names.len(), false);
        let mut work: Vec<u32> = Vec::with_capacity(self.asks.len());
        for i in 0..self.asks.len() {
            let a = &self.asks[i];
            if matches!(a.kind, AskKind::Component | AskKind::Recommended { .. }) {
                let n = self.intern(a.name);
                work.push(n);
            }
        }
        while let Some(n) = work.pop() {
            if !self.only_itself(n) {
                continue;
            }
            seen.resize(self.names.len(), false);
            if seen[n as usize] {
                continue;
            }
            seen[n as usize] = true;
            marked.push(n);
            let mut allowed = self
                .slots_of(n)
                .filter(|i| self.slot_forbid[*i as usize] == Forbid::No);
            let (Some(slot), None) = (allowed.next(), allowed.next()) else {
                continue;
            };
            let v = self.var_at(n, slot);
            if self.vars[v as usize].external {
                continue;
            }
            let d = self.details(v) as usize;
            work.extend(
                self.edges_of(d)
                    .iter()
                    .filter(|e| e.kind == DepKind::Requires)
                    .map(|e| e.name),
            );
        }
        let count = marked.len() as u32;
        for &n in &marked {
            seen[n as usize] = false;
        }
        self.scratch_names = seen;
        self.scratch_marked = marked;
        count
    }

    /// Whether `n` is a component, not `[external]`, that no other component provides.
    fn only_itself(&mut self, n: u32) -> bool {
        self.load(n);
        if !self.names[n as usize].exists
            || self.req.external.contains_key(self.names[n as usize].text)
        {
            return false;
        }
        self.providers(n).iter().all(|q| *q == n)
    }

    /// The capabilities the solution `kept` leaves (see the module doc).
    fn left_capabilities(&mut self, kept: &[bool]) -> BTreeSet<&'a str> {
        let mut free = BTreeSet::new();
        for i in 0..self.active.len() {
            let cid = self.active[i];
            let c = &self.clauses[cid as usize];
            match c.origin {
                Origin::Requires { var, .. } if !kept[var as usize] => continue,
                Origin::Requires { .. } => {}
                Origin::Ask(a) if !matches!(self.asks[a as usize].kind, AskKind::External) => {}
                _ => continue,
            }
            let target = c.target;
            let name = self.names[target as usize].text;
            let preferred = self.req.prefer.get(name).map(|p| p.value.as_str());
            let default = self.cap(target).and_then(|ci| ci.default);
            if preferred.is_none() && default.is_none() {
                // No first choice to leave (most requirements: components, not capabilities).
                continue;
            }
            let c = &self.clauses[cid as usize];
            let cands: Vec<Var> = self.clause_lits(cid)[c.cand as usize..]
                .iter()
                .map(|l| var(*l))
                .collect();
            let provider_of = |s: &Self, v: Var| s.names[s.vars[v as usize].name as usize].text;
            let first = [preferred, default]
                .into_iter()
                .flatten()
                .find(|x| cands.iter().any(|v| provider_of(self, *v) == *x));
            let Some(first) = first else {
                continue;
            };
            let kept_first = cands
                .iter()
                .any(|v| kept[*v as usize] && provider_of(self, *v) == first);
            if !kept_first {
                free.insert(name);
            }
        }
        free
    }
}

#[cfg(test)]
mod tests {
    use crate::request::{Ask, Request};
    use crate::testing::Tiny;

    fn names(res: &crate::Resolution) -> Vec<&str> {
        res.components.keys().map(|k| k.as_str()).collect()
    }

    /// Failed before this module: the first provider by name (`b`) brings a requirement of
    /// its own; `c` alone meets the capability.
    #[test]
    fn a_provider_that_needs_more_loses_to_one_that_does_not() {
        let p = Tiny::default()
            .cap("x", false, None)
            .comp("a", &["1.0.0"], &["requires x ^1"])
            .comp("b", &["1.0.0"], &["provides x 1.0.0", "requires d ^1"])
            .comp("c", &["1.0.0"], &["provides x 1.0.0"])
            .comp("d", &["1.0.0"], &[]);
        let mut req = Request::new();
        req.components.insert("a".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(names(&res), ["a", "c"]);
        assert!(res.stats.fewest_proven);
        assert_eq!(
            res.stats.fewest_searches, 2,
            "one smaller answer, one proof"
        );
    }

    /// Fewest components rank above the newest versions.
    #[test]
    fn an_older_release_that_needs_less_wins() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b ^1"])
            .comp("b", &["1.0.0", "1.1.0"], &[])
            .comp("d", &["1.0.0"], &[])
            .edge("b", "1.1.0", "d", "^1");
        let mut req = Request::new();
        req.components.insert("a".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(names(&res), ["a", "b"]);
        assert_eq!(res.components["b"].version.to_string(), "1.0.0");
    }

    /// The default provider is kept even when another provider would need fewer
    /// components: it ranks first.
    #[test]
    fn the_default_provider_ranks_above_the_count() {
        let p = Tiny::default()
            .cap("x", false, Some("b"))
            .comp("a", &["1.0.0"], &["requires x ^1"])
            .comp("b", &["1.0.0"], &["provides x 1.0.0", "requires d ^1"])
            .comp("c", &["1.0.0"], &["provides x 1.0.0"])
            .comp("d", &["1.0.0"], &[]);
        let mut req = Request::new();
        req.components.insert("a".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(names(&res), ["a", "b", "d"]);
        assert!(res.stats.fewest_proven);
    }

    /// The first answer kept the default provider, so the bounded searches keep it too
    /// (its requirement clause is shortened to it), and still find the older release that
    /// needs less.
    #[test]
    fn the_kept_default_stays_while_the_count_drops() {
        let p = Tiny::default()
            .cap("x", false, Some("b"))
            .comp("a", &["1.0.0"], &["requires x ^1", "requires y ^1"])
            .comp("b", &["1.0.0"], &["provides x 1.0.0", "requires e ^1"])
            .comp("c", &["1.0.0"], &["provides x 1.0.0"])
            .comp("e", &["1.0.0"], &[])
            .comp("y", &["1.0.0", "1.1.0"], &[])
            .comp("d", &["1.0.0"], &[])
            .edge("y", "1.1.0", "d", "^1");
        let mut req = Request::new();
        req.components.insert("a".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(names(&res), ["a", "b", "e", "y"]);
        assert_eq!(res.components["y"].version.to_string(), "1.0.0");
        assert!(res.stats.fewest_proven);
        assert_eq!(res.stats.fewest_searches, 2);
    }

    /// When the answer is already the lower bound, no bounded search runs.
    #[test]
    fn no_search_when_the_lower_bound_is_met() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b ^1"])
            .comp("b", &["1.0.0"], &[]);
        let mut req = Request::new();
        req.components.insert("a".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(names(&res), ["a", "b"]);
        assert_eq!(res.stats.fewest_searches, 0);
        assert!(res.stats.fewest_proven);
    }
}
