//! `stackwright show <component>`: one component with its releases, capabilities and needs.

use stackwright_registry::Registry;
use stackwright_types::manifest::Manifest;

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
        s.push_str(&format!("\nrelease {}\n", r.version));
        s.push_str(&format!(
            "  image: {}\n",
            r.image
                .as_deref()
                .unwrap_or("(none: no upstream OCI image)")
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
                let c: Vec<String> = r
                    .kernel
                    .config
                    .iter()
                    .map(|o| {
                        if o.builtin {
                            format!("{}=y", o.name)
                        } else {
                            o.name.clone()
                        }
                    })
                    .collect();
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
