//! `stackwright show <name>`: one component with its releases, capabilities and needs, or
//! one capability with its providers.

use stackwright_registry::Registry;
use stackwright_types::capability::{Capability, Cardinality};
use stackwright_types::manifest::{Manifest, Release};
use stackwright_types::package::{FileLayout, Package, ReleaseFile};

/// A readable description of a component (plain text, deterministic).
pub fn describe_component(m: &Manifest, registry: &Registry) -> String {
    let mut s = String::new();
    s.push_str(&format!("{} — {}\n", m.id, m.summary));
    s.push_str(&format!(
        "  category: {}   stage: {}   arch: {}\n",
        m.category,
        m.stage,
        m.arch
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(h) = &m.homepage {
        s.push_str(&format!("  homepage: {h}\n"));
    }
    if let Some(l) = &m.license {
        s.push_str(&format!("  license: {l}\n"));
    }
    s.push_str(&format!(
        "  privileged: {}\n",
        if m.privileged { "yes" } else { "no" }
    ));
    if !m.verified {
        s.push_str(&format!("  verified: no ({})\n", m.unverified.join(", ")));
    }
    s.push_str(&format!("  defined in: {}\n", m.location.file));
    for r in &m.releases {
        describe_release(&mut s, r, registry);
    }
    if !m.package.is_empty() {
        describe_package(&mut s, &m.package);
    }
    if !m.ports.is_empty() {
        s.push_str("\nports:\n");
        for p in &m.ports {
            let range = match p.end {
                Some(e) if e != p.port => format!("{}-{e}", p.port),
                _ => p.port.to_string(),
            };
            s.push_str(&format!("  {range}/{} ({})\n", p.protocol, p.scope));
        }
    }
    if !m.config.is_empty() {
        s.push_str("\nconfig:\n");
        for (k, o) in &m.config {
            let mut line = format!("  {k}: {}", o.ty);
            if let Some(a) = &o.allowed {
                line.push_str(&format!(" one of [{}]", a.join(", ")));
            }
            if let Some(d) = &o.default {
                line.push_str(&format!(" = {d}"));
            }
            if let Some(desc) = &o.description {
                line.push_str(&format!(" — {desc}"));
            }
            s.push_str(&line);
            s.push('\n');
        }
    }
    if let Some(n) = &m.notes {
        s.push_str("\nnotes:\n");
        for l in n.lines() {
            s.push_str(&format!("  {l}\n"));
        }
    }
    s
}

/// One release: image, arch, provides, needs, kernel, release files.
fn describe_release(s: &mut String, r: &Release, registry: &Registry) {
    s.push_str(&format!("\nrelease {}\n", r.version));
    s.push_str(&format!(
        "  image: {}\n",
        match (&r.image, r.files.is_empty()) {
            (Some(i), _) => i.as_str(),
            (None, false) => "(packaged by Stackwright from the release files below)",
            (None, true) => "(none: no upstream OCI image)",
        }
    ));
    if let Some(a) = &r.arch {
        s.push_str(&format!(
            "  arch: {}\n",
            a.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !r.provides.is_empty() {
        let p: Vec<String> = r.provides.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!("  provides: {}\n", p.join(", ")));
    }
    for (kind, deps) in [
        ("requires", &r.requires),
        ("constrains (if present)", &r.constrains),
        ("conflicts", &r.conflicts),
        ("recommends", &r.recommends),
    ] {
        if deps.is_empty() {
            continue;
        }
        s.push_str(&format!("  {kind}:\n"));
        for d in deps {
            let what = if registry.capability(&d.name).is_some() {
                "capability"
            } else {
                "component"
            };
            s.push_str(&format!("    {} {} ({what})\n", d.name, d.req));
        }
    }
    if r.kernel.min.is_some() || !r.kernel.config.is_empty() {
        s.push_str("  kernel:");
        if let Some(min) = &r.kernel.min {
            s.push_str(&format!(" >= {min}"));
        }
        if !r.kernel.config.is_empty() {
            let c: Vec<String> = r.kernel.config.iter().map(|o| o.as_need()).collect();
            s.push_str(&format!(" with {}", c.join(", ")));
        }
        s.push('\n');
    }
    if !r.kernel_config.is_empty() {
        s.push_str(&format!(
            "  built with {} kernel options\n",
            r.kernel_config.len()
        ));
    }
    if !r.files.is_empty() {
        describe_files(s, &r.files);
    }
}

/// A release's files, with their digests, sources and where they go.
fn describe_files(s: &mut String, files: &[ReleaseFile]) {
    s.push_str("  release files (packaged by Stackwright):\n");
    for f in files {
        s.push_str(&format!("    {} {}: {}\n", f.arch, f.format, f.url));
        match &f.sha256 {
            Some(h) => s.push_str(&format!("      sha256 {h}\n")),
            None => s.push_str("      sha256 (none: unverified, assembling it is refused)\n"),
        }
        if let Some(src) = &f.checksum_source {
            s.push_str(&format!("      checksum from {src}\n"));
        }
        match &f.layout {
            FileLayout::Binary { path, mode } => {
                s.push_str(&format!("      -> /{path} ({mode})\n"))
            }
            FileLayout::Extract(rules) => {
                for e in rules {
                    let mode = e.mode.map(|m| format!(" ({m})")).unwrap_or_default();
                    s.push_str(&format!("      {} -> /{}{mode}\n", e.from, e.to));
                }
            }
        }
    }
}

/// `[package]`: the image Stackwright builds from the release files.
fn describe_package(s: &mut String, p: &Package) {
    s.push_str("\npackaged image:\n");
    if let Some(e) = &p.entrypoint {
        s.push_str(&format!("  entrypoint: {}\n", e.join(" ")));
    }
    if let Some(c) = &p.cmd {
        s.push_str(&format!("  cmd: {}\n", c.join(" ")));
    }
    for e in &p.env {
        s.push_str(&format!("  env: {e}\n"));
    }
    if let Some(w) = &p.workdir {
        s.push_str(&format!("  workdir: {w}\n"));
    }
    for l in &p.symlinks {
        s.push_str(&format!("  symlink /{} -> {}\n", l.path, l.target));
    }
    for f in &p.files {
        s.push_str(&format!(
            "  file /{} ({}, {} bytes)\n",
            f.path,
            f.mode,
            f.contents.len()
        ));
    }
}

/// A readable description of a capability: its summary, cardinality, default provider
/// and every provider with the releases that provide it (plain text, deterministic).
pub fn describe_capability(cap: &Capability, registry: &Registry) -> String {
    let mut s = String::new();
    s.push_str(&format!("{} — {} (capability)\n", cap.name, cap.summary));
    s.push_str(&format!(
        "  cardinality: {}\n",
        match cap.cardinality {
            Cardinality::One => "one (at most one provider in a platform)",
            Cardinality::Many => "many (any number of providers)",
        }
    ));
    s.push_str(&format!(
        "  default provider: {}\n",
        cap.default.as_deref().unwrap_or("(none)")
    ));
    s.push_str(&format!("  declared in: {}\n", cap.location.file));
    let rows: Vec<Vec<String>> = capability_providers(cap, registry)
        .into_iter()
        .map(|p| {
            let mut id = p.id.to_string();
            if cap.default.as_deref() == Some(p.id) {
                id.push_str(" (default)");
            }
            vec![
                id,
                p.category.to_string(),
                p.releases
                    .iter()
                    .map(|(v, provided)| format!("{v} ({} {provided})", cap.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    if rows.is_empty() {
        s.push_str("\nno component provides it\n");
    } else {
        s.push_str(&format!("\nproviders ({}):\n", rows.len()));
        for line in crate::text_table(&["id", "category", "releases"], &rows).lines() {
            s.push_str(&format!("  {line}\n"));
        }
    }
    s
}

/// One provider of a capability: the releases that provide it, newest first, each with
/// the version of the capability it provides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityProvider<'a> {
    pub id: &'a str,
    pub category: stackwright_types::manifest::Category,
    pub releases: Vec<(&'a semver::Version, &'a semver::Version)>,
}

/// Every provider of `cap` in the registry, by id.
pub fn capability_providers<'a>(
    cap: &Capability,
    registry: &'a Registry,
) -> Vec<CapabilityProvider<'a>> {
    registry
        .providers(&cap.name)
        .iter()
        .filter_map(|id| registry.manifest(id))
        .map(|m| CapabilityProvider {
            id: m.id.as_str(),
            category: m.category,
            releases: m
                .releases
                .iter()
                .filter_map(|r| r.provides.get(&cap.name).map(|p| (&r.version, p)))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright_registry::{ComponentOrigin, RegistryBuilder};
    use stackwright_types::SourceText;

    #[test]
    fn show_lists_every_release_file_with_its_sha256() {
        let text = r#"id = "pkgthing"
category = "runtime"
summary = "A packaged test component"
stage = "service"
arch = ["amd64", "arm64"]

[package]
entrypoint = ["/usr/bin/pkgthing"]

[[release]]
version = "1.0.0"

[[release.files]]
arch = "amd64"
url = "https://example.invalid/pkgthing-1.0.0-linux-amd64.tar.gz"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
checksum_source = "https://example.invalid/pkgthing-1.0.0.sha256sum"
format = "tar.gz"
extract = [{ from = "bin/", to = "usr/bin/" }]

[[release.files]]
arch = "arm64"
url = "https://example.invalid/pkgthing-1.0.0-linux-arm64"
sha256 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
checksum_source = "https://example.invalid/pkgthing-1.0.0.sha256sum"
format = "binary"
path = "usr/bin/pkgthing"
"#;
        let mut b = RegistryBuilder::with_builtin();
        b.add_source(
            SourceText::new("pkgthing.toml", text),
            ComponentOrigin::Rust,
        );
        let r = b.build().unwrap();
        let m = r.manifest("pkgthing").unwrap();
        insta::assert_snapshot!(describe_component(m, &r));
    }

    #[test]
    fn show_of_a_capability_lists_its_providers_with_their_versions() {
        let caps = "[gpu-device-plugin]\nsummary = \"Exposes GPUs to pods\"\ncardinality = \"one\"\ndefault = \"gpu-a\"\n";
        let provider = |id: &str, versions: &[&str]| {
            let mut t = format!(
                "id = \"{id}\"\ncategory = \"runtime\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n"
            );
            for v in versions {
                t.push_str(&format!(
                    "\n[[release]]\nversion = \"{v}\"\nprovides = {{ gpu-device-plugin = \"1.{}.0\" }}\n",
                    &v[..1]
                ));
            }
            t.push_str("\n[[release]]\nversion = \"0.1.0\"\n");
            SourceText::new(format!("mine/{id}.toml"), t)
        };
        let mut b = RegistryBuilder::with_builtin();
        let origin = ComponentOrigin::Directory("mine".into());
        b.add_source(
            SourceText::new("mine/capabilities.toml", caps),
            origin.clone(),
        );
        b.add_source(provider("gpu-a", &["2.0.0", "1.4.0"]), origin.clone());
        b.add_source(provider("gpu-b", &["3.1.0"]), origin);
        let r = b.build().unwrap();
        let cap = r.capability("gpu-device-plugin").unwrap();
        let providers = capability_providers(cap, &r);
        assert_eq!(providers.len(), 2);
        // The release that does not provide it (0.1.0) is not listed.
        assert_eq!(providers[0].releases.len(), 2);
        insta::assert_snapshot!(describe_capability(cap, &r));
    }

    #[test]
    fn show_of_a_builtin_capability() {
        // Not a snapshot: the built-in providers change with every release added.
        let r = Registry::builtin().unwrap();
        let text = describe_capability(r.capability("cri").unwrap(), &r);
        assert!(text.starts_with("cri — "), "{text}");
        assert!(text.contains("  cardinality: many"), "{text}");
        for p in r.providers("cri") {
            let m = r.manifest(p).unwrap();
            let v = &m.newest().version;
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(p.as_str())
                        && l.contains(&format!("{v} (cri "))),
                "{p} {v} missing:\n{text}"
            );
        }
    }
}
