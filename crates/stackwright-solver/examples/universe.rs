//! Times the solver on the synthetic benchmark universe of `bench/UNIVERSE.md` (the
//! official comparison with pubgrub and resolvo is `cargo xtask bench`; this is a quick
//! self-check). Run: `cargo run --release -p stackwright-solver --example universe`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example prints its results
use std::collections::HashMap;
use std::time::Instant;

use semver::Version;
use stackwright_solver::{
    resolve, Component, Edge, Provider, Range, ReleaseDetails, ReleaseHead, Request,
};
use stackwright_types::manifest::DepKind;

use stackwright_testkit::SplitMix64 as Rng;

fn ver(j: u32) -> Version {
    Version::new(1 + (j / 3) as u64, (j % 3) as u64, 0)
}

/// Compact: one u32 target and one u8 version index per edge (255 = `*`).
pub struct Universe {
    names: Vec<String>,
    index: HashMap<String, u32>,
    nver: Vec<u32>,
    /// Per package, per version: range into `edges`.
    spans: Vec<Vec<(u32, u32)>>,
    edges: Vec<(u32, u8)>,
}

impl Universe {
    fn add(&mut self, name: String, v: u32) -> u32 {
        let i = self.names.len() as u32;
        self.index.insert(name.clone(), i);
        self.names.push(name);
        self.nver.push(v);
        self.spans.push(Vec::new());
        i
    }

    pub fn generate(n: u32, v: u32, d: u64, w: u32, unsat: Option<bool>) -> Universe {
        let mut u = Universe {
            names: vec![],
            index: HashMap::new(),
            nver: vec![],
            spans: vec![],
            edges: vec![],
        };
        let mut r = Rng::new(42);
        for p in 0..n {
            u.add(format!("p{p}"), v);
        }
        for p in 0..n {
            for _j in 0..v {
                let start = u.edges.len() as u32;
                let k = r.below(d + 1);
                for _ in 0..k {
                    if p == n - 1 {
                        break;
                    }
                    let t = p + 1 + r.below((n - p - 1) as u64) as u32;
                    let vj = (v - 1) - r.below(v.min(w) as u64) as u32;
                    if u.edges[start as usize..].iter().any(|e| e.0 == t) {
                        continue;
                    }
                    u.edges.push((t, vj as u8));
                }
                u.spans[p as usize].push((start, u.edges.len() as u32));
            }
        }
        let mut roots: Vec<u32> = Vec::new();
        while roots.len() < 20 {
            let t = r.below(n as u64) as u32;
            if !roots.contains(&t) {
                roots.push(t);
            }
        }
        if let Some(tangled) = unsat {
            let mut r2 = Rng::new(42 ^ 0xDEAD_BEEF);
            let a0 = u.names.len() as u32;
            for c in ["a", "b"] {
                for k in 0..8 {
                    u.add(format!("{c}{k}"), v);
                }
            }
            let x = u.add("x".into(), v);
            for chain in 0..2u32 {
                for k in 0..8u32 {
                    let me = a0 + chain * 8 + k;
                    for _j in 0..v {
                        let vj = (v - 1) - r2.below(v.min(6) as u64) as u32;
                        let t = r2.below(n as u64) as u32;
                        let start = u.edges.len() as u32;
                        if k == 7 {
                            u.edges.push((x, if chain == 0 { 0 } else { 3 }));
                        } else {
                            u.edges.push((me + 1, if tangled { vj as u8 } else { 255 }));
                        }
                        u.edges.push((t, 255));
                        u.spans[me as usize].push((start, u.edges.len() as u32));
                    }
                }
            }
            for _ in 0..v {
                let s = u.edges.len() as u32;
                u.spans[x as usize].push((s, s));
            }
            roots.push(a0);
            roots.push(a0 + 8);
        }
        let root = u.add("root".into(), 1);
        let start = u.edges.len() as u32;
        for t in roots {
            u.edges.push((t, 255));
        }
        u.spans[root as usize].push((start, u.edges.len() as u32));
        u
    }
}

impl Provider for Universe {
    fn component(&self, id: &str) -> Option<Component<'_>> {
        let &i = self.index.get(id)?;
        Some(Component {
            releases: (0..self.nver[i as usize])
                .map(|j| ReleaseHead::new(ver(j)))
                .collect(),
            ..Default::default()
        })
    }

    fn release<'p>(&'p self, id: &str, index: usize, out: &mut ReleaseDetails<'p>) {
        let i = self.index[id] as usize;
        let (s, e) = self.spans[i][index];
        for &(t, vj) in &self.edges[s as usize..e as usize] {
            out.edges.push(Edge {
                kind: DepKind::Requires,
                name: &self.names[t as usize],
                range: if vj == 255 {
                    Range::Any
                } else {
                    Range::caret(&ver(vj as u32))
                },
                location: None,
            });
        }
    }
}

type Pg = pubgrub::OfflineDependencyProvider<u32, pubgrub::Ranges<pubgrub::SemanticVersion>>;

fn pubgrub_of(u: &Universe) -> Pg {
    let mut p = Pg::new();
    let sv = |j: u32| pubgrub::SemanticVersion::new(1 + j / 3, j % 3, 0);
    for (i, spans) in u.spans.iter().enumerate() {
        for (j, &(s, e)) in spans.iter().enumerate() {
            let deps = u.edges[s as usize..e as usize].iter().map(|&(t, vj)| {
                let r = if vj == 255 {
                    pubgrub::Ranges::full()
                } else {
                    let m = 1 + vj as u32 / 3;
                    pubgrub::Ranges::between(
                        sv(vj as u32),
                        pubgrub::SemanticVersion::new(m + 1, 0, 0),
                    )
                };
                (t, r)
            });
            p.add_dependencies(i as u32, sv(j as u32), deps);
        }
    }
    p
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time(label: &str, u: &Universe, reps: usize) {
    // As the bench harness does: the root's needs are the request.
    let root_i = u.index["root"] as usize;
    let (rs, re) = u.spans[root_i][0];
    let mut req = Request::new();
    for &(t, _) in &u.edges[rs as usize..re as usize] {
        req = req.component(u.names[t as usize].clone(), semver::VersionReq::STAR);
    }
    let pg = pubgrub_of(u);
    let root = u.index["root"];
    let mut times = Vec::new();
    let mut pg_times = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = resolve(u, &req);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
        if std::env::var("NO_PUBGRUB").is_ok() {
            pg_times.push(1.0);
            continue;
        }
        let t = Instant::now();
        let ok = pubgrub::resolve(&pg, root, pubgrub::SemanticVersion::new(1, 0, 0)).is_ok();
        pg_times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(ok);
    }
    let med = median(times);
    let pmed = median(pg_times);
    println!("{label:>22}: pubgrub {pmed:.4} ms, stackwright {med:.4} ms, ratio pubgrub/stackwright = {:.2}x", pmed / med);
    match last.unwrap() {
        Ok(res) => println!(
            "{label:>22}: median {med:.4} ms  ({} chosen, {:?})",
            res.components.len(),
            res.stats
        ),
        Err(e) => {
            let text = e.render();
            println!(
                "{label:>22}: median {med:.4} ms  refused, {} lines:\n{text}",
                text.lines().count()
            );
        }
    }
}

fn main() {
    let only = std::env::args().nth(1);
    type Case = (&'static str, u32, u32, u64, u32, Option<bool>);
    let cases: Vec<Case> = vec![
        ("realistic-w6", 100, 5, 4, 6, None),
        ("realistic-w2", 100, 5, 4, 2, None),
        ("large-w6", 10_000, 20, 6, 6, None),
        ("large-w2", 10_000, 20, 6, 2, None),
        ("unsat-clean", 100, 5, 4, 6, Some(false)),
        ("unsat-tangled", 100, 5, 4, 6, Some(true)),
        ("unsat-large-clean", 10_000, 20, 6, 6, Some(false)),
    ];
    for (label, n, v, d, w, unsat) in cases {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        let u = Universe::generate(n, v, d, w, unsat);
        if label == "realistic-w6" {
            let p0: Vec<String> = u.edges[u.spans[0][0].0 as usize..u.spans[0][0].1 as usize]
                .iter()
                .map(|(t, vj)| format!("p{t} ^{}", ver(*vj as u32)))
                .collect();
            println!(
                "checksum: {} edges, p0 1.0.0 -> {:?}",
                u.edges.len() - 20,
                p0
            );
        }
        let reps = std::env::var("REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if n > 1000 { 15 } else { 200 });
        time(label, &u, reps);
    }
}
