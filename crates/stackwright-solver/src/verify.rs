//! An independent check of a resolution against SPEC §4's rules, written straight from
//! the rules (no shared code with the search), for tests and for callers who edit a
//! resolution by hand (e.g. a lockfile).

use std::collections::BTreeMap;

use semver::Version;
use stackwright_types::manifest::{DepKind, KernelOption};

use crate::provider::{Provider, Range, ReleaseDetails};
use crate::request::Request;
use crate::resolution::Resolution;

/// One rule a resolution breaks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// The rule's number in SPEC §4 (1–7).
    pub rule: u8,
    pub message: String,
}

/// A component the resolution installs or records as external.
struct Presence<'p> {
    version: Version,
    external: bool,
    provides: Vec<(&'p str, Version)>,
    details: ReleaseDetails<'p>,
}

type Present<'p> = BTreeMap<&'p str, Presence<'p>>;

/// Every rule `res` breaks for `req` (empty when it is a valid resolution).
pub fn verify<P: Provider + ?Sized>(p: &P, req: &Request, res: &Resolution) -> Vec<Violation> {
    let mut out = Vec::new();
    let present = present(p, req, res, &mut out);
    check_asks(req, &present, &mut out);
    let kernel: Vec<(&str, &Presence<'_>)> = present
        .iter()
        .filter(|(_, pr)| {
            pr.provides
                .iter()
                .any(|(c, _)| *c == crate::KERNEL_CAPABILITY)
        })
        .map(|(id, pr)| (*id, pr))
        .collect();
    for (id, pr) in &present {
        if pr.external {
            continue;
        }
        check_edges(id, pr, &present, &mut out);
        check_kernel(id, pr, &kernel, &mut out);
    }
    check_one(p, &present, &mut out);
    out.sort();
    out
}

fn violation(out: &mut Vec<Violation>, rule: u8, message: String) {
    out.push(Violation { rule, message });
}

/// What `res` installs and records as external, each with its release details; rules 1, 5
/// and 7 about each one alone (known, supports the arch, not excluded, privileged only as
/// the policy allows, not both external and installed).
fn present<'p, P: Provider + ?Sized>(
    p: &'p P,
    req: &Request,
    res: &'p Resolution,
    out: &mut Vec<Violation>,
) -> Present<'p> {
    let mut v = |rule: u8, message: String| violation(out, rule, message);
    let mut present: Present<'p> = BTreeMap::new();
    let all = res
        .components
        .iter()
        .map(|(id, c)| (id.as_str(), c.version.clone(), false))
        .chain(
            res.external
                .iter()
                .map(|(id, ver)| (id.as_str(), ver.clone(), true)),
        );
    for (id, version, external) in all {
        let Some(comp) = p.component(id) else {
            v(1, format!("{id} is not a known component"));
            continue;
        };
        let idx = comp.releases.iter().position(|h| *h.version == version);
        let mut details = ReleaseDetails::default();
        match idx {
            Some(i) => {
                p.release(id, i, &mut details);
                if !external {
                    if let (Some(a), Some(list)) = (&req.arch, comp.releases[i].arch) {
                        if !list.contains(&a.value) {
                            v(5, format!("{id} {version} does not support {}", a.value));
                        }
                    }
                }
            }
            None if external => {}
            None => v(1, format!("{id} has no release {version}")),
        }
        if !external {
            if req.exclude.contains_key(id) {
                v(7, format!("{id} is excluded"));
            }
            if comp.privileged && !req.privileged.value.allows(id) {
                v(7, format!("{id} is privileged outside the policy"));
            }
            if req.external.contains_key(id) {
                v(1, format!("{id} is external yet chosen for installation"));
            }
        }
        let mut provides: Vec<(&str, Version)> = details
            .provides
            .iter()
            .map(|(c, ver)| (*c, (*ver).clone()))
            .collect();
        provides.push((id, version.clone()));
        present.insert(
            id,
            Presence {
                version,
                external,
                provides,
                details,
            },
        );
    }
    present
}

/// Who provides `name` at a version in `range`, among what is present (`skip` aside).
fn meets(present: &Present<'_>, name: &str, range: &Range<'_>, skip: &str) -> Vec<String> {
    present
        .iter()
        .filter(|(id, _)| **id != skip)
        .filter(|(_, pr)| {
            pr.provides
                .iter()
                .any(|(c, pv)| *c == name && range.contains(pv))
        })
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Rules 1 and 2 for what the request asks: components in their ranges, externals
/// recorded, capabilities (and what booting needs) provided.
fn check_asks(req: &Request, present: &Present<'_>, out: &mut Vec<Violation>) {
    let mut v = |rule: u8, message: String| violation(out, rule, message);
    for (id, a) in &req.components {
        match present.get(id.as_str()) {
            Some(pr) if Range::Req(&a.range).contains(&pr.version) => {}
            Some(pr) => v(
                1,
                format!("{id} {} is outside the asked {}", pr.version, a.range),
            ),
            None => v(1, format!("{id} was asked for and is missing")),
        }
    }
    for (id, e) in &req.external {
        match present.get(id.as_str()) {
            Some(pr) if pr.external && pr.version == e.value => {}
            _ => v(
                1,
                format!("external {id} {} is not recorded as present", e.value),
            ),
        }
    }
    for (cap, a) in &req.capabilities {
        if meets(present, cap, &Range::Req(&a.range), "").is_empty() {
            v(
                2,
                format!("nothing provides the asked capability {cap} {}", a.range),
            );
        }
    }
    for cap in &req.bootable {
        if meets(present, cap, &Range::Req(&semver::VersionReq::STAR), "").is_empty() {
            v(
                2,
                format!("nothing provides {cap}, which the platform needs to boot"),
            );
        }
    }
}

/// Rules 2 and 3 for the edges of installed component `id`: requirements met, no
/// conflict present, constrains held.
fn check_edges(id: &str, pr: &Presence<'_>, present: &Present<'_>, out: &mut Vec<Violation>) {
    let mut v = |rule: u8, message: String| violation(out, rule, message);
    for e in &pr.details.edges {
        let hits = |skip: &str| meets(present, e.name, &e.range, skip);
        match e.kind {
            DepKind::Requires => {
                if hits("").is_empty() {
                    v(
                        2,
                        format!(
                            "{id} {} requires {} {}, unmet",
                            pr.version,
                            e.name,
                            e.range.to_text()
                        ),
                    );
                }
            }
            DepKind::Conflicts => {
                for other in hits(id) {
                    v(3, format!("{id} {} conflicts with {other}", pr.version));
                }
            }
            DepKind::Constrains => {
                for (oid, opr) in present {
                    if *oid == id {
                        continue;
                    }
                    for (c, pv) in &opr.provides {
                        if *c == e.name && !e.range.contains(pv) {
                            v(
                                3,
                                format!(
                                    "{id} {} constrains {} to {}, but {oid} gives {pv}",
                                    pr.version,
                                    e.name,
                                    e.range.to_text()
                                ),
                            );
                        }
                    }
                }
            }
            DepKind::Recommends => {}
        }
    }
}

/// Rule 6 for installed component `id`: every kernel present is new enough and built with
/// the options it needs.
fn check_kernel(
    id: &str,
    pr: &Presence<'_>,
    kernel: &[(&str, &Presence<'_>)],
    out: &mut Vec<Violation>,
) {
    for (kid, k) in kernel {
        if *kid == id {
            continue;
        }
        let kver = k
            .provides
            .iter()
            .find(|(c, _)| *c == crate::KERNEL_CAPABILITY)
            .map(|(_, pv)| pv.clone())
            .unwrap_or_else(|| k.version.clone());
        if let Some(min) = pr.details.kernel_min {
            let plain = Version::new(kver.major, kver.minor, kver.patch);
            if &plain < min {
                violation(
                    out,
                    6,
                    format!("{id} needs kernel >= {min}, {kid} is {kver}"),
                );
            }
        }
        for need in pr.details.kernel_needs {
            if !has_option(k.details.kernel_config, need) {
                violation(out, 6, format!("{id} needs {need}, which {kid} lacks"));
            }
        }
    }
}

/// Rule 4: a `one` capability has at most one provider present.
fn check_one<P: Provider + ?Sized>(p: &P, present: &Present<'_>, out: &mut Vec<Violation>) {
    let mut by_cap: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, pr) in present {
        for (c, _) in &pr.provides {
            if *c != *id {
                by_cap.entry(c).or_default().push(id);
            }
        }
    }
    for (cap, ids) in by_cap {
        if ids.len() > 1 && p.capability(cap).is_some_and(|c| c.one) {
            violation(
                out,
                4,
                format!("{cap} has several providers: {}", ids.join(", ")),
            );
        }
    }
}

fn has_option(built: &[KernelOption], need: &KernelOption) -> bool {
    built
        .iter()
        .any(|o| o.name == need.name && (o.builtin || !need.builtin))
}
