//! The synthetic package universe of `../shared/bench/UNIVERSE.md`, generated
//! deterministically and stored compactly, plus the checker every solver's answer
//! goes through.
//!
//! Packages are dense `u32` ids laid out as `p0 … p{N-1}`, then (unsatisfiable
//! variants only) `a0 … a7`, `b0 … b7`, `x`, and last the synthetic `root`.
//! Versions are indices `j` into `ver(j) = (1 + j/3).(j%3).0`, so a caret range is
//! a contiguous index interval and every solver can be fed the same facts.
//!
//! Besides UNIVERSE.md's realistic (N=100, V=5, D=4) and large (N=10,000, V=20, D=6)
//! universes there is **scale**: N=50,000 packages, V=10 versions, D=6, W=6, generated
//! by the very same procedure (same seed, same draws; only the parameters differ).
//! Checksums: 1,498,052 dependency edges, roots start `p5568 p35973 p23254 p8370
//! p17962`. It checks that a registry far beyond any real one still resolves in well
//! under a second and a hundred MiB.

use std::fmt;

/// The PRNG the universe is defined with (splitmix64), bit for bit.
pub use stackwright_testkit::SplitMix64;

/// `ver(j)` as `(major, minor, patch)`.
pub fn ver(j: u8) -> (u32, u32, u32) {
    (1 + u32::from(j) / 3, u32::from(j) % 3, 0)
}

/// Inverse of [`ver`]; `None` for versions that are not of the universe's shape.
pub fn ver_index(major: u64, minor: u64, patch: u64) -> Option<u8> {
    if major == 0 || minor > 2 || patch != 0 {
        return None;
    }
    u8::try_from((major - 1) * 3 + minor).ok()
}

/// Sentinel upper bound of a `*` range (no version index reaches it).
pub const STAR_HI: u8 = u8::MAX;

/// One dependency: package `pkg` at a version index in `lo..hi`.
///
/// `*` is `lo = 0, hi = STAR_HI`; `^ver(lo)` is `lo..(lo/3 + 1)*3`, i.e. up to the
/// next major, exactly the caret semantics on this version scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dep {
    pub pkg: u32,
    pub lo: u8,
    pub hi: u8,
}

impl Dep {
    pub fn star(pkg: u32) -> Self {
        Self {
            pkg,
            lo: 0,
            hi: STAR_HI,
        }
    }

    pub fn caret(pkg: u32, lo: u8) -> Self {
        Self {
            pkg,
            lo,
            hi: (lo / 3 + 1) * 3,
        }
    }

    pub fn is_star(&self) -> bool {
        self.hi == STAR_HI
    }

    pub fn contains(&self, j: u8) -> bool {
        self.lo <= j && j < self.hi
    }
}

/// A package's human name; every adapter displays packages through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PkgName {
    P(u32),
    A(u8),
    B(u8),
    X,
    Root,
}

impl fmt::Display for PkgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkgName::P(i) => write!(f, "p{i}"),
            PkgName::A(i) => write!(f, "a{i}"),
            PkgName::B(i) => write!(f, "b{i}"),
            PkgName::X => f.write_str("x"),
            PkgName::Root => f.write_str("root"),
        }
    }
}

/// Displays a version index as `M.m.p`.
pub struct Ver(pub u8);

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = ver(self.0);
        write!(f, "{a}.{b}.{c}")
    }
}

/// Displays a dependency's range (`*` or `^M.m.p`).
pub struct Range(pub Dep);

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_star() {
            f.write_str("*")
        } else {
            write!(f, "^{}", Ver(self.0.lo))
        }
    }
}

/// Generation parameters of a base universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub n: u32,
    pub v: u8,
    pub d: u64,
    pub w: u64,
}

impl Params {
    pub const fn realistic(w: u64) -> Self {
        Self {
            n: 100,
            v: 5,
            d: 4,
            w,
        }
    }

    pub const fn large(w: u64) -> Self {
        Self {
            n: 10_000,
            v: 20,
            d: 6,
            w,
        }
    }

    /// 50,000 packages × 10 versions (see the module docs).
    pub const fn scale(w: u64) -> Self {
        Self {
            n: 50_000,
            v: 10,
            d: 6,
            w,
        }
    }
}

/// Which unsatisfiable chain, if any, is added on top of the base universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsat {
    /// Links require the next link with `*`.
    Clean,
    /// Links require the next link with `^ver(vj)`.
    Tangled,
}

/// Depth of each unsatisfiable chain.
pub const CHAIN_DEPTH: u8 = 8;
/// Number of distinct root requirements drawn.
pub const ROOT_COUNT: usize = 20;

/// The whole universe, flat: `pkg_start[p]..pkg_start[p+1]` are the global version
/// indices of package `p`, `dep_start[g]..dep_start[g+1]` the dependencies of global
/// version `g`.
#[derive(Debug, Clone)]
pub struct Universe {
    pub params: Params,
    pub unsat: Option<Unsat>,
    pkg_start: Vec<u32>,
    dep_start: Vec<u32>,
    deps: Vec<Dep>,
    /// Dependency edges among `p*` packages (the documented checksum).
    plain_edges: usize,
}

impl Universe {
    pub fn generate(params: Params, unsat: Option<Unsat>) -> Self {
        let Params { n, v, d, w } = params;
        let mut rng = SplitMix64::new(42);
        let mut u = Universe {
            params,
            unsat,
            pkg_start: vec![0],
            dep_start: vec![0],
            deps: Vec::new(),
            plain_edges: 0,
        };
        let window = u64::from(v).min(w);
        for p in 0..n {
            for _j in 0..v {
                let k = rng.below(d + 1);
                let first = u.deps.len();
                for _ in 0..k {
                    if p == n - 1 {
                        break;
                    }
                    let t = p + 1 + rng.below(u64::from(n - p - 1)) as u32;
                    let vj = (v - 1) - rng.below(window) as u8;
                    if u.deps[first..].iter().any(|dep| dep.pkg == t) {
                        continue;
                    }
                    u.deps.push(Dep::caret(t, vj));
                }
                u.end_version();
            }
            u.end_package();
        }
        u.plain_edges = u.deps.len();

        let mut roots: Vec<u32> = Vec::with_capacity(ROOT_COUNT);
        while roots.len() < ROOT_COUNT {
            let t = rng.below(u64::from(n)) as u32;
            if !roots.contains(&t) {
                roots.push(t);
            }
        }
        let mut root_deps: Vec<Dep> = roots.iter().map(|&t| Dep::star(t)).collect();

        if let Some(kind) = unsat {
            let mut rng = SplitMix64::new(42 ^ 0xDEAD_BEEF);
            let x = n + 2 * u32::from(CHAIN_DEPTH);
            for chain in 0..2u32 {
                for k in 0..u32::from(CHAIN_DEPTH) {
                    let me = n + chain * u32::from(CHAIN_DEPTH) + k;
                    for _j in 0..v {
                        let vj = (v - 1) - rng.below(u64::from(v).min(6)) as u8;
                        let t = rng.below(u64::from(n)) as u32;
                        let link = if k + 1 == u32::from(CHAIN_DEPTH) {
                            // a7 needs x 1.x, b7 needs x 2.x: the two chains can never meet.
                            Dep::caret(x, if chain == 0 { 0 } else { 3 })
                        } else {
                            match kind {
                                Unsat::Clean => Dep::star(me + 1),
                                Unsat::Tangled => Dep::caret(me + 1, vj),
                            }
                        };
                        u.deps.push(link);
                        u.deps.push(Dep::star(t));
                        u.end_version();
                    }
                    u.end_package();
                }
            }
            for _j in 0..v {
                u.end_version();
            }
            u.end_package();
            root_deps.push(Dep::star(n));
            root_deps.push(Dep::star(n + u32::from(CHAIN_DEPTH)));
        }

        u.deps.extend(root_deps);
        u.end_version();
        u.end_package();
        u
    }

    fn end_version(&mut self) {
        self.dep_start.push(self.deps.len() as u32);
    }

    fn end_package(&mut self) {
        self.pkg_start.push(self.dep_start.len() as u32 - 1);
    }

    pub fn package_count(&self) -> u32 {
        self.pkg_start.len() as u32 - 1
    }

    pub fn version_total(&self) -> u32 {
        self.dep_start.len() as u32 - 1
    }

    pub fn root(&self) -> u32 {
        self.package_count() - 1
    }

    /// Number of versions of `pkg` (indices `0..count`).
    pub fn version_count(&self, pkg: u32) -> u8 {
        (self.pkg_start[pkg as usize + 1] - self.pkg_start[pkg as usize]) as u8
    }

    /// Global index of version `j` of `pkg`.
    pub fn global(&self, pkg: u32, j: u8) -> u32 {
        self.pkg_start[pkg as usize] + u32::from(j)
    }

    pub fn deps(&self, pkg: u32, j: u8) -> &[Dep] {
        let g = self.global(pkg, j) as usize;
        &self.deps[self.dep_start[g] as usize..self.dep_start[g + 1] as usize]
    }

    /// All dependency edges, root and chains included.
    pub fn edge_count(&self) -> usize {
        self.deps.len()
    }

    /// Edges among the `p*` packages: the figure UNIVERSE.md gives as a checksum.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn plain_edge_count(&self) -> usize {
        self.plain_edges
    }

    pub fn name(&self, pkg: u32) -> PkgName {
        let n = self.params.n;
        let depth = u32::from(CHAIN_DEPTH);
        if pkg == self.root() {
            PkgName::Root
        } else if pkg < n {
            PkgName::P(pkg)
        } else if pkg < n + depth {
            PkgName::A((pkg - n) as u8)
        } else if pkg < n + 2 * depth {
            PkgName::B((pkg - n - depth) as u8)
        } else {
            PkgName::X
        }
    }

    /// Inverse of [`Universe::name`].
    pub fn id(&self, name: PkgName) -> Option<u32> {
        let n = self.params.n;
        let depth = u32::from(CHAIN_DEPTH);
        let chains = self.unsat.is_some();
        let id = match name {
            PkgName::Root => return Some(self.root()),
            PkgName::P(i) if i < n => i,
            PkgName::A(i) if chains && u32::from(i) < depth => n + u32::from(i),
            PkgName::B(i) if chains && u32::from(i) < depth => n + depth + u32::from(i),
            PkgName::X if chains => n + 2 * depth,
            _ => return None,
        };
        Some(id)
    }

    /// `pkg ver(j)` as text, for messages.
    pub fn describe(&self, pkg: u32, j: u8) -> String {
        format!("{} {}", self.name(pkg), Ver(j))
    }
}

/// A solver's answer: the version index chosen for each package, if any.
pub type Solution = Vec<Option<u8>>;

/// Why an answer is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    RootMissing,
    UnknownVersion {
        package: String,
        index: u8,
    },
    Unmet {
        by: String,
        needs: String,
        got: Option<String>,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::RootMissing => f.write_str("root 1.0.0 is not in the solution"),
            CheckError::UnknownVersion { package, index } => {
                write!(f, "{package} has no version index {index}")
            }
            CheckError::Unmet {
                by,
                needs,
                got: None,
            } => {
                write!(f, "{by} needs {needs}, which is not in the solution")
            }
            CheckError::Unmet {
                by,
                needs,
                got: Some(got),
            } => {
                write!(f, "{by} needs {needs}, but the solution has {got}")
            }
        }
    }
}

/// Checks that `solution` contains the root and meets every dependency of every
/// chosen version (one version per package is implied by the representation).
pub fn check(u: &Universe, solution: &Solution) -> Result<(), CheckError> {
    if solution.len() != u.package_count() as usize || solution[u.root() as usize] != Some(0) {
        return Err(CheckError::RootMissing);
    }
    for (pkg, chosen) in solution.iter().enumerate() {
        let Some(j) = *chosen else { continue };
        let pkg = pkg as u32;
        if j >= u.version_count(pkg) {
            return Err(CheckError::UnknownVersion {
                package: u.name(pkg).to_string(),
                index: j,
            });
        }
        for dep in u.deps(pkg, j) {
            let got = solution[dep.pkg as usize];
            if !got.is_some_and(|g| dep.contains(g)) {
                return Err(CheckError::Unmet {
                    by: u.describe(pkg, j),
                    needs: format!("{} {}", u.name(dep.pkg), Range(*dep)),
                    got: got.map(|g| u.describe(dep.pkg, g)),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(u: &Universe, deps: &[Dep]) -> Vec<String> {
        deps.iter()
            .map(|d| format!("{} {}", u.name(d.pkg), Range(*d)))
            .collect()
    }

    #[test]
    fn versions_and_carets() {
        let shown: Vec<String> = (0..6).map(|j| Ver(j).to_string()).collect();
        assert_eq!(
            shown,
            ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "2.2.0"]
        );
        let c = Dep::caret(0, 4); // ^2.1.0 = [2.1.0, 3.0.0)
        assert!(!c.contains(3) && c.contains(4) && c.contains(5) && !c.contains(6));
        assert_eq!(ver_index(2, 1, 0), Some(4));
        assert_eq!(Range(c).to_string(), "^2.1.0");
        assert_eq!(Range(Dep::star(1)).to_string(), "*");
    }

    #[test]
    fn realistic_w6_checksums() {
        let u = Universe::generate(Params::realistic(6), None);
        assert_eq!(u.plain_edge_count(), 943);
        let roots: Vec<String> = u
            .deps(u.root(), 0)
            .iter()
            .take(5)
            .map(|d| u.name(d.pkg).to_string())
            .collect();
        assert_eq!(roots, ["p39", "p65", "p16", "p67", "p95"]);
        assert_eq!(u.deps(u.root(), 0).len(), ROOT_COUNT);
        assert_eq!(
            names(&u, u.deps(0, 0)),
            ["p83 ^1.1.0", "p46 ^2.1.0", "p43 ^2.1.0"]
        );
        assert_eq!(u.package_count(), 101);
        assert_eq!(u.version_total(), 501);
    }

    #[test]
    fn large_w6_checksums() {
        let u = Universe::generate(Params::large(6), None);
        assert_eq!(u.plain_edge_count(), 598_980);
        let roots: Vec<String> = u
            .deps(u.root(), 0)
            .iter()
            .take(5)
            .map(|d| u.name(d.pkg).to_string())
            .collect();
        assert_eq!(roots, ["p9528", "p2673", "p5572", "p8176", "p7511"]);
        assert_eq!(u.version_total(), 200_001);
    }

    #[test]
    fn scale_w6_checksums() {
        let u = Universe::generate(Params::scale(6), None);
        assert_eq!(u.plain_edge_count(), 1_498_052);
        let roots: Vec<String> = u
            .deps(u.root(), 0)
            .iter()
            .take(5)
            .map(|d| u.name(d.pkg).to_string())
            .collect();
        assert_eq!(roots, ["p5568", "p35973", "p23254", "p8370", "p17962"]);
        assert_eq!(u.version_total(), 500_001);
    }

    #[test]
    fn w_changes_only_versions() {
        let a = Universe::generate(Params::realistic(6), None);
        let b = Universe::generate(Params::realistic(2), None);
        assert_eq!(a.edge_count(), b.edge_count());
        for p in 0..a.params.n {
            for j in 0..a.version_count(p) {
                let ta: Vec<u32> = a.deps(p, j).iter().map(|d| d.pkg).collect();
                let tb: Vec<u32> = b.deps(p, j).iter().map(|d| d.pkg).collect();
                assert_eq!(ta, tb);
                // W=2: only the two newest versions are ever asked for.
                assert!(b.deps(p, j).iter().all(|d| d.lo >= 3));
            }
        }
    }

    #[test]
    fn unsat_chains_shape() {
        let base = Universe::generate(Params::realistic(6), None);
        for kind in [Unsat::Clean, Unsat::Tangled] {
            let u = Universe::generate(Params::realistic(6), Some(kind));
            assert_eq!(u.package_count(), 100 + 16 + 1 + 1);
            assert_eq!(u.plain_edge_count(), base.plain_edge_count());
            let a0 = u.id(PkgName::A(0)).unwrap();
            let a7 = u.id(PkgName::A(7)).unwrap();
            let b7 = u.id(PkgName::B(7)).unwrap();
            let x = u.id(PkgName::X).unwrap();
            let root = u.deps(u.root(), 0);
            assert_eq!(root.len(), ROOT_COUNT + 2);
            assert_eq!(names(&u, &root[ROOT_COUNT..]), ["a0 *", "b0 *"]);
            for j in 0..5 {
                let d = u.deps(a0, j);
                assert_eq!(d.len(), 2);
                assert_eq!(u.name(d[0].pkg), PkgName::A(1));
                assert_eq!(d[0].is_star(), kind == Unsat::Clean);
                assert_eq!(names(&u, &u.deps(a7, j)[..1]), ["x ^1.0.0"]);
                assert_eq!(names(&u, &u.deps(b7, j)[..1]), ["x ^2.0.0"]);
                assert!(u.deps(x, j).is_empty());
                assert!(u.deps(a0, j)[1].is_star() && u.deps(a0, j)[1].pkg < 100);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        let u = Universe::generate(Params::realistic(6), Some(Unsat::Clean));
        for p in 0..u.package_count() {
            assert_eq!(u.id(u.name(p)), Some(p));
        }
        let plain = Universe::generate(Params::realistic(6), None);
        assert_eq!(plain.id(PkgName::X), None);
    }

    /// A greedy "everything at its newest" assignment, repaired by hand, gives the
    /// checker both a failing and a passing case on real data.
    #[test]
    fn checker_accepts_valid_and_rejects_broken() {
        let u = Universe::generate(Params::realistic(6), None);
        // Only root and its closure through a single hand-built chain: a solution of
        // root's needs where every needed package has no dependencies cannot be built
        // in general, so build one with a tiny DFS over this universe instead.
        let sol = tiny_solve(&u).expect("realistic W=6 is satisfiable");
        assert_eq!(check(&u, &sol), Ok(()));

        let mut missing = sol.clone();
        let needed = u.deps(u.root(), 0)[0].pkg as usize;
        missing[needed] = None;
        assert!(matches!(
            check(&u, &missing),
            Err(CheckError::Unmet { got: None, .. })
        ));

        // Move some dependency target out of its range.
        let mut wrong = sol.clone();
        'outer: for (p, c) in sol.iter().enumerate() {
            if let Some(j) = c {
                for d in u.deps(p as u32, *j) {
                    if !d.is_star() {
                        wrong[d.pkg as usize] = Some(if d.lo >= 3 { 0 } else { 4 });
                        break 'outer;
                    }
                }
            }
        }
        let err = check(&u, &wrong).unwrap_err();
        assert!(
            matches!(err, CheckError::Unmet { got: Some(_), .. }),
            "{err}"
        );
        assert!(err.to_string().contains("but the solution has"));

        let mut no_root = sol.clone();
        no_root[u.root() as usize] = None;
        assert_eq!(check(&u, &no_root), Err(CheckError::RootMissing));

        let mut bad_index = sol;
        bad_index[0] = Some(9);
        assert!(matches!(
            check(&u, &bad_index),
            Err(CheckError::UnknownVersion { .. })
        ));
    }

    /// Plain backtracking, newest first: independent of the three solvers benchmarked.
    fn tiny_solve(u: &Universe) -> Option<Solution> {
        fn go(u: &Universe, sol: &mut Solution, todo: &mut Vec<Dep>) -> bool {
            let Some(dep) = todo.pop() else { return true };
            if let Some(j) = sol[dep.pkg as usize] {
                let ok = dep.contains(j) && go(u, sol, todo);
                todo.push(dep);
                return ok;
            }
            for j in (0..u.version_count(dep.pkg))
                .rev()
                .filter(|&j| dep.contains(j))
            {
                sol[dep.pkg as usize] = Some(j);
                let before = todo.len();
                todo.extend_from_slice(u.deps(dep.pkg, j));
                if go(u, sol, todo) {
                    return true;
                }
                todo.truncate(before);
                sol[dep.pkg as usize] = None;
            }
            todo.push(dep);
            false
        }
        let mut sol = vec![None; u.package_count() as usize];
        sol[u.root() as usize] = Some(0);
        let mut todo: Vec<Dep> = u.deps(u.root(), 0).to_vec();
        go(u, &mut sol, &mut todo).then_some(sol)
    }
}
