//! After a solution: pruning what nothing needs, building the `Resolution` with the
//! reasons of each component, and the next `recommends` edge to try.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stackwright_types::manifest::DepKind;

use crate::intern::FxMap;
use crate::provider::Provider;
use crate::refusal::Refusal;
use crate::resolution::{
    Chosen, Pick, RangeRecord, Resolution, WhyKind, WhyRecord, WhyTable, Whys,
};

use super::{pos, var, AskData, AskKind, Origin, Solver, Var, NONE};

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    // ---------------------------------------------------------------------------------
    // After a solution.

    pub(crate) fn is_true(&self, v: Var) -> bool {
        self.value[v as usize] == 1
    }

    /// The true candidates of an active clause (`clause` must be a requirement or ask).
    pub(crate) fn true_cands(&self, cid: u32) -> impl Iterator<Item = Var> + '_ {
        let c = &self.clauses[cid as usize];
        self.lits[(c.start + c.cand as u32) as usize..(c.start + c.len) as usize]
            .iter()
            .filter(|l| self.lit_value(**l) == 1)
            .map(|l| var(*l))
    }

    /// Whether `v` is one of the `[prefer]`red candidates of clause `cid`.
    fn is_preferred_cand(&self, cid: u32, v: Var) -> bool {
        let c = &self.clauses[cid as usize];
        let from = (c.start + c.cand as u32) as usize;
        self.lits[from..from + c.pref as usize].contains(&pos(v))
    }

    /// Drops components nothing needs any more (a requirement met twice over, or a release
    /// set true by a learned clause that no requirement asks for), so the solution has as
    /// few components as the search allows. Returns the kept flag of every variable.
    pub(crate) fn prune(&self) -> Vec<bool> {
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
                let needed = |i: usize| count[i] <= 1 || self.is_preferred_cand(self.active[i], v);
                if sup.iter().any(|&i| !dead[i] && needed(i)) {
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
    pub(crate) fn extract(&mut self) -> Result<Resolution, Refusal> {
        let kept = self.prune();
        self.extract_kept(kept)
    }

    /// `extract` of an assignment already pruned: `kept` is what `prune` returned for it.
    pub(crate) fn extract_kept(&mut self, kept: Vec<bool>) -> Result<Resolution, Refusal> {
        debug_assert_eq!(kept, self.prune());
        // The chosen variables, in the order of their names (the map below is built from
        // sorted input in one pass); `slot[v]` is `v`'s position.
        let mut chosen: Vec<(u64, &'a str, Var)> = Vec::with_capacity(self.chosen_count as usize);
        let mut slot: Vec<u32> = vec![NONE; self.vars.len()];
        let mut external = BTreeMap::new();
        for v in 0..self.vars.len() as u32 {
            if !kept[v as usize] {
                continue;
            }
            let vd = &self.vars[v as usize];
            let text = self.names[vd.name as usize].text;
            if vd.external {
                external.insert(text.to_string(), self.versions[v as usize].clone());
                continue;
            }
            chosen.push((self.names[vd.name as usize].key, text, v));
        }
        chosen.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (i, c) in chosen.iter().enumerate() {
            slot[c.2 as usize] = i as u32;
        }
        // Why each is there (compact records, turned into `Why`s only when read), and the
        // dependency edges among staged components.
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // Room for every name the records can refer to, so the table never regrows.
        let mut table = WhyTable {
            text: String::with_capacity(self.names.iter().map(|n| n.text.len()).sum()),
            spans: Vec::with_capacity(self.names.len()),
            ..WhyTable::default()
        };
        let mut table_name: Vec<u32> = vec![NONE; self.names.len()];
        let mut records: Vec<(u32, WhyRecord)> = Vec::with_capacity(self.active.len());
        let active = std::mem::take(&mut self.active);
        for &cid in &active {
            let origin = self.clauses[cid as usize].origin;
            if let Origin::Requires { var, .. } = origin {
                if !kept[var as usize] {
                    continue;
                }
            }
            // A requirement several chosen releases meet is written against the one it
            // picks (its first, in preference order), not against all: the others are
            // there for reasons of their own (pruning keeps nothing without one).
            let Some(first) = self.true_cands(cid).find(|v| kept[*v as usize]) else {
                continue;
            };
            let (kind, range, location, via) = match origin {
                Origin::Ask(i) => self.ask_why(i, &mut table, &mut table_name),
                Origin::Requires { var: o, edge } => {
                    let d = self.vars[o as usize].details as usize;
                    let e = &self.edges_of(d)[edge as usize];
                    let owner = self.vars[o as usize].name;
                    let by = self.names[owner as usize].text;
                    if self.names[owner as usize].stage.is_some() {
                        for c in self.true_cands(cid).filter(|v| kept[*v as usize]) {
                            let cn = self.vars[c as usize].name as usize;
                            if self.names[cn].stage.is_some() {
                                deps.entry(by.to_string())
                                    .or_default()
                                    .insert(self.names[cn].text.to_string());
                            }
                        }
                    }
                    let kind = WhyKind::Required {
                        by: table.add(&mut table_name, owner, by),
                        by_version: table.version(self.versions[o as usize]),
                        via: table.add(&mut table_name, e.name, self.names[e.name as usize].text),
                    };
                    let range = table.range(&e.range);
                    (kind, range, table.location(e.location), Some(e.name))
                }
                _ => continue,
            };
            let i = slot[first as usize];
            if i == NONE {
                continue;
            }
            let pick = match via {
                Some(via) if via != self.vars[first as usize].name => {
                    let cname = self.names[self.vars[first as usize].name as usize].text;
                    self.pick(via, cname)
                }
                _ => Pick::Other,
            };
            records.push((
                i,
                WhyRecord {
                    kind,
                    range,
                    pick,
                    location,
                },
            ));
        }
        self.active = active;
        let spans = group_by_component(&mut table, records, chosen.len());
        let table = Arc::new(table);
        let components: BTreeMap<String, Chosen> = chosen
            .iter()
            .zip(&spans)
            .map(|(&(_, text, v), &(first, len))| {
                let vd = &self.vars[v as usize];
                let ch = Chosen {
                    version: self.versions[v as usize].clone(),
                    release_index: vd.rel as usize,
                    stage: self.names[vd.name as usize].stage,
                    why: Whys::lazy(table.clone(), first, len),
                };
                (text.to_string(), ch)
            })
            .collect();
        let start = crate::order::start_order(&components, &deps)?;
        Ok(Resolution {
            components,
            external,
            start,
            stats: self.stats,
        })
    }

    /// Why ask `i` puts its pick in the resolution: its kind, range and place, and the
    /// capability it asked for (when it names one the pick provides).
    fn ask_why(
        &self,
        i: u32,
        table: &mut WhyTable,
        table_name: &mut [u32],
    ) -> (WhyKind, RangeRecord, u32, Option<u32>) {
        let a = &self.asks[i as usize];
        // Interned when the search began: by the address of its text, else by the text.
        let n = match self.by_address.get(&(a.name.as_ptr() as usize)) {
            Some(&n) if self.names[n as usize].text == a.name => n,
            _ => self.index[a.name],
        };
        let (kind, via) = match &a.kind {
            AskKind::Component | AskKind::External => (WhyKind::Asked, None),
            AskKind::Capability => (
                WhyKind::AskedCapability {
                    capability: table.add(table_name, n, a.name),
                },
                Some(n),
            ),
            AskKind::Bootable => (
                WhyKind::Bootable {
                    capability: table.add(table_name, n, a.name),
                },
                Some(n),
            ),
            AskKind::Recommended { by, by_version } => (
                WhyKind::Recommended {
                    by: table.add(table_name, self.index[*by], by),
                    by_version: table.version(by_version),
                    via: table.add(table_name, n, a.name),
                },
                None,
            ),
        };
        let range = table.range(&a.range);
        (kind, range, table.location(a.location), via)
    }

    pub(crate) fn pick(&mut self, via: u32, chosen: &str) -> Pick {
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

    /// The first `recommends` edge of a chosen release that the solution does not meet
    /// and that was not tried yet, in a stable order.
    pub(crate) fn next_recommendation(
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
            for ei in 0..self.rels[d].edge_count as usize {
                let e = &self.edges_of(d)[ei];
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
                    // Only releases with a variable can be chosen.
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

/// Groups the records by component (a counting sort of their indexes: the records
/// themselves stay where they are) into `table`; returns each of the `components`' span
/// of `table.order`, as (first, len).
fn group_by_component(
    table: &mut WhyTable,
    records: Vec<(u32, WhyRecord)>,
    components: usize,
) -> Vec<(u32, u32)> {
    let mut spans: Vec<(u32, u32)> = vec![(0, 0); components];
    for (i, _) in &records {
        spans[*i as usize].1 += 1;
    }
    let mut at = 0;
    for sp in &mut spans {
        sp.0 = at;
        at += sp.1;
    }
    let mut fill: Vec<u32> = spans.iter().map(|sp| sp.0).collect();
    table.order = vec![0; records.len()];
    for (k, (i, _)) in records.iter().enumerate() {
        table.order[fill[*i as usize] as usize] = k as u32;
        fill[*i as usize] += 1;
    }
    table.records = records.into_iter().map(|r| r.1).collect();
    spans
}

#[cfg(test)]
mod tests {
    use crate::request::{Ask, Request};
    use crate::search::{pos, Origin, Reason, Solver};
    use crate::testing::Tiny;
    use crate::Why;

    #[test]
    fn a_requirement_met_twice_keeps_only_the_release_it_picks() {
        // Both a and b provide x; the request asks for x and both ended up true.
        let p = Tiny::default()
            .cap("x", false, None)
            .comp("a", &["1.0.0"], &["provides x 1.0.0"])
            .comp("b", &["1.0.0"], &["provides x 1.0.0"]);
        let mut req = Request::new();
        req.capabilities.insert("x".into(), Ask::any());
        let mut s = Solver::new(&p, &req, &[]);
        let x = s.intern("x");
        let cands: Vec<u32> = s
            .matching(x, &crate::provider::Range::Any, false, true)
            .into_iter()
            .map(pos)
            .collect();
        let (cid, _) = s.add_clause(&cands, Origin::Ask(0), 0);
        s.active.push(cid);
        for l in cands {
            s.trail_lim.push(s.trail.len() as u32);
            s.active_lim.push(s.active.len() as u32);
            s.assign(l, Reason::None);
        }
        assert!(s.propagate().is_none());
        let (a, b) = (s.intern("a"), s.intern("b"));
        let (a1, b1) = (s.make_vars(a)[0], s.make_vars(b)[0]);
        let kept = s.prune();
        assert!(
            kept[a1 as usize] != kept[b1 as usize],
            "one of them is enough"
        );
        let res = s.extract().expect("a resolution");
        assert_eq!(res.components.len(), 1);
        let only = res.components.values().next().expect("one component");
        assert!(matches!(
            &only.why[..],
            [Why::AskedCapability { capability, .. }] if capability == "x"
        ));
    }

    #[test]
    fn components_come_out_by_name_with_their_reasons() {
        let p = Tiny::default()
            .comp("zed", &["1.0.0"], &["requires ab ^1"])
            .comp("ab", &["2.0.0", "1.5.0", "1.0.0"], &[]);
        let mut req = Request::new();
        req.components.insert("zed".into(), Ask::any());
        let res = crate::search::resolve(&p, &req).expect("solvable");
        assert_eq!(res.components.keys().collect::<Vec<_>>(), ["ab", "zed"]);
        let ab = &res.components["ab"];
        assert_eq!(ab.version.to_string(), "1.5.0", "newest in ^1");
        assert_eq!(ab.release_index, 1, "the provider's own position");
        assert_eq!(
            ab.why.iter().map(|w| w.describe()).collect::<Vec<_>>(),
            ["required by zed 1.0.0 (ab ^1)"]
        );
    }
}
