//! Clauses: where each comes from (`Origin`), adding one, and the original clauses a
//! release brings the first time it is set true (requirements, exclusions, kernel needs,
//! `one` capability groups).

use stackwright_types::manifest::DepKind;

use crate::provider::{Provider, Range};

use super::{neg, var, Conflict, Lit, Reason, Solver, Var, NONE};

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
    /// How many candidates, from `cand` on, are releases of the user's `[prefer]`red
    /// provider of `target` (0 when there is no preference): the decision rule treats the
    /// clause as open while one of those is still possible (SPEC §4: prefer first).
    pub pref: u16,
    pub hint: u32,
    /// For requirement and ask clauses: the name asked for (drives the decision order).
    pub target: u32,
    /// The next clause in the watch list of each watched literal.
    pub next: [u32; 2],
}

/// A rule as a person states it, the unit explanations are minimised over: one thing
/// the request asks, or one edge of a component over all its releases (`a requires b`,
/// `a conflicts with c`), or a component's kernel needs. A search can be limited to a set
/// of these (`Solver::allow`); `[external]` pins and the structural rules (one release
/// per component, `one` capabilities, exclusions, arch, policy) always hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RuleKey<'a> {
    Ask(u32),
    Edge {
        owner: &'a str,
        kind: DepKind,
        name: &'a str,
    },
    Kernel {
        owner: &'a str,
    },
}

/// The group id standing for "the releases of one component".
pub(crate) const PKG_GROUP: u32 = u32::MAX;

/// A `one` capability: at most one of `members` (releases of its providers) is true.
pub(crate) struct Group {
    pub cap: u32,
    pub members: Vec<Var>,
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// The rule an original clause comes from (`None` for learned clauses).
    pub(crate) fn rule_key(&self, cid: u32) -> Option<RuleKey<'a>> {
        let owner_of = |v: Var| self.names[self.vars[v as usize].name as usize].text;
        match self.clauses[cid as usize].origin {
            Origin::Ask(i) => Some(RuleKey::Ask(i)),
            Origin::Requires { var, edge } | Origin::Excludes { var, edge, .. } => {
                let d = self.vars[var as usize].details as usize;
                let e = &self.edges_of(d)[edge as usize];
                Some(RuleKey::Edge {
                    owner: owner_of(var),
                    kind: e.kind,
                    name: self.names[e.name as usize].text,
                })
            }
            Origin::Kernel { var, .. } => Some(RuleKey::Kernel {
                owner: owner_of(var),
            }),
            Origin::Learned(_) => None,
        }
    }

    /// Whether the search may use `key` (every rule, unless `allow` limits them).
    #[inline]
    pub(crate) fn allowed(&self, key: &RuleKey<'a>) -> bool {
        self.allow.as_ref().is_none_or(|a| a.contains(key))
    }

    pub(crate) fn clause_lits(&self, c: u32) -> &[Lit] {
        let c = &self.clauses[c as usize];
        &self.lits[c.start as usize..(c.start + c.len) as usize]
    }

    /// Adds a clause and watches it according to the current assignment. Returns what it
    /// means right now: `Some(Ok(lit))` a unit to assign, `Some(Err(()))` a conflict.
    pub(crate) fn add_clause(
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
            pref: 0,
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
    pub(crate) fn activate(&mut self, v: Var) -> Option<Conflict> {
        self.vars[v as usize].activated = true;
        let d = self.details(v) as usize;
        let me = self.vars[v as usize].name;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        // `one` capability groups.
        for pi in 0..self.provides(d as u32).len() {
            let c = self.provides(d as u32)[pi].0;
            if self.cap(c).is_some_and(|ci| ci.one) {
                self.ensure_group(c);
            }
        }
        let mut lits = std::mem::take(&mut self.scratch);
        if !self.vars[v as usize].external {
            let n_edges = self.rels[d].edge_count as usize;
            for ei in 0..n_edges {
                let (kind, name, range) = {
                    let e = &self.edges_of(d)[ei];
                    (e.kind, e.name, e.range.clone())
                };
                if self.allow.is_some() {
                    let key = RuleKey::Edge {
                        owner: self.names[me as usize].text,
                        kind,
                        name: self.names[name as usize].text,
                    };
                    if !self.allowed(&key) {
                        continue;
                    }
                }
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
                        self.set_target(r.0, name);
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
            let x = self.extra(d as u32);
            let (kmin, kneeds) = (x.kernel_min, x.kernel_needs);
            let kernel_rule = RuleKey::Kernel {
                owner: self.names[me as usize].text,
            };
            if (kmin.is_some() || !kneeds.is_empty()) && self.allowed(&kernel_rule) {
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

    /// Records the name a requirement or ask clause is about and, when the request has a
    /// `[prefer]` for it, how many of its leading candidates are the preferred provider's.
    pub(crate) fn set_target(&mut self, cid: u32, name: u32) {
        self.clauses[cid as usize].target = name;
        let Some(pref) = self.req.prefer.get(self.names[name as usize].text) else {
            return;
        };
        let c = &self.clauses[cid as usize];
        let n = self.lits[(c.start + c.cand as u32) as usize..(c.start + c.len) as usize]
            .iter()
            .take_while(|l| {
                self.names[self.vars[var(**l) as usize].name as usize].text == pref.value
            })
            .count();
        self.clauses[cid as usize].pref = n.min(u16::MAX as usize) as u16;
    }

    /// `None` when kernel release `k` meets every kernel need of release `v`; otherwise
    /// the first need it misses, as text.
    pub(crate) fn kernel_meets(&mut self, k: Var, v: Var) -> Option<String> {
        let dv = self.details(v);
        let dk = self.details(k);
        let kn = self.kernel_name;
        let kver = self
            .provides(dk)
            .iter()
            .find(|p| p.0 == kn)
            .map(|p| p.1.clone())
            .unwrap_or_else(|| self.versions[k as usize].clone());
        if let Some(min) = self.extra(dv).kernel_min {
            let mut plain = kver.clone();
            plain.pre = semver::Prerelease::EMPTY;
            plain.build = semver::BuildMetadata::EMPTY;
            if &plain < min {
                return Some(format!("a kernel >= {min}"));
            }
        }
        for need in self.extra(dv).kernel_needs {
            let have = self
                .extra(dk)
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

    pub(crate) fn ensure_group(&mut self, c: u32) {
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
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{neg, pos, Origin, Solver};
    use crate::testing::Tiny;

    #[test]
    fn activating_a_release_adds_its_requirements_and_exclusions() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b >=1", "conflicts c ^2"])
            .comp("b", &["1.0.0", "2.0.0"], &[])
            .comp("c", &["1.0.0", "2.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let (a, b, c) = (s.intern("a"), s.intern("b"), s.intern("c"));
        s.load(a);
        let a1 = s.make_vars(a)[0];
        assert!(s.activate(a1).is_none());
        let (b2, b1) = (s.make_vars(b)[0], s.make_vars(b)[1]);
        let c2 = s.make_vars(c)[0];
        let got: Vec<(Vec<u32>, Origin)> = (0..s.clauses.len() as u32)
            .map(|i| (s.clause_lits(i).to_vec(), s.clauses[i as usize].origin))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    vec![neg(a1), pos(b2), pos(b1)],
                    Origin::Requires { var: a1, edge: 0 }
                ),
                (
                    vec![neg(a1), neg(c2)],
                    Origin::Excludes {
                        var: a1,
                        edge: 1,
                        target: c2
                    }
                ),
            ]
        );
        let d = s.vars[a1 as usize].details as usize;
        assert_eq!((s.rels[d].req_first, s.rels[d].req_count), (0, 1));
    }
}
