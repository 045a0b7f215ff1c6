//! `cargo xtask bench`: Stackwright's solver against the `pubgrub` 0.4 and `resolvo`
//! 0.12 crates, all three on the same synthetic universes (`../shared/bench/UNIVERSE.md`)
//! in one run, so that comparisons are ratios measured side by side.
//!
//! Every answer is checked before anything is timed: satisfiable scenarios must be
//! solved by all three with a solution that meets every dependency, unsatisfiable
//! ones refused by all three. Timing interleaves the solvers run by run, so machine
//! noise (this is a shared 2-core box) falls on all of them alike, and reports medians.
//! Refusal rendering is outside the timed region for every solver: the timed region
//! ends when the solver returns its answer or its refusal (data).
//!
//! Output, one line each (milliseconds, medians):
//!
//! ```text
//! bench <scenario> stackwright=<ms> pubgrub=<ms> resolvo=<ms> [explanation_lines=<n> pubgrub_lines=<n> resolvo_lines=<n>] [components=<n> pubgrub_components=<n> resolvo_components=<n>]
//! ratio <scenario> pubgrub/stackwright=<r>x resolvo/stackwright=<r>x
//! index-memory large stackwright=<MiB> pubgrub=<MiB> resolvo=<MiB>
//! solve-peak-memory large-w6 stackwright=<MiB> pubgrub=<MiB> resolvo=<MiB>
//! index-memory scale …  and  solve-peak-memory scale-w6 …   (the same for scale-w6)
//! bench registry-<assembly> stackwright=<ms>      (see [`registry_line`]; with no scenario
//!                                                  named, or with `registry`)
//! ```

#[allow(unsafe_code)] // a counting global allocator for the memory columns
mod alloc;
mod pubgrub_adapter;
mod resolvo_adapter;
mod stackwright_adapter;
pub mod universe;

use std::hint::black_box;
use std::time::{Duration, Instant};

use universe::{check, Params, Solution, Universe, Unsat};

/// What a solver answered, translated to the universe's terms.
#[derive(Debug)]
pub enum Outcome {
    Solved(Solution),
    Refused { explanation: String },
}

/// One benchmark problem.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub params: Params,
    pub unsat: Option<Unsat>,
    /// Timed runs (after one warm-up), lowered when a scenario would blow the budget.
    pub runs: usize,
}

/// Every scenario of UNIVERSE.md, in the order they are printed.
pub const SCENARIOS: [Scenario; 9] = [
    Scenario {
        name: "realistic-w6",
        params: Params::realistic(6),
        unsat: None,
        runs: 1001,
    },
    Scenario {
        name: "realistic-w2",
        params: Params::realistic(2),
        unsat: None,
        runs: 1001,
    },
    Scenario {
        name: "large-w6",
        params: Params::large(6),
        unsat: None,
        runs: 101,
    },
    Scenario {
        name: "large-w2",
        params: Params::large(2),
        unsat: None,
        runs: 201,
    },
    Scenario {
        name: "unsat-clean",
        params: Params::realistic(6),
        unsat: Some(Unsat::Clean),
        runs: 201,
    },
    Scenario {
        name: "unsat-tangled",
        params: Params::realistic(6),
        unsat: Some(Unsat::Tangled),
        runs: 201,
    },
    Scenario {
        name: "unsat-large-clean",
        params: Params::large(6),
        unsat: Some(Unsat::Clean),
        runs: 21,
    },
    Scenario {
        name: "unsat-large-tangled",
        params: Params::large(6),
        unsat: Some(Unsat::Tangled),
        runs: 21,
    },
    Scenario {
        name: "scale-w6",
        params: Params::scale(6),
        unsat: None,
        runs: 5,
    },
];

/// Scenarios whose index and solve memory are printed.
const MEMORY_OF: [(&str, &str); 2] = [("large-w6", "large"), ("scale-w6", "scale")];

/// Wall-clock time one scenario's timed runs may take, all solvers together.
const SCENARIO_BUDGET: Duration = Duration::from_secs(20);

/// The three solvers' indexes for one universe.
struct Contenders {
    stackwright: stackwright_adapter::Index,
    pubgrub: pubgrub_adapter::Provider,
    resolvo: resolvo_adapter::Index,
}

const NAMES: [&str; 3] = ["stackwright", "pubgrub", "resolvo"];

/// Bytes → MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Contenders {
    /// Builds all three, returning the live heap each one's index holds.
    fn build(u: &Universe) -> (Self, [usize; 3]) {
        let (stackwright, sw, _) = alloc::measure(|| stackwright_adapter::build(u));
        let (pubgrub, pg, _) = alloc::measure(|| pubgrub_adapter::build(u));
        let (resolvo, rv, _) = alloc::measure(|| resolvo_adapter::build(u));
        (
            Self {
                stackwright,
                pubgrub,
                resolvo,
            },
            [sw, pg, rv],
        )
    }

    fn solve_only(&self, which: usize) -> bool {
        match which {
            0 => stackwright_adapter::solve_only(&self.stackwright),
            1 => pubgrub_adapter::solve_only(&self.pubgrub),
            _ => resolvo_adapter::solve_only(&self.resolvo),
        }
    }

    fn solve(&self, u: &Universe, which: usize) -> anyhow::Result<Outcome> {
        match which {
            0 => stackwright_adapter::solve(u, &self.stackwright),
            1 => pubgrub_adapter::solve(u, &self.pubgrub),
            _ => resolvo_adapter::solve(u, &self.resolvo),
        }
    }
}

/// Checks one solver's answer against the scenario; returns the explanation's line
/// count for refusals.
fn verify(
    u: &Universe,
    scenario: &Scenario,
    solver: &str,
    outcome: &Outcome,
) -> anyhow::Result<Option<usize>> {
    match (outcome, scenario.unsat) {
        (Outcome::Solved(sol), None) => {
            check(u, sol).map_err(|e| {
                anyhow::anyhow!("{solver} on {}: wrong solution: {e}", scenario.name)
            })?;
            Ok(None)
        }
        (Outcome::Refused { explanation }, Some(_)) => {
            if explanation.trim().is_empty() {
                anyhow::bail!(
                    "{solver} on {}: refused without an explanation",
                    scenario.name
                );
            }
            Ok(Some(explanation.lines().count()))
        }
        (Outcome::Solved(sol), Some(_)) => {
            let why = match check(u, sol) {
                Ok(()) => {
                    "a solution the checker accepts (the generator would be wrong)".to_string()
                }
                Err(e) => format!("an invalid solution ({e})"),
            };
            anyhow::bail!(
                "{solver} on {}: must be refused, returned {why}",
                scenario.name
            )
        }
        (Outcome::Refused { explanation }, None) => {
            let first = explanation.lines().next().unwrap_or("");
            anyhow::bail!(
                "{solver} on {}: must be solved, refused: {first}",
                scenario.name
            )
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn time_ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Measured {
    pub scenario: &'static str,
    /// Median ms per solver, in [`NAMES`] order.
    pub median_ms: [f64; 3],
    /// Explanation line counts per solver (unsatisfiable scenarios only).
    pub lines: Option<[usize; 3]>,
    /// Packages in each solver's answer, the root included (satisfiable scenarios only):
    /// stackwright's is the fewest it proves or finds within its budget (SPEC §4).
    pub components: Option<[usize; 3]>,
}

impl Measured {
    pub fn bench_line(&self) -> String {
        let [sw, pg, rv] = self.median_ms;
        let mut s = format!(
            "bench {} stackwright={sw:.3} pubgrub={pg:.3} resolvo={rv:.3}",
            self.scenario
        );
        if let Some([sw, pg, rv]) = self.lines {
            s.push_str(&format!(
                " explanation_lines={sw} pubgrub_lines={pg} resolvo_lines={rv}"
            ));
        }
        if let Some([sw, pg, rv]) = self.components {
            s.push_str(&format!(
                " components={sw} pubgrub_components={pg} resolvo_components={rv}"
            ));
        }
        s
    }

    pub fn ratio_line(&self) -> String {
        let [sw, pg, rv] = self.median_ms;
        format!(
            "ratio {} pubgrub/stackwright={} resolvo/stackwright={}",
            self.scenario,
            ratio(pg, sw),
            ratio(rv, sw)
        )
    }
}

fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.3}x")
    }
}

/// Checks then times one scenario on prepared contenders.
fn measure(
    u: &Universe,
    c: &Contenders,
    scenario: &Scenario,
    explanations: bool,
) -> anyhow::Result<Measured> {
    let mut lines = [0usize; 3];
    let mut components = [0usize; 3];
    let mut warm = [0f64; 3];
    for (i, name) in NAMES.iter().enumerate() {
        // The checked solve doubles as the warm-up.
        let mut outcome = None;
        warm[i] = time_ms(|| outcome = Some(c.solve(u, i)));
        let outcome = outcome.expect("set above")?;
        if let (true, Outcome::Refused { explanation }) = (explanations, &outcome) {
            println!("--- {name} on {}:\n{explanation}---", scenario.name);
        }
        lines[i] = verify(u, scenario, name, &outcome)?.unwrap_or(0);
        if let Outcome::Solved(sol) = &outcome {
            components[i] = sol.iter().flatten().count();
        }
    }
    let per_round: f64 = warm.iter().sum();
    let affordable = (SCENARIO_BUDGET.as_secs_f64() * 1e3 / per_round.max(1e-3)) as usize;
    let mut runs = scenario.runs.min(affordable).max(3);
    if runs & 1 == 0 {
        runs -= 1;
    }
    let mut samples: [Vec<f64>; 3] = Default::default();
    for round in 0..runs {
        // Rotate who goes first, so no solver always runs right after the same one.
        for k in 0..3 {
            let i = (round + k) % 3;
            samples[i].push(time_ms(|| {
                black_box(c.solve_only(i));
            }));
        }
    }
    let [a, b, d] = samples;
    Ok(Measured {
        scenario: scenario.name,
        median_ms: [median(a), median(b), median(d)],
        lines: scenario.unsat.map(|_| lines),
        components: scenario.unsat.is_none().then_some(components),
    })
}

/// Peak heap above the starting point during one solve by each solver.
fn solve_peaks(c: &Contenders) -> [usize; 3] {
    let mut peaks = [0; 3];
    for (i, p) in peaks.iter_mut().enumerate() {
        let (_, _, peak) = alloc::measure(|| black_box(c.solve_only(i)));
        *p = peak;
    }
    peaks
}

struct Options {
    only: Vec<String>,
    /// `--stats`: stackwright's search counters after each scenario's line.
    stats: bool,
    /// `registry` named: the real registry's example assemblies are timed too (see
    /// [`registry_line`]); alone, only they are.
    registry: bool,
    explanations: bool,
    /// `--loop SOLVER`: after checking, only run that solver, repeatedly, for
    /// [`LOOP_FOR`] per scenario (for `perf record`).
    repeat: Option<usize>,
}

const LOOP_FOR: Duration = Duration::from_secs(5);

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        only: Vec::new(),
        stats: false,
        registry: false,
        explanations: false,
        repeat: None,
    };
    let mut args = args.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--explanations" => o.explanations = true,
            "--stats" => o.stats = true,
            "--loop" => {
                let name = args.next().map(String::as_str).unwrap_or("");
                let Some(i) = NAMES.iter().position(|n| *n == name) else {
                    anyhow::bail!("--loop needs one of {}", NAMES.join(", "));
                };
                o.repeat = Some(i);
            }
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask bench [--explanations] [--stats] [--loop SOLVER] [SCENARIO…]\n\
                     scenarios: {} registry",
                    SCENARIOS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                std::process::exit(0);
            }
            s if s.starts_with('-') => anyhow::bail!("unknown option `{s}` (try --help)"),
            "registry" => o.registry = true,
            s => {
                if !SCENARIOS.iter().any(|sc| sc.name == s) {
                    anyhow::bail!("unknown scenario `{s}` (try --help)");
                }
                o.only.push(s.to_string());
            }
        }
    }
    Ok(o)
}

/// `cargo xtask bench [--explanations] [--loop SOLVER] [SCENARIO…] [registry]`: runs the
/// scenarios (all by default; none when only `registry` is named), printing the lines
/// described in the module docs; `registry` adds the real registry's lines.
/// Fails (after printing what it could) if any solver gives a wrong answer.
/// `--explanations` prints each solver's refusal text; `--loop SOLVER` checks the
/// answers, then runs only SOLVER over and over (a target for `perf record`).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = parse(args)?;
    let mut results: Vec<Measured> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut memory: Vec<(&str, [usize; 3])> = Vec::new();
    let mut peaks: Vec<(&str, [usize; 3])> = Vec::new();
    let started = Instant::now();

    for scenario in SCENARIOS.iter().filter(|s| {
        opts.only.iter().any(|o| o == s.name) || (opts.only.is_empty() && !opts.registry)
    }) {
        let u = Universe::generate(scenario.params, scenario.unsat);
        let (c, mem) = Contenders::build(&u);
        let tracked = MEMORY_OF.iter().find(|m| m.0 == scenario.name);
        if let Some((_, index)) = tracked {
            memory.push((index, mem));
        }
        if let Some(i) = opts.repeat {
            for (k, name) in NAMES.iter().enumerate() {
                verify(&u, scenario, name, &c.solve(&u, k)?)?;
            }
            let t = Instant::now();
            let mut n = 0u64;
            while t.elapsed() < LOOP_FOR {
                black_box(c.solve_only(i));
                n += 1;
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
            println!("loop {} {}={ms:.3} runs={n}", scenario.name, NAMES[i]);
            continue;
        }
        match measure(&u, &c, scenario, opts.explanations) {
            Ok(m) => {
                println!("{}", m.bench_line());
                if opts.stats {
                    if let Some(st) = stackwright_adapter::stats(&c.stackwright) {
                        println!("{}", stats_line(scenario.name, &st));
                    }
                }
                if tracked.is_some() {
                    peaks.push((scenario.name, solve_peaks(&c)));
                }
                results.push(m);
            }
            Err(e) => {
                println!("bench {} FAILED: {e:#}", scenario.name);
                failures.push(format!("{e:#}"));
            }
        }
    }
    for m in &results {
        println!("{}", m.ratio_line());
    }
    for (index, [sw, pg, rv]) in memory {
        // Live heap held by each index right after it is built from the compact
        // universe (the universe itself excluded).
        println!(
            "index-memory {index} stackwright={:.1} pubgrub={:.1} resolvo={:.1}",
            mib(sw),
            mib(pg),
            mib(rv)
        );
    }
    for (scenario, [sw, pg, rv]) in peaks {
        // Peak heap above the index while one solve runs (resolvo's includes the
        // caches it builds of the provider's answers).
        println!(
            "solve-peak-memory {scenario} stackwright={:.1} pubgrub={:.1} resolvo={:.1}",
            mib(sw),
            mib(pg),
            mib(rv)
        );
    }
    if opts.registry {
        crate::io_bench::registry_lines()?;
    }
    println!("bench finished in {:.1}s", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        anyhow::bail!(
            "{} scenario(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(())
}

/// `stats <scenario> …`: stackwright's search counters for one resolution.
pub fn stats_line(scenario: &str, st: &stackwright_solver::Stats) -> String {
    format!(
        "stats {scenario} searches={} fewest_searches={} fewest_proven={} propagations={} decisions={} conflicts={} learned_lits={} releases_loaded={}",
        st.searches,
        st.fewest_searches,
        st.fewest_proven,
        st.propagations,
        st.decisions,
        st.conflicts,
        st.learned_lits,
        st.releases_loaded
    )
}

/// Times `f` (one resolution of a real assembly, say) and formats
/// `bench registry-<assembly> stackwright=<ms>`: one warm-up call, then the median of
/// up to 21 calls, fewer when they would take more than about five seconds (at least 3).
pub fn registry_line(assembly: &str, mut f: impl FnMut()) -> String {
    let warm = time_ms(&mut f);
    let affordable = (5_000.0 / warm.max(1e-3)) as usize;
    let runs = affordable.clamp(3, 21);
    let samples: Vec<f64> = (0..runs).map(|_| time_ms(&mut f)).collect();
    format!(
        "bench registry-{assembly} stackwright={:.3}",
        median(samples)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn ratio_formatting() {
        assert_eq!(ratio(24.0, 10.0), "2.40x");
        assert_eq!(ratio(250.0, 10.0), "25x");
        assert_eq!(ratio(0.5, 10.0), "0.050x");
    }

    #[test]
    fn registry_line_format() {
        let mut calls = 0;
        let line = registry_line("k8s-node", || calls += 1);
        assert!(
            line.starts_with("bench registry-k8s-node stackwright="),
            "{line}"
        );
        assert!(calls >= 4);
    }

    #[test]
    fn options() {
        assert!(parse(&["--nope".into()]).is_err());
        assert!(parse(&["realistic-w7".into()]).is_err());
        let o = parse(&["unsat-clean".into(), "--explanations".into()]).unwrap();
        assert_eq!(o.only, ["unsat-clean"]);
        assert!(o.explanations);
        assert_eq!(o.repeat, None);
        let o = parse(&["--loop".into(), "resolvo".into()]).unwrap();
        assert_eq!(o.repeat, Some(2));
        assert!(parse(&["--loop".into()]).is_err());
        let o = parse(&["registry".into(), "large-w2".into()]).unwrap();
        assert!(o.registry);
        assert_eq!(o.only, ["large-w2"]);
    }

    /// The realistic scenarios end to end: every solver's answer is checked (a wrong
    /// one fails `measure`), refusals carry explanations.
    #[test]
    fn realistic_scenarios_are_answered_correctly_by_all() {
        for s in SCENARIOS.iter().filter(|s| s.params.n == 100) {
            let u = Universe::generate(s.params, s.unsat);
            let (c, _) = Contenders::build(&u);
            for (i, name) in NAMES.iter().enumerate() {
                let outcome = c.solve(&u, i).unwrap();
                let lines = verify(&u, s, name, &outcome).unwrap_or_else(|e| panic!("{e:#}"));
                assert_eq!(lines.is_some(), s.unsat.is_some());
            }
        }
    }

    /// The checker inside `verify` really rejects: a refusal where a solution is due,
    /// and a solution where a refusal is due.
    #[test]
    fn verify_rejects_wrong_kinds_of_answer() {
        let sat = SCENARIOS[0];
        let unsat = SCENARIOS[4];
        let u = Universe::generate(sat.params, sat.unsat);
        let refused = Outcome::Refused {
            explanation: "no".into(),
        };
        assert!(verify(&u, &sat, "x", &refused).is_err());
        let empty: Solution = vec![None; u.package_count() as usize];
        let uu = Universe::generate(unsat.params, unsat.unsat);
        let empty_u: Solution = vec![None; uu.package_count() as usize];
        assert!(verify(&uu, &unsat, "x", &Outcome::Solved(empty_u)).is_err());
        assert!(verify(&u, &sat, "x", &Outcome::Solved(empty)).is_err());
        assert!(verify(
            &uu,
            &unsat,
            "x",
            &Outcome::Refused {
                explanation: " \n".into()
            }
        )
        .is_err());
    }
}
