//! Stackwright's side: a compact implementation of `stackwright_solver::Provider` over
//! its own copy of the universe (names as text once per package, because the trait
//! borrows `&str` names, in fixed-width cells of one buffer, so that a name the solver
//! hands back is found by where it lies, see [`Index::id`]; versions and range bounds
//! borrowed from one table of every version the universe uses, so a caret range is
//! `Range::Between` over two of its entries; release lists lent as slices of one table,
//! see [`heads`]), and the root's needs as a `Request` of `*` asks.

use std::borrow::Cow;
use std::sync::OnceLock;

use semver::Version;
use stackwright_solver::{
    Ask, ComponentHead, Edge, Range as SwRange, Refusal, ReleaseDetails, ReleaseHead, Request,
};
use stackwright_types::manifest::DepKind;

use super::universe::{ver, ver_index, Dep, Solution, Universe};
use super::Outcome;

/// Everything the solver may ask for, by dense id.
pub struct Index {
    /// Every package's name, package `p`'s at `text[p * width ..][.. len[p]]` (padded
    /// with zeros to `width`, a power of two).
    text: String,
    len: Vec<u8>,
    width: usize,
    /// `ver(j)` for every index `j`.
    versions: Vec<Version>,
    /// Every release list a package can have: a package of `k` versions lends
    /// `heads[..k]` (see [`heads`]).
    heads: &'static [ReleaseHead<'static>],
    /// `M.0.0` for every major `M` up to one past the last version's (caret bounds).
    majors: Vec<Version>,
    pkg_start: Vec<u32>,
    dep_start: Vec<u32>,
    deps: Vec<Dep>,
    request: Request,
}

fn version(j: u8) -> Version {
    let (a, b, c) = ver(j);
    Version::new(a.into(), b.into(), c.into())
}

/// The release heads of `ver(0)`, `ver(1)`, … for every version index (a `u8`), made once
/// per process: a package of `k` versions has exactly `ver(0..k)`, all without
/// architectures, so `component` lends a slice of this instead of building a list.
fn heads() -> &'static [ReleaseHead<'static>] {
    static VERSIONS: OnceLock<Vec<Version>> = OnceLock::new();
    static HEADS: OnceLock<Vec<ReleaseHead<'static>>> = OnceLock::new();
    HEADS.get_or_init(|| {
        VERSIONS
            .get_or_init(|| (0..=u8::MAX).map(version).collect())
            .iter()
            .map(ReleaseHead::new)
            .collect()
    })
}

pub fn build(u: &Universe) -> Index {
    let names: Vec<String> = (0..u.package_count())
        .map(|p| u.name(p).to_string())
        .collect();
    let width = names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(1)
        .next_power_of_two();
    let mut text = String::with_capacity(width * u.package_count() as usize);
    let mut len = Vec::with_capacity(u.package_count() as usize);
    for name in &names {
        text.push_str(name);
        text.extend(std::iter::repeat_n('\0', width - name.len()));
        len.push(u8::try_from(name.len()).expect("bench names are short"));
    }
    let max_v = (0..u.package_count())
        .map(|p| u.version_count(p))
        .max()
        .unwrap_or(0);
    let top = ver(max_v.saturating_sub(1)).0 + 1;
    let mut ix = Index {
        versions: (0..max_v).map(version).collect(),
        heads: heads(),
        majors: (0..=top).map(|m| Version::new(m.into(), 0, 0)).collect(),
        pkg_start: vec![0],
        dep_start: vec![0],
        deps: Vec::with_capacity(u.edge_count()),
        request: Request::new(),
        text,
        len,
        width,
    };
    // The synthetic root is not a component: its needs are the request.
    for pkg in 0..u.root() {
        for j in 0..u.version_count(pkg) {
            ix.deps.extend_from_slice(u.deps(pkg, j));
            ix.dep_start.push(ix.deps.len() as u32);
        }
        ix.pkg_start.push(ix.dep_start.len() as u32 - 1);
    }
    for d in u.deps(u.root(), 0) {
        ix.request
            .components
            .insert(ix.name(d.pkg).to_string(), Ask::any());
    }
    ix
}

impl Index {
    fn name(&self, p: u32) -> &str {
        let at = p as usize * self.width;
        &self.text[at..at + usize::from(self.len[p as usize])]
    }

    /// Name → dense id. A name this index lent (every edge's; the solver hands them
    /// back) is found by its address: the start of a cell, with the cell's length, is that
    /// package's name (the text cannot change while borrowed). Any other text (the
    /// request's keys, a caller's) by parsing (as cheap as a hash lookup, and no map to
    /// build), checked against the stored name so nothing but exact names resolves.
    fn id(&self, name: &str) -> Option<u32> {
        let off = (name.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if off < self.text.len() && off & (self.width - 1) == 0 {
            let p = off >> self.width.trailing_zeros();
            if usize::from(self.len[p]) == name.len() {
                return Some(p as u32);
            }
        }
        let n = self.pkg_start.len() as u32 - 1;
        let chains = n > 0 && self.name(n - 1) == "x";
        let plain = if chains { n - 17 } else { n };
        let id = match name.as_bytes().first()? {
            b'p' => name[1..].parse::<u32>().ok()?,
            b'a' if chains => plain + name[1..].parse::<u32>().ok()?,
            b'b' if chains => plain + 8 + name[1..].parse::<u32>().ok()?,
            b'x' if chains => plain + 16,
            _ => return None,
        };
        (id < n && self.name(id) == name).then_some(id)
    }
}

impl stackwright_solver::Provider for Index {
    fn component(&self, id: &str) -> Option<ComponentHead<'_>> {
        let p = self.id(id)? as usize;
        let count = (self.pkg_start[p + 1] - self.pkg_start[p]) as usize;
        Some(ComponentHead {
            releases: Cow::Borrowed(&self.heads[..count]),
            ..ComponentHead::default()
        })
    }

    fn release<'p>(&'p self, id: &str, index: usize, out: &mut ReleaseDetails<'p>) {
        let Some(p) = self.id(id) else { return };
        let g = (self.pkg_start[p as usize] as usize) + index;
        if g >= self.pkg_start[p as usize + 1] as usize {
            return;
        }
        for d in &self.deps[self.dep_start[g] as usize..self.dep_start[g + 1] as usize] {
            let range = if d.is_star() {
                SwRange::Any
            } else {
                let (major, _, _) = ver(d.lo);
                SwRange::Between {
                    min: Some(&self.versions[d.lo as usize]),
                    below: Some(&self.majors[major as usize + 1]),
                }
            };
            out.edges.push(Edge {
                kind: DepKind::Requires,
                name: self.name(d.pkg),
                range,
                location: None,
            });
        }
    }
}

/// One resolution, result dropped: what the timing loop runs.
pub fn solve_only(ix: &Index) -> bool {
    stackwright_solver::resolve(ix, &ix.request).is_ok()
}

/// The search's counters of one resolution (`None` when refused).
pub fn stats(ix: &Index) -> Option<stackwright_solver::Stats> {
    stackwright_solver::resolve(ix, &ix.request)
        .ok()
        .map(|r| r.stats)
}

/// Resolves, translating the answer (or rendering the refusal) for checking.
pub fn solve(u: &Universe, ix: &Index) -> anyhow::Result<Outcome> {
    match stackwright_solver::resolve(ix, &ix.request) {
        Ok(res) => {
            let mut sol: Solution = vec![None; u.package_count() as usize];
            sol[u.root() as usize] = Some(0);
            for (name, chosen) in &res.components {
                let p = ix
                    .id(name)
                    .ok_or_else(|| anyhow::anyhow!("stackwright chose unknown component {name}"))?;
                let v = &chosen.version;
                let j = ver_index(v.major, v.minor, v.patch)
                    .filter(|_| v.pre.is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!("stackwright chose {name} {v}, not a universe version")
                    })?;
                sol[p as usize] = Some(j);
            }
            Ok(Outcome::Solved(sol))
        }
        Err(refusal @ Refusal::Unsatisfiable(_)) => Ok(Outcome::Refused {
            explanation: refusal.render(),
        }),
        Err(other) => Err(anyhow::anyhow!(
            "stackwright refused for another reason: {other}"
        )),
    }
}
