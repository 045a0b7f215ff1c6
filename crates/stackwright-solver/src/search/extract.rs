//! After a solution: pruning what nothing needs, building the `Resolution` with the
//! reasons of each component, and the next `recommends` edge to try.

use std::collections::{BTreeMap, BTreeSet};

use stackwright_types::manifest::DepKind;

use crate::intern::FxMap;
use crate::provider::Provider;
use crate::refusal::Refusal;
use crate::resolution::{Chosen, Pick, Resolution, Why};

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
            let mut cands: Vec<Var> = self.true_cands(cid).filter(|v| kept[*v as usize]).collect();
            if cands.is_empty() {
                continue;
            }
            // A requirement several chosen releases meet is written against the one it
            // picks (its first, in preference order), not against all: the others are
            // there for reasons of their own (pruning keeps nothing without one).
            let staged: Vec<Var> = cands.clone();
            cands.truncate(1);
            // The parts shared by every candidate of this clause.
            let (template, via) = match origin {
                Origin::Ask(i) => {
                    let a = &self.asks[i as usize];
                    let range = a.range.to_text();
                    let location = a.location.cloned();
                    let via = match &a.kind {
                        AskKind::Capability | AskKind::Bootable => Some(self.index[a.name]),
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
                        AskKind::Bootable => Why::Bootable {
                            capability: a.name.to_string(),
                            pick: Pick::Other,
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
                        for &c in &staged {
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
                        Why::Required { pick, .. }
                        | Why::AskedCapability { pick, .. }
                        | Why::Bootable { pick, .. } => *pick = p,
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
