//! The assignment (values, levels, reasons, trail), backjumping, and the decision rule
//! (first unmet requirement, activity first, first open candidate).

use crate::provider::Provider;

use super::{is_neg, var, Lit, Solver, Var, NONE};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    None,
    Clause(u32),
    /// Set false because `other` (in the same group) is true.
    Amo {
        other: Var,
        group: u32,
    },
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    // ---------------------------------------------------------------------------------
    // Assignment and clauses.

    #[inline]
    pub(crate) fn lit_value(&self, l: Lit) -> i8 {
        let v = self.value[var(l) as usize];
        if is_neg(l) {
            -v
        } else {
            v
        }
    }

    #[inline]
    pub(crate) fn decision_level(&self) -> u32 {
        self.trail_lim.len() as u32
    }

    /// Assigns `l`. An implied literal takes the highest level among its reason's other
    /// literals, not the current one: with chronological backtracking (see `solve`) a
    /// literal may be implied below the current decision level.
    pub(crate) fn assign(&mut self, l: Lit, r: Reason) {
        let v = var(l) as usize;
        debug_assert_eq!(self.value[v], 0);
        let lvl = match r {
            Reason::None => self.decision_level(),
            Reason::Amo { other, .. } => self.level[other as usize],
            Reason::Clause(cid) => {
                let c = &self.clauses[cid as usize];
                self.lits[c.start as usize..(c.start + c.len) as usize]
                    .iter()
                    .filter(|x| var(**x) as usize != v)
                    .map(|x| self.level[var(*x) as usize])
                    .max()
                    .unwrap_or(0)
            }
        };
        self.value[v] = if is_neg(l) { -1 } else { 1 };
        if !is_neg(l) && !self.vars[v].external {
            self.chosen_count += 1;
        }
        self.level[v] = lvl;
        self.reason[v] = r;
        self.trail.push(l);
        self.stats.propagations += 1;
    }

    /// Undoes every assignment above level `lvl`. Assignments at or below it that sit
    /// higher on the trail (implied out of order) stay, moved down, and are propagated
    /// again so their requirements become active again.
    pub(crate) fn backjump(&mut self, lvl: u32) {
        if self.decision_level() <= lvl {
            return;
        }
        let t = self.trail_lim[lvl as usize] as usize;
        let mut w = t;
        for i in t..self.trail.len() {
            let l = self.trail[i];
            let v = var(l) as usize;
            if self.level[v] > lvl {
                if self.value[v] == 1 && !self.vars[v].external {
                    self.chosen_count -= 1;
                }
                self.value[v] = 0;
                self.reason[v] = Reason::None;
                self.stats.undone += 1;
            } else {
                self.trail[w] = l;
                w += 1;
            }
        }
        self.trail.truncate(w);
        self.qhead = t;
        let a = self.active_lim[lvl as usize] as usize;
        self.active.truncate(a);
        self.hot_active.retain(|p| (*p as usize) < a);
        self.trail_lim.truncate(lvl as usize);
        self.active_lim.truncate(lvl as usize);
        self.scan = 0;
    }

    /// Whether active clause `cid` is met; if not, its first open candidate.
    pub(crate) fn open_candidate(&mut self, cid: u32) -> Result<(), Option<Lit>> {
        let c = &self.clauses[cid as usize];
        let (start, cand, end) = (c.start, c.start + c.cand as u32, c.start + c.len);
        if c.pref > 0 {
            // The preferred provider first, even when another candidate already meets the
            // clause: met only once a preferred release is true or none is left.
            let mut open = NONE;
            for p in cand..cand + c.pref as u32 {
                match self.lit_value(self.lits[p as usize]) {
                    1 => return Ok(()),
                    0 if open == NONE => open = p,
                    _ => {}
                }
            }
            if open != NONE {
                return Err(Some(self.lits[open as usize]));
            }
        }
        let hint = c.start + c.hint;
        if hint < end && self.lit_value(self.lits[hint as usize]) == 1 {
            return Ok(());
        }
        let mut open = NONE;
        for p in cand..end {
            match self.lit_value(self.lits[p as usize]) {
                1 => {
                    self.clauses[cid as usize].hint = p - start;
                    return Ok(());
                }
                0 if open == NONE => open = p,
                _ => {}
            }
        }
        Err((open != NONE).then(|| self.lits[open as usize]))
    }

    /// The next decision. The first active requirement no true candidate meets (in the
    /// order requirements became active) is the default; a requirement on a component
    /// that took part in recent conflicts (higher activity) goes first, as in resolvo and
    /// VSIDS. The chosen candidate is the requirement's first open one, so preferences
    /// hold.
    pub(crate) fn decide(&mut self) -> Option<Lit> {
        let mut best: Option<(u32, f64, Lit)> = None;
        while self.scan < self.active.len() {
            let cid = self.active[self.scan];
            match self.open_candidate(cid) {
                Ok(()) | Err(None) => self.scan += 1,
                Err(Some(l)) => {
                    let t = self.clauses[cid as usize].target;
                    best = Some((self.scan as u32, self.activity[t as usize], l));
                    break;
                }
            }
        }
        let (first, mut best_act, mut lit) = best?;
        let mut i = 0;
        while i < self.hot_active.len() {
            let pos = self.hot_active[i];
            i += 1;
            if pos <= first {
                continue;
            }
            let cid = self.active[pos as usize];
            let act = self.activity[self.clauses[cid as usize].target as usize];
            if act <= best_act {
                continue;
            }
            if let Err(Some(l)) = self.open_candidate(cid) {
                best_act = act;
                lit = l;
            }
        }
        Some(lit)
    }

    /// Raises the activity of a component taking part in a conflict.
    pub(crate) fn bump(&mut self, n: u32) {
        let a = &mut self.activity[n as usize];
        *a += self.bump_inc;
        if *a > 1e100 {
            for x in &mut self.activity {
                *x *= 1e-100;
            }
            self.bump_inc *= 1e-100;
        }
        if !self.hot[n as usize] {
            self.hot[n as usize] = true;
            for (pos, &cid) in self.active.iter().enumerate() {
                if self.clauses[cid as usize].target == n {
                    self.hot_active.push(pos as u32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{pos, Origin, Reason, Solver};
    use crate::testing::Tiny;

    #[test]
    fn decides_the_first_open_candidate_and_backjumps_cleanly() {
        let p = Tiny::default()
            .comp("a", &["1.0.0", "3.0.0", "2.0.0"], &[])
            .comp("b", &["1.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        let b = s.intern("b");
        s.load(a);
        s.load(b);
        let lits: Vec<u32> = s.make_vars(a).into_iter().map(pos).collect();
        let (cid, _) = s.add_clause(&lits, Origin::Ask(0), 0);
        s.clauses[cid as usize].target = a;
        s.active.push(cid);
        let first = s.decide().expect("an open requirement");
        assert_eq!(first, pos(s.make_vars(a)[0]), "newest release first");
        s.trail_lim.push(s.trail.len() as u32);
        s.active_lim.push(s.active.len() as u32);
        s.assign(first, Reason::None);
        assert_eq!(s.decide(), None, "the requirement is met");
        let b1 = s.make_vars(b)[0];
        s.trail_lim.push(s.trail.len() as u32);
        s.active_lim.push(s.active.len() as u32);
        s.assign(pos(b1), Reason::None);
        assert_eq!(s.decision_level(), 2);
        s.backjump(1);
        assert_eq!(s.decision_level(), 1);
        assert_eq!(s.value[b1 as usize], 0, "level 2 is undone");
        let a_newest = s.make_vars(a)[0];
        assert!(s.is_true(a_newest), "level 1 stays");
        assert_eq!(s.trail.len(), 1);
    }
}
