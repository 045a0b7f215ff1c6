#![allow(clippy::result_large_err)]
//! Property tests: random small registries against a brute-force oracle that tries every
//! choice (no release, or one release, of each component) and keeps those that
//! `verify` accepts.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semver::{Version, VersionReq};
use stackwright_solver::{
    resolve, verify, Chosen, Fact, ManifestProvider, Placed, Refusal, Request, Resolution,
};
use stackwright_types::assembly::PrivilegedPolicy;
use stackwright_types::capability::{Capability, Cardinality};
use stackwright_types::container::Container;
use stackwright_types::manifest::{
    Arch, Category, Dep, KernelNeeds, KernelOption, Manifest, Release, Stage,
};
use stackwright_types::Location;

/// splitmix64, so a registry is a pure function of its seed.
type Rng = stackwright_testkit::SplitMix64;

const PKGS: [&str; 5] = ["a", "b", "c", "d", "e"];
const RANGES: [&str; 5] = ["*", "^1", "^2", ">=2.0.0", "<2.0.0"];

fn loc() -> Location {
    Location::file_only("gen.toml")
}

fn dep(name: &str, range: &str) -> Dep {
    Dep {
        name: name.to_string(),
        req: VersionReq::parse(range).unwrap(),
        location: loc(),
    }
}

struct World {
    manifests: Vec<Manifest>,
    caps: BTreeMap<String, Capability>,
    req: Request,
}

fn world(seed: u64) -> World {
    let mut r = Rng::new(seed);
    let npk = 2 + r.below(4) as usize;
    let names: Vec<&str> = PKGS[..npk].to_vec();
    let mut caps = BTreeMap::new();
    for (name, card) in [
        ("one-cap", Cardinality::One),
        ("many-cap", Cardinality::Many),
        ("kernel", Cardinality::One),
    ] {
        let default = if name != "kernel" && r.chance(2) {
            Some(names[r.below(npk as u64) as usize].to_string())
        } else {
            None
        };
        caps.insert(
            name.to_string(),
            Capability {
                name: name.to_string(),
                summary: String::new(),
                cardinality: card,
                default,
                location: loc(),
                default_location: None,
            },
        );
    }
    let targets: Vec<&str> = names
        .iter()
        .copied()
        .chain(["one-cap", "many-cap"])
        .collect();
    let kernel_pkg = r.chance(2);
    let mut manifests = Vec::new();
    for (pi, id) in names.iter().enumerate() {
        let is_kernel = kernel_pkg && pi == 0;
        let nver = 1 + r.below(3);
        let mut releases = Vec::new();
        for j in 0..nver {
            let version = if is_kernel {
                Version::new(4 + j, 0, 0)
            } else {
                Version::new(j + 1, 0, 0)
            };
            let mut rel = Release {
                version: version.clone(),
                location: loc(),
                image: None,
                arch: if r.chance(6) {
                    Some(vec![Arch::Amd64])
                } else {
                    None
                },
                provides: BTreeMap::new(),
                provides_at: BTreeMap::new(),
                requires: vec![],
                constrains: vec![],
                conflicts: vec![],
                recommends: vec![],
                kernel: KernelNeeds::default(),
                kernel_config: vec![],
                files: vec![],
            };
            if is_kernel {
                rel.provides.insert("kernel".into(), version.clone());
                if r.chance(2) {
                    rel.kernel_config.push(KernelOption {
                        name: "CONFIG_A".into(),
                        builtin: r.chance(2),
                    });
                }
                if r.chance(2) {
                    rel.kernel_config.push(KernelOption {
                        name: "CONFIG_B".into(),
                        builtin: r.chance(2),
                    });
                }
            } else {
                if r.chance(4) {
                    rel.provides
                        .insert("one-cap".into(), Version::new(1 + r.below(2), 0, 0));
                }
                if r.chance(4) {
                    rel.provides
                        .insert("many-cap".into(), Version::new(1 + r.below(2), 0, 0));
                }
                if r.chance(5) {
                    match r.below(3) {
                        0 => rel.kernel.min = Some(Version::new(5, 0, 0)),
                        1 => rel.kernel.config.push(KernelOption {
                            name: "CONFIG_A".into(),
                            builtin: false,
                        }),
                        _ => rel.kernel.config.push(KernelOption {
                            name: "CONFIG_B".into(),
                            builtin: true,
                        }),
                    }
                }
            }
            let mut used = BTreeSet::new();
            for _ in 0..r.below(3) {
                let t = targets[r.below(targets.len() as u64) as usize];
                let range = RANGES[r.below(5) as usize];
                if t != *id && used.insert(t) {
                    rel.requires.push(dep(t, range));
                }
            }
            if r.chance(5) {
                let t = targets[r.below(targets.len() as u64) as usize];
                if used.insert(t) {
                    rel.conflicts.push(dep(t, RANGES[r.below(5) as usize]));
                }
            }
            if r.chance(6) {
                let t = targets[r.below(targets.len() as u64) as usize];
                if used.insert(t) {
                    rel.constrains.push(dep(t, RANGES[r.below(5) as usize]));
                }
            }
            if r.chance(6) {
                let t = targets[r.below(targets.len() as u64) as usize];
                if t != *id && used.insert(t) {
                    rel.recommends.push(dep(t, RANGES[r.below(5) as usize]));
                }
            }
            releases.push(rel);
        }
        releases.sort_by(|a, b| b.version.cmp(&a.version));
        manifests.push(Manifest {
            id: id.to_string(),
            category: if is_kernel {
                Category::Kernel
            } else {
                Category::Runtime
            },
            summary: String::new(),
            homepage: None,
            license: None,
            stage: match r.below(4) {
                0 => Stage::Onboot,
                1 => Stage::Init,
                _ => Stage::Service,
            },
            arch: vec![Arch::Amd64, Arch::Arm64],
            privileged: r.chance(5),
            verified: true,
            unverified: vec![],
            sources: vec![],
            notes: None,
            override_: false,
            built_into: None,
            upgrade_after: Vec::new(),
            creates: Vec::new(),
            container: Container::default(),
            ports: vec![],
            config: BTreeMap::new(),
            package: Default::default(),
            service: None,
            config_kernel: BTreeMap::new(),
            generate: Vec::new(),
            releases,
            location: loc(),
        });
    }
    let mut req = Request::default();
    for _ in 0..1 + r.below(2) {
        let id = names[r.below(npk as u64) as usize];
        req.components.insert(
            id.into(),
            stackwright_solver::Ask::new(VersionReq::parse(RANGES[r.below(5) as usize]).unwrap()),
        );
    }
    if r.chance(4) {
        let c = if r.chance(2) { "one-cap" } else { "many-cap" };
        req.capabilities
            .insert(c.into(), stackwright_solver::Ask::any());
    }
    if r.chance(4) {
        req.exclude
            .insert(names[r.below(npk as u64) as usize].into(), None);
    }
    if r.chance(4) {
        req.prefer.insert(
            "many-cap".into(),
            Placed::new(names[r.below(npk as u64) as usize].to_string()),
        );
    }
    if r.chance(6) {
        let id = names[r.below(npk as u64) as usize];
        let m = manifests.iter().find(|m| m.id == id).unwrap();
        let v = if r.chance(3) {
            Version::new(9, 0, 0)
        } else {
            m.releases[r.below(m.releases.len() as u64) as usize]
                .version
                .clone()
        };
        req.external.insert(id.into(), Placed::new(v));
    }
    req.arch = Some(Placed::new(if r.chance(2) {
        Arch::Amd64
    } else {
        Arch::Arm64
    }));
    if r.chance(3) {
        req.privileged = Placed::new(PrivilegedPolicy::None);
    }
    req.recommends = r.chance(2);
    World {
        manifests,
        caps,
        req,
    }
}

/// Every valid choice, by brute force.
fn oracle(w: &World) -> Vec<BTreeMap<String, Version>> {
    let p = ManifestProvider::new(&w.manifests, &w.caps);
    let free: Vec<&Manifest> = w
        .manifests
        .iter()
        .filter(|m| !w.req.external.contains_key(&m.id))
        .collect();
    let mut out = Vec::new();
    let mut choice = vec![0usize; free.len()];
    loop {
        let mut res = Resolution {
            components: BTreeMap::new(),
            external: w
                .req
                .external
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            start: Default::default(),
            stats: Default::default(),
        };
        for (m, &c) in free.iter().zip(&choice) {
            if c > 0 {
                res.components.insert(
                    m.id.clone(),
                    Chosen {
                        version: m.releases[c - 1].version.clone(),
                        release_index: c - 1,
                        stage: None,
                        why: Default::default(),
                    },
                );
            }
        }
        if verify(&p, &w.req, &res).is_empty() {
            out.push(
                res.components
                    .iter()
                    .map(|(k, c)| (k.clone(), c.version.clone()))
                    .collect(),
            );
        }
        // Next choice (odometer).
        let mut i = 0;
        loop {
            if i == free.len() {
                return out;
            }
            choice[i] += 1;
            if choice[i] <= free[i].releases.len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

/// A chosen set: component id → version, `[external]` entries included.
type Choice = BTreeMap<String, Version>;

/// Whether release `r` of `m` may be chosen at all under `w`'s request.
fn allowed(w: &World, m: &Manifest, r: &Release) -> bool {
    let arch_ok = match (&w.req.arch, &r.arch) {
        (Some(a), Some(list)) => list.contains(&a.value),
        _ => true,
    };
    let policy_ok = !m.privileged || w.req.privileged.value.allows(&m.id);
    let external_ok = w
        .req
        .external
        .get(&m.id)
        .is_none_or(|e| e.value == r.version);
    arch_ok && policy_ok && external_ok && !w.req.exclude.contains_key(&m.id)
}

/// The capabilities `sol` leaves (the solver's module doc `search::fewest`): a requirement
/// on capability `c` in `range` has a first choice when the preferred provider (else the
/// default one) has an allowed release providing `c` in `range`, and `sol` leaves `c` when
/// it chose none of those.
fn left(w: &World, sol: &Choice) -> BTreeSet<String> {
    let mut reqs: Vec<(String, VersionReq)> = w
        .req
        .capabilities
        .iter()
        .map(|(c, a)| (c.clone(), a.range.clone()))
        .collect();
    for m in &w.manifests {
        let Some(v) = sol.get(&m.id) else { continue };
        if w.req.external.contains_key(&m.id) {
            continue;
        }
        if let Some(r) = m.releases.iter().find(|r| &r.version == v) {
            reqs.extend(r.requires.iter().map(|d| (d.name.clone(), d.req.clone())));
        }
    }
    let provides_in = |m: &Manifest, r: &Release, c: &str, range: &VersionReq| {
        allowed(w, m, r) && r.provides.get(c).is_some_and(|pv| range.matches(pv))
    };
    let mut out = BTreeSet::new();
    for (c, range) in reqs {
        let preferred = w.req.prefer.get(&c).map(|p| p.value.clone());
        let default = w.caps.get(&c).and_then(|cap| cap.default.clone());
        let first = [preferred, default].into_iter().flatten().find_map(|x| {
            let m = w.manifests.iter().find(|m| m.id == x)?;
            m.releases
                .iter()
                .any(|r| provides_in(m, r, &c, &range))
                .then_some(m)
        });
        let Some(m) = first else { continue };
        let kept = sol.get(&m.id).is_some_and(|v| {
            m.releases
                .iter()
                .any(|r| &r.version == v && provides_in(m, r, &c, &range))
        });
        if !kept {
            out.insert(c);
        }
    }
    out
}

/// Names reachable from the request through any edge, provider or kernel need.
fn reachable(w: &World) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut work: Vec<String> = w
        .req
        .components
        .keys()
        .chain(w.req.capabilities.keys())
        .chain(w.req.external.keys())
        .cloned()
        .collect();
    while let Some(n) = work.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for m in &w.manifests {
            let provides = m.releases.iter().any(|r| r.provides.contains_key(&n));
            if m.id == n || provides {
                work.push(m.id.clone());
                for r in &m.releases {
                    for (_, d) in r.edges() {
                        work.push(d.name.clone());
                    }
                    if r.kernel.min.is_some() || !r.kernel.config.is_empty() {
                        work.push("kernel".into());
                    }
                    work.extend(r.provides.keys().cloned());
                }
            }
        }
    }
    seen
}

/// The rules an explanation names: asks, requirements (a component's edge to a name, over
/// all its releases), exclusions and kernel needs, as the solver minimises them.
#[derive(Default, Debug)]
struct Named {
    asks: BTreeSet<String>,
    requires: BTreeSet<(String, String)>,
    excludes: BTreeSet<(String, &'static str, String)>,
    kernel: BTreeSet<String>,
}

fn named(facts: &[Fact]) -> Named {
    let mut n = Named::default();
    for f in facts {
        match f {
            Fact::Asked { name, .. } => {
                n.asks.insert(name.clone());
            }
            Fact::Requires { by, name, .. } => {
                n.requires.insert((by.clone(), name.clone()));
            }
            Fact::Excludes { by, because, .. } => {
                let word = |p: &str| because.strip_prefix(p).and_then(|r| r.split(' ').next());
                if let Some(t) = word("conflicts with ") {
                    n.excludes.insert((by.clone(), "conflicts", t.to_string()));
                } else if let Some(t) = word("constrains ") {
                    n.excludes.insert((by.clone(), "constrains", t.to_string()));
                } else {
                    n.kernel.insert(by.clone());
                }
            }
            Fact::External { .. } | Fact::AtMostOne { .. } => {}
        }
    }
    n
}

/// `w` limited to the rules `n` names (the structural ones, `[external]`, `[exclude]`,
/// arch and policy, always hold), without requirement `drop` (an ask when `.0` is empty).
fn limited(w: &World, n: &Named, drop: Option<(&str, &str)>) -> World {
    let mut req = w.req.clone();
    let keep_ask = |name: &String| n.asks.contains(name) && drop != Some(("", name.as_str()));
    req.components.retain(|k, _| keep_ask(k));
    req.capabilities.retain(|k, _| keep_ask(k));
    let mut manifests = w.manifests.clone();
    for m in &mut manifests {
        for r in &mut m.releases {
            r.requires.retain(|d| {
                n.requires.contains(&(m.id.clone(), d.name.clone()))
                    && drop != Some((m.id.as_str(), d.name.as_str()))
            });
            r.conflicts.retain(|d| {
                n.excludes
                    .contains(&(m.id.clone(), "conflicts", d.name.clone()))
            });
            r.constrains.retain(|d| {
                n.excludes
                    .contains(&(m.id.clone(), "constrains", d.name.clone()))
            });
            if !n.kernel.contains(&m.id) {
                r.kernel = KernelNeeds::default();
            }
        }
    }
    World {
        manifests,
        caps: w.caps.clone(),
        req,
    }
}

fn run(w: &World, manifests: &[Manifest]) -> Result<Resolution, Refusal> {
    let p = ManifestProvider::new(manifests, &w.caps);
    resolve(&p, &w.req)
}

/// The same registry listed in another order, with releases and edges reversed.
fn shuffled(w: &World, seed: u64) -> Vec<Manifest> {
    let mut ms = w.manifests.clone();
    let k = (seed as usize) % ms.len();
    ms.rotate_left(k);
    ms.reverse();
    for m in &mut ms {
        m.releases.reverse();
        for r in &mut m.releases {
            r.requires.reverse();
        }
    }
    ms
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn solver_agrees_with_brute_force(seed in any::<u64>()) {
        let w = world(seed);
        let solutions = oracle(&w);
        let got = run(&w, &w.manifests);
        let p = ManifestProvider::new(&w.manifests, &w.caps);
        match &got {
            Ok(res) => {
                let v = verify(&p, &w.req, res);
                prop_assert!(v.is_empty(), "solution breaks rules: {:?}\n{}", v, res.render());
                // The fewest components: no solution at least as good on the preferences
                // (it leaves no capability the answer keeps) has fewer. Accepted
                // recommendations count as asks, which the oracle does not know: left out.
                let recommended = res.components.values().any(|c| {
                    c.why.iter().any(|w| matches!(w, stackwright_solver::Why::Recommended { .. }))
                });
                if !recommended {
                    prop_assert!(res.stats.fewest_proven, "a tiny registry's optimum is always proven");
                    let with_external = |mut c: Choice| {
                        c.extend(w.req.external.iter().map(|(k, v)| (k.clone(), v.value.clone())));
                        c
                    };
                    let answer: Choice = with_external(
                        res.components.iter().map(|(k, c)| (k.clone(), c.version.clone())).collect(),
                    );
                    let answer_left = left(&w, &answer);
                    for t in &solutions {
                        let t_left = left(&w, &with_external(t.clone()));
                        prop_assert!(
                            !t_left.is_subset(&answer_left) || t.len() >= res.components.len(),
                            "{:?} (leaving {:?}) has fewer components than the answer (leaving {:?})\n{}",
                            t, t_left, answer_left, res.render()
                        );
                    }
                }
            }
            Err(Refusal::Unsatisfiable(e)) => {
                prop_assert!(solutions.is_empty(), "solver refused but {:?} works\n{}", solutions[0], e.lines.join("\n"));
                let ok = reachable(&w);
                for f in &e.facts {
                    let names: Vec<&String> = match f {
                        Fact::Asked { name, .. } | Fact::External { name, .. } => vec![name],
                        Fact::Requires { by, name, candidates, .. } => {
                            let mut v = vec![by, name];
                            v.extend(candidates.iter().map(|c| &c.0));
                            v
                        }
                        Fact::Excludes { by, other, .. } => vec![by, other],
                        Fact::AtMostOne { members, .. } => members.iter().map(|m| &m.0).collect(),
                    };
                    for n in names {
                        prop_assert!(ok.contains(n), "explanation names {n}, not involved: {:?}", e.lines);
                    }
                }
                // Minimal: the named rules alone refuse the request, and without any one
                // named requirement it is satisfiable.
                let n = named(&e.facts);
                prop_assert!(oracle(&limited(&w, &n, None)).is_empty(), "the named rules alone do not refuse: {:?}\n{}", n, e.lines.join("\n"));
                let drops: Vec<(&str, &str)> = n.asks.iter().map(|a| ("", a.as_str()))
                    .chain(n.requires.iter().map(|(b, t)| (b.as_str(), t.as_str())))
                    .collect();
                for d in drops {
                    prop_assert!(!oracle(&limited(&w, &n, Some(d))).is_empty(), "still refused without {:?}: not minimal\n{}", d, e.lines.join("\n"));
                }
            }
            Err(Refusal::Privileged(list)) => {
                prop_assert!(solutions.is_empty(), "policy refusal but {:?} works", solutions[0]);
                // Allowing exactly the components named (on top of what the policy
                // allowed) makes the request satisfiable: none is missing.
                let mut allowed: Vec<String> = list.iter().map(|p| p.component.clone()).collect();
                if let PrivilegedPolicy::Only(ids) = &w.req.privileged.value {
                    allowed.extend(ids.iter().cloned());
                }
                let mut req = w.req.clone();
                req.privileged = Placed::new(PrivilegedPolicy::Only(allowed));
                let relaxed = World { manifests: w.manifests.clone(), caps: w.caps.clone(), req };
                prop_assert!(!oracle(&relaxed).is_empty(), "allowing {:?} still leaves no solution", list);
            }
            Err(Refusal::Cycle { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected refusal {other:?}"),
        }
        // Release indexes are the provider's own positions; everything else must match.
        let norm = |r: Result<Resolution, Refusal>| r.map(|mut res| {
            res.components.values_mut().for_each(|c| c.release_index = 0);
            res
        });
        let again = norm(run(&w, &shuffled(&w, seed)));
        prop_assert_eq!(&norm(got), &again, "listing order changed the result");
    }
}
