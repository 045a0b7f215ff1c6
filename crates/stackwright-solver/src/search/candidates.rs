//! The candidates of a requirement, in SPEC §4's preference order.

use crate::provider::{Provider, Range};

use super::{pos, Forbid, Lit, Solver, Var};

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// Every release that is `n` in `range` (or, with `complement`, that is `n` or provides
    /// it *outside* `range`), allowed ones only, in preference order.
    pub(crate) fn matching(
        &mut self,
        n: u32,
        range: &Range<'a>,
        complement: bool,
        cap_pref: bool,
    ) -> Vec<Var> {
        self.load(n);
        let no_providers = !self.has_providers(n);
        if no_providers && self.req.locked.is_empty() {
            return self.own_matching(n, range, complement);
        }
        let mut groups: Vec<(u8, u32, Vec<Var>)> = Vec::new();
        // The component itself.
        let own = self.own_matching(n, range, complement);
        let prefer_pkg = if cap_pref {
            self.req
                .prefer
                .get(self.names[n as usize].text)
                .map(|p| p.value.as_str())
        } else {
            None
        };
        let default_pkg = if cap_pref {
            self.cap(n).and_then(|c| c.default)
        } else {
            None
        };
        let rank = |t: &str| -> u8 {
            if Some(t) == prefer_pkg {
                0
            } else if Some(t) == default_pkg {
                1
            } else {
                3
            }
        };
        if !own.is_empty() {
            let r = rank(self.names[n as usize].text).min(2);
            groups.push((r, n, own));
        }
        for q in self.providers(n) {
            self.load(q);
            let mut list = Vec::new();
            for slot in self.slots_of(q) {
                if self.slot_forbid[slot as usize] != Forbid::No {
                    continue;
                }
                let v = self.var_at(q, slot);
                let d = self.details(v);
                let hit = self
                    .provides(d)
                    .iter()
                    .any(|(c, pv)| *c == n && (range.contains(pv) != complement));
                if hit {
                    list.push(v);
                }
            }
            if !list.is_empty() {
                groups.push((rank(self.names[q as usize].text), q, list));
            }
        }
        if groups.len() > 1 {
            let names = &self.names;
            groups.sort_by(|a, b| {
                (a.0, names[a.1 as usize].text).cmp(&(b.0, names[b.1 as usize].text))
            });
        }
        // An optimising search keeps the preferences the first answer kept (see `fewest`).
        if cap_pref && groups.first().is_some_and(|g| g.0 <= 1) && self.keeps_preference(n) {
            groups.truncate(1);
        }
        let mut out = Vec::new();
        for (_, q, mut list) in groups {
            if let Some(lv) = self.req.locked.get(self.names[q as usize].text) {
                if let Some(i) = list.iter().position(|v| self.versions[*v as usize] == lv) {
                    let v = list.remove(i);
                    list.insert(0, v);
                }
            }
            out.extend(list);
        }
        out
    }

    /// Appends the positive literals of `matching(n, range, false, true)` to `out`, without
    /// building intermediate lists when `n` has no other providers.
    pub(crate) fn matching_lits(&mut self, n: u32, range: &Range<'a>, out: &mut Vec<Lit>) {
        self.load(n);
        let no_providers = !self.has_providers(n);
        if no_providers && self.req.locked.is_empty() {
            let r = self.slots_of(n);
            let count = r.len();
            let (lo, hi) = match range.as_window().unwrap_or(range) {
                Range::Any => (0, count),
                Range::Between { min, below } => {
                    let lo = below.map_or(0, |b| self.at_or_above(n, b));
                    let hi = min.map_or(count, |m| self.at_or_above(n, m));
                    (lo, hi.max(lo))
                }
                Range::Req(_) => {
                    for slot in r {
                        if self.slot_forbid[slot as usize] == Forbid::No
                            && range.contains(self.slot_version[slot as usize])
                        {
                            out.push(pos(self.var_at(n, slot)));
                        }
                    }
                    return;
                }
            };
            for slot in r.start + lo as u32..r.start + hi as u32 {
                if self.slot_forbid[slot as usize] == Forbid::No {
                    out.push(pos(self.var_at(n, slot)));
                }
            }
            return;
        }
        let cands = self.matching(n, range, false, true);
        out.extend(cands.iter().map(|&c| pos(c)));
    }

    /// The allowed releases of `n` itself in `range` (or, with `complement`, outside it),
    /// newest first, their variables made.
    pub(crate) fn own_matching(&mut self, n: u32, range: &Range<'a>, complement: bool) -> Vec<Var> {
        let r = self.slots_of(n);
        let count = r.len();
        let (lo, hi) = match (range.as_window(), complement) {
            (Some(Range::Any), false) => (0, count),
            (Some(Range::Any), true) => (0, 0),
            (Some(Range::Between { min, below }), false) => {
                // Newest first: versions >= below come first, then the window, then < min.
                let lo = below.map_or(0, |b| self.at_or_above(n, b));
                let hi = min.map_or(count, |m| self.at_or_above(n, m));
                (lo, hi.max(lo))
            }
            _ => {
                let mut out = Vec::new();
                for slot in r {
                    if self.slot_forbid[slot as usize] == Forbid::No
                        && range.contains(self.slot_version[slot as usize]) != complement
                    {
                        out.push(self.var_at(n, slot));
                    }
                }
                return out;
            }
        };
        let mut out = Vec::with_capacity(hi - lo);
        for slot in r.start + lo as u32..r.start + hi as u32 {
            if self.slot_forbid[slot as usize] == Forbid::No {
                out.push(self.var_at(n, slot));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::provider::Range;
    use crate::request::{Placed, Request};
    use crate::search::Solver;
    use crate::testing::{v, Tiny};

    fn cri_registry() -> Tiny {
        Tiny::default()
            .cap("cri", false, Some("containerd"))
            .comp("containerd", &["1.7.0", "2.0.0"], &["provides cri 1.0.0"])
            .comp("crio", &["1.30.0"], &["provides cri 1.0.0"])
            .comp("aaa", &["1.0.0"], &["provides cri 1.0.0"])
    }

    fn order(p: &Tiny, req: &Request) -> Vec<String> {
        let mut s = Solver::new(p, req, &[]);
        let n = s.intern("cri");
        s.matching(n, &Range::Any, false, true)
            .into_iter()
            .map(|x| {
                let name = s.names[s.vars[x as usize].name as usize].text;
                format!("{name} {}", s.versions[x as usize])
            })
            .collect()
    }

    #[test]
    fn default_provider_then_others_by_name_newest_first() {
        let p = cri_registry();
        assert_eq!(
            order(&p, &Request::new()),
            [
                "containerd 2.0.0",
                "containerd 1.7.0",
                "aaa 1.0.0",
                "crio 1.30.0"
            ]
        );
    }

    #[test]
    fn prefer_comes_before_the_default_and_the_lock_before_newest() {
        let p = cri_registry();
        let mut req = Request::new();
        req.prefer
            .insert("cri".into(), Placed::new("crio".to_string()));
        req.locked.insert("containerd".into(), v("1.7.0"));
        assert_eq!(
            order(&p, &req),
            [
                "crio 1.30.0",
                "containerd 1.7.0",
                "containerd 2.0.0",
                "aaa 1.0.0"
            ]
        );
    }
}
