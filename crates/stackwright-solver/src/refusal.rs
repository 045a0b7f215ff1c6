//! Why a resolution was refused, as data ([`Refusal`]), and its rendering into
//! [`Diagnostic`]s.

use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::manifest::Stage;
use stackwright_types::Location;

/// The solver's error: a request it cannot meet, with everything needed to explain it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The request names components or capabilities nobody has.
    #[error("{} unknown name(s) in the request, first `{}`", .0.len(), .0.first().map(|u| u.name.as_str()).unwrap_or(""))]
    Unknown(Vec<UnknownName>),
    /// No set of releases meets every rule.
    #[error("no set of components meets every rule: {}", .0.summary)]
    Unsatisfiable(Explanation),
    /// Every component a solution needs that runs privileged while `policy.privileged`
    /// does not allow it (all of them, found in one run: the request is met once they
    /// are allowed).
    #[error("{} component(s) run privileged and policy.privileged does not allow them, first `{}`", .0.len(), .0.first().map(|p| p.component.as_str()).unwrap_or(""))]
    Privileged(Vec<PolicyRefusal>),
    /// Onboot or service components that depend on each other in a loop.
    #[error("dependency cycle among {stage} components: {}", .path.join(" → "))]
    Cycle {
        stage: Stage,
        /// The loop, first name repeated at the end: `a → b → a`.
        path: Vec<String>,
    },
}

/// A privileged component the policy refuses, and why the request needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRefusal {
    pub component: String,
    /// The release a solution would use.
    pub version: String,
    /// Why the request needs it (each as `Why::describe` writes it).
    pub needed: Vec<String>,
    /// Where the component is defined.
    pub location: Option<Location>,
    /// Where `policy.privileged` is written (`None`: the default policy).
    pub policy: Option<Location>,
}

/// Which part of the request a name was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Components,
    Capabilities,
    /// A `[prefer]` key (a capability).
    PreferKey,
    /// A `[prefer]` value (a component id).
    PreferValue,
    External,
    Exclude,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Components => "[components]",
            Section::Capabilities => "[capabilities]",
            Section::PreferKey | Section::PreferValue => "[prefer]",
            Section::External => "[external]",
            Section::Exclude => "[exclude]",
        }
    }

    /// Whether the section names capabilities (else component ids).
    pub fn wants_capability(self) -> bool {
        matches!(self, Section::Capabilities | Section::PreferKey)
    }
}

/// A name the registry does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    pub name: String,
    pub section: Section,
    pub location: Option<Location>,
    /// The closest known name, when one is close enough to be a typo.
    pub suggestion: Option<String>,
    /// Set when the name exists but on the other side (a capability asked for as a
    /// component, or the reverse).
    pub other_kind: bool,
}

/// A refusal explained: the rules that together leave no solution, and a derivation a
/// person can follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// One line: what cannot be assembled together.
    pub summary: String,
    /// The derivation, one step per line, ending in the conclusion.
    pub lines: Vec<String>,
    /// The facts used (a small unsatisfiable core of the rules), in derivation order.
    pub facts: Vec<Fact>,
    /// Where the first request involved was written.
    pub location: Option<Location>,
}

/// One rule taking part in a refusal. Version lists are already collapsed into ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// The request asks for `name` (a component or capability) at `range`; `removed`
    /// lists the releases that would meet it but are ruled out up front, with why.
    Asked {
        name: String,
        range: String,
        removed: Vec<(String, String)>,
        location: Option<Location>,
    },
    /// `[external]` pins `name` to `version`.
    External {
        name: String,
        version: String,
        location: Option<Location>,
    },
    /// Releases `versions` of `by` require `name` at `range`, which only `candidates`
    /// (component, versions) meet; `removed` lists those ruled out for another reason.
    Requires {
        by: String,
        versions: String,
        name: String,
        range: String,
        candidates: Vec<(String, String)>,
        removed: Vec<(String, String)>,
        location: Option<Location>,
    },
    /// Releases `versions` of `by` cannot be chosen with `other` at `other_versions`
    /// (a `conflicts` edge, a `constrains` edge, or a kernel need).
    Excludes {
        by: String,
        versions: String,
        other: String,
        other_versions: String,
        because: String,
        location: Option<Location>,
    },
    /// At most one release of a component, or one provider of a `one` capability.
    AtMostOne {
        group: String,
        members: Vec<(String, String)>,
        capability: bool,
    },
}

impl Refusal {
    /// The refusal as diagnostics with stable codes (SW0301, SW0306, SW0401, SW0402,
    /// SW0507).
    pub fn to_diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Refusal::Unknown(names) => names.iter().map(unknown_diagnostic).collect(),
            Refusal::Unsatisfiable(e) => {
                let mut d = Diagnostic::error(diagnostic::UNSATISFIABLE, e.summary.clone())
                    .at_opt(e.location.clone());
                for l in &e.lines {
                    d = d.note(l.clone());
                }
                vec![d.hint(unsatisfiable_hint(e))]
            }
            Refusal::Privileged(list) => list.iter().map(policy_diagnostic).collect(),
            Refusal::Cycle { stage, path } => vec![Diagnostic::error(
                diagnostic::DEPENDENCY_CYCLE,
                format!("{stage} components depend on each other in a cycle: {}", path.join(" → ")),
            )
            .hint("services and onboot containers start in dependency order; break the loop by dropping one requirement")],
        }
    }

    /// The refusal as plain text lines (the diagnostics rendered rustc-style).
    pub fn render(&self) -> String {
        stackwright_types::diagnostic::render_all(&self.to_diagnostics())
    }
}

fn unknown_diagnostic(u: &UnknownName) -> Diagnostic {
    let (code, what) = if u.section.wants_capability() {
        (diagnostic::UNKNOWN_CAPABILITY, "capability")
    } else {
        (diagnostic::UNKNOWN_COMPONENT, "component")
    };
    let mut msg = format!("unknown {what} `{}` in {}", u.name, u.section.as_str());
    if let Some(s) = &u.suggestion {
        msg.push_str(&format!(" — did you mean `{s}`?"));
    }
    let mut d = Diagnostic::error(code, msg).at_opt(u.location.clone());
    if u.other_kind {
        d = d.hint(if u.section.wants_capability() {
            format!(
                "`{}` is a component, not a capability: ask for it under [components]",
                u.name
            )
        } else {
            format!(
                "`{}` is a capability, not a component: ask for it under [capabilities]",
                u.name
            )
        });
    } else if u.suggestion.is_none() {
        d = d.hint(format!(
            "no {what} by that name is in the registry; `stackwright components` lists them"
        ));
    }
    d
}

/// The help that fits what a refusal's facts show, most specific first: a release ruled out
/// up front (architecture, `[exclude]`, an `[external]` pin, the policy), a kernel need, a
/// `one` capability, a conflict; otherwise version ranges.
fn unsatisfiable_hint(e: &Explanation) -> String {
    let removed = |what: &str| {
        e.facts.iter().any(|f| match f {
            Fact::Requires { removed, .. } | Fact::Asked { removed, .. } => {
                removed.iter().any(|(_, why)| why.starts_with(what))
            }
            _ => false,
        })
    };
    let excludes = |what: &str| {
        e.facts
            .iter()
            .any(|f| matches!(f, Fact::Excludes { because, .. } if because.starts_with(what)))
    };
    if removed("not built for") {
        "no release above is built for this architecture: set `arch` to one they support, or [prefer] or ask for a provider built for it".into()
    } else if removed("excluded") {
        "a component ruled out by [exclude] is the only way to meet a requirement above: remove it from [exclude], or ask for another provider".into()
    } else if removed("pinned") {
        "an [external] component is fixed at its pinned version: change the pin in [external] to a version the requirement above accepts".into()
    } else if removed("privileged") {
        "add the component to policy.privileged, or ask for a provider that runs unprivileged"
            .into()
    } else if excludes("needs") {
        "choose a kernel that meets the need above (a newer one, or one built with the option), or drop the component that needs it".into()
    } else if e.facts.iter().any(|f| {
        matches!(
            f,
            Fact::AtMostOne {
                capability: true,
                ..
            }
        )
    }) {
        "only one provider of that capability may be chosen: drop one of them from the request, or [exclude] it".into()
    } else if excludes("conflicts") {
        "the components above cannot run together: drop one of them, or [exclude] it and [prefer] another provider".into()
    } else {
        "widen one of the ranges above, or drop one of the components involved".into()
    }
}

fn policy_diagnostic(p: &PolicyRefusal) -> Diagnostic {
    let mut d = Diagnostic::error(
        diagnostic::PRIVILEGED,
        format!(
            "`{}` {} runs privileged, which policy.privileged does not allow",
            p.component, p.version
        ),
    )
    .at_opt(p.policy.clone());
    for n in &p.needed {
        d = d.note(format!("{} is needed: {n}", p.component));
    }
    if let Some(l) = &p.location {
        d = d.note(format!("{} is defined at {l}", p.component));
    }
    d.hint(format!(
        "add \"{}\" to policy.privileged, or [exclude] it and ask for a provider that runs unprivileged",
        p.component
    ))
}
