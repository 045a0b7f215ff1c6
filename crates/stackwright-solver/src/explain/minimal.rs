//! Shrinking a refusal to the rules it cannot do without, before it is explained.
//!
//! The proof a search ends with is correct but not minimal: a release ruled out early
//! for one reason keeps that reason in the proof even when a shorter one exists, so an
//! explanation may name packages the request would fail without. Here the rules the
//! proof used ([`RuleKey`]s: an ask, or one edge of a component over all its releases)
//! are shrunk by deletion (Marques-Silva's deletion-based MUS extraction, with clause-set
//! refinement): search again with some rules left out; still refused, then keep only the
//! rules that new proof used; solvable, then they are needed. Rules far from the request
//! are tried first, several at a time, halving the batch when a batch turns out needed.
//!
//! The result: leaving out any one rule of the final proof makes the request (limited to
//! those rules) satisfiable. Searches limited to a handful of rules are small; a budget
//! bounds their number, after which the smallest proof found so far is explained.

use std::collections::{BTreeMap, BTreeSet};

use crate::provider::Provider;
use crate::request::Request;
use crate::search::{var, AskKind, Origin, RuleKey, Solver};

/// Limited searches one refusal may run.
const BUDGET: usize = 96;

/// The rules the refutation of `s` used, nearest the request first (then by key).
/// `[external]` pins are left out: they always hold.
fn rules<'a, P: Provider + ?Sized>(s: &Solver<'a, P>) -> Vec<RuleKey<'a>> {
    let (core, _) = super::proof::core(s);
    // Depth of each component: 1 for what an ask reaches, one more per requirement.
    let mut depth: BTreeMap<u32, u32> = BTreeMap::new();
    let owner_depth = |depth: &BTreeMap<u32, u32>, c: u32| -> Option<u32> {
        match s.clauses[c as usize].origin {
            Origin::Ask(_) => Some(0),
            Origin::Requires { var: o, .. }
            | Origin::Excludes { var: o, .. }
            | Origin::Kernel { var: o, .. } => depth.get(&s.vars[o as usize].name).copied(),
            Origin::Learned(_) => None,
        }
    };
    let mut changed = true;
    while changed {
        changed = false;
        for &c in &core {
            if !matches!(
                s.clauses[c as usize].origin,
                Origin::Ask(_) | Origin::Requires { .. }
            ) {
                continue;
            }
            let Some(d) = owner_depth(&depth, c) else {
                continue;
            };
            let cl = &s.clauses[c as usize];
            for &l in &s.lits[(cl.start + cl.cand as u32) as usize..(cl.start + cl.len) as usize] {
                let n = s.vars[var(l) as usize].name;
                let e = depth.entry(n).or_insert(u32::MAX);
                if d + 1 < *e {
                    *e = d + 1;
                    changed = true;
                }
            }
        }
    }
    let mut keyed: BTreeMap<RuleKey<'a>, u32> = BTreeMap::new();
    for &c in &core {
        if let Origin::Ask(i) = s.clauses[c as usize].origin {
            if matches!(s.asks[i as usize].kind, AskKind::External) {
                continue;
            }
        }
        let Some(k) = s.rule_key(c) else { continue };
        let d = owner_depth(&depth, c).unwrap_or(u32::MAX);
        let e = keyed.entry(k).or_insert(d);
        *e = (*e).min(d);
    }
    let mut out: Vec<(u32, RuleKey<'a>)> = keyed.into_iter().map(|(k, d)| (d, k)).collect();
    out.sort();
    out.into_iter().map(|(_, k)| k).collect()
}

/// A refused search limited to as few rules as can still refuse the request, and whose
/// proof uses only those (`s` itself when nothing can be left out).
pub(crate) fn minimise<'a, P: Provider + ?Sized>(
    p: &'a P,
    req: &'a Request,
    s: Solver<'a, P>,
) -> Solver<'a, P> {
    let mut best = s;
    let mut working = rules(&best);
    let mut needed: BTreeSet<RuleKey<'a>> = BTreeSet::new();
    let mut batch = (working.len() / 2).max(1);
    for _ in 0..BUDGET {
        // The deepest untested rules.
        let out: Vec<RuleKey<'a>> = working
            .iter()
            .rev()
            .filter(|k| !needed.contains(k))
            .take(batch)
            .copied()
            .collect();
        if out.is_empty() {
            break;
        }
        let trial: BTreeSet<RuleKey<'a>> = working
            .iter()
            .filter(|k| !out.contains(k))
            .copied()
            .collect();
        let mut s2 = Solver::new(p, req, &[]);
        s2.allow = Some(trial);
        if s2.solve() {
            if out.len() == 1 {
                needed.insert(out[0]);
            } else {
                batch = out.len() / 2;
            }
        } else {
            working = rules(&s2);
            best = s2;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{RuleKey, Solver};
    use crate::testing::{req, Tiny};

    /// `b 2` is ruled out through `aaa` (which conflicts with what it needs) in the full
    /// search, found first because that path is shorter; but every `b` needs `c ^2`
    /// through `d` and `e`, which `a` rules out: the minimal rules leave `aaa` out.
    #[test]
    fn a_longer_reason_is_dropped_for_a_shorter_one() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires c ^1"])
            .comp("b", &["1.0.0", "2.0.0"], &["requires d *"])
            .comp("c", &["1.0.0", "2.0.0"], &[])
            .comp("d", &["1.0.0"], &["requires e *"])
            .comp("e", &["1.0.0"], &["requires c ^2"])
            .comp("aaa", &["1.0.0"], &["requires zzz *"])
            .comp("zzz", &["1.0.0"], &["conflicts aaa *"])
            // Only b 2.0.0 needs aaa (which sorts first, so the search meets it first).
            .edge("b", "2.0.0", "aaa", "*");
        let r = Request::new()
            .component("a", req("*"))
            .component("b", req("*"));
        fn names<P: crate::Provider + ?Sized>(s: &Solver<'_, P>) -> Vec<String> {
            let mut got: Vec<RuleKey> = super::rules(s);
            got.sort();
            got.iter()
                .map(|k| match k {
                    RuleKey::Ask(i) => format!("ask {}", s.asks[*i as usize].name),
                    RuleKey::Edge { owner, name, .. } => format!("{owner} → {name}"),
                    RuleKey::Kernel { owner } => format!("{owner} kernel"),
                })
                .collect()
        }
        let mut s = Solver::new(&p, &r, &[]);
        assert!(!s.solve());
        assert!(
            names(&s).iter().any(|n| n == "b → aaa"),
            "the full search's proof goes through aaa: {:?}",
            names(&s)
        );
        let s = super::minimise(&p, &r, s);
        assert_eq!(
            names(&s),
            ["ask a", "ask b", "a → c", "b → d", "d → e", "e → c"]
        );
    }
}
