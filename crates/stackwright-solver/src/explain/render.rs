//! Rendering the facts of a refusal (see `proof`) into lines a person can follow, and
//! into the [`Fact`] list of the [`Explanation`].
//!
//! Version lists are collapsed into ranges, chains of single requirements are collapsed to
//! their ends, and the whole is written as a short derivation, depth first from what the
//! request asks, ending in "so … cannot be assembled together".

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use stackwright_types::Location;

use crate::provider::{Provider, Range};
use crate::refusal::{Explanation, Fact};
use crate::search::{AskKind, Forbid, Solver, Var, NONE, PKG_GROUP};

use super::proof::{ExclFact, Proof, ReqFact};

/// Derivation lines shown before "and N more causes".
const MAX_LINES: usize = 12;
/// Links of a chain shown before eliding the middle.
const MAX_LINKS: usize = 4;

/// Writes the derivation of `proof`: the asks, then depth first what they reach (chains of
/// requirements, exclusions), then the `one` capabilities, then the summary.
pub(crate) fn render<P: Provider + ?Sized>(s: &mut Solver<'_, P>, proof: Proof<'_>) -> Explanation {
    let Proof {
        reqs,
        excls,
        amo,
        removed,
        used_ext,
    } = proof;
    let mut out = Render {
        lines: Vec::new(),
        facts: Vec::new(),
        labels: labels(s, &reqs),
        hidden: 0,
    };
    let asked = render_asks(s, &mut out, &reqs, &removed, &used_ext);
    let mut walk = Walk {
        graph: Graph::new(s, &reqs, &excls, &amo),
        queue: start_queue(s, &reqs, &asked.order),
        reqs: &reqs,
        excls: &excls,
        removed: &removed,
        done_req: BTreeSet::new(),
        done_excl: BTreeSet::new(),
        visited: BTreeSet::new(),
    };
    walk.run(s, &mut out);
    render_capabilities(s, &mut out, &amo);
    finish(out, asked)
}

/// Labels: a set of releases equal to what an ask or edge selected is written with that
/// range (`kubelet ~1.36`) rather than as a list.
fn labels<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
    reqs: &[ReqFact<'_>],
) -> Vec<(BTreeSet<Var>, String)> {
    let mut labels: Vec<(BTreeSet<Var>, String)> = Vec::new();
    for r in reqs {
        let mut by_pkg: BTreeMap<u32, BTreeSet<Var>> = BTreeMap::new();
        for &c in &r.cands {
            by_pkg.entry(s.vars[c as usize].name).or_default().insert(c);
        }
        for (pkg, set) in by_pkg {
            if pkg == r.name {
                labels.push((set, r.range_text.clone()));
            }
        }
    }
    labels
}

/// What the request asked, as the derivation starts and ends with it.
struct Asked {
    /// The requirements that are asks, in ask order.
    order: Vec<usize>,
    /// Each ask as the summary names it (`kubelet ~1.36`, an `[external]` pin's version).
    terms: Vec<String>,
    /// The first ask's place in the assembly.
    first_loc: Option<Location>,
}

/// The lines and facts of the asks (in ask order), then of the `[external]` pins that
/// ruled a candidate out without being asks of the proof.
fn render_asks<P: Provider + ?Sized>(
    s: &mut Solver<'_, P>,
    out: &mut Render,
    reqs: &[ReqFact<'_>],
    removed: &[Vec<(Var, Forbid)>],
    used_ext: &BTreeSet<u32>,
) -> Asked {
    let mut asked = Asked {
        order: (0..reqs.len()).filter(|i| reqs[*i].ask.is_some()).collect(),
        terms: Vec::new(),
        first_loc: None,
    };
    asked.order.sort_by_key(|i| reqs[*i].ask);
    for &i in &asked.order {
        render_ask(
            s,
            out,
            &reqs[i],
            &removed[i],
            &mut asked.terms,
            &mut asked.first_loc,
        );
    }
    for &ai in used_ext {
        if asked.order.iter().any(|i| reqs[*i].ask == Some(ai)) {
            continue;
        }
        let a = &s.asks[ai as usize];
        let v = match &a.range {
            Range::Between { min: Some(m), .. } => m.to_string(),
            r => r.to_text(),
        };
        asked.terms.push(format!("{} {v}", a.name));
        if asked.first_loc.is_none() {
            asked.first_loc = a.location.cloned();
        }
        out.line(
            format!("[external] pins {} to {v}{}", a.name, at(a.location)),
            None,
        );
        out.facts.push(Fact::External {
            name: a.name.to_string(),
            version: v,
            location: a.location.cloned(),
        });
    }
    asked
}

/// One ask's line and fact; its summary term goes to `terms`.
fn render_ask<P: Provider + ?Sized>(
    s: &mut Solver<'_, P>,
    out: &mut Render,
    r: &ReqFact<'_>,
    removed: &[(Var, Forbid)],
    terms: &mut Vec<String>,
    first_loc: &mut Option<Location>,
) {
    let a = s.asks[r.ask.unwrap_or(0) as usize].clone();
    let what = format!("{} {}", a.name, r.range_text.clone());
    let who = if a.location.is_some() {
        "the assembly"
    } else {
        "the request"
    };
    let text = match a.kind {
        AskKind::External => format!("[external] pins {} to {}", a.name, pinned_version(s, r)),
        AskKind::Capability => format!("{who} asks for capability {what}"),
        AskKind::Bootable => format!("a bootable platform needs capability {what}"),
        _ => format!("{who} asks for {what}"),
    };
    let text = if matches!(a.kind, AskKind::External) {
        text
    } else {
        format!("{text}{}", cands_phrase(s, out, r, removed))
    };
    if first_loc.is_none() {
        *first_loc = a.location.cloned();
    }
    terms.push(match a.kind {
        AskKind::External => format!("{} {}", a.name, pinned_version(s, r)),
        _ => what.clone(),
    });
    out.line(format!("{text}{}", at(a.location)), None);
    out.facts.push(match a.kind {
        AskKind::External => Fact::External {
            name: a.name.to_string(),
            version: pinned_version(s, r),
            location: a.location.cloned(),
        },
        _ => Fact::Asked {
            name: a.name.to_string(),
            range: r.range_text.clone(),
            removed: removed_texts(s, removed),
            location: a.location.cloned(),
        },
    });
}

/// The version an `[external]` ask pins: its one candidate.
fn pinned_version<P: Provider + ?Sized>(s: &Solver<'_, P>, r: &ReqFact<'_>) -> String {
    s.versions[*r.cands.iter().next().unwrap_or(&0) as usize].to_string()
}

/// How the facts connect, for the walk: the requirements and exclusions each component
/// owns, and the chains.
struct Graph {
    /// Per owner component, its requirements (indexes into `reqs`).
    out_facts: BTreeMap<u32, Vec<usize>>,
    /// Per owner component, its exclusions (indexes into `excls`).
    excl_owned: BTreeMap<u32, Vec<usize>>,
    /// Per requirement, the next link of its chain: a component reached by exactly one
    /// requirement and owning exactly one, with every candidate release of the first among
    /// the owners of the second, is a link.
    links: Vec<Option<usize>>,
}

impl Graph {
    fn new<P: Provider + ?Sized>(
        s: &Solver<'_, P>,
        reqs: &[ReqFact<'_>],
        excls: &[ExclFact<'_>],
        amo: &BTreeSet<(u32, Var, Var)>,
    ) -> Graph {
        let mut in_count: BTreeMap<u32, usize> = BTreeMap::new();
        let mut out_facts: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, r) in reqs.iter().enumerate() {
            let pk: BTreeSet<u32> = r.cands.iter().map(|c| s.vars[*c as usize].name).collect();
            for p in pk {
                *in_count.entry(p).or_default() += 1;
            }
            if r.owner != NONE {
                out_facts.entry(r.owner).or_default().push(i);
            }
        }
        let mut excl_owned: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let mut in_excl: BTreeSet<u32> = BTreeSet::new();
        for (i, e) in excls.iter().enumerate() {
            excl_owned.entry(e.owner).or_default().push(i);
            for t in &e.targets {
                in_excl.insert(s.vars[*t as usize].name);
            }
        }
        for (g, a, b) in amo {
            if *g != PKG_GROUP {
                in_excl.insert(s.vars[*a as usize].name);
                in_excl.insert(s.vars[*b as usize].name);
            }
        }
        let link_of = |r: &ReqFact| -> Option<usize> {
            // The single next fact if r's target is a clean link.
            let pk: BTreeSet<u32> = r.cands.iter().map(|c| s.vars[*c as usize].name).collect();
            if pk.len() != 1 {
                return None;
            }
            let p = *pk.iter().next()?;
            if in_count.get(&p) != Some(&1) || in_excl.contains(&p) || excl_owned.contains_key(&p) {
                return None;
            }
            let outs = out_facts.get(&p)?;
            if outs.len() != 1 {
                return None;
            }
            let next = &reqs[outs[0]];
            if next.ask.is_some() || !r.cands.iter().all(|c| next.owners.contains(c)) {
                return None;
            }
            Some(outs[0])
        };
        let links: Vec<Option<usize>> = reqs.iter().map(link_of).collect();
        Graph {
            out_facts,
            excl_owned,
            links,
        }
    }
}

/// The components the asks reach, in ask order: where the walk starts.
fn start_queue<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
    reqs: &[ReqFact<'_>],
    ask_order: &[usize],
) -> VecDeque<u32> {
    let mut work: Vec<u32> = Vec::new();
    for &i in ask_order.iter().rev() {
        let mut pk: Vec<u32> = reqs[i]
            .cands
            .iter()
            .map(|c| s.vars[*c as usize].name)
            .collect();
        pk.dedup();
        for p in pk.into_iter().rev() {
            work.push(p);
        }
    }
    work.reverse();
    work.into_iter().collect()
}

/// The depth-first walk from what the asks reach, writing each component's requirements
/// (a chain as one line) and exclusions once.
struct Walk<'w, 'a> {
    reqs: &'w [ReqFact<'a>],
    excls: &'w [ExclFact<'a>],
    removed: &'w [Vec<(Var, Forbid)>],
    graph: Graph,
    queue: VecDeque<u32>,
    done_req: BTreeSet<usize>,
    done_excl: BTreeSet<usize>,
    visited: BTreeSet<u32>,
}

impl Walk<'_, '_> {
    fn run<P: Provider + ?Sized>(&mut self, s: &mut Solver<'_, P>, out: &mut Render) {
        // Remaining owners, in name order, so nothing in the core is skipped.
        let mut rest: Vec<u32> = self
            .reqs
            .iter()
            .map(|r| r.owner)
            .chain(self.excls.iter().map(|e| e.owner))
            .filter(|o| *o != NONE)
            .collect();
        rest.sort_by_key(|o| s.names[*o as usize].text);
        rest.dedup();
        loop {
            let p = match self.queue.pop_front() {
                Some(p) => p,
                None => match rest.iter().find(|o| !self.visited.contains(o)) {
                    Some(o) => *o,
                    None => break,
                },
            };
            if !self.visited.insert(p) {
                continue;
            }
            let mut facts: Vec<usize> = self.graph.out_facts.get(&p).cloned().unwrap_or_default();
            facts.sort_by_key(|i| s.names[self.reqs[*i].name as usize].text);
            for fi in facts {
                if self.done_req.insert(fi) {
                    let chain = self.chain_from(fi);
                    self.render_chain(s, out, &chain);
                }
            }
            let mut ex: Vec<usize> = self.graph.excl_owned.get(&p).cloned().unwrap_or_default();
            ex.sort_by(|a, b| self.excls[*a].because.cmp(&self.excls[*b].because));
            for ei in ex {
                if self.done_excl.insert(ei) {
                    self.render_exclusion(s, out, ei);
                }
            }
        }
    }

    /// Follows the chain from requirement `fi`, marking its links done and their owners
    /// visited.
    fn chain_from(&mut self, fi: usize) -> Vec<usize> {
        let mut chain: Vec<usize> = vec![fi];
        let mut cur = fi;
        while let Some(next) = self.graph.links[cur] {
            if self.done_req.contains(&next) || chain.contains(&next) {
                break;
            }
            chain.push(next);
            self.done_req.insert(next);
            cur = next;
        }
        for &ci in &chain[1..] {
            self.visited.insert(self.reqs[ci].owner);
        }
        chain
    }

    /// A chain of requirements as one line (its ends, and what it goes through), a fact per
    /// link; what its last link reaches is walked next.
    fn render_chain<P: Provider + ?Sized>(
        &mut self,
        s: &mut Solver<'_, P>,
        out: &mut Render,
        chain: &[usize],
    ) {
        let reqs = self.reqs;
        let fi = chain[0];
        let first = &reqs[fi];
        let last = &reqs[*chain.last().unwrap_or(&fi)];
        let owner_term = out.term(s, first.owner, &first.owners);
        let last_rm = self.removed[*chain.last().unwrap_or(&fi)].clone();
        let tail = cands_phrase(s, out, last, &last_rm);
        let line = if chain.len() == 1 {
            format!(
                "{owner_term} needs {} {}{tail}{}",
                s.names[first.name as usize].text,
                first.range_text,
                at(first.location)
            )
        } else {
            let mids: Vec<&str> = chain[1..]
                .iter()
                .map(|i| s.names[reqs[*i].owner as usize].text)
                .collect();
            let through = if chain.len() == 2 {
                String::new()
            } else if mids.len() <= MAX_LINKS {
                format!(" (through {})", mids.join(" → "))
            } else {
                format!(
                    " (through {} → {} → … → {}, {} links)",
                    mids[0],
                    mids[1],
                    mids[mids.len() - 1],
                    mids.len()
                )
            };
            let which = if chain.len() == 2 {
                ", every one of which needs"
            } else {
                ", which needs"
            };
            format!(
                "{owner_term} needs {} {}{which} {} {}{tail}{through}",
                s.names[first.name as usize].text,
                first.range_text,
                s.names[last.name as usize].text,
                last.range_text
            )
        };
        out.line(line, None);
        for &ci in chain {
            let r = &reqs[ci];
            let rm = self.removed[ci].clone();
            let versions = out.set_text(s, r.owner, &r.owners);
            let candidates = by_pkg_terms(s, out, &r.cands);
            out.facts.push(Fact::Requires {
                by: s.names[r.owner as usize].text.to_string(),
                versions,
                name: s.names[r.name as usize].text.to_string(),
                range: r.range_text.clone(),
                candidates,
                removed: removed_texts(s, &rm),
                location: r.location.cloned(),
            });
        }
        let mut next_pk: Vec<u32> = last
            .cands
            .iter()
            .map(|c| s.vars[*c as usize].name)
            .collect();
        next_pk.dedup();
        self.queue.extend(next_pk);
    }

    /// Exclusion `ei` as a line and a fact per target; its targets are walked next.
    fn render_exclusion<P: Provider + ?Sized>(
        &mut self,
        s: &mut Solver<'_, P>,
        out: &mut Render,
        ei: usize,
    ) {
        let excls = self.excls;
        let e = &excls[ei];
        let owner_term = out.term(s, e.owner, &e.owners);
        let targets = by_pkg_terms(s, out, &e.targets);
        let tt: Vec<String> = targets.iter().map(|(p, v)| format!("{p} {v}")).collect();
        let line = if e.because.starts_with("needs a kernel") {
            format!(
                "{owner_term} {}, but {} is older{}",
                e.because,
                tt.join(" and "),
                at(e.location)
            )
        } else if e.because.starts_with("needs ") {
            format!(
                "{owner_term} {}, which {} is built without{}",
                e.because,
                tt.join(" and "),
                at(e.location)
            )
        } else {
            format!("{owner_term} {}{}", e.because, at(e.location))
        };
        out.line(line, None);
        for (p, v) in &targets {
            out.facts.push(Fact::Excludes {
                by: s.names[e.owner as usize].text.to_string(),
                versions: out.set_text(s, e.owner, &e.owners),
                other: p.clone(),
                other_versions: v.clone(),
                because: e.because.clone(),
                location: e.location.cloned(),
            });
        }
        for t in &e.targets {
            self.queue.push_back(s.vars[*t as usize].name);
        }
    }
}

/// The `one` capabilities the proof used: a line and a fact per capability.
fn render_capabilities<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
    out: &mut Render,
    amo: &BTreeSet<(u32, Var, Var)>,
) {
    let mut caps: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (g, a, b) in amo {
        if *g == PKG_GROUP {
            continue;
        }
        let e = caps.entry(*g).or_default();
        e.insert(s.vars[*a as usize].name);
        e.insert(s.vars[*b as usize].name);
    }
    for (g, members) in caps {
        let cap = s.groups[g as usize].cap;
        let mut names: Vec<&str> = members.iter().map(|m| s.names[*m as usize].text).collect();
        names.sort_unstable();
        out.line(
            format!(
                "only one provider of {} may be chosen ({} both provide it)",
                s.names[cap as usize].text,
                names.join(" and ")
            ),
            None,
        );
        out.facts.push(Fact::AtMostOne {
            group: s.names[cap as usize].text.to_string(),
            members: names
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect(),
            capability: true,
        });
    }
}

/// "and N more causes", the summary line, and the explanation.
fn finish(mut out: Render, asked: Asked) -> Explanation {
    if out.hidden > 0 {
        let n = out.hidden;
        out.lines.push(format!(
            "and {n} more cause{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    let terms = asked.terms;
    let summary = match terms.len() {
        0 => "the request cannot be met".to_string(),
        1 => format!("{} cannot be assembled", terms[0]),
        _ => {
            let (last, init) = terms.split_last().expect("two or more");
            format!(
                "{} and {last} cannot be assembled together",
                init.join(", ")
            )
        }
    };
    out.lines.push(format!("so {summary}"));
    Explanation {
        summary,
        lines: out.lines,
        facts: out.facts,
        location: asked.first_loc,
    }
}

fn at(l: Option<&Location>) -> String {
    match l {
        Some(l) if l.line > 0 => format!(" ({l})"),
        _ => String::new(),
    }
}

/// Ruled-out releases as (component, why) pairs, for [`Fact`]s.
fn removed_texts<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
    rm: &[(Var, Forbid)],
) -> Vec<(String, String)> {
    rm.iter()
        .map(|(v, f)| {
            (
                s.names[s.vars[*v as usize].name as usize].text.to_string(),
                forbid_text(s, *f),
            )
        })
        .collect()
}

fn forbid_text<P: Provider + ?Sized>(s: &Solver<'_, P>, f: Forbid) -> String {
    match f {
        Forbid::No => String::new(),
        Forbid::Excluded => "excluded".into(),
        Forbid::Arch => match &s.req.arch {
            Some(a) => format!("not built for {}", a.value),
            None => "not built for the architecture".into(),
        },
        Forbid::Privileged => "privileged, and not allowed by policy.privileged".into(),
        Forbid::External => "pinned by [external]".into(),
    }
}

/// ", which only X provides" / ", but …" for a requirement's candidates.
fn cands_phrase<P: Provider + ?Sized>(
    s: &mut Solver<'_, P>,
    out: &mut Render,
    r: &ReqFact<'_>,
    rm: &[(Var, Forbid)],
) -> String {
    let terms = by_pkg_terms(s, out, &r.cands);
    let own_only = terms.len() == 1 && s.names[r.name as usize].text == terms[0].0;
    let mut t = String::new();
    if terms.is_empty() {
        if rm.is_empty() {
            let n = r.name;
            if s.names[n as usize].exists {
                t.push_str(&format!(
                    ", but no {} release is in that range",
                    s.names[n as usize].text
                ));
            } else if !s.providers(n).is_empty() {
                t.push_str(", which no release provides in that range");
            } else {
                t.push_str(", which no component provides");
            }
        } else {
            t.push_str(", but");
        }
    } else if !own_only {
        let list: Vec<String> = terms.iter().map(|(p, v)| format!("{p} {v}")).collect();
        t.push_str(&format!(
            ", which only {} provide{}",
            list.join(" and "),
            if list.len() == 1 { "s" } else { "" }
        ));
    }
    if !rm.is_empty() {
        // Group the ruled-out releases by component and reason.
        let mut groups: BTreeMap<(String, String), BTreeSet<Var>> = BTreeMap::new();
        for (v, f) in rm {
            let pkg = s.names[s.vars[*v as usize].name as usize].text.to_string();
            groups
                .entry((pkg, forbid_text(s, *f)))
                .or_default()
                .insert(*v);
        }
        let mut parts = Vec::new();
        for ((pkg, why), set) in groups {
            let n = s.vars[*set.iter().next().expect("non-empty") as usize].name;
            let f = rm
                .iter()
                .find(|(v, _)| set.contains(v))
                .map(|x| x.1)
                .unwrap_or(Forbid::No);
            parts.push(match f {
                Forbid::Excluded => format!(
                    "{pkg} is excluded{}",
                    at(s.req.exclude.get(&pkg).and_then(|l| l.as_ref()))
                ),
                Forbid::Privileged => format!(
                    "{pkg} runs privileged, which policy.privileged does not allow{}",
                    at(s.req.privileged.location.as_ref())
                ),
                Forbid::External => match s.req.external.get(&pkg) {
                    Some(e) => format!("{pkg} is pinned to {} by [external]", e.value),
                    None => format!("{pkg} is pinned by [external]"),
                },
                _ => format!("{} is {why}", out.term_nolabel(s, n, &set)),
            });
        }
        if terms.is_empty() {
            t.push(' ');
        } else {
            t.push_str(" (");
        }
        t.push_str(&parts.join("; "));
        if !terms.is_empty() {
            t.push(')');
        }
    }
    t
}

fn by_pkg_terms<P: Provider + ?Sized>(
    s: &Solver<'_, P>,
    out: &mut Render,
    set: &BTreeSet<Var>,
) -> Vec<(String, String)> {
    let mut by: BTreeMap<&str, (u32, BTreeSet<Var>)> = BTreeMap::new();
    for &v in set {
        let n = s.vars[v as usize].name;
        by.entry(s.names[n as usize].text)
            .or_insert((n, BTreeSet::new()))
            .1
            .insert(v);
    }
    by.into_iter()
        .map(|(p, (n, vs))| (p.to_string(), out.set_text(s, n, &vs)))
        .collect()
}

struct Render {
    lines: Vec<String>,
    facts: Vec<Fact>,
    labels: Vec<(BTreeSet<Var>, String)>,
    hidden: usize,
}

impl Render {
    fn line(&mut self, l: String, _loc: Option<&Location>) {
        if self.lines.len() < MAX_LINES {
            self.lines.push(l);
        } else {
            self.hidden += 1;
        }
    }

    /// `kubelet ~1.36`, `every kubelet release`, `kubelet >=1.34.2, <=1.36.4`.
    fn term<P: Provider + ?Sized>(&self, s: &Solver<'_, P>, n: u32, set: &BTreeSet<Var>) -> String {
        let name = s.names[n as usize].text;
        let all = s.slots_of(n);
        if set.len() as u32 == all.len() as u32 && all.len() > 1 {
            return format!("every {name} release");
        }
        format!("{name} {}", self.set_text(s, n, set))
    }

    fn term_nolabel<P: Provider + ?Sized>(
        &self,
        s: &Solver<'_, P>,
        n: u32,
        set: &BTreeSet<Var>,
    ) -> String {
        let name = s.names[n as usize].text;
        format!("{name} {}", runs(s, n, set))
    }

    fn set_text<P: Provider + ?Sized>(
        &self,
        s: &Solver<'_, P>,
        n: u32,
        set: &BTreeSet<Var>,
    ) -> String {
        let all = s.slots_of(n);
        if set.len() == 1 {
            return s.versions[*set.iter().next().expect("one") as usize].to_string();
        }
        if set.len() as u32 == all.len() as u32 {
            return "(every release)".to_string();
        }
        if let Some((_, l)) = self.labels.iter().find(|(s2, _)| s2 == set) {
            return l.clone();
        }
        runs(s, n, set)
    }
}

/// A set of releases as runs over the component's full, sorted version list.
fn runs<P: Provider + ?Sized>(s: &Solver<'_, P>, n: u32, set: &BTreeSet<Var>) -> String {
    let all = s.slots_of(n);
    if set.len() == 1 {
        return s.versions[*set.iter().next().expect("one") as usize].to_string();
    }
    // Slots are newest first: a run is a maximal stretch of consecutive members (a
    // release without a variable is in no set).
    let member = |slot: u32| {
        let v = s.slot_var[slot as usize];
        v != NONE && set.contains(&v)
    };
    let mut parts: Vec<String> = Vec::new();
    let mut v = all.start;
    while v < all.end {
        if !member(v) {
            v += 1;
            continue;
        }
        let newest = v;
        while v + 1 < all.end && member(v + 1) {
            v += 1;
        }
        let oldest = v;
        v += 1;
        let (hi, lo) = (
            &s.slot_version[newest as usize],
            &s.slot_version[oldest as usize],
        );
        parts.push(if newest == oldest {
            hi.to_string()
        } else if newest == all.start && oldest == all.end - 1 {
            "*".to_string()
        } else if newest == all.start {
            format!(">={lo}")
        } else if oldest == all.end - 1 {
            format!("<={hi}")
        } else {
            format!(">={lo}, <={hi}")
        });
    }
    if parts.len() > 3 {
        let n = parts.len();
        parts.truncate(2);
        parts.push(format!("… ({} releases in {n} runs)", set.len()));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::explain::proof::{ExclFact, Proof, ReqFact};
    use crate::provider::Range;
    use crate::refusal::Fact;
    use crate::request::Request;
    use crate::search::{Solver, NONE};
    use crate::testing::{req, Tiny};

    /// Renders hand-made facts: nothing here runs the search.
    #[test]
    fn facts_are_written_as_a_derivation_from_the_ask() {
        let p = Tiny::default()
            .comp("a", &["1.0.0"], &[])
            .comp("b", &["1.0.0", "2.0.0"], &[]);
        let r = Request::new().component("a", req("*"));
        let any = semver::VersionReq::STAR;
        let mut s = Solver::new(&p, &r, &[]);
        let (a, b) = (s.intern("a"), s.intern("b"));
        s.load(a);
        s.load(b);
        let a1 = s.make_vars(a)[0];
        let ask = ReqFact {
            owner: NONE,
            ask: Some(0),
            name: a,
            ranges: vec![Range::Req(&any)],
            range_text: "*".into(),
            location: None,
            owners: BTreeSet::new(),
            cands: [a1].into_iter().collect(),
        };
        let conflict = ExclFact {
            owner: a,
            owners: [a1].into_iter().collect(),
            targets: s.make_vars(b).into_iter().collect(),
            because: "conflicts with b *".into(),
            location: None,
        };
        let needs = ReqFact {
            owner: a,
            ask: None,
            name: b,
            ranges: vec![Range::Req(&any)],
            range_text: "*".into(),
            location: None,
            owners: [a1].into_iter().collect(),
            cands: s.make_vars(b).into_iter().collect(),
        };
        let proof = Proof {
            reqs: vec![ask, needs],
            excls: vec![conflict],
            amo: BTreeSet::new(),
            removed: vec![Vec::new(), Vec::new()],
            used_ext: BTreeSet::new(),
        };
        let e = super::render(&mut s, proof);
        assert_eq!(
            e.lines,
            [
                "the request asks for a *",
                "a 1.0.0 needs b *",
                "a 1.0.0 conflicts with b *",
                "so a * cannot be assembled"
            ]
        );
        assert_eq!(e.summary, "a * cannot be assembled");
        assert!(matches!(&e.facts[0], Fact::Asked { name, .. } if name == "a"));
        assert_eq!(
            e.facts.len(),
            3,
            "ask, requirement, exclusion: {:?}",
            e.facts
        );
    }
}
