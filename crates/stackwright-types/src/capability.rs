//! Declared capabilities (`components/capabilities.toml`): the abstract needs components
//! provide and require, such as `cri` or `pod-network`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::source::{Location, SourceText};
use crate::TypesError;

/// How many providers of a capability one assembly may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cardinality {
    /// At most one provider (a kernel, an init, the pod network).
    One,
    /// Any number.
    Many,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapability {
    summary: String,
    cardinality: Cardinality,
    #[serde(default)]
    default: Option<Spanned<String>>,
}

/// One declared capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    pub name: String,
    pub summary: String,
    pub cardinality: Cardinality,
    /// The customary provider, a component id.
    pub default: Option<String>,
    pub location: Location,
    pub default_location: Option<Location>,
}

/// Parses a capabilities file: one table per capability.
pub fn parse_capabilities(src: &SourceText) -> Result<BTreeMap<String, Capability>, TypesError> {
    let raw: BTreeMap<Spanned<String>, Spanned<RawCapability>> = crate::guarded_toml::parse(src)
        .map_err(|diagnostics| TypesError::Invalid {
            file: src.name.clone(),
            diagnostics,
        })?;
    let mut out = BTreeMap::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    for (name, cap) in raw {
        let location = src.locate(name.span());
        if !crate::manifest::is_kebab(name.get_ref()) {
            diags.push(
                Diagnostic::error(
                    crate::diagnostic::INVALID_VALUE,
                    format!("capability name `{}` is not kebab-case", name.get_ref()),
                )
                .at(location.clone()),
            );
            continue;
        }
        let cap = cap.into_inner();
        let default_location = cap.default.as_ref().map(|d| src.locate(d.span()));
        out.insert(
            name.get_ref().clone(),
            Capability {
                name: name.into_inner(),
                summary: cap.summary,
                cardinality: cap.cardinality,
                default: cap.default.map(|d| d.into_inner()),
                location,
                default_location,
            },
        );
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(TypesError::Invalid {
            file: src.name.clone(),
            diagnostics: diags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tables() {
        let src = SourceText::new(
            "capabilities.toml",
            "[cri]\nsummary = \"CRI\"\ncardinality = \"many\"\ndefault = \"containerd\"\n\n[kernel]\nsummary = \"k\"\ncardinality = \"one\"\n",
        );
        let caps = parse_capabilities(&src).unwrap();
        assert_eq!(caps["cri"].default.as_deref(), Some("containerd"));
        assert_eq!(caps["kernel"].cardinality, Cardinality::One);
        assert_eq!(caps["kernel"].location.line, 6);
    }

    #[test]
    fn bad_cardinality_is_located() {
        let src = SourceText::new("c.toml", "[x]\nsummary = \"s\"\ncardinality = \"two\"\n");
        let e = parse_capabilities(&src).unwrap_err();
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 3);
    }
}
