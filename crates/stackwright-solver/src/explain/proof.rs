//! Walking a refused search's proof into facts: the *original* rules it used (an
//! unsatisfiable core), grouped per component and edge.
//!
//! The search keeps, for every learned clause, the clauses it was derived from. From the
//! final conflict we walk that proof back to what the request asks, `requires` edges,
//! conflicts, kernel needs and `one` capabilities; releases of one component under one
//! rule become one fact. Nothing here writes text a person reads (see `render`), except
//! the range and exclusion texts that key the grouping.

use std::collections::{BTreeMap, BTreeSet};

use stackwright_types::manifest::DepKind;
use stackwright_types::Location;

use crate::provider::{Provider, Range};
use crate::search::{var, Ante, AskKind, Forbid, Origin, Reason, Solver, Var, NONE};

/// A requirement (or an ask) taking part in the refusal, grouped over owner releases.
pub(crate) struct ReqFact<'a> {
    /// Owner component, or `NONE` for the request itself.
    pub owner: u32,
    pub ask: Option<u32>,
    pub name: u32,
    /// Every range the grouped edges give (usually one).
    pub ranges: Vec<Range<'a>>,
    pub range_text: String,
    pub location: Option<&'a Location>,
    pub owners: BTreeSet<Var>,
    pub cands: BTreeSet<Var>,
}

pub(crate) struct ExclFact<'a> {
    pub owner: u32,
    pub owners: BTreeSet<Var>,
    pub targets: BTreeSet<Var>,
    pub because: String,
    pub location: Option<&'a Location>,
}

/// Adds `owner_var` and `target` to the exclusion fact keyed by (owner, reason, target
/// name), creating it on first use, so one rule over many versions reads as one fact.
fn record_excl<'a>(
    excls: &mut Vec<ExclFact<'a>>,
    index: &mut BTreeMap<(u32, String, u32), usize>,
    key: (u32, String, u32),
    location: Option<&'a Location>,
    owner_var: Var,
    target: Var,
) {
    let i = *index.entry(key.clone()).or_insert_with(|| {
        excls.push(ExclFact {
            owner: key.0,
            owners: BTreeSet::new(),
            targets: BTreeSet::new(),
            because: key.1,
            location,
        });
        excls.len() - 1
    });
    excls[i].owners.insert(owner_var);
    excls[i].targets.insert(target);
}

/// The facts of a refusal, before any rendering.
pub(crate) struct Proof<'a> {
    /// Requirements and asks, one per (owner component, name) or per ask.
    pub reqs: Vec<ReqFact<'a>>,
    /// Conflicts, constrains and kernel needs, one per (owner, reason, target component).
    pub excls: Vec<ExclFact<'a>>,
    /// "At most one" pairs used: (group, lower var, higher var).
    pub amo: BTreeSet<(u32, Var, Var)>,
    /// Per requirement (same index as `reqs`): candidates ruled out up front, with why.
    pub removed: Vec<Vec<(Var, Forbid)>>,
    /// `[external]` asks (indexes into the solver's asks) whose pin removed a candidate.
    pub used_ext: BTreeSet<u32>,
}

/// The original clauses (and "at most one" pairs) the refutation of `s` used: the final
/// conflict's proof walked back through every learned clause and level-0 reason.
pub(crate) fn core<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
) -> (BTreeSet<u32>, BTreeSet<(u32, Var, Var)>) {
    let mut core: BTreeSet<u32> = BTreeSet::new();
    let mut amo: BTreeSet<(u32, Var, Var)> = BTreeSet::new();
    let mut seen_c: BTreeSet<u32> = BTreeSet::new();
    let mut seen_v: BTreeSet<Var> = BTreeSet::new();
    let mut stack: Vec<Ante> = s.final_proof.clone();
    while let Some(a) = stack.pop() {
        match a {
            Ante::Clause(c) => {
                if !seen_c.insert(c) {
                    continue;
                }
                match s.clauses[c as usize].origin {
                    Origin::Learned(p) => stack.extend(s.proofs[p as usize].iter().copied()),
                    _ => {
                        core.insert(c);
                    }
                }
            }
            Ante::Amo { a, b, group } => {
                amo.insert((group, a.min(b), a.max(b)));
            }
            Ante::Zero(v) => {
                if !seen_v.insert(v) {
                    continue;
                }
                match s.reason[v as usize] {
                    Reason::Clause(c) => {
                        stack.push(Ante::Clause(c));
                        for &l in s.clause_lits(c) {
                            if var(l) != v {
                                stack.push(Ante::Zero(var(l)));
                            }
                        }
                    }
                    Reason::Amo { other, group } => {
                        amo.insert((group, v.min(other), v.max(other)));
                        stack.push(Ante::Zero(other));
                    }
                    Reason::None => {}
                }
            }
        }
    }
    (core, amo)
}

/// Walks the final conflict's proof back to the original rules and groups them.
pub(crate) fn walk<'a, P: Provider + ?Sized>(s: &mut Solver<'a, P>) -> Proof<'a> {
    // 1. The original rules the refutation used.
    let (core, amo) = core(s);

    // 2. Group them into facts.
    let mut reqs: Vec<ReqFact> = Vec::new();
    let mut req_key: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut excls: Vec<ExclFact> = Vec::new();
    let mut excl_key: BTreeMap<(u32, String, u32), usize> = BTreeMap::new();
    for &c in &core {
        let origin = s.clauses[c as usize].origin;
        let cands: Vec<Var> = {
            let cl = &s.clauses[c as usize];
            s.lits[(cl.start + cl.cand as u32) as usize..(cl.start + cl.len) as usize]
                .iter()
                .map(|l| var(*l))
                .collect()
        };
        match origin {
            Origin::Ask(i) => {
                let a = &s.asks[i as usize];
                let name = s.index[a.name];
                reqs.push(ReqFact {
                    owner: NONE,
                    ask: Some(i),
                    name,
                    ranges: vec![a.range.clone()],
                    range_text: a.range.to_text(),
                    location: a.location,
                    owners: BTreeSet::new(),
                    cands: cands.into_iter().collect(),
                });
            }
            Origin::Requires { var: o, edge } => {
                let d = s.vars[o as usize].details as usize;
                let e = &s.edges_of(d)[edge as usize];
                let owner = s.vars[o as usize].name;
                let key = (owner, e.name);
                let i = *req_key.entry(key).or_insert_with(|| {
                    reqs.push(ReqFact {
                        owner,
                        ask: None,
                        name: e.name,
                        ranges: Vec::new(),
                        range_text: String::new(),
                        location: e.location,
                        owners: BTreeSet::new(),
                        cands: BTreeSet::new(),
                    });
                    reqs.len() - 1
                });
                let text = e.range.to_text();
                if !reqs[i].ranges.iter().any(|r| r.to_text() == text) {
                    reqs[i].ranges.push(e.range.clone());
                }
                reqs[i].owners.insert(o);
                reqs[i].cands.extend(cands);
            }
            Origin::Excludes {
                var: o,
                edge,
                target,
            } => {
                let d = s.vars[o as usize].details as usize;
                let e = &s.edges_of(d)[edge as usize];
                let owner = s.vars[o as usize].name;
                let because = match e.kind {
                    DepKind::Constrains => format!(
                        "constrains {} to {}",
                        s.names[e.name as usize].text,
                        e.range.to_text()
                    ),
                    _ => format!(
                        "conflicts with {} {}",
                        s.names[e.name as usize].text,
                        e.range.to_text()
                    ),
                };
                let key = (owner, because.clone(), s.vars[target as usize].name);
                record_excl(&mut excls, &mut excl_key, key, e.location, o, target);
            }
            Origin::Kernel { var: o, kernel } => {
                let need = s.kernel_meets(kernel, o).unwrap_or_default();
                let owner = s.vars[o as usize].name;
                let because = format!("needs {need}");
                let loc = {
                    let d = s.vars[o as usize].details as usize;
                    s.rels[d].location
                };
                let key = (owner, because.clone(), s.vars[kernel as usize].name);
                record_excl(&mut excls, &mut excl_key, key, loc, o, kernel);
            }
            Origin::Learned(_) => {}
        }
    }
    for r in &mut reqs {
        if r.ask.is_none() {
            let mut texts: Vec<String> = r.ranges.iter().map(|x| x.to_text()).collect();
            texts.sort();
            r.range_text = texts.join(" or ");
        }
    }
    let (removed_per, used_ext) = removed_and_pins(s, &reqs);
    Proof {
        reqs,
        excls,
        amo,
        removed: removed_per,
        used_ext,
    }
}

/// Per requirement (same index as `reqs`), the candidates ruled out up front, with why;
/// and the `[external]` asks whose pin removed one (they take part in the proof too).
fn removed_and_pins<'a, P: Provider + ?Sized>(
    s: &mut Solver<'a, P>,
    reqs: &[ReqFact<'a>],
) -> (Vec<Vec<(Var, Forbid)>>, BTreeSet<u32>) {
    let ext_asks: BTreeMap<u32, u32> = s
        .asks
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.kind, AskKind::External))
        .map(|(i, a)| (s.index[a.name], i as u32))
        .collect();
    let mut used_ext: BTreeSet<u32> = BTreeSet::new();
    // Removed candidates per fact, for the external pins they reveal.
    let mut removed_per: Vec<Vec<(Var, Forbid)>> = Vec::new();
    for r in reqs {
        let mut rm: Vec<(Var, Forbid)> = Vec::new();
        for range in &r.ranges {
            for x in removed(s, r.name, range) {
                if !rm.contains(&x) {
                    rm.push(x);
                }
            }
        }
        removed_per.push(rm);
    }
    for rm in &removed_per {
        for (v, f) in rm {
            if *f == Forbid::External {
                if let Some(&ai) = ext_asks.get(&s.vars[*v as usize].name) {
                    used_ext.insert(ai);
                }
            }
        }
    }
    (removed_per, used_ext)
}

/// Every release that would meet `name range` but is ruled out up front, with why.
fn removed<'a, P: Provider + ?Sized>(
    s: &mut Solver<'a, P>,
    n: u32,
    range: &Range<'a>,
) -> Vec<(Var, Forbid)> {
    s.load(n);
    let mut comps = vec![n];
    for q in s.providers(n) {
        s.load(q);
        comps.push(q);
    }
    // Ruled-out releases are never candidates, so they get their variables only here.
    let mut all: Vec<Var> = Vec::new();
    for c in comps {
        for slot in s.slots_of(c) {
            if s.slot_forbid[slot as usize] != Forbid::No {
                all.push(s.var_at(c, slot));
            }
        }
    }
    let mut out = Vec::new();
    for v in all {
        let f = s.vars[v as usize].forbid;
        let r = range.clone();
        if s.release_matches(v, n, &r) {
            out.push((v, f));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{Solver, NONE};
    use crate::testing::{req, Tiny};

    #[test]
    fn the_core_holds_the_rules_used_and_not_the_bystanders() {
        // a needs c ^1, b needs c ^2: refused. d is asked for too, and has nothing to do
        // with it.
        let p = Tiny::default()
            .comp("a", &["1.0.0", "1.1.0"], &["requires c ^1"])
            .comp("b", &["1.0.0"], &["requires c ^2"])
            .comp("c", &["1.0.0", "2.0.0"], &[])
            .comp("d", &["1.0.0"], &["requires e *"])
            .comp("e", &["1.0.0"], &[]);
        let r = Request::new()
            .component("a", req("*"))
            .component("b", req("*"))
            .component("d", req("*"));
        let mut s = Solver::new(&p, &r, &[]);
        assert!(!s.solve());
        let proof = super::walk(&mut s);
        let mut facts: Vec<String> = proof
            .reqs
            .iter()
            .map(|f| {
                let owner = if f.owner == NONE {
                    "request"
                } else {
                    s.names[f.owner as usize].text
                };
                format!(
                    "{owner} → {} {}",
                    s.names[f.name as usize].text, f.range_text
                )
            })
            .collect();
        facts.sort();
        assert_eq!(
            facts,
            ["a → c ^1", "b → c ^2", "request → a *", "request → b *"]
        );
        let a_fact = proof
            .reqs
            .iter()
            .find(|f| s.names[f.name as usize].text == "c" && f.range_text == "^1");
        assert_eq!(
            a_fact.map(|f| f.owners.len()),
            Some(2),
            "both releases of a are one fact"
        );
        assert!(proof.excls.is_empty() && proof.used_ext.is_empty());
        assert_eq!(proof.removed.len(), proof.reqs.len());
    }
}
