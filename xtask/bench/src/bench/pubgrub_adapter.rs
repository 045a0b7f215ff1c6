//! The `pubgrub` 0.4 side: its stock `OfflineDependencyProvider` (the one the
//! reference figures in UNIVERSE.md were taken with) over `Ranges<SemanticVersion>`,
//! packages named by the 8-byte [`PkgName`] rather than strings so that no solver
//! pays for string hashing the others avoid.

use pubgrub::{
    DefaultStringReporter, OfflineDependencyProvider, PubGrubError, Ranges, Reporter,
    SemanticVersion,
};

use super::universe::{ver, ver_index, Dep, PkgName, Solution, Universe};
use super::Outcome;

pub type Provider = OfflineDependencyProvider<PkgName, Ranges<SemanticVersion>>;

fn semver(j: u8) -> SemanticVersion {
    ver(j).into()
}

fn range(d: &Dep) -> Ranges<SemanticVersion> {
    if d.is_star() {
        Ranges::full()
    } else {
        let (major, _, _) = ver(d.lo);
        Ranges::between(semver(d.lo), SemanticVersion::new(major + 1, 0, 0))
    }
}

/// Builds the provider: every version of every package, with its dependencies.
pub fn build(u: &Universe) -> Provider {
    let mut p = Provider::new();
    for pkg in 0..u.package_count() {
        for j in 0..u.version_count(pkg) {
            let deps = u.deps(pkg, j).iter().map(|d| (u.name(d.pkg), range(d)));
            p.add_dependencies(u.name(pkg), semver(j), deps);
        }
    }
    p
}

/// One resolution, result dropped: what the timing loop runs.
pub fn solve_only(p: &Provider) -> bool {
    pubgrub::resolve(p, PkgName::Root, semver(0)).is_ok()
}

/// Resolves, translating the answer (or rendering the refusal) for checking.
pub fn solve(u: &Universe, p: &Provider) -> anyhow::Result<Outcome> {
    match pubgrub::resolve(p, PkgName::Root, semver(0)) {
        Ok(selected) => {
            let mut sol: Solution = vec![None; u.package_count() as usize];
            for (name, v) in selected.iter() {
                let id = u
                    .id(*name)
                    .ok_or_else(|| anyhow::anyhow!("pubgrub chose unknown {name}"))?;
                let (a, b, c) = (*v).into();
                let j = ver_index(a.into(), b.into(), c.into()).ok_or_else(|| {
                    anyhow::anyhow!("pubgrub chose {name} {v}, not a universe version")
                })?;
                sol[id as usize] = Some(j);
            }
            Ok(Outcome::Solved(sol))
        }
        Err(PubGrubError::NoSolution(tree)) => {
            let report = DefaultStringReporter::report(&tree);
            Ok(Outcome::Refused {
                explanation: report,
            })
        }
        Err(e) => Err(anyhow::anyhow!("pubgrub failed: {e}")),
    }
}
