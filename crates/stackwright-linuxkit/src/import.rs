//! Mapping a LinuxKit configuration to an assembly.
//!
//! Every image (kernel, init, onboot, onshutdown, services) becomes one component of the
//! assembly. An image whose repository is a registry component's image repository maps to
//! that component, keeping the file's exact reference (`image = …`) and its per-image
//! settings (`container = …`); any other image — and the second use of a registry
//! component, since an assembly lists a component once — becomes a generated component
//! under `components/<id>.toml`. Sections, order, names and LinuxKit's own fields go to
//! the assembly's `[linuxkit]` table ([`LinuxkitTable`]).

use std::collections::{BTreeMap, BTreeSet};

use semver::{Version, VersionReq};
use serde::Serialize;
use stackwright_types::container::Container;
use stackwright_types::diagnostic::Diagnostic;
use stackwright_types::linuxkit::{Config, File};
use stackwright_types::manifest::{Arch, Category, Dep, Manifest, Release, Stage};
use stackwright_types::version::parse_version;
use stackwright_types::Location;

use crate::merge::Merged;
use crate::table::{LinuxkitTable, TableKernel, TableKernelEntry};
use stackwright_types::reference::ImageRef;

/// Choices the LinuxKit file cannot make.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The assembly's name; default: the first file's stem, in kebab-case.
    pub name: Option<String>,
    /// The assembly's architecture; LinuxKit files do not say. Default: none written.
    pub arch: Option<Arch>,
}

/// How one image entry was mapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// `kernel`, `init`, `onboot`, `onshutdown` or `services`.
    pub section: String,
    /// The LinuxKit name (for init and kernel: the image's short name).
    pub name: String,
    pub image: String,
    pub component: String,
    /// Whether the component was generated (else it is the registry's).
    pub generated: bool,
}

/// The result of an import: the texts to write and what was decided.
#[derive(Clone, Debug)]
pub struct Import {
    pub name: String,
    /// `assembly.toml`.
    pub assembly: String,
    /// Generated component id → its manifest (`components/<id>.toml`).
    pub components: BTreeMap<String, String>,
    /// The `[linuxkit]` table written into `assembly.toml`.
    pub layout: LinuxkitTable,
    /// Every image and the component it became, in file order.
    pub mappings: Vec<Mapping>,
    /// Things the user should know (registry requirements the file does not meet, …).
    pub warnings: Vec<Diagnostic>,
    /// The merged LinuxKit configuration that was imported.
    pub config: Config,
}

/// One image of the file, before and after mapping.
struct Entry<'a> {
    section: &'static str,
    stage: Stage,
    /// LinuxKit name (absent for kernel and init).
    name: Option<String>,
    image: String,
    reference: ImageRef,
    container: Container,
    location: Option<Location>,
    /// The registry component (and the release with this exact image, if any).
    matched: Option<(&'a Manifest, Option<&'a Release>)>,
    /// Set when the registry component is used by an earlier entry: a template for the
    /// generated one.
    template: Option<&'a Manifest>,
    id: String,
}

/// Maps a merged configuration onto `registry`.
pub fn map(merged: &Merged, registry: &[Manifest], opts: &ImportOptions) -> Import {
    let config = &merged.config;
    let o = &merged.origins;
    let mut entries: Vec<Entry> = Vec::new();
    let mut push = |section: &'static str,
                    stage: Stage,
                    name: Option<String>,
                    image: &str,
                    container: Container,
                    location: Option<Location>| {
        // `load` refused every reference that does not parse (parse.rs), with its line.
        let Ok(reference) = ImageRef::parse(image) else {
            return;
        };
        entries.push(Entry {
            section,
            stage,
            name,
            image: image.to_string(),
            reference,
            container,
            location,
            matched: None,
            template: None,
            id: String::new(),
        })
    };
    if let Some(img) = config.kernel.as_ref().and_then(|k| k.image.as_ref()) {
        push(
            "kernel",
            Stage::Kernel,
            None,
            img,
            Container::default(),
            o.kernel.clone(),
        );
    }
    for (i, img) in config.init.iter().enumerate() {
        push(
            "init",
            Stage::Init,
            None,
            img,
            Container::default(),
            o.init.get(i).cloned(),
        );
    }
    for (section, stage, images) in [
        ("onboot", Stage::Onboot, &config.onboot),
        ("onshutdown", Stage::Onshutdown, &config.onshutdown),
        ("services", Stage::Service, &config.services),
    ] {
        for (i, im) in images.iter().enumerate() {
            push(
                section,
                stage,
                Some(im.name.clone()),
                &im.image,
                im.container.clone(),
                o.section(section).get(i).cloned(),
            );
        }
    }

    // Registry matches: first the entries whose section is the component's own stage, then
    // the rest, so a component used twice keeps its id where it belongs.
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for pass in 0..2 {
        for e in entries.iter_mut() {
            if e.matched.is_some() {
                continue;
            }
            let Some((m, rel)) = best_match(registry, &e.reference, e.stage) else {
                continue;
            };
            if (m.stage == e.stage) != (pass == 0) {
                continue;
            }
            if used.insert(m.id.as_str()) {
                e.matched = Some((m, rel));
                e.id = m.id.clone();
            }
        }
    }
    for e in entries.iter_mut().filter(|e| e.matched.is_none()) {
        e.template = best_match(registry, &e.reference, e.stage).map(|(m, _)| m);
    }

    // Generated ids: never a registry id or a capability name (one namespace), never
    // twice.
    let mut reserved: BTreeSet<String> = registry.iter().map(|m| m.id.clone()).collect();
    for m in registry {
        for r in &m.releases {
            reserved.extend(r.provides.keys().cloned());
            reserved.extend(r.edges().map(|(_, d)| d.name.clone()));
        }
    }
    let mut taken: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.matched.is_some())
        .map(|e| e.id.clone())
        .collect();
    for e in entries.iter_mut().filter(|e| e.matched.is_none()) {
        e.id = fresh_id(e, &reserved, &taken);
        taken.insert(e.id.clone());
    }

    let kernel_capability = registry
        .iter()
        .any(|m| m.releases.iter().any(|r| r.provides.contains_key("kernel")));
    let sources: Vec<String> = merged.files.clone();

    let mut layout = LinuxkitTable {
        inherit_container: false,
        // Only when there is something to say: extra fields, or a kernel section without
        // an image (which no kernel component would render).
        kernel: match &config.kernel {
            None => Some(TableKernelEntry::Render(false)),
            Some(k)
                if k.image.is_none()
                    || k.binary.is_some()
                    || k.tar.is_some()
                    || k.ucode.is_some() =>
            {
                Some(TableKernelEntry::Fields(TableKernel {
                    binary: k.binary.clone(),
                    tar: k.tar.clone(),
                    ucode: k.ucode.clone(),
                }))
            }
            Some(_) => None,
        },
        trust: config.trust.clone(),
        volumes: config.volumes.clone(),
        ..Default::default()
    };
    let mut components_out: BTreeMap<String, AsmEntry> = BTreeMap::new();
    let mut generated: BTreeMap<String, String> = BTreeMap::new();
    let mut mappings = Vec::new();
    let header = format!(
        "# Generated by `stackwright import linuxkit` from {}.\n",
        sources.join(", ")
    );

    for (idx, e) in entries.iter().enumerate() {
        match e.section {
            "kernel" => {}
            "init" => layout.init.push(e.id.clone()),
            "onboot" => layout.onboot.push(e.id.clone()),
            "onshutdown" => layout.onshutdown.push(e.id.clone()),
            _ => layout.services.push(e.id.clone()),
        }
        if let Some(n) = &e.name {
            if *n != e.id {
                layout.names.insert(e.id.clone(), n.clone());
            }
        }
        mappings.push(Mapping {
            section: e.section.to_string(),
            name: e
                .name
                .clone()
                .unwrap_or_else(|| e.reference.short_name().to_string()),
            image: e.image.clone(),
            component: e.id.clone(),
            generated: e.matched.is_none(),
        });
        match e.matched {
            Some((_, rel)) => {
                components_out.insert(
                    e.id.clone(),
                    AsmEntry {
                        version: rel
                            .map(|r| exact_req(&r.version))
                            .unwrap_or_else(|| "*".into()),
                        image: Some(e.image.clone()),
                        container: (!e.container.is_empty()).then(|| e.container.clone()),
                    },
                );
            }
            None => {
                // Order edges: init and onboot run in file order, onshutdown in reverse
                // dependency order; a generated entry depends on its neighbour so the
                // start order the solver derives is the file's.
                let same: Vec<&Entry> = entries.iter().filter(|x| x.section == e.section).collect();
                let pos = same
                    .iter()
                    .position(|x| std::ptr::eq(*x, &entries[idx]))
                    .unwrap_or(0);
                let after = match e.section {
                    "init" | "onboot" if pos > 0 => Some(same[pos - 1].id.clone()),
                    "onshutdown" if pos + 1 < same.len() => Some(same[pos + 1].id.clone()),
                    _ => None,
                };
                let manifest = generate(e, after, kernel_capability, opts, &sources);
                let text = format!("{header}{}", manifest.to_toml());
                generated.insert(e.id.clone(), text);
                // The settings go to the assembly, as for registry components, not to the
                // manifest: `assembly.toml` reads as the file did.
                components_out.insert(
                    e.id.clone(),
                    AsmEntry {
                        version: "*".into(),
                        image: None,
                        container: (!e.container.is_empty()).then(|| e.container.clone()),
                    },
                );
            }
        }
    }

    let mut warnings = untagged_images(&entries);
    warnings.extend(unmet_requirements(&entries));
    let name = opts.name.clone().unwrap_or_else(|| {
        let stem = sources
            .first()
            .map(|f| {
                let base = f.rsplit(['/', '\\']).next().unwrap_or(f);
                base.strip_suffix(".yml")
                    .or_else(|| base.strip_suffix(".yaml"))
                    .unwrap_or(base)
                    .to_string()
            })
            .unwrap_or_default();
        kebab(&stem).unwrap_or_else(|| "imported".into())
    });
    let asm = AsmOut {
        assembly: AsmMeta {
            name: name.clone(),
            version: "0.1.0".into(),
            description: format!("Imported from LinuxKit ({})", sources.join(", ")),
            arch: opts.arch.map(|a| a.as_str().to_string()),
            component_paths: if generated.is_empty() {
                vec![]
            } else {
                vec!["components".into()]
            },
        },
        components: components_out,
        kernel: config
            .kernel
            .as_ref()
            .and_then(|k| k.cmdline.clone())
            .map(|cmdline| AsmKernel { cmdline }),
        files: config.files.clone(),
        linuxkit: layout.clone(),
    };
    let assembly = format!(
        "{header}# [linuxkit]: the file's sections, order, names, kernel files, trust and volumes.\n{}",
        toml::to_string(&asm).expect("assemblies serialize")
    );
    Import {
        name,
        assembly,
        components: generated,
        layout,
        mappings,
        warnings,
        config: config.clone(),
    }
}

#[derive(Serialize)]
struct AsmOut {
    assembly: AsmMeta,
    components: BTreeMap<String, AsmEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<AsmKernel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
    linuxkit: LinuxkitTable,
}

#[derive(Serialize)]
struct AsmMeta {
    name: String,
    version: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    arch: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    component_paths: Vec<String>,
}

#[derive(Serialize)]
struct AsmEntry {
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Container>,
}

#[derive(Serialize)]
struct AsmKernel {
    cmdline: String,
}

/// `=<version>`: exactly the release whose image the file names.
fn exact_req(v: &Version) -> String {
    let s = format!("={v}");
    if VersionReq::parse(&s).is_ok() {
        return s;
    }
    // semver ranges cannot carry build metadata; it never takes part in matching anyway.
    let mut plain = v.clone();
    plain.build = semver::BuildMetadata::EMPTY;
    format!("={plain}")
}

/// The registry component for an image: same repository (after normalisation) and a
/// stage that fits (kernels only for the kernel, no kernels elsewhere). Among several:
/// one with a release of this exact reference, then one of the same stage, then one
/// whose versions share the tag's major.minor, then the first id.
fn best_match<'a>(
    registry: &'a [Manifest],
    r: &ImageRef,
    stage: Stage,
) -> Option<(&'a Manifest, Option<&'a Release>)> {
    let canonical = r.canonical();
    let name = r.name();
    let tag_version = r.tag().and_then(|t| parse_version(t).ok());
    registry
        .iter()
        .filter(|m| (m.stage == Stage::Kernel) == (stage == Stage::Kernel))
        .filter_map(|m| {
            let mut same_repo = false;
            let mut exact = None;
            for rel in &m.releases {
                if let Some(ir) = rel.image.as_deref().and_then(|i| ImageRef::parse(i).ok()) {
                    if ir.name() == name {
                        same_repo = true;
                        if exact.is_none() && ir.canonical() == canonical {
                            exact = Some(rel);
                        }
                    }
                }
            }
            if !same_repo {
                return None;
            }
            let series = tag_version.as_ref().is_some_and(|tv| {
                m.releases
                    .iter()
                    .any(|rel| rel.version.major == tv.major && rel.version.minor == tv.minor)
            });
            let rank = (exact.is_some(), m.stage == stage, series);
            Some((rank, m, exact))
        })
        // max_by_key keeps the last maximum: iterate so ties go to the smallest id.
        .fold(
            None::<((bool, bool, bool), &Manifest, Option<&Release>)>,
            |best, cand| match best {
                Some(b) if b.0 > cand.0 || (b.0 == cand.0 && b.1.id <= cand.1.id) => Some(b),
                _ => Some(cand),
            },
        )
        .map(|(_, m, rel)| (m, rel))
}

/// `name` in kebab-case (component ids), or `None` when nothing is left of it.
pub(crate) fn kebab(name: &str) -> Option<String> {
    let mut s = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches(['-', '.']).to_string();
    if s.is_empty() {
        return None;
    }
    let s = if s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s
    } else {
        format!("lk-{s}")
    };
    let s: String = s.chars().take(60).collect();
    let s = s.trim_end_matches(['-', '.']).to_string();
    stackwright_types::manifest::is_kebab(&s).then_some(s)
}

fn fresh_id(e: &Entry, reserved: &BTreeSet<String>, taken: &BTreeSet<String>) -> String {
    let free = |s: &str| !reserved.contains(s) && !taken.contains(s);
    let singular = match e.section {
        "services" => "service",
        s => s,
    };
    // Named entries keep their name, else name-<section>; unnamed ones (kernel, init)
    // take the image's short name, else its path (`linuxkit-init`).
    let base = e
        .name
        .as_deref()
        .and_then(kebab)
        .or_else(|| kebab(e.reference.short_name()))
        .unwrap_or_else(|| "image".into());
    let mut candidates = vec![base.clone()];
    if e.name.is_none() {
        candidates.extend(kebab(e.reference.repository()));
    }
    candidates.push(format!("{base}-{singular}"));
    if let Some(c) = candidates.iter().find(|c| free(c)) {
        return c.clone();
    }
    (2..)
        .map(|n| format!("{base}-{singular}-{n}"))
        .find(|c| free(c))
        .expect("some numbered id is free")
}

/// The release version of a generated component: the tag when it reads as a version,
/// else `0.0.0+<tag or digest>` as the catalog encodes content-hash tags.
fn version_for(r: &ImageRef) -> Version {
    if let Some(v) = r.tag().and_then(|t| parse_version(t).ok()) {
        return v;
    }
    let raw = match (r.tag(), r.digest()) {
        (Some(t), _) if t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            t[..8].to_string()
        }
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d
            .split_once(':')
            .map(|(_, h)| h)
            .unwrap_or(d)
            .chars()
            .take(8)
            .collect(),
        (None, None) => String::new(),
    };
    let meta: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let mut v = Version::new(0, 0, 0);
    if let Ok(b) = semver::BuildMetadata::new(&meta) {
        v.build = b;
    }
    v
}

fn generate(
    e: &Entry,
    after: Option<String>,
    kernel_capability: bool,
    opts: &ImportOptions,
    sources: &[String],
) -> Manifest {
    let t = e.template;
    let version = match t.and_then(|m| {
        m.releases.iter().find(|r| {
            r.image
                .as_deref()
                .and_then(|i| ImageRef::parse(i).ok())
                .is_some_and(|i| i.canonical() == e.reference.canonical())
        })
    }) {
        Some(rel) => rel.version.clone(),
        None => version_for(&e.reference),
    };
    let mut provides = BTreeMap::new();
    if e.stage == Stage::Kernel && kernel_capability {
        provides.insert("kernel".to_string(), version.clone());
    }
    let nowhere = Location::file_only(sources.first().cloned().unwrap_or_default());
    let requires = after
        .into_iter()
        .map(|id| Dep {
            name: id,
            req: VersionReq::STAR,
            location: nowhere.clone(),
        })
        .collect();
    let display = e
        .name
        .clone()
        .unwrap_or_else(|| e.reference.short_name().to_string());
    let category = match (e.stage, t) {
        (Stage::Kernel, _) => Category::Kernel,
        (_, Some(m)) => m.category,
        _ => Category::InitSystem,
    };
    let arch = match (opts.arch, t) {
        (Some(a), _) => vec![a],
        (None, Some(m)) => m.arch.clone(),
        (None, None) => Arch::ALL.to_vec(),
    };
    let section_word = match e.section {
        "kernel" => "the kernel",
        "init" => "an init image",
        "onboot" => "an onboot image",
        "onshutdown" => "an onshutdown image",
        _ => "a service",
    };
    Manifest {
        id: e.id.clone(),
        category,
        summary: match t {
            Some(m) => format!("{} (as `{display}`, imported from LinuxKit)", m.summary),
            None => format!("`{display}` imported from LinuxKit ({})", e.image),
        },
        homepage: t.and_then(|m| m.homepage.clone()),
        license: t.and_then(|m| m.license.clone()),
        stage: e.stage,
        arch,
        privileged: t.is_some_and(|m| m.privileged) || e.container.grants_all_capabilities(),
        verified: false,
        unverified: if t.is_some() {
            vec!["arch".into()]
        } else {
            vec!["category".into(), "arch".into()]
        },
        sources: sources.to_vec(),
        notes: Some(format!(
            "{section_word} of a LinuxKit file, taken as written{}",
            t.map(|m| format!(
                "; the registry's `{}` is used elsewhere in the same file",
                m.id
            ))
            .unwrap_or_default()
        )),
        override_: false,
        built_into: None,
        upgrade_after: Vec::new(),
        creates: Vec::new(),
        // The entry's settings live in the assembly, beside every other entry's: with
        // `inherit_container = false` they are exactly what renders.
        container: Container::default(),
        ports: Vec::new(),
        config: BTreeMap::new(),
        package: Default::default(),
        service: None,
        config_kernel: BTreeMap::new(),
        releases: vec![Release {
            version,
            location: nowhere.clone(),
            image: Some(e.image.clone()),
            arch: None,
            provides,
            provides_at: BTreeMap::new(),
            requires,
            constrains: Vec::new(),
            conflicts: Vec::new(),
            recommends: Vec::new(),
            kernel: Default::default(),
            kernel_config: Vec::new(),
            files: Vec::new(),
        }],
        // Imported entries generate nothing: the file's own `files` are what renders.
        generate: Vec::new(),
        location: nowhere,
    }
}

/// Images with neither tag nor digest: LinuxKit pulls them as `:latest` (`Pull` in
/// src/cmd/linuxkit/cache/pull.go at 3bf33c3a expands the name with
/// `util.ReferenceWithTag()`), so they are imported as written, with a warning: the image
/// floats until `--pin` resolves it to a digest.
fn untagged_images(entries: &[Entry]) -> Vec<Diagnostic> {
    entries
        .iter()
        .filter(|e| !e.reference.has_tag_or_digest())
        .map(|e| {
            let mut d = Diagnostic::warning(
                stackwright_types::diagnostic::IMAGE_UNPINNED,
                format!(
                    "image `{}` has no tag: LinuxKit pulls `{}:latest`",
                    e.image, e.image
                ),
            )
            .hint("`stackwright assemble --pin` resolves it to a digest; or write a tag");
            d.location = e.location.clone();
            d
        })
        .collect()
}

/// Registry components the file uses whose `requires` name a component the file does not
/// have: the solver would add it, and the platform would differ from the file.
fn unmet_requirements(entries: &[Entry]) -> Vec<Diagnostic> {
    let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut provided: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.matched.map(|(m, rel)| rel.unwrap_or_else(|| m.newest())))
        .flat_map(|r| r.provides.keys().map(String::as_str))
        .collect();
    if entries.iter().any(|e| e.stage == Stage::Kernel) {
        provided.insert("kernel");
    }
    let mut out = Vec::new();
    for e in entries {
        let Some((m, rel)) = e.matched else { continue };
        let rel = rel.unwrap_or_else(|| m.newest());
        for dep in &rel.requires {
            if ids.contains(dep.name.as_str()) || provided.contains(dep.name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::warning(
                crate::LINUXKIT_UNMET,
                format!(
                    "`{}` maps to component `{}`, which requires `{}` ({}); the LinuxKit file has no image for it",
                    e.name.as_deref().unwrap_or(e.image.as_str()),
                    m.id,
                    dep.name,
                    dep.req
                ),
            )
            .hint("the solver will add a provider, so the assembled platform will hold more than the file");
            d.location = e.location.clone();
            out.push(d);
        }
    }
    out
}
