//! What the search knows about names, components and releases: interned names, every
//! release of a loaded component as a *slot* (newest first; its version and whether it
//! is ruled out up front), release details asked of the provider once, and a variable
//! made only for a release that becomes a candidate somewhere (`var_at`).

use semver::Version;
use stackwright_types::manifest::{DepKind, KernelOption, Stage};
use stackwright_types::Location;

use crate::provider::{CapabilityInfo, Provider, Range};

use super::{neg, plain_vkey, vkey, Reason, Solver, Var, NONE, PKG_GROUP};

/// Why a release can never be chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Forbid {
    No,
    Excluded,
    Arch,
    Privileged,
    External,
}

/// How a component's slots map to the provider's release list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listed {
    /// The provider listed them newest first: slot `i` is release `i`.
    NewestFirst,
    /// Oldest first: slot `i` is release `n - 1 - i`.
    OldestFirst,
    /// In another order (or with an `[external]` version the registry does not list):
    /// `Solver::slot_rel` holds each slot's release index.
    Sorted,
}

pub(crate) struct NameData<'a> {
    pub text: &'a str,
    /// `intern::prefix_key(text)`: names order by it first.
    pub key: u64,
    pub loaded: bool,
    pub exists: bool,
    /// Its releases are slots `first .. first + n`, newest first.
    pub first: u32,
    pub n: u32,
    /// The variables made for its releases so far: a list linked through
    /// `VarData::sibling` (`NONE` when there are none).
    pub vars: u32,
    pub listed: Listed,
    /// An `[external]` pin names it (its pinned release is the one not ruled out).
    pub pinned: bool,
    pub stage: Option<Stage>,
    pub privileged: bool,
    /// Whether `Solver::caps` holds the provider's answer for this name.
    pub cap_loaded: bool,
    /// Index into `Solver::provider_lists` (`NONE` until asked; most names share the
    /// empty list at 0).
    pub providers: u32,
    pub group: u32,
    /// Every release version packs into a `vkey` (no pre-release or build part), so
    /// range bounds can be found by comparing integers.
    pub plain: bool,
}

/// A variable: one release that is a candidate somewhere.
pub(crate) struct VarData {
    pub name: u32,
    /// Position in the provider's release list; `NONE` for an `[external]` version the
    /// registry does not list.
    pub rel: u32,
    pub forbid: Forbid,
    pub details: u32,
    pub activated: bool,
    pub external: bool,
    /// The next variable of the same component (`NONE` at the end).
    pub sibling: u32,
}

pub(crate) struct EdgeData<'a> {
    pub kind: DepKind,
    pub name: u32,
    pub range: Range<'a>,
    pub location: Option<&'a Location>,
}

/// The rarer facts of a release (see `RelData::extra`).
#[derive(Default)]
pub(crate) struct RelExtra<'a> {
    pub provides: Vec<(u32, &'a Version)>,
    pub kernel_min: Option<&'a Version>,
    pub kernel_needs: &'a [KernelOption],
    pub kernel_config: &'a [KernelOption],
}

static NO_EXTRA: RelExtra<'static> = RelExtra {
    provides: Vec::new(),
    kernel_min: None,
    kernel_needs: &[],
    kernel_config: &[],
};

pub(crate) struct RelData<'a> {
    /// This release's edges: `Solver::edges[edge_first .. edge_first + edge_count]`.
    pub edge_first: u32,
    pub edge_count: u32,
    /// What it provides and its kernel facts, in `Solver::rel_extra` (`NONE`: nothing;
    /// few releases have any).
    pub extra: u32,
    pub location: Option<&'a Location>,
    /// The requirement clauses of this release: `req_first .. req_first + req_count`
    /// (requires edges sort first, so their clauses are added one after another).
    pub req_first: u32,
    pub req_count: u32,
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    // ---------------------------------------------------------------------------------
    // Names, components, releases.

    pub(crate) fn intern(&mut self, s: &'a str) -> u32 {
        // Providers lend the same name from the same place again and again: the address
        // finds it without hashing or comparing the text (an address and a length fix the
        // text, which is borrowed for `'a` and so cannot change).
        // One hash of the address and, for a name not seen at that address, one of the
        // text (entries, not a lookup and then an insert).
        let at = s.as_ptr() as usize;
        let by_address = match self.by_address.entry(at) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let i = *e.get();
                if self.names[i as usize].text.len() == s.len() {
                    return i;
                }
                None
            }
            std::collections::hash_map::Entry::Vacant(e) => Some(e),
        };
        let i = self.names.len() as u32;
        let i = match self.index.entry(s) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
                i
            }
        };
        if let Some(e) = by_address {
            e.insert(i);
        }
        if (i as usize) < self.names.len() {
            return i;
        }
        self.names.push(NameData {
            text: s,
            key: crate::intern::prefix_key(s),
            loaded: false,
            exists: false,
            first: 0,
            n: 0,
            vars: NONE,
            listed: Listed::NewestFirst,
            pinned: false,
            stage: None,
            privileged: false,
            cap_loaded: false,
            providers: NONE,
            group: NONE,
            plain: false,
        });
        self.activity.push(0.0);
        self.hot.push(false);
        i
    }

    /// Asks the provider for a component's releases (once) and records them as slots,
    /// newest first. No variable is made here (see `var_at`).
    pub(crate) fn load(&mut self, n: u32) {
        if self.names[n as usize].loaded {
            return;
        }
        self.names[n as usize].loaded = true;
        let text = self.names[n as usize].text;
        let Some(comp) = self.p.component(text) else {
            return;
        };
        self.stats.components_loaded += 1;
        let req = self.req;
        let excluded = req.exclude.contains_key(text);
        let priv_bad = comp.privileged && !req.privileged.value.allows(text);
        let external = req.external.get(text).map(|e| &e.value);
        let arch = req.arch.as_ref().map(|a| a.value);
        let (stage, privileged) = (comp.stage, comp.privileged);
        let forbid = |h: &crate::provider::ReleaseHead<'a>| {
            let mut f = Forbid::No;
            if let (Some(a), Some(list)) = (arch, h.arch) {
                if !list.contains(&a) {
                    f = Forbid::Arch;
                }
            }
            if priv_bad {
                f = Forbid::Privileged;
            }
            if excluded {
                f = Forbid::Excluded;
            }
            if let Some(ev) = external {
                f = if h.version == ev {
                    Forbid::No
                } else {
                    Forbid::External
                };
            }
            f
        };
        let first = self.slot_version.len() as u32;
        let rs = &comp.releases[..];
        // The order of the list, by packed keys when every version packs (the usual case),
        // each key computed once.
        let (mut all_plain, mut down, mut up) = (true, true, true);
        let mut prev = 0;
        for (i, h) in rs.iter().enumerate() {
            let k = vkey(h.version);
            if k == u64::MAX {
                all_plain = false;
                break;
            }
            if i > 0 {
                down &= prev > k;
                up &= prev < k;
            }
            prev = k;
        }
        let (newest_first, oldest_first) = if all_plain {
            (down, !down && up)
        } else {
            let down = rs.windows(2).all(|w| w[0].version > w[1].version);
            (
                down,
                !down && rs.windows(2).all(|w| w[0].version < w[1].version),
            )
        };
        // Nothing rules a release out by itself (the usual case): no check per release.
        let open = arch.is_none() && !priv_bad && !excluded && external.is_none();
        let listed = if external.is_none() && (newest_first || oldest_first) {
            // Providers usually list releases in order already, one way or the other: the
            // slots are made straight from the list.
            let n_rel = rs.len();
            self.slot_version.reserve(n_rel);
            self.slot_forbid.reserve(n_rel);
            for k in 0..n_rel {
                let i = if newest_first { k } else { n_rel - 1 - k };
                let h = &rs[i];
                self.slot_version.push(h.version);
                self.slot_forbid
                    .push(if open { Forbid::No } else { forbid(h) });
            }
            if newest_first {
                Listed::NewestFirst
            } else {
                Listed::OldestFirst
            }
        } else {
            let mut heads: Vec<(&'a Version, u32, Forbid)> = rs
                .iter()
                .enumerate()
                .map(|(i, h)| (h.version, i as u32, forbid(h)))
                .collect();
            if let Some(ev) = external {
                if !heads.iter().any(|h| h.0 == ev) {
                    heads.push((ev, NONE, Forbid::No));
                }
            }
            // Newest first; equal versions (a careless provider) by release index.
            heads.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(&b.1)));
            for (k, (v, rel, forbid)) in heads.into_iter().enumerate() {
                self.slot_rel.insert(first + k as u32, rel);
                self.slot_version.push(v);
                self.slot_forbid.push(forbid);
            }
            Listed::Sorted
        };
        let end = self.slot_version.len();
        self.slot_var.resize(end, NONE);
        let plain = all_plain && external.is_none_or(|ev| vkey(ev) != u64::MAX);
        let nd = &mut self.names[n as usize];
        nd.exists = true;
        nd.first = first;
        nd.n = end as u32 - first;
        nd.listed = listed;
        nd.pinned = external.is_some();
        nd.stage = stage;
        nd.privileged = privileged;
        nd.plain = plain;
    }

    /// The variable of slot `slot` (a release of component `n`), made the first time it
    /// is asked for. A component with a chosen release rules the new one out at once (at
    /// most one release per component), so no clause ever sees it open.
    pub(crate) fn var_at(&mut self, n: u32, slot: u32) -> Var {
        let v = self.slot_var[slot as usize];
        if v != NONE {
            return v;
        }
        let nd = &self.names[n as usize];
        let pos = slot - nd.first;
        let rel = match nd.listed {
            Listed::NewestFirst => pos,
            Listed::OldestFirst => nd.n - 1 - pos,
            Listed::Sorted => self.slot_rel.get(&slot).copied().unwrap_or(NONE),
        };
        let forbid = self.slot_forbid[slot as usize];
        let v = self.vars.len() as u32;
        let head = nd.vars;
        let external = nd.pinned && forbid == Forbid::No;
        self.vars.push(VarData {
            name: n,
            rel,
            forbid,
            details: NONE,
            activated: false,
            external,
            sibling: head,
        });
        self.names[n as usize].vars = v;
        self.slot_var[slot as usize] = v;
        self.versions.push(self.slot_version[slot as usize]);
        self.value.push(0);
        self.level.push(0);
        self.reason.push(Reason::None);
        self.seen.push(false);
        self.watch_head.push(NONE);
        self.watch_head.push(NONE);
        if forbid == Forbid::No {
            let mut u = head;
            while u != NONE {
                if self.value[u as usize] == 1 {
                    self.assign(
                        neg(v),
                        Reason::Amo {
                            other: u,
                            group: PKG_GROUP,
                        },
                    );
                    break;
                }
                u = self.vars[u as usize].sibling;
            }
        }
        v
    }

    /// Every release of `n` as a variable, newest first (tests build clauses by hand).
    #[cfg(test)]
    pub(crate) fn make_vars(&mut self, n: u32) -> Vec<Var> {
        self.load(n);
        let r = self.slots_of(n);
        r.map(|slot| self.var_at(n, slot)).collect()
    }

    pub(crate) fn cap(&mut self, n: u32) -> Option<&CapabilityInfo<'a>> {
        let nd = &mut self.names[n as usize];
        if !nd.cap_loaded {
            nd.cap_loaded = true;
            let info = self.p.capability(nd.text);
            if let Some(info) = info {
                self.caps.insert(n, info);
            }
        }
        self.caps.get(&n)
    }

    pub(crate) fn ensure_providers(&mut self, n: u32) {
        if self.names[n as usize].providers == NONE {
            self.providers(n);
        }
    }

    /// Whether name `n` has other providers (asking the provider once).
    pub(crate) fn has_providers(&mut self, n: u32) -> bool {
        self.ensure_providers(n);
        !self.provider_lists[self.names[n as usize].providers as usize].is_empty()
    }

    /// The other components providing name `n`, sorted by id.
    pub(crate) fn providers(&mut self, n: u32) -> Vec<u32> {
        let at = self.names[n as usize].providers;
        if at != NONE {
            return self.provider_lists[at as usize].clone();
        }
        let text = self.names[n as usize].text;
        let mut list: Vec<&'a str> = self.p.providers(text);
        if list.is_empty() {
            // Most names: nothing else provides them (the shared empty list).
            self.names[n as usize].providers = 0;
            return Vec::new();
        }
        list.sort_unstable();
        list.dedup();
        let ids: Vec<u32> = list
            .into_iter()
            .filter(|t| *t != text)
            .map(|t| self.intern(t))
            .collect();
        let at = if ids.is_empty() {
            0
        } else {
            self.provider_lists.push(ids.clone());
            self.provider_lists.len() as u32 - 1
        };
        self.names[n as usize].providers = at;
        ids
    }

    /// What release details `d` provides, by name id (sorted).
    #[inline]
    pub(crate) fn provides(&self, d: u32) -> &[(u32, &'a Version)] {
        &self.extra(d).provides
    }

    /// The rarer facts of release details `d` (provides, kernel).
    #[inline]
    pub(crate) fn extra(&self, d: u32) -> &RelExtra<'a> {
        match self.rels[d as usize].extra {
            NONE => &NO_EXTRA,
            e => &self.rel_extra[e as usize],
        }
    }

    /// How many releases of `n` (newest first) are at or above `b`.
    #[inline]
    pub(crate) fn at_or_above(&self, n: u32, b: &Version) -> usize {
        let r = self.slots_of(n);
        let vs = &self.slot_version[r.start as usize..r.end as usize];
        let kb = vkey(b);
        if self.names[n as usize].plain && kb != u64::MAX {
            gallop(vs, |v| plain_vkey(v) >= kb)
        } else {
            gallop(vs, |v| *v >= b)
        }
    }

    /// The edges of release details `d`.
    pub(crate) fn edges_of(&self, d: usize) -> &[EdgeData<'a>] {
        let r = &self.rels[d];
        &self.edges[r.edge_first as usize..(r.edge_first + r.edge_count) as usize]
    }

    /// The slots of `n`'s releases, newest first.
    pub(crate) fn slots_of(&self, n: u32) -> std::ops::Range<u32> {
        let nd = &self.names[n as usize];
        nd.first..nd.first + nd.n
    }

    /// The variables made so far for `n`'s releases (most recently made first).
    pub(crate) fn vars_of(&self, n: u32) -> impl Iterator<Item = Var> + '_ {
        let mut u = self.names[n as usize].vars;
        std::iter::from_fn(move || {
            (u != NONE).then(|| {
                let v = u;
                u = self.vars[v as usize].sibling;
                v
            })
        })
    }

    /// The details of a release (asked of the provider once).
    pub(crate) fn details(&mut self, v: Var) -> u32 {
        let d = self.vars[v as usize].details;
        if d != NONE {
            return d;
        }
        let vd = &self.vars[v as usize];
        let idx = self.rels.len() as u32;
        if vd.rel == NONE {
            self.rels.push(RelData {
                edge_first: 0,
                edge_count: 0,
                extra: NONE,
                location: None,
                req_first: 0,
                req_count: 0,
            });
            self.vars[v as usize].details = idx;
            return idx;
        }
        self.stats.releases_loaded += 1;
        let text = self.names[vd.name as usize].text;
        let rel = vd.rel as usize;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.p.release(text, rel, &mut buf);
        let edge_first = self.edges.len() as u32;
        for e in buf.edges.drain(..) {
            let name = self.intern(e.name);
            if e.kind == DepKind::Recommends {
                self.any_recommends = true;
            }
            self.edges.push(EdgeData {
                kind: e.kind,
                name,
                range: e.range,
                location: e.location,
            });
        }
        // Edge order must not depend on how the provider listed them.
        let names = &self.names;
        let edges = &mut self.edges[edge_first as usize..];
        let edge_count = edges.len() as u32;
        let order = |a: &EdgeData<'a>, b: &EdgeData<'a>| {
            let (x, y) = (&names[a.name as usize], &names[b.name as usize]);
            a.kind
                .cmp(&b.kind)
                .then_with(|| x.key.cmp(&y.key))
                .then_with(|| x.text.cmp(y.text))
        };
        if !edges.windows(2).all(|w| order(&w[0], &w[1]).is_le()) {
            edges.sort_by(order);
        }
        let extra = if buf.provides.is_empty()
            && buf.kernel_min.is_none()
            && buf.kernel_needs.is_empty()
            && buf.kernel_config.is_empty()
        {
            NONE
        } else {
            let mut provides = Vec::with_capacity(buf.provides.len());
            for (c, ver) in buf.provides.drain(..) {
                provides.push((self.intern(c), ver));
            }
            provides.sort_by_key(|p| p.0);
            self.rel_extra.push(RelExtra {
                provides,
                kernel_min: buf.kernel_min,
                kernel_needs: buf.kernel_needs,
                kernel_config: buf.kernel_config,
            });
            self.rel_extra.len() as u32 - 1
        };
        self.rels.push(RelData {
            edge_first,
            edge_count,
            extra,
            location: buf.location,
            req_first: 0,
            req_count: 0,
        });
        self.buf = buf;
        self.vars[v as usize].details = idx;
        idx
    }

    /// Whether release `v` is `n` at a version in `range`, directly or by providing it.
    pub(crate) fn release_matches(&mut self, v: Var, n: u32, range: &Range<'a>) -> bool {
        if self.vars[v as usize].name == n {
            return range.contains(self.versions[v as usize]);
        }
        let d = self.details(v);
        self.provides(d)
            .iter()
            .any(|(c, pv)| *c == n && range.contains(pv))
    }
}

/// `xs.partition_point(pred)` (`pred` true on a prefix of `xs`), by galloping from the
/// front: the ranges requirements ask for are mostly among a component's newest releases,
/// which come first, so the answer is usually found in a probe or two where a binary search
/// over the whole list takes its logarithm every time. Never more than about twice the
/// probes of a binary search.
#[inline]
pub(crate) fn gallop<T>(xs: &[T], pred: impl Fn(&T) -> bool) -> usize {
    if xs.first().is_none_or(|x| !pred(x)) {
        return 0;
    }
    // `pred(xs[lo])` holds; the answer is in `lo + 1 ..= end`.
    let (mut lo, mut step) = (0, 1);
    let end = loop {
        let hi = lo + step;
        if hi >= xs.len() {
            break xs.len();
        }
        if !pred(&xs[hi]) {
            break hi;
        }
        lo = hi;
        step *= 2;
    };
    lo + 1 + xs[lo + 1..end].partition_point(pred)
}

#[cfg(test)]
mod tests {
    use crate::request::Request;
    use crate::search::{Forbid, Solver};
    use crate::testing::Tiny;

    #[test]
    fn galloping_finds_the_same_point_as_a_binary_search() {
        for len in 0..40usize {
            let xs: Vec<usize> = (0..len).rev().collect();
            for b in 0..=len + 1 {
                let pred = |x: &usize| *x >= b;
                assert_eq!(
                    super::gallop(&xs, pred),
                    xs.partition_point(pred),
                    "len {len}, bound {b}"
                );
            }
        }
    }

    #[test]
    fn releases_are_newest_first_whatever_the_provider_order() {
        let p = Tiny::default().comp("a", &["1.2.0", "2.0.0", "1.10.0", "0.9.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let n = s.intern("a");
        s.load(n);
        assert_eq!(
            s.vars.len(),
            0,
            "no variable is made before it is a candidate"
        );
        let got: Vec<String> = s
            .slots_of(n)
            .map(|x| s.slot_version[x as usize].to_string())
            .collect();
        assert_eq!(got, ["2.0.0", "1.10.0", "1.2.0", "0.9.0"]);
        // Variables keep the provider's release index whenever they are made.
        let slot = s.slots_of(n).start + 1;
        let x = s.var_at(n, slot);
        assert_eq!(
            (s.versions[x as usize].to_string(), s.vars[x as usize].rel),
            ("1.10.0".to_string(), 2)
        );
        assert_eq!(s.var_at(n, slot), x, "made once");
        assert!(s.names[n as usize].exists);
        assert_eq!(
            s.stats.releases_loaded, 0,
            "no release is read before it is needed"
        );
    }

    #[test]
    fn excluded_components_are_never_candidates_and_unknown_names_do_not_exist() {
        let p = Tiny::default().comp("a", &["1.0.0"], &[]);
        let mut req = Request::new();
        req.exclude.insert("a".into(), None);
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        let z = s.intern("zzz");
        s.load(a);
        s.load(z);
        let slot = s.slots_of(a).start;
        assert_eq!(s.slot_forbid[slot as usize], Forbid::Excluded);
        assert!(s
            .matching(a, &crate::provider::Range::Any, false, true)
            .is_empty());
        assert!(!s.names[z as usize].exists && s.slots_of(z).is_empty());
    }

    #[test]
    fn release_details_are_asked_once_with_edges_in_a_fixed_order() {
        let p = Tiny::default()
            .comp(
                "a",
                &["1.0.0"],
                &["requires z *", "conflicts b *", "requires c *"],
            )
            .comp("b", &["1.0.0"], &[])
            .comp("c", &["1.0.0"], &[])
            .comp("z", &["1.0.0"], &[]);
        let req = Request::new();
        let mut s = Solver::new(&p, &req, &[]);
        let a = s.intern("a");
        let x = s.make_vars(a)[0];
        let d = s.details(x);
        assert_eq!(s.details(x), d);
        assert_eq!(s.stats.releases_loaded, 1);
        let edges: Vec<&str> = s
            .edges_of(d as usize)
            .iter()
            .map(|e| s.names[e.name as usize].text)
            .collect();
        assert_eq!(edges, ["c", "z", "b"], "requires first, then by name");
    }
}
