//! Recommendations (`recommends` edges): each is accepted when a solution with it (and
//! the component that made it, at its version) still keeps every rule, tried one at a
//! time in the order `next_recommendation` finds them.
//!
//! **Extending first.** Most recommendations fit the answer as it is (kubelet's `pause`:
//! nothing else asks for one). So the solved search is first carried on from its own
//! answer: the recommended ask is decided at a new level (its first open candidate, as
//! the decision rule would), and propagation and decisions go on from there. When that
//! ends without a conflict, the answer with the recommendation is found without a second
//! search: the ask joins the request's asks (its clause active at level 0, after the
//! other asks, where a search started with it would have it), so later searches keep it.
//! Nothing learned or undone: only a conflict could make it learn, and then the
//! extension is dropped (back to the level it started from; every clause it added is a
//! release's own, true whatever is asked) and the recommendation is tried the old way.
//!
//! **Searching again.** A recommendation that does not fit the answer as it is may still
//! fit another one (a recommended `=3.10.1` where the answer chose 3.10.2 of the same
//! component): a new search with every accepted recommendation asked and their
//! recommenders kept at their versions decides it. Its learned clauses keep no proof
//! (its refusal is never explained).

use std::collections::BTreeSet;

use crate::provider::Provider;
use crate::request::Request;
use crate::resolution::Stats;

use super::{fewest, pos, AskData, AskKind, Origin, Reason, Solver};

/// Tries every recommendation of the solved search `s`, returning the search whose answer
/// has those accepted; `soft` receives them, in the order they were accepted.
pub(crate) fn recommendations<'a, P: Provider + ?Sized>(
    p: &'a P,
    req: &'a Request,
    mut s: Solver<'a, P>,
    soft: &mut Vec<AskData<'a>>,
) -> Solver<'a, P> {
    // The work of the searches replaced or dropped.
    let mut other = Stats::default();
    let mut tried = BTreeSet::new();
    while let Some(rec) = s.next_recommendation(&tried) {
        if let AskKind::Recommended { by, .. } = &rec.kind {
            tried.insert((by.to_string(), rec.name.to_string()));
        }
        if s.extend_with(&rec) {
            soft.push(rec);
            continue;
        }
        soft.push(rec);
        let mut s2 = Solver::new(p, req, soft);
        s2.record = false;
        // The components whose recommendations are asked stay (else a "recommended by"
        // could name a component the answer no longer has).
        s2.keep_chosen(&fewest::recommenders(soft));
        if s2.solve() {
            add_stats(&mut other, &s.stats);
            s = s2;
        } else {
            add_stats(&mut other, &s2.stats);
            soft.pop();
        }
    }
    add_stats(&mut other, &s.stats);
    other.fewest_proven = s.stats.fewest_proven;
    s.stats = other;
    s
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// Carries the solved search on with `rec` asked (see the module doc). `true`: the
    /// current answer now meets it and `rec` is one of `asks`. `false`: a conflict (or no
    /// open candidate) on the way; the answer is back as it was.
    fn extend_with(&mut self, rec: &AskData<'a>) -> bool {
        let base = self.decision_level();
        let name = self.intern(rec.name);
        let cands = self.matching(name, &rec.range, false, true);
        if !cands.iter().any(|&c| self.is_true(c)) {
            // No candidate true (`next_recommendation` found it unmet): the first open
            // one, which is what the decision rule takes (preferred ones come first).
            let Some(&first) = cands.iter().find(|&&c| self.value[c as usize] == 0) else {
                return false;
            };
            let mut next = Some(pos(first));
            loop {
                if let Some(l) = next {
                    self.stats.decisions += 1;
                    self.trail_lim.push(self.trail.len() as u32);
                    self.active_lim.push(self.active.len() as u32);
                    self.assign(l, Reason::None);
                }
                if self.propagate().is_some() {
                    self.backjump(base);
                    return false;
                }
                next = self.decide();
                if next.is_none() {
                    break;
                }
            }
        }
        let i = self.asks.len() as u32;
        self.asks.push(rec.clone());
        let lits: Vec<_> = cands.iter().map(|&c| pos(c)).collect();
        let (cid, status) = self.add_clause(&lits, Origin::Ask(i), 0);
        debug_assert!(status.is_none(), "a true candidate meets it");
        self.set_target(cid, name);
        self.activate_at_level_0(cid);
        true
    }

    /// Puts ask clause `cid` among the level-0 active requirements, after the asks there
    /// (where `solve` puts every ask), keeping the later positions' bookkeeping.
    fn activate_at_level_0(&mut self, cid: u32) {
        let level0 = self
            .active_lim
            .first()
            .map_or(self.active.len(), |&a| a as usize);
        let at = self.active[..level0]
            .iter()
            .position(|&c| !matches!(self.clauses[c as usize].origin, Origin::Ask(_)))
            .unwrap_or(level0);
        self.active.insert(at, cid);
        for lim in &mut self.active_lim {
            *lim += 1;
        }
        for hot in &mut self.hot_active {
            if *hot as usize >= at {
                *hot += 1;
            }
        }
        let target = self.clauses[cid as usize].target;
        if self.hot[target as usize] {
            let k = self.hot_active.partition_point(|&h| (h as usize) < at);
            self.hot_active.insert(k, at as u32);
        }
        self.scan = 0;
    }
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
    a.fewest_searches += b.fewest_searches;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use stackwright_types::manifest::DepKind;

    use crate::provider::Provider;
    use crate::request::{Ask, Request};
    use crate::search::{fewest, AskKind, Solver};
    use crate::testing::{req as range, v, Rel, Tiny};
    use crate::Resolution;

    fn answer(res: &crate::Resolution) -> Vec<String> {
        res.components
            .iter()
            .map(|(k, c)| format!("{k}={}", c.version))
            .collect()
    }

    fn asking(names: &[&str]) -> Request {
        let mut req = Request::new();
        for n in names {
            req.components.insert(n.to_string(), Ask::any());
        }
        req
    }

    /// A recommendation the answer can simply take (with what it requires) needs no
    /// second search.
    #[test]
    fn a_fitting_recommendation_extends_the_answer() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["recommends h ^1"])
            .comp("h", &["1.0.0", "1.1.0"], &["requires j ^1"])
            .comp("j", &["1.0.0"], &[]);
        let res = crate::search::resolve(&p, &asking(&["a"])).expect("solvable");
        assert_eq!(answer(&res), ["a=1.0.0", "h=1.1.0", "j=1.0.0"]);
        assert!(matches!(
            &res.components["h"].why[0],
            crate::Why::Recommended { by, .. } if by == "a"
        ));
        let st = res.stats;
        assert_eq!(st.searches - st.fewest_searches, 1, "no second search");
    }

    /// A recommended version the answer did not choose (the newest met the requirement):
    /// not an extension of the answer, found by a second search.
    #[test]
    fn a_recommended_other_version_is_searched_for() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b *", "recommends b =1.0.0"])
            .comp("b", &["1.0.0", "2.0.0"], &[]);
        let res = crate::search::resolve(&p, &asking(&["a"])).expect("solvable");
        assert_eq!(answer(&res), ["a=1.0.0", "b=1.0.0"]);
        let st = res.stats;
        assert_eq!(st.searches - st.fewest_searches, 2);
    }

    /// A recommendation whose requirements conflict with the answer is dropped, the
    /// answer is left as it was, and the next one still extends it.
    #[test]
    fn a_refused_recommendation_leaves_the_answer_for_the_next() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["recommends h *", "recommends k *"])
            .comp("h", &["1.0.0"], &["requires x *"])
            .comp("x", &["1.0.0"], &["conflicts a *"])
            .comp("k", &["1.0.0"], &[]);
        let res = crate::search::resolve(&p, &asking(&["a"])).expect("solvable");
        assert_eq!(answer(&res), ["a=1.0.0", "k=1.0.0"]);
        let st = res.stats;
        assert_eq!(
            st.searches - st.fewest_searches,
            2,
            "the first, and the one refusing h"
        );
    }

    /// What `recommendations` did before it extended the answer: a new search for every
    /// recommendation. `None` when the request is refused.
    fn searching_again<P: Provider + ?Sized>(p: &P, req: &Request) -> Option<Resolution> {
        let mut soft = Vec::new();
        let mut s = Solver::new(p, req, &soft);
        s.check_names().ok()?;
        if !s.solve() {
            return None;
        }
        let mut tried = BTreeSet::new();
        while let Some(rec) = s.next_recommendation(&tried) {
            if let AskKind::Recommended { by, .. } = &rec.kind {
                tried.insert((by.to_string(), rec.name.to_string()));
            }
            soft.push(rec);
            let mut s2 = Solver::new(p, req, &soft);
            s2.record = false;
            s2.keep_chosen(&fewest::recommenders(&soft));
            if s2.solve() {
                s = s2;
            } else {
                soft.pop();
            }
        }
        let (mut s, kept) = fewest::fewest(&soft, s);
        s.extract_kept(kept).ok()
    }

    /// A random registry of up to five components with requirements, conflicts,
    /// recommendations and providers of two capabilities (one of them `one`).
    fn world(seed: u64) -> (Tiny, Request) {
        let mut r = stackwright_testkit::SplitMix64::new(seed);
        const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
        const RANGES: [&str; 4] = ["*", "^1", "^2", "=1.0.0"];
        const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "2.0.0"];
        let n = 2 + r.below(4) as usize;
        let mut p = Tiny::default()
            .cap("one-cap", true, None)
            .cap("many-cap", false, None);
        let pick = |r: &mut stackwright_testkit::SplitMix64| -> String {
            match r.below(n as u64 + 2) as usize {
                i if i < n => NAMES[i].to_string(),
                i if i == n => "one-cap".to_string(),
                _ => "many-cap".to_string(),
            }
        };
        for id in &NAMES[..n] {
            let mut rels = Vec::new();
            for ver in VERSIONS.iter().take(1 + r.below(3) as usize) {
                let mut rel = Rel {
                    version: v(ver),
                    edges: Vec::new(),
                    provides: Vec::new(),
                };
                for _ in 0..r.below(4) {
                    let kind = match r.below(6) {
                        0 | 1 => DepKind::Requires,
                        2 => DepKind::Conflicts,
                        _ => DepKind::Recommends,
                    };
                    let target = pick(&mut r);
                    if target != *id {
                        let rg = range(RANGES[r.below(4) as usize]);
                        rel.edges.push((kind, target, rg));
                    }
                }
                if r.chance(3) {
                    let cap = if r.chance(2) { "one-cap" } else { "many-cap" };
                    rel.provides.push((cap.to_string(), v("1.0.0")));
                }
                rels.push(rel);
            }
            p.comps.insert(id.to_string(), rels);
        }
        let mut req = Request::new();
        for _ in 0..1 + r.below(2) {
            req.components
                .insert(NAMES[r.below(n as u64) as usize].to_string(), Ask::any());
        }
        (p, req)
    }

    /// Extending the answer gives the answer a new search per recommendation gave.
    #[test]
    fn extending_answers_as_searching_again_did() {
        let (mut compared, mut recommended, mut searched_again) = (0, 0, 0);
        for seed in 0..4000 {
            let (p, req) = world(seed);
            let Some(mut want) = searching_again(&p, &req) else {
                continue;
            };
            let mut got = crate::search::resolve(&p, &req).expect("solvable");
            compared += 1;
            if got.components.values().any(|c| {
                c.why
                    .iter()
                    .any(|w| matches!(w, crate::Why::Recommended { .. }))
            }) {
                recommended += 1;
            }
            if got.stats.searches - got.stats.fewest_searches > 1 {
                searched_again += 1;
            }
            // The work differs, not the answer.
            got.stats = Default::default();
            want.stats = Default::default();
            assert_eq!(got, want, "seed {seed}");
        }
        // Both ways are taken: answers extended, and recommendations searched for again.
        assert!(
            compared > 1000 && recommended > 300 && searched_again > 100,
            "{compared} answers compared, {recommended} with a recommendation, \
             {searched_again} with a second search"
        );
    }
}
