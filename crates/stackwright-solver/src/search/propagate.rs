//! Unit propagation over watched literals (watch lists linked through the clauses) and the
//! native "at most one" groups.

use crate::provider::Provider;

use super::{is_neg, neg, var, Conflict, Reason, Solver, NONE, PKG_GROUP};

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// Puts clause `cid` at the head of the watch list of its `k`-th watched literal.
    #[inline]
    pub(crate) fn watch(&mut self, cid: u32, k: usize) {
        let l = self.lits[self.clauses[cid as usize].w[k] as usize] as usize;
        self.clauses[cid as usize].next[k] = self.watch_head[l];
        self.watch_head[l] = cid;
    }

    pub(crate) fn propagate(&mut self) -> Option<Conflict> {
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
                // At most one release of this component: only the releases that have a
                // variable (candidates somewhere) need ruling out; one made later is ruled
                // out as it is made (`var_at`).
                let n = self.vars[v as usize].name;
                let mut u = self.names[n as usize].vars;
                while u != NONE {
                    if u != v {
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
                    u = self.vars[u as usize].sibling;
                }
                let gs: Vec<u32> = if self.var_groups.is_empty() {
                    Vec::new()
                } else {
                    self.var_groups.get(&v).cloned().unwrap_or_default()
                };
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
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{pos, var, Conflict, Reason, Solver, PKG_GROUP};
    use crate::testing::Tiny;

    /// Opens decision level 1 and decides `lit` there.
    fn decide<P: crate::Provider + ?Sized>(s: &mut Solver<'_, P>, lit: u32) {
        s.trail_lim.push(s.trail.len() as u32);
        s.active_lim.push(s.active.len() as u32);
        s.assign(lit, Reason::None);
    }

    #[test]
    fn a_true_release_rules_out_its_siblings_and_forces_a_lone_candidate() {
        let p = Tiny::default()
            .comp("a", &["1.0.0", "2.0.0"], &["requires b ^1"])
            .comp("b", &["1.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        s.load(a);
        let (a2, a1) = (s.make_vars(a)[0], s.make_vars(a)[1]);
        decide(&mut s, pos(a2));
        assert!(s.propagate().is_none());
        assert_eq!(s.value[a1 as usize], -1);
        assert_eq!(
            s.reason[a1 as usize],
            Reason::Amo {
                other: a2,
                group: PKG_GROUP
            }
        );
        let b = s.intern("b");
        let b1 = s.make_vars(b)[0];
        assert!(
            s.is_true(b1),
            "the only candidate of a's requirement is implied"
        );
        assert!(matches!(s.reason[b1 as usize], Reason::Clause(_)));
        assert_eq!(s.level[b1 as usize], 1);
        assert_eq!(s.active.len(), 1, "a's requirement became active");
    }

    #[test]
    fn a_requirement_nothing_meets_is_a_conflict() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b ^2"])
            .comp("b", &["1.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        s.load(a);
        let a1 = s.make_vars(a)[0];
        decide(&mut s, pos(a1));
        let Some(Conflict::Clause(c)) = s.propagate() else {
            panic!("expected a clause conflict")
        };
        let lits: Vec<u32> = s.clause_lits(c).iter().map(|l| var(*l)).collect();
        assert_eq!(lits, [a1], "¬a alone: b has no release in ^2");
    }
}
