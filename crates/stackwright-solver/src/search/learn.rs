//! Conflict analysis: 1-UIP learning, and the antecedents kept so a refusal can be traced
//! back to original rules.

use crate::provider::Provider;

use super::{neg, var, Lit, Origin, Reason, Solver, Var, NONE};

/// Room for a learned clause and its antecedents before they grow (most are short).
const LEARNT: usize = 32;

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

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    pub(crate) fn conflict_lits(&self, c: Conflict, out: &mut Vec<Lit>) {
        out.clear();
        match c {
            Conflict::Clause(cid) => out.extend_from_slice(self.clause_lits(cid)),
            Conflict::Amo { a, b, .. } => {
                out.push(neg(a));
                out.push(neg(b));
            }
        }
    }

    pub(crate) fn reason_lits(&self, v: Var, out: &mut Vec<Lit>) -> Ante {
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

    pub(crate) fn conflict_ante(c: Conflict) -> Ante {
        match c {
            Conflict::Clause(cid) => Ante::Clause(cid),
            Conflict::Amo { a, b, group } => Ante::Amo { a, b, group },
        }
    }

    /// 1-UIP analysis. Returns the learned clause (asserting literal first), the level to
    /// jump back to, and the antecedents it was derived from.
    pub(crate) fn analyze(&mut self, c: Conflict) -> (Vec<Lit>, u32, Vec<Ante>) {
        let cur = self.decision_level();
        let mut learnt: Vec<Lit> = Vec::with_capacity(LEARNT);
        learnt.push(0);
        let mut ante = Vec::new();
        if self.record {
            ante.reserve(LEARNT);
            ante.push(Self::conflict_ante(c));
        }
        // Buffers kept from one analysis to the next.
        let mut buf = std::mem::take(&mut self.analyze_buf);
        let mut to_clear = std::mem::take(&mut self.analyze_clear);
        to_clear.clear();
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
                    if self.record {
                        ante.push(Ante::Zero(v));
                    }
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
            if self.record {
                ante.push(a);
            }
        }
        // A conflict of the count bound (see `fewest`) is about every chosen release at
        // once, not about some components: it raises no activity (on a large answer,
        // making each of its thousand components hot would cost more than the search).
        let bump = !matches!(
            c,
            Conflict::Clause(cid) if self.clauses[cid as usize].origin == Origin::Learned(NONE)
        );
        for &v in &to_clear {
            self.seen[v as usize] = false;
            if bump && self.level[v as usize] > 0 {
                let n = self.vars[v as usize].name;
                self.bump(n);
            }
        }
        self.analyze_buf = buf;
        self.analyze_clear = to_clear;
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

    pub(crate) fn conflict_max_level(&self, c: Conflict) -> u32 {
        let level = |l: &Lit| self.level[var(*l) as usize];
        match c {
            Conflict::Clause(cid) => self.clause_lits(cid).iter().map(level).max().unwrap_or(0),
            Conflict::Amo { a, b, .. } => level(&neg(a)).max(level(&neg(b))),
        }
    }

    pub(crate) fn final_conflict(&mut self, c: Conflict) {
        let mut ante = vec![Self::conflict_ante(c)];
        let mut buf = Vec::new();
        self.conflict_lits(c, &mut buf);
        for l in buf {
            ante.push(Ante::Zero(var(l)));
        }
        self.final_proof = ante;
    }
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{neg, pos, Ante, Reason, Solver};
    use crate::testing::Tiny;

    #[test]
    fn a_conflict_at_one_level_learns_the_negated_decision() {
        // a needs b and c; b and c conflict.
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &["requires b *", "requires c *"])
            .comp("b", &["1.0.0"], &["conflicts c *"])
            .comp("c", &["1.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        s.load(a);
        let a1 = s.make_vars(a)[0];
        s.trail_lim.push(0);
        s.active_lim.push(0);
        s.assign(pos(a1), Reason::None);
        let c = s.propagate().expect("b and c cannot both be chosen");
        let (learnt, back_to, ante) = s.analyze(c);
        assert_eq!(learnt, [neg(a1)]);
        assert_eq!(back_to, 0);
        assert!(
            ante.iter().filter(|x| matches!(x, Ante::Clause(_))).count() >= 2,
            "the conflict and the reasons it used are kept: {ante:?}"
        );
        assert!(s.seen.iter().all(|x| !x), "analysis leaves no marks behind");
    }
}
