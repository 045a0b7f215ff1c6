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
    /// Onboot or service components that depend on each other in a loop.
    #[error("dependency cycle among {stage} components: {}", .path.join(" → "))]
    Cycle {
        stage: Stage,
        /// The loop, first name repeated at the end: `a → b → a`.
        path: Vec<String>,
    },
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
    /// The request asks for `name` (a component or capability) at `range`.
    Asked {
        name: String,
        range: String,
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
    /// The refusal as diagnostics with stable codes (SW0301, SW0306, SW0401, SW0402).
    pub fn to_diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Refusal::Unknown(names) => names.iter().map(unknown_diagnostic).collect(),
            Refusal::Unsatisfiable(e) => {
                let mut d = Diagnostic::error(diagnostic::UNSATISFIABLE, e.summary.clone())
                    .at_opt(e.location.clone());
                for l in &e.lines {
                    d = d.note(l.clone());
                }
                vec![d.hint("widen one of the ranges above, or drop one of the components involved")]
            }
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
            "no {what} by that name is in the registry; `stackwright list` shows them"
        ));
    }
    d
}
