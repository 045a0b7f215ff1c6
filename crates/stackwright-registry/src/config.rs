//! Checking an assembly's per-component `config` against the component's typed schema.

use std::collections::BTreeMap;

use stackwright_types::assembly::Located;
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::manifest::Manifest;
use stackwright_types::Location;

/// Problems with `given` (the assembly's values) against `manifest.config`: unknown keys
/// (with suggestions), wrong types, values outside enums or ranges, and required options
/// left unset. Every problem is reported, each at its value's line.
pub fn check_config(
    manifest: &Manifest,
    given: &BTreeMap<String, Located<toml::Value>>,
    entry: Option<&Location>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (key, value) in given {
        match manifest.config.get(key) {
            None => {
                let mut d = Diagnostic::error(
                    diagnostic::CONFIG_UNKNOWN,
                    format!("component `{}` has no config option `{key}`", manifest.id),
                )
                .at(value.location.clone());
                d = match stackwright_types::suggest::did_you_mean(
                    key,
                    manifest.config.keys().map(String::as_str),
                ) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None if manifest.config.is_empty() => {
                        d.hint(format!("`{}` takes no config", manifest.id))
                    }
                    None => d.hint(format!(
                        "its options are: {}",
                        manifest
                            .config
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                out.push(d);
            }
            Some(opt) => {
                if let Err((code, msg)) = opt.check(&value.value) {
                    let mut d =
                        Diagnostic::error(code, format!("`{}` config `{key}`: {msg}", manifest.id))
                            .at(value.location.clone());
                    if let Some(desc) = &opt.description {
                        d = d.note(format!("`{key}`: {desc}"));
                    }
                    out.push(d.hint(match &opt.allowed {
                        Some(a) => format!("use one of: {}", a.join(", ")),
                        None => format!("`{key}` takes a value of type {}", opt.ty),
                    }));
                }
            }
        }
    }
    for (key, opt) in &manifest.config {
        if opt.required && opt.default.is_none() && !given.contains_key(key) {
            out.push(
                Diagnostic::error(
                    diagnostic::CONFIG_REQUIRED,
                    format!("component `{}` needs config `{key}`", manifest.id),
                )
                .at_opt(entry.cloned())
                .hint(format!(
                    "set it: {} = {{ config = {{ {key} = … }} }}",
                    manifest.id
                )),
            );
        }
    }
    out
}

/// The effective config: schema defaults overlaid with the assembly's values.
pub fn effective_config(
    manifest: &Manifest,
    given: &BTreeMap<String, Located<toml::Value>>,
) -> BTreeMap<String, toml::Value> {
    let mut out: BTreeMap<String, toml::Value> = manifest
        .config
        .iter()
        .filter_map(|(k, o)| o.default.clone().map(|d| (k.clone(), d)))
        .collect();
    for (k, v) in given {
        out.insert(k.clone(), v.value.clone());
    }
    out
}
