//! Validation after resolution (SPEC §5): every problem of a resolved platform, at once.

use std::collections::BTreeMap;

use stackwright_registry::{
    ComponentContext, ComponentError, Contribution, PlatformComponent, Registry,
};
use stackwright_solver::Resolution;
use stackwright_types::assembly::{ComponentRequest, InitrdCompression, Located};
use stackwright_types::container::Container;
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::linuxkit::File;
use stackwright_types::manifest::{Arch, Manifest, Port, PortScope, Release, Stage};
use stackwright_types::package::local_image_ref;
use stackwright_types::reference::ImageRef;
use stackwright_types::Location;

use crate::Loaded;

/// The outcome of validation: the problems found, the `files` of the platform (the
/// assembly's own, then those components contributed), each with where it came from, and
/// what each component added to its own container.
#[derive(Clone, Debug, Default)]
pub struct Validated {
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<(File, String)>,
    /// Component id → its contribution's container additions (files moved to `files`).
    pub additions: BTreeMap<String, Contribution>,
}

impl Validated {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The image a chosen component runs: the assembly's override, else its release's.
pub fn effective_image<'a>(
    req: Option<&'a ComponentRequest>,
    release: &'a Release,
) -> Option<&'a str> {
    req.and_then(|r| r.image.as_ref().map(|i| i.value.as_str()))
        .or(release.image.as_deref())
}

/// The image reference a chosen component runs under: its [`effective_image`], else, for a
/// release with `[[release.files]]` for `arch`, the local reference of the image
/// Stackwright packages from them (`stackwright.local/<id>:<version>`). `None`: no image.
pub fn component_image(
    id: &str,
    req: Option<&ComponentRequest>,
    release: &Release,
    arch: Arch,
) -> Option<String> {
    effective_image(req, release)
        .map(str::to_string)
        .or_else(|| {
            packaged(req, release, arch).then(|| local_image_ref(id, &release.version.to_string()))
        })
}

/// Whether Stackwright packages this release's image itself: no image is given, and the
/// release has files for `arch`.
pub fn packaged(req: Option<&ComponentRequest>, release: &Release, arch: Arch) -> bool {
    effective_image(req, release).is_none() && release.files.iter().any(|f| f.arch == arch)
}

/// The container settings a chosen component runs with: its manifest's, with what the
/// component added itself (`additions`: command replaced, env and binds appended), overlaid
/// with the assembly's per-component overrides.
pub fn effective_container(
    manifest: &Manifest,
    additions: Option<&Contribution>,
    req: Option<&ComponentRequest>,
) -> Container {
    let base = match additions {
        Some(a) => a.apply(&manifest.container),
        None => manifest.container.clone(),
    };
    match req {
        Some(r) => base.overlay(&r.container),
        None => base,
    }
}

/// Every chosen component and `[external]` entry as components see each other.
pub fn platform_components(
    registry: &Registry,
    loaded: &Loaded,
    resolution: &Resolution,
) -> BTreeMap<String, PlatformComponent> {
    let a = &loaded.assembly;
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (id, c) in &resolution.components {
        let Some(m) = registry.manifest(id) else {
            continue;
        };
        let Some(r) = m.release(&c.version) else {
            continue;
        };
        let req = a.components.get(id);
        out.insert(
            id.clone(),
            PlatformComponent {
                version: c.version.clone(),
                config: stackwright_registry::config::effective_config(
                    m,
                    req.map(|r| &r.config).unwrap_or(&empty),
                ),
                image: component_image(id, req, r, loaded.arch),
                external: false,
                provides: r.provides.keys().cloned().collect(),
            },
        );
    }
    for (id, v) in &resolution.external {
        let provides = registry
            .manifest(id)
            .and_then(|m| m.release(v))
            .map(|r| r.provides.keys().cloned().collect())
            .unwrap_or_default();
        out.insert(
            id.clone(),
            PlatformComponent {
                version: v.clone(),
                config: BTreeMap::new(),
                image: None,
                external: true,
                provides,
            },
        );
    }
    out
}

/// A bound host port range: first, last, protocol, component, scope, and where a config
/// value set it.
type HostPort = (u16, u16, &'static str, String, PortScope, Option<Location>);

/// What the checks of the chosen components gather on the way.
struct Gathered<'a> {
    diags: Vec<Diagnostic>,
    /// The platform's files: the assembly's, then contributed ones, with where they came
    /// from.
    files: Vec<(File, String, Option<Location>)>,
    additions: BTreeMap<String, Contribution>,
    ports: Vec<HostPort>,
    /// Components whose image Stackwright packages (named `stackwright.local/…`).
    local: Vec<&'a str>,
}

/// Checks a resolved platform. Problems are sorted by file and line.
pub fn validate(registry: &Registry, loaded: &Loaded, resolution: &Resolution) -> Validated {
    let a = &loaded.assembly;
    let platform = platform_components(registry, loaded, resolution);
    let mut g = Gathered {
        diags: unchosen_configs(registry, loaded, resolution),
        files: a
            .files
            .iter()
            .map(|f| {
                (
                    f.value.clone(),
                    "assembly".to_string(),
                    Some(f.location.clone()),
                )
            })
            .collect(),
        additions: BTreeMap::new(),
        ports: Vec::new(),
        local: Vec::new(),
    };
    for (id, c) in &resolution.components {
        check_component(registry, loaded, &platform, id, &c.version, &mut g);
    }
    let Gathered {
        mut diags,
        files,
        additions,
        mut ports,
        local,
    } = g;

    if !local.is_empty() {
        diags.push(local_images_warning(&local));
    }
    diags.extend(port_clashes(loaded, &mut ports));
    // Files: LinuxKit's rules, and one entry per path.
    diags.extend(file_problems(&files));
    // `[prefer]` naming something that does not provide the capability is a mistake the
    // solver would silently ignore.
    diags.extend(prefer_problems(registry, loaded));

    // Settings of two components that must agree (SW0705–SW0708).
    diags.extend(crate::coherence::check(registry, loaded, &platform));
    // Bind sources under LinuxKit's tmpfs /var and /run that nothing makes (SW0709).
    let containers: BTreeMap<String, Container> = resolution
        .components
        .keys()
        .filter_map(|id| {
            let m = registry.manifest(id)?;
            let c = effective_container(m, additions.get(id), a.components.get(id));
            Some((id.clone(), c))
        })
        .collect();
    diags.extend(crate::coherence::bind_sources(
        registry,
        loaded,
        &containers,
    ));

    // `[kernel] initrd`: the chosen kernel must unpack it (SW0508).
    diags.extend(initrd_needs(registry, loaded, resolution));

    // `[linuxkit]` may only place components the platform has.
    if let Some(layout) = &a.linuxkit {
        diags.extend(layout.check(|id| resolution.components.contains_key(id)));
    }

    diagnostic::sort(&mut diags);
    diags.dedup();
    Validated {
        diagnostics: diags,
        files: files.into_iter().map(|(f, from, _)| (f, from)).collect(),
        additions,
    }
}

/// `[kernel] initrd` as written is a need of the chosen kernel, checked as the solver
/// checks a component's `kernel.config` needs: met only by the option listed built in
/// (`=y`; a decompressor cannot be a module) in the kernel release's `kernel_config`; a
/// kernel that lists nothing meets nothing. The unwritten default (gzip, what LinuxKit
/// writes for every kernel it boots) is not checked. One SW0508 at the `initrd` line per
/// chosen kernel that lacks it.
fn initrd_needs(registry: &Registry, loaded: &Loaded, resolution: &Resolution) -> Vec<Diagnostic> {
    let Some(initrd) = &loaded.assembly.initrd else {
        return Vec::new();
    };
    let option = initrd.value.kernel_option();
    let written = initrd.value.name();
    resolution
        .components
        .iter()
        .filter_map(|(id, c)| {
            let m = registry.manifest(id).filter(|m| m.stage == Stage::Kernel)?;
            let release = m.release(&c.version)?;
            let listed = release.kernel_config.iter().find(|o| o.name == option);
            let lacks = match listed {
                Some(o) if o.builtin => return None,
                Some(_) => format!("lists {option}=m (a module cannot unpack the initrd)"),
                None if release.kernel_config.is_empty() => {
                    "declares no kernel_config at all".to_string()
                }
                None => format!("does not list {option}=y in its kernel_config"),
            };
            Some(
                Diagnostic::error(
                    diagnostic::KERNEL_OPTION,
                    format!(
                        "[kernel] initrd = \"{written}\" needs a kernel built with {option}=y, but {id} {} {lacks}",
                        c.version
                    ),
                )
                .at(initrd.location.clone())
                .hint(match initrd.value {
                    InitrdCompression::Lz4 => format!(
                        "drop `initrd = \"lz4\"` (gzip, the default, is what LinuxKit's kernels read), or choose a kernel built with {option}=y"
                    ),
                    InitrdCompression::Gzip => format!(
                        "choose a kernel built with {option}=y, or, if {id} has it, list \"{option}=y\" in its kernel_config"
                    ),
                }),
            )
        })
        .collect()
}

/// Config and LinuxKit settings of the components the assembly names but that were not
/// chosen are still checked: a typo must not hide behind an `[external]` entry.
fn unchosen_configs(
    registry: &Registry,
    loaded: &Loaded,
    resolution: &Resolution,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (id, req) in &loaded.assembly.components {
        if !resolution.components.contains_key(id) {
            if let Some(m) = registry.manifest(id) {
                diags.extend(stackwright_registry::config::check_config(
                    m,
                    &req.config,
                    Some(&req.location),
                ));
            }
        }
    }
    diags
}

/// One chosen component: its config (the schema, then its own `validate`), its
/// contribution, its privilege, its image and the host ports it binds.
fn check_component<'a>(
    registry: &Registry,
    loaded: &Loaded,
    platform: &BTreeMap<String, PlatformComponent>,
    id: &'a String,
    version: &semver::Version,
    g: &mut Gathered<'a>,
) {
    let a = &loaded.assembly;
    let Some(component) = registry.get(id) else {
        return;
    };
    let m = component.manifest();
    let Some(release) = m.release(version) else {
        return;
    };
    let req = a.components.get(id);
    let empty = BTreeMap::new();
    let given = req.map(|r| &r.config).unwrap_or(&empty);
    let config = stackwright_registry::config::effective_config(m, given);
    let ctx = ComponentContext {
        assembly: &loaded.name,
        arch: loaded.arch,
        id,
        release,
        given_config: given,
        config: &config,
        components: platform,
        location: req.map(|r| &r.location),
    };
    // The schema checks always run: a component's own `validate` adds rules to them and
    // cannot drop them by overriding the method.
    let schema = stackwright_registry::config::check_config(m, given, ctx.location);
    g.diags.extend(
        schema
            .into_iter()
            .chain(component.validate(&ctx))
            .map(|mut d| {
                if d.location.is_none() {
                    d.location = req.map(|r| r.location.clone()).or(Some(m.location.clone()));
                }
                d
            }),
    );
    take_contribution(loaded, id, m, component.contribute(&ctx), g);

    // Privilege: the manifest's flag is the solver's rule 7; an assembly override that
    // grants every capability makes any component privileged.
    let container = effective_container(m, g.additions.get(id), req);
    if let Some(d) = privilege_problem(loaded, id, m, &container) {
        g.diags.push(d);
    }

    // Images.
    if packaged(req, release, loaded.arch) {
        g.local.push(id.as_str());
    }
    if let Some(d) = image_problem(loaded, id, m, version, release) {
        g.diags.push(d);
    }

    host_ports(id, m, &container, &config, given, &mut g.ports);
}

/// What a component's `contribute` gave: its files join the platform's (unless the
/// assembly has an entry of the same path), its diagnostics are placed, its container
/// additions kept; a failure is an error at the component's entry.
fn take_contribution(
    loaded: &Loaded,
    id: &str,
    m: &Manifest,
    contribution: Result<Contribution, ComponentError>,
    g: &mut Gathered<'_>,
) {
    let a = &loaded.assembly;
    let req = a.components.get(id);
    let (diags, files, additions) = (&mut g.diags, &mut g.files, &mut g.additions);
    match contribution {
        Ok(mut extra) => {
            // An assembly's own `[[files]]` entry replaces a generated file of the
            // same path (how a user takes over one file; imported LinuxKit files
            // keep exactly their entries).
            for f in std::mem::take(&mut extra.files) {
                let key = f.path.trim_end_matches('/');
                if !a
                    .files
                    .iter()
                    .any(|af| af.value.path.trim_end_matches('/') == key)
                {
                    files.push((f, id.to_string(), None));
                }
            }
            // A refusal of the config is the user's to fix: point at their entry
            // and name the generating line in a note. Rust components' diagnostics
            // without a place get the component's.
            diags.extend(
                std::mem::take(&mut extra.diagnostics)
                    .into_iter()
                    .map(|mut d| {
                        let user = req.map(|r| r.location.clone());
                        if d.code == diagnostic::GENERATE_REFUSED && user.is_some() {
                            if let Some(l) = d.location.take() {
                                d = d.note(format!("refused by the [[generate]] entry at {l}"));
                            }
                            d.location = user;
                        } else if d.location.is_none() {
                            d.location = user.or(Some(m.location.clone()));
                        }
                        d
                    }),
            );
            if extra != Contribution::default() {
                additions.insert(id.to_string(), extra);
            }
        }
        Err(e) => diags.push(
            Diagnostic::error(diagnostic::COMPONENT_CHECK, e.to_string())
                .at_opt(req.map(|r| r.location.clone()))
                .hint("see the component's documentation for what it needs"),
        ),
    }
}

/// An assembly override that grants every capability to a component `policy.privileged`
/// does not list.
fn privilege_problem(
    loaded: &Loaded,
    id: &str,
    m: &Manifest,
    container: &Container,
) -> Option<Diagnostic> {
    let a = &loaded.assembly;
    let pol = a.privileged.as_ref().map(|p| &p.value)?;
    let req = a.components.get(id);
    (!m.privileged && container.grants_all_capabilities() && !pol.allows(id)).then(|| {
        Diagnostic::error(
            diagnostic::PRIVILEGED,
            format!("`{id}` is given all capabilities but `policy.privileged` does not list it"),
        )
        .at_opt(req.map(|r| r.location.clone()))
        .hint(format!(
            "add \"{id}\" to policy.privileged, or drop the `all` capability"
        ))
    })
}

/// A chosen component's image: floating (no tag or digest), or missing.
fn image_problem(
    loaded: &Loaded,
    id: &str,
    m: &Manifest,
    version: &semver::Version,
    release: &Release,
) -> Option<Diagnostic> {
    let a = &loaded.assembly;
    let req = a.components.get(id);
    match component_image(id, req, release, loaded.arch).as_deref() {
        // LinuxKit takes an image without a tag and pulls `:latest` (`Pull` in
        // src/cmd/linuxkit/cache/pull.go at 3bf33c3a), so this is a warning: the
        // platform floats until `--pin` records the digest.
        // (An image that does not parse was refused with its manifest or assembly.)
        Some(img) if ImageRef::parse(img).is_ok_and(|r| !r.has_tag_or_digest()) => Some(
            Diagnostic::warning(
                diagnostic::IMAGE_UNPINNED,
                format!("image `{img}` of `{id}` has neither a tag nor a digest: it is pulled as `{img}:latest`"),
            )
            .at(req.and_then(|r| r.image.as_ref().map(|i| i.location.clone())).unwrap_or(release.location.clone()))
            .hint("`--pin` resolves it to a digest (kept in the lock); or add a tag (name:tag)"),
        ),
        Some(_) => None,
        // A part built into another component's process has nothing to package.
        None if m.built_into.is_some() => None,
        // Accepted without an image: recorded, not rendered.
        None if a.unpackaged.contains_key(id) => Some(
            Diagnostic::warning(
                diagnostic::NO_IMAGE,
                format!("`{id}` {} has no OCI image and no release files for {}: it is in the lock and plan, not in linuxkit.yml (policy.unpackaged)", version, loaded.arch),
            )
            .at(a.unpackaged[id].clone()),
        ),
        None => Some(
            Diagnostic::error(
                diagnostic::NO_IMAGE,
                format!("`{id}` {} has neither an OCI image nor release files for {} to package", version, loaded.arch),
            )
            .at_opt(req.map(|r| r.location.clone()).or(Some(release.location.clone())))
            .hint(format!("set `{id} = {{ image = \"registry/repo:tag\" }}` in [components], add [[release.files]] for {} to its manifest, or accept it without an image: [policy] unpackaged = [\"{id}\"]", loaded.arch)),
        ),
    }
}

/// The host ports a component binds on the node.
fn host_ports(
    id: &str,
    m: &Manifest,
    container: &Container,
    config: &BTreeMap<String, toml::Value>,
    given: &BTreeMap<String, Located<toml::Value>>,
    ports: &mut Vec<HostPort>,
) {
    // Host ports: the node's namespace and its loopback are one space for a bind.
    // A pod-scope port only binds the node when the assembly moves the component onto
    // the host network.
    // A component moved off the host network (`net = "new"` or a namespace path) binds
    // nothing on the node.
    let moved_to_host =
        container.net.as_deref() == Some("host") && m.container.net.as_deref() != Some("host");
    let moved_off_host =
        m.container.net.as_deref() == Some("host") && container.net.as_deref() != Some("host");
    for p in &m.ports {
        let counts = match p.scope {
            PortScope::Host | PortScope::Loopback => !moved_off_host,
            PortScope::Pod => moved_to_host,
        };
        if counts {
            // A port set through config is the config value's.
            let mut r = p.range();
            let mut set_at = None;
            if let Some(key) = &p.config {
                if let Some(port) = config.get(key).and_then(Port::from_config_value) {
                    r = port..=port;
                    set_at = given.get(key).map(|v| v.location.clone());
                }
            }
            ports.push((
                *r.start(),
                *r.end(),
                p.protocol.as_str(),
                id.to_string(),
                p.scope,
                set_at,
            ));
        }
    }
}

/// Packaged images are named `stackwright.local/…`, which `linuxkit build` cannot pull.
fn local_images_warning(local: &[&str]) -> Diagnostic {
    Diagnostic::warning(
        diagnostic::LOCAL_IMAGE,
        format!(
            "{} packaged image(s) are named {}/… in linuxkit.yml ({}): no registry serves them, so `linuxkit build` cannot pull them",
            local.len(),
            stackwright_types::package::LOCAL_REGISTRY,
            local.join(", ")
        ),
    )
    .hint("publish them for `linuxkit build`: --push-packages REGISTRY/PREFIX builds and pushes them and names them there, pinned by digest; or build the root filesystem here: --format tar or --format kernel+initrd (--pull puts them in images/)")
}

/// Two components binding the same host port and protocol.
fn port_clashes(loaded: &Loaded, ports: &mut [HostPort]) -> Vec<Diagnostic> {
    let a = &loaded.assembly;
    let mut diags = Vec::new();
    ports.sort();
    for i in 0..ports.len() {
        for j in i + 1..ports.len() {
            let (s1, e1, proto1, id1, _, at1) = &ports[i];
            let (s2, e2, proto2, id2, _, at2) = &ports[j];
            if s2 > e1 {
                break;
            }
            if proto1 == proto2 && id1 != id2 && s2 <= e1 && s1 <= e2 {
                let port = (*s1).max(*s2);
                // At a config value that set the port when there is one, the other
                // side in a note.
                let entry = |id: &String| a.components.get(id).map(|r| r.location.clone());
                let (here, there, there_id) = match (at1, at2) {
                    (_, Some(l)) => (Some(l.clone()), at1.clone().or(entry(id1)), id1),
                    (Some(l), None) => (Some(l.clone()), entry(id2), id2),
                    (None, None) => match entry(id2) {
                        Some(l) => (Some(l), entry(id1), id1),
                        None => (entry(id1), None, id2),
                    },
                };
                let mut d = Diagnostic::error(
                    diagnostic::PORT_CLASH,
                    format!("`{id1}` and `{id2}` both bind {port}/{proto1} on the host"),
                )
                .at_opt(here)
                .hint(format!("drop one, or move one off the host network (`container = {{ net = \"new\" }}`) or to another port (see `stackwright show {id2}`)"));
                d = match there {
                    Some(l) => d.note(format!("the other side: `{there_id}` at {l}")),
                    None => d.note(format!(
                        "the other side: `{there_id}`'s manifest binds {port}/{proto1}"
                    )),
                };
                diags.push(d);
            }
        }
    }
    diags
}

/// Files entries that break LinuxKit's rules, and two entries for one path.
fn file_problems(files: &[(File, String, Option<Location>)]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: BTreeMap<String, (String, Option<Location>)> = BTreeMap::new();
    for (f, from, loc) in files {
        if let Err(e) = f.check() {
            diags.push(
                Diagnostic::error(diagnostic::BAD_FILES_ENTRY, format!("files entry `{}`: {e}", f.path))
                    .at_opt(loc.clone())
                    .hint("each entry needs exactly one of contents, source or metadata, unless it is a directory or symlink"),
            );
        }
        let key = f.path.trim_end_matches('/').to_string();
        if let Some((prev_from, prev_loc)) = seen.get(&key) {
            let mut d = Diagnostic::error(
                diagnostic::DUPLICATE_FILE_PATH,
                format!("two files entries for `{key}` (from {prev_from} and {from})"),
            )
            .at_opt(loc.clone())
            .hint("keep one entry per path; a child assembly replaces a parent's entry of the same path");
            if let Some(p) = prev_loc {
                d = d.note(format!("the other entry is at {p}"));
            }
            diags.push(d);
        } else {
            seen.insert(key, (from.clone(), loc.clone()));
        }
    }
    diags
}

/// `[prefer]` entries naming a component that does not provide the capability.
fn prefer_problems(registry: &Registry, loaded: &Loaded) -> Vec<Diagnostic> {
    let a = &loaded.assembly;
    let mut diags = Vec::new();
    for (cap, id) in &a.prefer {
        if registry.capability(cap).is_some() && !registry.providers(cap).contains(&id.value) {
            let mut d = Diagnostic::error(
                diagnostic::UNKNOWN_COMPONENT,
                format!(
                    "[prefer] {cap} = `{}`, which does not provide `{cap}`",
                    id.value
                ),
            )
            .at(id.location.clone());
            d = match stackwright_types::suggest::did_you_mean(
                &id.value,
                registry.providers(cap).iter().map(String::as_str),
            ) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!(
                    "providers of {cap}: {}",
                    registry.providers(cap).join(", ")
                )),
            };
            diags.push(d);
        }
    }
    diags
}
