//! `stackwright upgrade`: a plan from a locked platform to target versions, as ordered
//! steps where every step is a whole platform the solver accepts and validation passes.
//!
//! How a plan is made:
//! 1. Each target (`--to ID=VERSION`, VERSION exact or a minor meaning its newest release)
//!    moves **one minor at a time** (the Kubernetes version-skew policy: minors are not
//!    skipped on upgrade): every minor in between is a *level*, at the newest release of
//!    that minor in the registry. No release for a minor in between is a refusal.
//! 2. Each level is resolved by the real solver: the targets pinned at the level's
//!    versions (replacing the assembly's ranges for them), everything else kept at its
//!    current version while the rules allow and moved when they do not (containerd, CRI-O,
//!    CNI plugins, pause…).
//! 3. A level's changes are split into steps by the rules themselves: a step takes every
//!    change that can be made alone on the platform as it stands (the solver accepts the
//!    platform with it); what cannot waits for a later step. So the skew rules in the
//!    manifests order the steps: kube-apiserver first (its dependents require it at
//!    their own minor), then its dependents. A component whose manifest says
//!    `upgrade_after` moves only after those components have moved in the level.
//! 4. Each change carries the rule that forces it: the `--to` target (and which step of
//!    its minors this is), or the solver's refusal of the step without it.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use semver::{Version, VersionReq};
use stackwright_assembly::Loaded;
use stackwright_solver::Ask;
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::lock::Lockfile;
use stackwright_types::upgrade::{UpgradeChange, UpgradePlan, UpgradeStep};

use crate::{Assembled, Assembler, Error, Registry};

/// One `--to ID=VERSION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub version: TargetVersion,
}

/// An exact release, or a minor (`1.36`: its newest release).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetVersion {
    Exact(Version),
    Minor { major: u64, minor: u64 },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            TargetVersion::Exact(v) => write!(f, "{}={v}", self.id),
            TargetVersion::Minor { major, minor } => write!(f, "{}={major}.{minor}", self.id),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not ID=VERSION (e.g. kube-apiserver=1.36)"))?;
        let (id, v) = (id.trim(), v.trim());
        if id.is_empty() {
            return Err(format!("`{s}` names no component"));
        }
        let parts: Vec<&str> = v.split('.').collect();
        let version = if parts.len() == 2 {
            match (parts[0].parse(), parts[1].parse()) {
                (Ok(major), Ok(minor)) => TargetVersion::Minor { major, minor },
                _ => return Err(format!("`{v}` is neither a version nor a minor (1.36)")),
            }
        } else {
            TargetVersion::Exact(
                Version::parse(v)
                    .map_err(|e| format!("`{v}` is neither a version nor a minor (1.36): {e}"))?,
            )
        };
        Ok(Target {
            id: id.to_string(),
            version,
        })
    }
}

fn invalid(code: stackwright_types::Code, msg: String, hint: &str) -> Error {
    Error::Invalid(vec![Diagnostic::error(code, msg).hint(hint)])
}

/// The release a target names, checked against the registry.
fn target_release(registry: &Registry, t: &Target) -> Result<Version, Error> {
    let Some(m) = registry.manifest(&t.id) else {
        let mut d = Diagnostic::error(
            diagnostic::UNKNOWN_COMPONENT,
            format!("--to {t}: unknown component `{}`", t.id),
        );
        d = match registry.suggest(&t.id) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint("`stackwright components` lists them all"),
        };
        return Err(Error::Invalid(vec![d]));
    };
    let releases = || {
        m.releases
            .iter()
            .map(|r| r.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match &t.version {
        TargetVersion::Exact(v) => m.release(v).map(|r| r.version.clone()),
        TargetVersion::Minor { major, minor } => newest_in_minor(m, *major, *minor),
    };
    found.ok_or_else(|| {
        invalid(
            diagnostic::INVALID_VALUE,
            format!("--to {t}: {} has no such release", t.id),
            &format!("its releases: {}", releases()),
        )
    })
}

fn newest_in_minor(
    m: &stackwright_types::manifest::Manifest,
    major: u64,
    minor: u64,
) -> Option<Version> {
    m.releases
        .iter()
        .filter(|r| {
            r.version.major == major && r.version.minor == minor && r.version.pre.is_empty()
        })
        .map(|r| r.version.clone())
        .max()
}

/// What each target passes through: every minor between its current version and the
/// target (newest release of each), then the target.
fn waypoints(
    registry: &Registry,
    t: &Target,
    from: Option<&Version>,
    to: &Version,
) -> Result<Vec<Version>, Error> {
    let mut v = Vec::new();
    if let Some(from) = from {
        if from.major == to.major && to.minor > from.minor + 1 {
            let m = registry.manifest(&t.id).expect("checked by target_release");
            for minor in from.minor + 1..to.minor {
                match newest_in_minor(m, to.major, minor) {
                    Some(r) => v.push(r),
                    None => {
                        return Err(invalid(
                            diagnostic::UNSATISFIABLE,
                            format!(
                                "--to {t}: {} {from} cannot reach {to}: the registry has no {}.{minor} release to pass through, and minors are not skipped on upgrade",
                                t.id, to.major
                            ),
                            &format!("add a {}.{minor} release to the {} manifest, or upgrade to {}.{} first", to.major, t.id, to.major, minor - 1),
                        ))
                    }
                }
            }
        }
    }
    v.push(to.clone());
    Ok(v)
}

type Versions = BTreeMap<String, Version>;

fn versions_of(a: &Assembled) -> Versions {
    a.resolution
        .components
        .iter()
        .map(|(id, c)| (id.clone(), c.version.clone()))
        .collect()
}

fn exact(v: &Version) -> Ask {
    Ask::new(VersionReq::parse(&format!("={v}")).expect("an exact requirement parses"))
}

/// The rule in a refusal that stops a platform: the refusal's facts without the asks
/// themselves (the plan made those) and without file locations (plans, like locks, do not
/// depend on where the files are).
fn refusal_reason(e: &Error) -> String {
    let diags = e.diagnostics();
    let Some(d) = diags.iter().find(|d| d.is_error()) else {
        return e.to_string();
    };
    let rules: Vec<String> = d
        .notes
        .iter()
        .map(|n| n.trim())
        .filter(|n| {
            !(n.starts_with("the assembly asks")
                || n.starts_with("the request asks")
                || n.starts_with("so "))
        })
        .map(without_location)
        .collect();
    if rules.is_empty() {
        without_location(&d.message)
    } else {
        rules.join("; ")
    }
}

/// `text (file.toml:1:2)` → `text`.
fn without_location(s: &str) -> String {
    if let Some(i) = s.rfind(" (") {
        let tail = &s[i + 2..];
        if tail.ends_with(')') && tail.contains(".toml:") {
            return s[..i].to_string();
        }
    }
    s.to_string()
}

struct Planner<'a> {
    assembler: Assembler,
    registry: &'a Registry,
    loaded: &'a Loaded,
}

impl Planner<'_> {
    /// Resolves with `pinned` required at exactly those versions and `prefer` kept where
    /// allowed.
    fn solve(&self, pinned: &Versions, prefer: &Versions) -> Result<Assembled, Error> {
        self.assembler
            .assemble_request(self.registry.clone(), self.loaded.clone(), |r| {
                r.locked = prefer.clone();
                for (id, v) in pinned {
                    r.components.insert(id.clone(), exact(v));
                }
            })
    }

    /// Whether `mix` is a platform as it stands: resolving with the targets pinned and
    /// everything else preferred at `mix`'s versions keeps `mix`'s versions, except that
    /// components still to move in this level may move along to their level's version
    /// (a recommended pause following its kubelet).
    fn accepts(&self, pins: &Versions, mix: &Versions, end: &Versions) -> Option<Assembled> {
        let a = self.solve(pins, mix).ok()?;
        let got = versions_of(&a);
        let ids: BTreeSet<&String> = mix.keys().chain(got.keys()).collect();
        let fits = ids.into_iter().all(|id| {
            let g = got.get(id);
            g == mix.get(id) || (!pins.contains_key(id) && g == end.get(id))
        });
        fits.then_some(a)
    }

    /// Why `mix` is refused, resolving with every one of its versions required; `None`
    /// when it is not (a preference moved something, not a rule).
    fn why_not(&self, mix: &Versions) -> Option<String> {
        self.solve(mix, mix).err().map(|e| refusal_reason(&e))
    }
}

/// One component's move within a level.
#[derive(Clone, Debug)]
struct Move {
    id: String,
    from: Option<Version>,
    to: Option<Version>,
}

fn apply(state: &Versions, moves: &[&Move]) -> Versions {
    let mut s = state.clone();
    for m in moves {
        match &m.to {
            Some(v) => s.insert(m.id.clone(), v.clone()),
            None => s.remove(&m.id),
        };
    }
    s
}

fn moves_between(a: &Versions, b: &Versions) -> Vec<Move> {
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    ids.into_iter()
        .filter(|id| a.get(*id) != b.get(*id))
        .map(|id| Move {
            id: id.clone(),
            from: a.get(id).cloned(),
            to: b.get(id).cloned(),
        })
        .collect()
}

/// Plans the upgrade of the platform locked in `current` (of the assembly `loaded`) to
/// `targets`. The assembly's ranges for the targets are replaced by the targets; every
/// other rule of the assembly holds at every step.
pub fn plan(
    assembler: &Assembler,
    loaded: Loaded,
    current: &Lockfile,
    targets: &[Target],
) -> Result<UpgradePlan, Error> {
    check_request(&loaded, current, targets)?;
    let registry = assembler.registry(Some(&loaded))?;
    let mut state = locked_versions(current)?;
    let paths = target_paths(&registry, targets, &state)?;
    let levels = paths.values().map(|(_, w)| w.len()).max().unwrap_or(0);
    let planner = Planner {
        assembler: assembler.clone().with_lock(Some(current.clone())),
        registry: &registry,
        loaded: &loaded,
    };
    let upgrade_after: BTreeMap<String, Vec<String>> = registry
        .manifests()
        .filter(|m| !m.upgrade_after.is_empty())
        .map(|m| (m.id.clone(), m.upgrade_after.clone()))
        .collect();
    let mut steps = Vec::new();
    for level in 0..levels {
        let (pins, why_target) = level_pins(&paths, levels, level, &state);
        let end = planner
            .solve(&pins, &state)
            .map_err(|e| level_refused(&pins, level, levels, e))?;
        let end_versions = versions_of(&end);
        let forced = forced_reasons(&planner, &state, &end, &end_versions, &why_target);
        let level = Level {
            planner: &planner,
            upgrade_after: &upgrade_after,
            pins,
            why_target,
            forced,
            end: end_versions,
        };
        level.steps(&mut state, &mut steps)?;
    }
    Ok(UpgradePlan {
        assembly: loaded.name.clone(),
        steps,
    })
}

/// The lock must be of this assembly, and there must be a target.
fn check_request(loaded: &Loaded, current: &Lockfile, targets: &[Target]) -> Result<(), Error> {
    if current.assembly != loaded.name {
        return Err(invalid(
            diagnostic::INVALID_VALUE,
            format!(
                "the lock is of assembly `{}`, not `{}`",
                current.assembly, loaded.name
            ),
            "give the lock of this assembly with --lock",
        ));
    }
    if targets.is_empty() {
        return Err(invalid(
            diagnostic::INVALID_VALUE,
            "no target: give at least one --to ID=VERSION".into(),
            "e.g. --to kube-apiserver=1.36",
        ));
    }
    Ok(())
}

/// The versions the lock records, per component.
fn locked_versions(current: &Lockfile) -> Result<Versions, Error> {
    let mut state: Versions = BTreeMap::new();
    for c in &current.components {
        let v = Version::parse(&c.version).map_err(|e| {
            invalid(
                diagnostic::INVALID_VERSION,
                format!("the lock's {} version `{}`: {e}", c.id, c.version),
                "regenerate the lock with `stackwright assemble --update`",
            )
        })?;
        state.insert(c.id.clone(), v);
    }
    Ok(state)
}

/// Each target's waypoints (with the target as asked), per component; a component named
/// twice is refused.
fn target_paths(
    registry: &Registry,
    targets: &[Target],
    state: &Versions,
) -> Result<BTreeMap<String, (String, Vec<Version>)>, Error> {
    let mut paths: BTreeMap<String, (String, Vec<Version>)> = BTreeMap::new();
    for t in targets {
        if paths.contains_key(&t.id) {
            return Err(invalid(
                diagnostic::INVALID_VALUE,
                format!("--to names {} twice", t.id),
                "give each component once",
            ));
        }
        let to = target_release(registry, t)?;
        let w = waypoints(registry, t, state.get(&t.id), &to)?;
        paths.insert(t.id.clone(), (t.to_string(), w));
    }
    Ok(paths)
}

/// The targets' versions at `level`, with why each is there: the waypoints are
/// right-aligned so every target reaches its version at the last level; a target whose
/// path starts later stays at its current version.
fn level_pins(
    paths: &BTreeMap<String, (String, Vec<Version>)>,
    levels: usize,
    level: usize,
    state: &Versions,
) -> (Versions, BTreeMap<String, String>) {
    let mut pins: Versions = BTreeMap::new();
    let mut why_target: BTreeMap<String, String> = BTreeMap::new();
    for (id, (asked, w)) in paths {
        let start = levels - w.len();
        if level >= start {
            let i = level - start;
            pins.insert(id.clone(), w[i].clone());
            let reason = if i + 1 == w.len() {
                format!("--to {asked}")
            } else {
                format!(
                    "--to {asked}: minor {} of {} on the way (minors are not skipped on upgrade)",
                    i + 1,
                    w.len()
                )
            };
            why_target.insert(id.clone(), reason);
        } else if let Some(v) = state.get(id) {
            pins.insert(id.clone(), v.clone());
        }
    }
    (pins, why_target)
}

/// No platform has the level's pins: the refusal, introduced by what was asked.
fn level_refused(pins: &Versions, level: usize, levels: usize, e: Error) -> Error {
    let mut d = Diagnostic::error(
        diagnostic::UNSATISFIABLE,
        format!(
            "no upgrade path: no platform has {}",
            pins.iter()
                .map(|(id, v)| format!("{id} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .hint("the refusal below names the rule; add the components it names to --to, or widen the assembly's ranges");
    if level + 1 < levels {
        d = d.note(format!("a step on the way ({} of {levels})", level + 1));
    }
    let mut diags = vec![d];
    diags.extend(e.diagnostics());
    Error::Invalid(diags)
}

/// Why each non-target move of the level is needed: the level's platform without it is
/// refused (a rule forces it), or, when that platform is accepted too, a recommendation or
/// preference of the level's platform: its reason there.
fn forced_reasons(
    planner: &Planner<'_>,
    state: &Versions,
    end: &Assembled,
    end_versions: &Versions,
    why_target: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut forced: BTreeMap<String, String> = BTreeMap::new();
    for m in &moves_between(state, end_versions) {
        if why_target.contains_key(&m.id) {
            continue;
        }
        let mut without = end_versions.clone();
        match &m.from {
            Some(v) => without.insert(m.id.clone(), v.clone()),
            None => without.remove(&m.id),
        };
        let rule = planner.why_not(&without);
        let reason = match (&m.from, &m.to, rule) {
            (Some(_), None, Some(r)) => format!("no longer fits: {r}"),
            (Some(_), None, None) => "no longer needed".to_string(),
            (_, _, Some(r)) => r,
            (_, _, None) => end.platform().reason(&m.id),
        };
        forced.insert(m.id.clone(), reason);
    }
    forced
}

/// One level of the plan: its targets' pins and the platform it ends at, with the reason
/// of every move.
struct Level<'p> {
    planner: &'p Planner<'p>,
    upgrade_after: &'p BTreeMap<String, Vec<String>>,
    pins: Versions,
    why_target: BTreeMap<String, String>,
    forced: BTreeMap<String, String>,
    end: Versions,
}

impl Level<'_> {
    /// The steps from `state` to the level's end, each a platform the assembly accepts,
    /// appended to `steps`; `state` ends at the level's end.
    fn steps(&self, state: &mut Versions, steps: &mut Vec<UpgradeStep>) -> Result<(), Error> {
        let mut pending = moves_between(state, &self.end);
        let mut waited: BTreeMap<String, String> = BTreeMap::new();
        while !pending.is_empty() {
            let movable = self.movable(state, &pending, &mut waited);
            let assembled = self.next_step(state, &pending, movable)?;
            let after = versions_of(&assembled);
            let changes = self.changes(state, &after, &waited);
            *state = after;
            steps.push(UpgradeStep {
                changes,
                lock: stackwright_render::lockfile(&assembled.platform()),
            });
            pending = moves_between(state, &self.end);
        }
        Ok(())
    }

    /// The pending moves that fit alone on the platform as it stands; why the others wait
    /// goes to `waited` (an `upgrade_after` still pending, or the rule refusing them).
    fn movable<'m>(
        &self,
        state: &Versions,
        pending: &'m [Move],
        waited: &mut BTreeMap<String, String>,
    ) -> Vec<&'m Move> {
        let deferred = |m: &Move| -> Option<String> {
            self.upgrade_after.get(&m.id).and_then(|after| {
                let waiting: Vec<&str> = after
                    .iter()
                    .filter(|a| pending.iter().any(|p| &p.id == *a))
                    .map(String::as_str)
                    .collect();
                (!waiting.is_empty()).then(|| {
                    format!(
                        "ordered by: {} upgrades after {} (its upgrade_after)",
                        m.id,
                        waiting.join(", ")
                    )
                })
            })
        };
        let mut movable: Vec<&Move> = Vec::new();
        for m in pending {
            if let Some(w) = deferred(m) {
                waited.entry(m.id.clone()).or_insert(w);
                continue;
            }
            let mix = apply(state, &[m]);
            if self.accept(&mix).is_some() {
                movable.push(m);
            } else if !waited.contains_key(&m.id) {
                if let Some(rule) = self.planner.why_not(&mix) {
                    waited.insert(m.id.clone(), format!("ordered by: {rule}"));
                }
            }
        }
        movable
    }

    /// The next step's platform: every movable move together, else the first alone, else
    /// everything pending at once; if none is accepted there is no path.
    fn next_step(
        &self,
        state: &Versions,
        pending: &[Move],
        movable: Vec<&Move>,
    ) -> Result<Assembled, Error> {
        let mut chosen: Vec<&Move> = movable;
        let mut mix = apply(state, &chosen);
        let mut assembled = if chosen.is_empty() {
            None
        } else {
            self.accept(&mix)
        };
        if assembled.is_none() && !chosen.is_empty() {
            // Each alone fits, not all together: take the first.
            chosen.truncate(1);
            mix = apply(state, &chosen);
            assembled = self.accept(&mix);
        }
        if let Some(assembled) = assembled {
            return Ok(assembled);
        }
        // Nothing moves alone: everything left at once, or no path.
        chosen = pending.iter().collect();
        mix = apply(state, &chosen);
        if let Some(assembled) = self.accept(&mix) {
            return Ok(assembled);
        }
        let why = self
            .planner
            .why_not(&mix)
            .unwrap_or_else(|| "the solver chooses another platform".into());
        Err(Error::Invalid(vec![Diagnostic::error(
            diagnostic::UNSATISFIABLE,
            format!(
                "no upgrade path: none of {} can move on the platform as it stands, nor all at once: {why}",
                pending.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
        .hint("add the components the rule names to --to, or widen the assembly's ranges")]))
    }

    /// The platform of `mix` if the assembly accepts it with the targets at their versions
    /// in `mix`.
    fn accept(&self, mix: &Versions) -> Option<Assembled> {
        self.planner
            .accepts(&pins_for(&self.pins, mix), mix, &self.end)
    }

    /// A step's changes from `state` to `after`, each with its reason (and why it waited).
    fn changes(
        &self,
        state: &Versions,
        after: &Versions,
        waited: &BTreeMap<String, String>,
    ) -> Vec<UpgradeChange> {
        moves_between(state, after)
            .into_iter()
            .map(|m| {
                let mut reason = self
                    .why_target
                    .get(&m.id)
                    .or_else(|| self.forced.get(&m.id))
                    .cloned()
                    .unwrap_or_else(|| "moved by the solver with this step".to_string());
                if let Some(w) = waited.get(&m.id) {
                    reason.push_str("; ");
                    reason.push_str(w);
                }
                UpgradeChange {
                    id: m.id.clone(),
                    from: m.from.as_ref().map(Version::to_string),
                    to: m.to.as_ref().map(Version::to_string),
                    reason,
                }
            })
            .collect()
    }
}

/// The targets' pins for a step: each target at its version in `mix`.
fn pins_for(level_pins: &Versions, mix: &Versions) -> Versions {
    level_pins
        .keys()
        .filter_map(|id| mix.get(id).map(|v| (id.clone(), v.clone())))
        .collect()
}

/// Writes each step's platform as its own lock, `dir/step-N/stackwright.lock` (N from 1),
/// atomically: all of them or none. Returns how many were written.
pub fn write_steps(plan: &UpgradePlan, dir: &std::path::Path) -> Result<usize, Error> {
    let io = |context: String| move |source| Error::Io { context, source };
    let staging = crate::output::Staging::begin(dir).map_err(io(format!(
        "creating a staging directory for {}",
        dir.display()
    )))?;
    for (i, step) in plan.steps.iter().enumerate() {
        let name = format!("step-{}/stackwright.lock", i + 1);
        staging
            .write(&name, step.lock.to_toml().as_bytes())
            .map_err(io(format!("writing {name}")))?;
    }
    staging
        .commit()
        .map_err(io(format!("writing {}", dir.display())))?;
    Ok(plan.steps.len())
}
