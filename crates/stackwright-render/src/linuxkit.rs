//! `linuxkit.yml`: the platform in LinuxKit's format, ready for `linuxkit build`.
//!
//! Without a `[linuxkit]` table the layout is derived: every component with an image, in
//! start order, under its id. With one ([`LinuxkitLayout`]) the assembly says the sections,
//! their order, the LinuxKit names and the fields only LinuxKit has — which is how an
//! assembly imported from a LinuxKit file renders that file back.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use stackwright_types::assembly::LinuxkitLayout;
use stackwright_types::diagnostic::Diagnostic;
use stackwright_types::linuxkit::{Config, Image, Kernel};

use crate::{Platform, RenderError};

const SCHEMA: &str = include_str!("../schema/linuxkit-schema.json");

/// The LinuxKit configuration of a platform: kernel (with the assembly's cmdline), init
/// images in start order, onboot in start order, services level by level, onshutdown, and
/// the files. Components with no image are left out (validation warned about them).
///
/// A `[linuxkit]` table overrides the sections it gives (exactly its ids, in its order;
/// ids that are not chosen components are skipped here and refused by
/// [`check_linuxkit_layout`]), names images from its `names`, adds the kernel's
/// `binary`/`tar`/`ucode` (or drops the kernel section: `kernel = false`), `trust` and
/// `volumes`, and with `inherit_container = false`
/// renders each image with exactly the assembly's `container` for it.
pub fn linuxkit_config(p: &Platform<'_>) -> Config {
    let a = &p.loaded.assembly;
    let lk = a.linuxkit.as_ref();
    let start = &p.resolution.start;
    let kernel = start
        .kernel
        .iter()
        .find_map(|id| p.image_ref(id))
        .map(|image| Kernel {
            image: Some(image),
            cmdline: a.cmdline.as_ref().map(|c| c.value.clone()),
            ..Default::default()
        });
    let kernel = match lk.and_then(|l| l.kernel.as_ref()) {
        None => kernel,
        Some(extra) if extra.omit => None,
        Some(extra) => {
            let mut k = kernel.unwrap_or_else(|| Kernel {
                cmdline: a.cmdline.as_ref().map(|c| c.value.clone()),
                ..Default::default()
            });
            let v = |s: &Option<stackwright_types::assembly::Located<String>>| {
                s.as_ref().map(|s| s.value.clone())
            };
            k.binary = v(&extra.binary);
            k.tar = v(&extra.tar);
            k.ucode = v(&extra.ucode);
            Some(k)
        }
    };
    let inherit = lk.is_none_or(LinuxkitLayout::inherits_container);
    let images = |ids: Vec<String>| -> Vec<Image> {
        ids.iter()
            .filter_map(|id| {
                let image = p.image_ref(id)?;
                let m = p.registry.manifest(id)?;
                let req = a.components.get(id);
                Some(Image {
                    name: lk.map_or(id.as_str(), |l| l.name_of(id)).to_string(),
                    image,
                    container: if inherit {
                        stackwright_assembly::effective_container(
                            m,
                            p.validated.additions.get(id),
                            req,
                        )
                    } else {
                        req.map(|r| r.container.clone()).unwrap_or_default()
                    },
                })
            })
            .collect()
    };
    let section = |name: &str, default: Vec<String>| -> Vec<String> {
        let Some(lk) = lk else { return default };
        match lk.section(name) {
            Some(ids) => ids
                .iter()
                .filter(|id| p.resolution.components.contains_key(&id.value))
                .map(|id| id.value.clone())
                .collect(),
            None => {
                let listed: BTreeSet<&str> = lk.listed().map(|(_, id)| id.value.as_str()).collect();
                default
                    .into_iter()
                    .filter(|id| !listed.contains(id.as_str()))
                    .collect()
            }
        }
    };
    let mut config = Config {
        kernel,
        init: section("init", init_order(p))
            .iter()
            .filter_map(|id| p.image_ref(id))
            .collect(),
        onboot: images(section("onboot", start.onboot.clone())),
        onshutdown: images(section("onshutdown", start.onshutdown.clone())),
        services: images(section(
            "services",
            start.services.iter().flatten().cloned().collect(),
        )),
        trust: lk.and_then(|l| l.trust.as_ref()).map(|t| t.value.clone()),
        files: p.validated.files.iter().map(|(f, _)| f.clone()).collect(),
        volumes: lk
            .and_then(|l| l.volumes.as_ref())
            .map(|v| v.iter().map(|v| v.value.clone()).collect())
            .unwrap_or_default(),
    };
    if let Some(plan) = boot_plan(p, &config) {
        config.files.push(stackwright_types::linuxkit::File {
            path: stackwright_types::boot::BOOT_PLAN_PATH.to_string(),
            contents: Some(plan_json(&plan)),
            mode: Some("0644".into()),
            ..Default::default()
        });
    }
    config
}

/// The init that reads a boot plan.
pub const STACKWRIGHT_INIT: &str = "stackwright-init";

/// `/etc/stackwright/boot.json` for a platform whose init is `stackwright-init`: the
/// sections of `config` as `stackwright-build` lays them out (`containers/onboot/NNN-name`,
/// `containers/services/name`), services grouped by the plan's dependency levels, each
/// with its manifest's `[service]`. `None` under any other init.
pub fn boot_plan(p: &Platform<'_>, config: &Config) -> Option<stackwright_types::boot::BootPlan> {
    use stackwright_types::boot::{BootPlan, Unit, BOOT_PLAN_VERSION};
    if !p.resolution.components.contains_key(STACKWRIGHT_INIT) {
        return None;
    }
    let lk = p.loaded.assembly.linuxkit.as_ref();
    let name_of = |id: &str| lk.map_or(id, |l| l.name_of(id)).to_string();
    let service_of = |id: &str| {
        p.registry
            .manifest(id)
            .and_then(|m| m.service.clone())
            .unwrap_or_default()
    };
    let numbered = |section: &str, images: &[Image]| -> Vec<Unit> {
        images
            .iter()
            .enumerate()
            .map(|(i, img)| Unit {
                name: img.name.clone(),
                bundle: format!("/containers/{section}/{i:03}-{}", img.name),
                service: Default::default(),
            })
            .collect()
    };
    // Services: the plan's levels, keeping only what the services section holds; what
    // the section holds beyond the levels (a [linuxkit] table) comes last, as one level.
    let in_section: BTreeSet<&str> = config.services.iter().map(|i| i.name.as_str()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut services: Vec<Vec<Unit>> = Vec::new();
    for level in &p.resolution.start.services {
        let units: Vec<Unit> = level
            .iter()
            .filter(|id| in_section.contains(name_of(id).as_str()))
            .map(|id| {
                placed.insert(name_of(id));
                Unit {
                    name: name_of(id),
                    bundle: format!("/containers/services/{}", name_of(id)),
                    service: service_of(id),
                }
            })
            .collect();
        if !units.is_empty() {
            services.push(units);
        }
    }
    let rest: Vec<Unit> = config
        .services
        .iter()
        .filter(|i| !placed.contains(&i.name))
        .map(|i| Unit {
            name: i.name.clone(),
            bundle: format!("/containers/services/{}", i.name),
            service: Default::default(),
        })
        .collect();
    if !rest.is_empty() {
        services.push(rest);
    }
    Some(BootPlan {
        version: BOOT_PLAN_VERSION,
        hostname: Some(p.loaded.name.clone()),
        runtime: "/usr/bin/runc".into(),
        onboot: numbered("onboot", &config.onboot),
        services,
        onshutdown: numbered("onshutdown", &config.onshutdown),
    })
}

/// The plan as written into the image: pretty JSON, fixed key order, a final newline.
pub fn plan_json(plan: &stackwright_types::boot::BootPlan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("a boot plan serializes");
    s.push('\n');
    s
}

/// Problems of the assembly's `[linuxkit]` table that only the resolution shows: ids it
/// lists (or names) that are not chosen components. Empty without a table.
pub fn check_linuxkit_layout(p: &Platform<'_>) -> Vec<Diagnostic> {
    match &p.loaded.assembly.linuxkit {
        Some(lk) => lk.check(|id| p.resolution.components.contains_key(id)),
        None => Vec::new(),
    }
}

/// Init images in start order, except that the provider of the `init` capability (PID 1,
/// e.g. linuxkit/init) comes first, as in every LinuxKit configuration.
fn init_order(p: &Platform<'_>) -> Vec<String> {
    let start = &p.resolution.start.init;
    let is_init = |id: &String| {
        p.resolution.components.get(id).is_some_and(|c| {
            p.registry
                .manifest(id)
                .and_then(|m| m.release(&c.version))
                .is_some_and(|r| r.provides.contains_key("init"))
        })
    };
    let mut v: Vec<String> = start.iter().filter(|id| is_init(id)).cloned().collect();
    v.extend(start.iter().filter(|id| !is_init(id)).cloned());
    v
}

/// `linuxkit.yml` text, checked against LinuxKit's schema (and the `[linuxkit]` table
/// against the resolution, see [`check_linuxkit_layout`]).
pub fn linuxkit_yaml(p: &Platform<'_>) -> Result<String, RenderError> {
    let problems = check_linuxkit_layout(p);
    if !problems.is_empty() {
        return Err(RenderError::Layout(problems));
    }
    let config = linuxkit_config(p);
    check_linuxkit_schema(&config)?;
    let body = to_yaml(&config).map_err(|e| RenderError::Serialize {
        what: "linuxkit.yml",
        message: e.to_string(),
    })?;
    Ok(format!(
        "# Generated by Stackwright from assembly `{}` ({}). Build with: linuxkit build linuxkit.yml\n{body}",
        p.loaded.name, p.loaded.arch
    ))
}

/// A configuration as YAML that LinuxKit reads back as written. serde_yaml quotes strings
/// that YAML 1.2 reads as numbers, but LinuxKit's reader (yaml.v3) also takes `1_000`,
/// `0b1` or `-0x1F` for integers, and a name, env value or sysctl of that shape would turn
/// into a number (and fail LinuxKit's schema). Such strings go through serde_yaml as unique
/// placeholders, which are then replaced by the single-quoted strings.
pub fn to_yaml(config: &Config) -> Result<String, serde_yaml::Error> {
    use serde_yaml::Value;
    let plain = serde_yaml::to_string(config)?;
    let mut value = serde_yaml::to_value(config)?;
    let mut prefix = String::from("__stackwright_quote_");
    while plain.contains(&prefix) {
        prefix.push('_');
    }
    fn token(s: &mut String, prefix: &str, quoted: &mut Vec<String>) {
        if stackwright_types::linuxkit::reads_as_integer(s) {
            let t = format!("{prefix}{}__", quoted.len());
            quoted.push(std::mem::replace(s, t));
        }
    }
    fn mark(v: &mut Value, prefix: &str, quoted: &mut Vec<String>) {
        match v {
            Value::String(s) => token(s, prefix, quoted),
            Value::Sequence(items) => items.iter_mut().for_each(|i| mark(i, prefix, quoted)),
            Value::Mapping(m) => {
                let old = std::mem::take(m);
                for (mut k, mut v) in old {
                    if let Value::String(s) = &mut k {
                        token(s, prefix, quoted);
                    }
                    mark(&mut v, prefix, quoted);
                    m.insert(k, v);
                }
            }
            Value::Tagged(t) => mark(&mut t.value, prefix, quoted),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut quoted = Vec::new();
    mark(&mut value, &prefix, &mut quoted);
    if quoted.is_empty() {
        return Ok(plain);
    }
    let mut text = serde_yaml::to_string(&value)?;
    // Highest index first: `…_1__` is no prefix of `…_10__` thanks to the closing `__`,
    // but replacing in reverse keeps that from mattering at all.
    for (i, s) in quoted.iter().enumerate().rev() {
        // Only [0-9A-Za-z_+-] reach here: nothing to escape inside single quotes.
        text = text.replace(&format!("{prefix}{i}__"), &format!("'{s}'"));
    }
    Ok(text)
}

/// Checks a LinuxKit configuration against LinuxKit's own schema; the error lists every
/// violation with its JSON path.
pub fn check_linuxkit_schema(config: &Config) -> Result<(), RenderError> {
    let value = serde_json::to_value(config).map_err(|e| RenderError::Serialize {
        what: "linuxkit config",
        message: e.to_string(),
    })?;
    check_value(&value)
}

/// Checks any JSON value (e.g. a LinuxKit YAML read as a value) against LinuxKit's schema.
pub fn check_value(value: &serde_json::Value) -> Result<(), RenderError> {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let v = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMA).expect("embedded schema is JSON");
        jsonschema::draft4::new(&schema).expect("embedded schema compiles")
    });
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RenderError::Schema(errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright_types::container::Container;

    #[test]
    fn strings_linuxkit_reads_as_integers_are_quoted() {
        let mut c = Config::default();
        c.services.push(Image {
            name: "1_000".into(),
            image: "a:b".into(),
            container: Container {
                env: Some(vec!["0b1".into(), "plain".into(), "0644".into()]),
                command: Some(vec!["-0x1F".into()]),
                sysctl: Some([("1_0".to_string(), "2_0".to_string())].into()),
                uid: Some(stackwright_types::container::IdOrName::Id(1000)),
                ..Default::default()
            },
        });
        let text = to_yaml(&c).unwrap();
        for want in [
            "- name: '1_000'",
            "- '0b1'",
            "- plain",
            "- '0644'",
            "- '-0x1F'",
            "'1_0': '2_0'",
            "uid: 1000",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        assert!(!text.contains("__stackwright_quote_"));
        let back: Config = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, c);
        // Nothing to quote: exactly serde_yaml's text.
        c.services[0].name = "web".into();
        c.services[0].container = Container::default();
        assert_eq!(to_yaml(&c).unwrap(), serde_yaml::to_string(&c).unwrap());
    }

    #[test]
    fn schema_rejects_unknown_image_fields() {
        let bad = serde_json::json!({"services": [{"name": "x", "image": "a:b", "bogus": 1}]});
        assert!(check_value(&bad).is_err());
        let good = serde_json::json!({"services": [{"name": "x", "image": "a:b", "net": "host"}]});
        assert!(check_value(&good).is_ok());
    }
}
