//! `[[generate]]` in a component manifest: files (and additions to the component's own
//! container) made from its typed config and the resolved platform.
//!
//! This module is the data model and its parse-time checks only; rendering the templates
//! is `stackwright-generate`'s job (no templates are evaluated here).

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{self, Diagnostic};
use crate::source::{Location, SourceText};

/// One `[[generate]]` entry as the file says it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Spanned<toml::Value>>,
}

/// What an entry makes: a file of the platform, or an addition to the component's own
/// container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A LinuxKit `files` entry (path relative to the root, octal mode).
    File { path: String, mode: String },
    /// `command` (replaces the manifest's), `env` or `binds` (appended).
    Container(ContainerField),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContainerField {
    Command,
    Env,
    Binds,
}

impl ContainerField {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerField::Command => "command",
            ContainerField::Env => "env",
            ContainerField::Binds => "binds",
        }
    }
}

/// The syntax a file is written in. Structured values are serialized in it; templates are
/// rendered as text and, unless `text`, parsed back as a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Text,
    Toml,
    Json,
    Yaml,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Toml => "toml",
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }

    fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "text" => Format::Text,
            "toml" => Format::Toml,
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            _ => return None,
        })
    }

    /// The format a path's extension names (`.conf`/others: none).
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        Some(match ext {
            "toml" => Format::Toml,
            "json" | "conflist" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            _ => return None,
        })
    }
}

/// A template with the place its first line is written at (for errors inside it).
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateText {
    pub text: String,
    /// Where line 1 of `text` is in the manifest.
    pub location: Location,
}

impl TemplateText {
    /// The manifest location of line `line` (1-based) of the template.
    pub fn line(&self, line: usize) -> Location {
        let mut l = self.location.clone();
        if line > 1 {
            l.line += line as u32 - 1;
            l.column = 1;
            l.length = 0;
            l.snippet = self.text.lines().nth(line - 1).map(str::to_string);
        }
        l
    }
}

/// What an entry's content is made from.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A minijinja template rendered to the file's text.
    Template(TemplateText),
    /// A structured value whose strings are templates; a string that is one whole
    /// `{{ expression }}` takes the expression's value (number, list, table…), and `none`
    /// drops the key or list item.
    Value {
        value: toml::Value,
        location: Location,
    },
}

/// One checked `[[generate]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Generate {
    pub target: Target,
    pub format: Format,
    pub body: Body,
    /// An expression; the entry is generated only when it is true.
    pub when: Option<TemplateText>,
    /// The entry's `path` (or `container`) line.
    pub location: Location,
}

impl Generate {
    /// Who the entry names: `etc/x.toml` or `container.command`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::File { path, .. } => path.clone(),
            Target::Container(f) => format!("container.{}", f.as_str()),
        }
    }
}

/// The location of a string's first content line: a multi-line string (`"""`/`'''`)
/// drops the newline right after its opening quotes.
fn template_at(src: &SourceText, s: &Spanned<String>) -> TemplateText {
    let span = s.span();
    let raw = src.text.get(span.clone()).unwrap_or("");
    let mut location = src.locate(span.clone());
    if raw.starts_with("\"\"\"\n")
        || raw.starts_with("'''\n")
        || raw.starts_with("\"\"\"\r\n")
        || raw.starts_with("'''\r\n")
    {
        location.line += 1;
        location.column = 1;
        location.length = 0;
        location.snippet = s.get_ref().lines().next().map(str::to_string);
    }
    TemplateText {
        text: s.get_ref().clone(),
        location,
    }
}

/// Checks the entries of a manifest, reporting every problem at its line.
pub(crate) fn from_raw(
    src: &SourceText,
    raw: Vec<Spanned<RawGenerate>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Generate> {
    let mut out = Vec::new();
    for entry in raw {
        let at = src.locate(entry.span());
        let g = entry.into_inner();
        let Some((target, location)) = target_of(src, &g, &at, diags) else {
            continue;
        };
        let Some(body) = body_of(src, &g, &target, &location, diags) else {
            continue;
        };
        let Some(format) = format_of(src, &g, &target, &body, &location, diags) else {
            continue;
        };
        if format == Format::Text
            && matches!(body, Body::Value { .. })
            && matches!(target, Target::File { .. })
        {
            bad(
                diags,
                &location,
                "[[generate]] a structured value cannot be written as `text`".into(),
                "use format = \"toml\", \"json\" or \"yaml\", or a template",
            );
            continue;
        }
        out.push(Generate {
            target,
            format,
            body,
            when: g.when.as_ref().map(|w| template_at(src, w)),
            location,
        });
    }
    out
}

fn bad(diags: &mut Vec<Diagnostic>, loc: &Location, msg: String, hint: &str) {
    diags.push(
        Diagnostic::error(diagnostic::BAD_GENERATE, msg)
            .at(loc.clone())
            .hint(hint),
    )
}

/// What an entry writes (a file at `path`, or a container field) and where it says so.
fn target_of(
    src: &SourceText,
    g: &RawGenerate,
    at: &Location,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Target, Location)> {
    let found = match (&g.path, &g.container) {
        (Some(p), None) => {
            let loc = src.locate(p.span());
            let path = p.get_ref().clone();
            let file = crate::linuxkit::File {
                path: path.clone(),
                contents: Some(String::new()),
                mode: g.mode.clone(),
                ..Default::default()
            };
            if let Err(e) = file.check() {
                bad(
                    diags,
                    &loc,
                    format!("[[generate]] `{path}`: {e}"),
                    "paths are relative to the root (etc/x.conf) with an octal mode (\"0644\")",
                );
                return None;
            }
            let mode = g.mode.clone().unwrap_or_else(|| "0644".to_string());
            (Target::File { path, mode }, loc)
        }
        (None, Some(c)) => {
            let loc = src.locate(c.span());
            let field = match c.get_ref().as_str() {
                "command" => ContainerField::Command,
                "env" => ContainerField::Env,
                "binds" => ContainerField::Binds,
                other => {
                    bad(
                        diags,
                        &loc,
                        format!(
                            "[[generate]] container = \"{other}\": not one of command, env, binds"
                        ),
                        "a component may set its own command, or add env entries or binds",
                    );
                    return None;
                }
            };
            if g.mode.is_some() || g.format.is_some() {
                bad(
                    diags,
                    &loc,
                    "[[generate]] for a container field takes no `mode` or `format`".into(),
                    "drop them: the value is a list of strings",
                );
                return None;
            }
            (Target::Container(field), loc)
        }
        _ => {
            bad(
                diags,
                at,
                "[[generate]] needs exactly one of `path` (a file) or `container` (command, env, binds)".into(),
                "e.g. path = \"etc/my-agent/config.toml\"",
            );
            return None;
        }
    };
    Some(found)
}

/// An entry's body: a template, or a structured value fitting its target.
fn body_of(
    src: &SourceText,
    g: &RawGenerate,
    target: &Target,
    location: &Location,
    diags: &mut Vec<Diagnostic>,
) -> Option<Body> {
    let body = match (&g.template, &g.value) {
        (Some(t), None) => {
            if matches!(target, Target::Container(_)) {
                bad(
                    diags,
                    location,
                    "[[generate]] for a container field needs `value` (a list), not `template`"
                        .into(),
                    "e.g. value = [\"/bin/agent\", \"--port={{ config.port }}\"]",
                );
                return None;
            }
            Body::Template(template_at(src, t))
        }
        (None, Some(v)) => {
            let loc = src.locate(v.span());
            if matches!(target, Target::Container(_)) && !v.get_ref().is_array() {
                bad(
                    diags,
                    &loc,
                    "[[generate]] for a container field needs a list of strings".into(),
                    "e.g. value = [\"--flag={{ config.x }}\"]",
                );
                return None;
            }
            if matches!(target, Target::File { .. }) && !v.get_ref().is_table() {
                bad(
                    diags,
                    &loc,
                    "[[generate]] `value` of a file is a table".into(),
                    "give the document as a table, or write the text with `template`",
                );
                return None;
            }
            Body::Value {
                value: v.get_ref().clone(),
                location: loc,
            }
        }
        _ => {
            bad(
                diags,
                location,
                "[[generate]] needs exactly one of `template` (text) or `value` (structured)"
                    .into(),
                "template = \"\"\"...\"\"\" or value = { key = \"{{ config.key }}\" }",
            );
            return None;
        }
    };
    Some(body)
}

/// An entry's format: as given, else from the file's extension (a template without one is
/// text).
fn format_of(
    src: &SourceText,
    g: &RawGenerate,
    target: &Target,
    body: &Body,
    location: &Location,
    diags: &mut Vec<Diagnostic>,
) -> Option<Format> {
    let format = match (&g.format, target) {
        (Some(f), _) => match Format::parse(f.get_ref()) {
            Some(x) => x,
            None => {
                bad(
                    diags,
                    &src.locate(f.span()),
                    format!(
                        "[[generate]] format = \"{}\": not one of text, toml, json, yaml",
                        f.get_ref()
                    ),
                    "name the file's syntax; `text` is not checked",
                );
                return None;
            }
        },
        (None, Target::File { path, .. }) => match (body, Format::from_path(path)) {
            (_, Some(f)) => f,
            (Body::Template(_), None) => Format::Text,
            (Body::Value { .. }, None) => {
                bad(
                    diags,
                    location,
                    format!("[[generate]] `{path}`: a structured value needs a `format` (its extension names none)"),
                    "add format = \"toml\", \"json\" or \"yaml\"",
                );
                return None;
            }
        },
        (None, Target::Container(_)) => Format::Text,
    };
    Some(format)
}

/// An entry back in its TOML form (`Manifest::to_toml`).
#[derive(Serialize)]
pub(crate) struct GenerateOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a toml::Value>,
}

impl<'a> From<&'a Generate> for GenerateOut<'a> {
    fn from(g: &'a Generate) -> Self {
        let (path, mode, container) = match &g.target {
            Target::File { path, mode } => (Some(path.as_str()), Some(mode.as_str()), None),
            Target::Container(f) => (None, None, Some(f.as_str())),
        };
        let (template, value) = match &g.body {
            Body::Template(t) => (Some(t.text.as_str()), None),
            Body::Value { value, .. } => (None, Some(value)),
        };
        GenerateOut {
            path,
            container,
            mode,
            format: path.map(|_| g.format.as_str()),
            when: g.when.as_ref().map(|w| w.text.as_str()),
            template,
            value,
        }
    }
}

/// What a component adds to the platform after resolution: files, additions to its own
/// container, and problems or warnings found on the way. The return value of
/// `Component::contribute`, whether the component is TOML (`[[generate]]`) or Rust.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contribution {
    /// LinuxKit `files` entries.
    pub files: Vec<crate::linuxkit::File>,
    /// Replaces the manifest's `command` when set.
    pub command: Option<Vec<String>>,
    /// Appended to the manifest's `env`.
    pub env: Vec<String>,
    /// Appended to the manifest's `binds`.
    pub binds: Vec<String>,
    /// Errors stop the assembly; warnings are reported with the others.
    pub diagnostics: Vec<Diagnostic>,
}

impl Contribution {
    /// Adds another contribution's parts after this one's.
    pub fn extend(&mut self, other: Contribution) {
        self.files.extend(other.files);
        if other.command.is_some() {
            self.command = other.command;
        }
        self.env.extend(other.env);
        self.binds.extend(other.binds);
        self.diagnostics.extend(other.diagnostics);
    }

    /// The manifest's container with these additions (before the assembly's overrides).
    pub fn apply(&self, base: &crate::container::Container) -> crate::container::Container {
        let mut c = base.clone();
        if let Some(cmd) = &self.command {
            c.command = Some(cmd.clone());
        }
        let add = |have: &mut Option<Vec<String>>, more: &[String]| {
            if !more.is_empty() {
                let v = have.get_or_insert_with(Vec::new);
                for m in more {
                    if !v.contains(m) {
                        v.push(m.clone());
                    }
                }
            }
        };
        add(&mut c.env, &self.env);
        add(&mut c.binds, &self.binds);
        c
    }
}
