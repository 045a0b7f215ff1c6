//! The `resolvo` 0.12 side: a hand-written `Interner` + `DependencyProvider` over a
//! flat index (dense ids, no string pool), serving candidates and dependencies
//! lazily (no `HintDependenciesAvailable`), as in the reference figures.
//!
//! resolvo caches everything it asks the provider inside its `Solver`, so every
//! timed run builds a fresh `Solver` over a borrowed [`Index`]: the index is built
//! once (and is what the memory line measures), the solver's caches are not reused.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt::Display;

use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    Interner, KnownDependencies, NameId, Problem, SolvableId, Solver, SolverCache, StringId,
    UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use super::universe::{Dep, PkgName, Range, Solution, Universe, Ver};
use super::Outcome;

/// Everything resolvo may ask for, by dense id. Solvable `g` is global version `g`
/// of the universe; version sets are interned `(package, lo, hi)` ranges.
pub struct Index {
    names: Vec<PkgName>,
    pkg_start: Vec<u32>,
    solvable_pkg: Vec<u32>,
    solvable_ver: Vec<u8>,
    dep_start: Vec<u32>,
    deps: Vec<VersionSetId>,
    vsets: Vec<Dep>,
    root_reqs: Vec<VersionSetId>,
}

pub fn build(u: &Universe) -> Index {
    let mut interned: HashMap<Dep, VersionSetId> = HashMap::new();
    let mut vsets: Vec<Dep> = Vec::new();
    let mut intern = |d: &Dep| {
        *interned.entry(*d).or_insert_with(|| {
            vsets.push(*d);
            VersionSetId(vsets.len() as u32 - 1)
        })
    };
    let mut ix = Index {
        names: (0..u.package_count()).map(|p| u.name(p)).collect(),
        pkg_start: vec![0],
        solvable_pkg: Vec::with_capacity(u.version_total() as usize),
        solvable_ver: Vec::with_capacity(u.version_total() as usize),
        dep_start: vec![0],
        deps: Vec::with_capacity(u.edge_count()),
        vsets: Vec::new(),
        root_reqs: Vec::new(),
    };
    for pkg in 0..u.package_count() {
        for j in 0..u.version_count(pkg) {
            ix.solvable_pkg.push(pkg);
            ix.solvable_ver.push(j);
            ix.deps.extend(u.deps(pkg, j).iter().map(&mut intern));
            ix.dep_start.push(ix.deps.len() as u32);
        }
        ix.pkg_start.push(ix.solvable_pkg.len() as u32);
    }
    ix.root_reqs = u.deps(u.root(), 0).iter().map(&mut intern).collect();
    drop(interned);
    vsets.shrink_to_fit();
    ix.vsets = vsets;
    ix
}

/// The provider resolvo owns for one solve: a reference to the shared index.
pub struct Provider<'a> {
    ix: &'a Index,
}

impl Provider<'_> {
    fn solvable(&self, s: SolvableId) -> (u32, u8) {
        let g = s.into_raw() as usize;
        (self.ix.solvable_pkg[g], self.ix.solvable_ver[g])
    }
}

impl Interner for Provider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        let (p, j) = self.solvable(solvable);
        format!("{} {}", self.ix.names[p as usize], Ver(j))
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl Display + '_ {
        let Some(&first) = solvables.first() else {
            return String::new();
        };
        let mut versions: Vec<u8> = solvables.iter().map(|&s| self.solvable(s).1).collect();
        versions.sort_unstable();
        versions.dedup();
        let versions: Vec<String> = versions.into_iter().map(|j| Ver(j).to_string()).collect();
        format!(
            "{} {}",
            self.ix.names[self.solvable(first).0 as usize],
            versions.join(" | ")
        )
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.ix.names[name.into_raw() as usize]
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        Range(self.ix.vsets[version_set.0 as usize])
    }

    fn display_string(&self, _string_id: StringId) -> impl Display + '_ {
        // No strings are ever interned (nothing is excluded).
        ""
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        NameId::from_raw(self.ix.vsets[version_set.0 as usize].pkg)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        NameId::from_raw(self.solvable(solvable).0)
    }

    fn version_sets_in_union(
        &self,
        _version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        // No unions are ever handed out.
        std::iter::empty()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        // No conditional requirements are ever handed out; any answer is unreachable.
        Condition::Requirement(VersionSetId(0))
    }
}

impl DependencyProvider for Provider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let range = self.ix.vsets[version_set.0 as usize];
        candidates
            .iter()
            .copied()
            .filter(|&s| range.contains(self.solvable(s).1) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let p = name.into_raw() as usize;
        let (start, end) = (self.ix.pkg_start[p], self.ix.pkg_start[p + 1]);
        Some(Candidates {
            candidates: (start..end).map(SolvableId::from_raw).collect(),
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by_key(|&s| Reverse(self.solvable(s).1));
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let g = solvable.into_raw() as usize;
        let deps = &self.ix.deps[self.ix.dep_start[g] as usize..self.ix.dep_start[g + 1] as usize];
        Dependencies::Known(KnownDependencies {
            requirements: deps
                .iter()
                .map(|&vs| ConditionalRequirement::from(vs))
                .collect(),
            constrains: Vec::new(),
        })
    }
}

fn problem(ix: &Index) -> Problem<SolvableId> {
    Problem::new().requirements(ix.root_reqs.iter().map(|&vs| vs.into()).collect())
}

/// One resolution with a fresh solver, result dropped: what the timing loop runs.
pub fn solve_only(ix: &Index) -> bool {
    Solver::new(Provider { ix }).solve(problem(ix)).is_ok()
}

/// Resolves, translating the answer (or rendering the refusal) for checking.
pub fn solve(u: &Universe, ix: &Index) -> anyhow::Result<Outcome> {
    let mut solver = Solver::new(Provider { ix });
    match solver.solve(problem(ix)) {
        Ok(chosen) => {
            let mut sol: Solution = vec![None; u.package_count() as usize];
            sol[u.root() as usize] = Some(0);
            for s in chosen {
                let g = s.into_raw() as usize;
                let p = ix.solvable_pkg[g] as usize;
                if sol[p].is_some() {
                    anyhow::bail!("resolvo chose two versions of {}", ix.names[p]);
                }
                sol[p] = Some(ix.solvable_ver[g]);
            }
            Ok(Outcome::Solved(sol))
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => Ok(Outcome::Refused {
            explanation: conflict.display_user_friendly(&solver).to_string(),
        }),
        Err(UnsolvableOrCancelled::Cancelled(_)) => anyhow::bail!("resolvo was cancelled"),
    }
}
