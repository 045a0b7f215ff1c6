//! Coherence checks (issue 13, item 4): settings of two components that must agree. Each
//! problem names both sides: the diagnostic is at one (the assembly's value, or the
//! manifest whose default is in effect) and a note gives the other.

use std::collections::BTreeMap;

use stackwright_registry::{PlatformComponent, Registry};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::Location;

use crate::Loaded;

/// One side of a comparison: a component's effective config value and where it comes from.
struct Side {
    id: String,
    key: &'static str,
    value: String,
    /// The assembly's value, else the manifest that holds the default.
    location: Location,
    given: bool,
}

impl Side {
    fn describe(&self) -> String {
        if self.given {
            format!(
                "`{}` config `{}` = \"{}\" at {}",
                self.id, self.key, self.value, self.location
            )
        } else {
            format!(
                "`{}` config `{}` = \"{}\" (its default, {})",
                self.id, self.key, self.value, self.location.file
            )
        }
    }
}

fn side(
    registry: &Registry,
    loaded: &Loaded,
    platform: &BTreeMap<String, PlatformComponent>,
    id: &str,
    key: &'static str,
) -> Option<Side> {
    let value = platform.get(id)?.config.get(key)?;
    let value = value.as_str()?.to_string();
    // A value outside the option's enum is already an error (SW0502): no second one here.
    let option = registry.manifest(id)?.config.get(key)?;
    if option.allowed.as_ref().is_some_and(|a| !a.contains(&value)) {
        return None;
    }
    let given = loaded
        .assembly
        .components
        .get(id)
        .and_then(|r| r.config.get(key));
    let location = match given {
        Some(v) => v.location.clone(),
        None => registry.manifest(id)?.location.clone(),
    };
    Some(Side {
        id: id.to_string(),
        key,
        value,
        location,
        given: given.is_some(),
    })
}

/// Puts the diagnostic at the side the user wrote (the assembly's), the other in a note.
fn both(d: Diagnostic, a: &Side, b: &Side) -> Diagnostic {
    let (here, there) = if b.given && !a.given { (b, a) } else { (a, b) };
    d.at(here.location.clone())
        .note(format!("the other side: {}", there.describe()))
}

fn chosen<'a>(platform: &'a BTreeMap<String, PlatformComponent>, capability: &str) -> Vec<&'a str> {
    platform
        .iter()
        .filter(|(_, c)| !c.external && c.provides.iter().any(|p| p == capability))
        .map(|(id, _)| id.as_str())
        .collect()
}

/// SW0705–SW0708 over the resolved platform.
pub(crate) fn check(
    registry: &Registry,
    loaded: &Loaded,
    platform: &BTreeMap<String, PlatformComponent>,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let side = |id: &str, key| side(registry, loaded, platform, id, key);
    let cri = chosen(platform, "cri");
    let runtimes = runtimes(registry, platform, &cri);
    if platform.get("kubelet").is_some_and(|k| !k.external) {
        check_kubelet(&side, &cri, &runtimes, &mut diags);
    }
    check_sandbox_image(registry, loaded, platform, &side, &cri, &mut diags);
    check_sockets(platform, &side, &mut diags);
    diags
}

/// A setting's sides, by component and key.
type Sides<'s> = dyn Fn(&str, &'static str) -> Option<Side> + 's;

/// The daemons behind a CRI: the CRI provider itself, and the chosen components it
/// requires by name (cri-dockerd drives dockerd).
fn runtimes<'p>(
    registry: &Registry,
    platform: &'p BTreeMap<String, PlatformComponent>,
    cri: &[&'p str],
) -> Vec<&'p str> {
    let mut runtimes: Vec<&str> = cri.to_vec();
    for id in cri {
        let release = registry
            .manifest(id)
            .and_then(|m| m.release(&platform[*id].version));
        for dep in release.map(|r| r.requires.as_slice()).unwrap_or_default() {
            if let Some((name, c)) = platform.get_key_value(&dep.name) {
                if !c.external {
                    runtimes.push(name.as_str());
                }
            }
        }
    }
    runtimes.sort();
    runtimes.dedup();
    runtimes
}

/// SW0705 (kubelet's cgroup driver vs each runtime's) and SW0706 (an explicit CRI
/// endpoint must be a chosen CRI's socket).
fn check_kubelet(side: &Sides<'_>, cri: &[&str], runtimes: &[&str], diags: &mut Vec<Diagnostic>) {
    // SW0705: kubelet's cgroup driver vs each runtime's.
    if let Some(kubelet) = side("kubelet", "cgroup-driver") {
        for rt in runtimes {
            let theirs = side(rt, "cgroup-driver").or_else(|| side(rt, "cgroup-manager"));
            if let Some(theirs) = theirs {
                if theirs.value != kubelet.value {
                    diags.push(both(
                        Diagnostic::error(
                            diagnostic::CGROUP_DRIVER_MISMATCH,
                            format!(
                                "kubelet's cgroup driver is `{}` but `{rt}` uses `{}`: pods would be placed in cgroups the runtime does not manage",
                                kubelet.value, theirs.value
                            ),
                        )
                        .hint(format!(
                            "set the same driver on both: kubelet `cgroup-driver` and `{rt}` `{}` (cgroupfs without systemd, as on LinuxKit and stackwright-init)",
                            theirs.key
                        )),
                        &kubelet,
                        &theirs,
                    ));
                }
            }
        }
    }
    // SW0706: an explicit CRI endpoint must be a chosen CRI's socket.
    if let Some(endpoint) = side("kubelet", "container-runtime-endpoint") {
        let sockets: Vec<Side> = cri.iter().filter_map(|id| side(id, "socket")).collect();
        let path = endpoint
            .value
            .strip_prefix("unix://")
            .unwrap_or(&endpoint.value);
        if !sockets.is_empty() && !sockets.iter().any(|s| s.value == path) {
            let s = &sockets[0];
            diags.push(both(
                Diagnostic::error(
                    diagnostic::CRI_ENDPOINT_MISMATCH,
                    format!(
                        "kubelet's containerRuntimeEndpoint `{}` is not the socket of the chosen CRI `{}` (`{}`)",
                        endpoint.value, s.id, s.value
                    ),
                )
                .hint(format!(
                    "drop kubelet's `container-runtime-endpoint` (it defaults to the chosen CRI's socket), or set it to \"unix://{}\"",
                    s.value
                )),
                &endpoint,
                s,
            ));
        }
    }
}

fn check_sandbox_image(
    registry: &Registry,
    loaded: &Loaded,
    platform: &BTreeMap<String, PlatformComponent>,
    side: &Sides<'_>,
    cri: &[&str],
    diags: &mut Vec<Diagnostic>,
) {
    // SW0707: a runtime's explicit sandbox image vs the chosen pause.
    if let Some(pause) = platform.get("pause").filter(|p| !p.external) {
        if let Some(image) = &pause.image {
            for rt in cri {
                let Some(theirs) = side(rt, "sandbox-image").or_else(|| side(rt, "pause-image"))
                else {
                    continue;
                };
                if &theirs.value != image {
                    let pause_side = Side {
                        id: "pause".into(),
                        key: "image",
                        value: image.clone(),
                        location: loaded
                            .assembly
                            .components
                            .get("pause")
                            .map(|r| r.location.clone())
                            .or_else(|| registry.manifest("pause").map(|m| m.location.clone()))
                            .unwrap_or_else(|| theirs.location.clone()),
                        given: loaded.assembly.components.contains_key("pause"),
                    };
                    diags.push(
                        Diagnostic::error(
                            diagnostic::SANDBOX_IMAGE_MISMATCH,
                            format!(
                                "`{rt}` runs pod sandboxes from `{}`, but the chosen pause is {} (`{image}`)",
                                theirs.value, pause.version
                            ),
                        )
                        .at(theirs.location.clone())
                        .note(format!(
                            "the other side: pause {} chosen{}",
                            pause.version,
                            if pause_side.given {
                                format!(" at {}", pause_side.location)
                            } else {
                                format!(" ({})", pause_side.location.file)
                            }
                        ))
                        .hint(format!(
                            "drop `{rt}`'s `{}` (it defaults to the chosen pause), or choose the pause release it names",
                            theirs.key
                        )),
                    );
                }
            }
        }
    }
}

fn check_sockets(
    platform: &BTreeMap<String, PlatformComponent>,
    side: &Sides<'_>,
    diags: &mut Vec<Diagnostic>,
) {
    // SW0708: two daemons on one socket path.
    let sockets: Vec<Side> = platform
        .iter()
        .filter(|(_, c)| !c.external)
        .filter_map(|(id, _)| side(id, "socket"))
        .collect();
    for (i, a) in sockets.iter().enumerate() {
        for b in &sockets[i + 1..] {
            if a.value == b.value {
                let who = if a.given && !b.given { a } else { b };
                diags.push(both(
                    Diagnostic::error(
                        diagnostic::SOCKET_CLASH,
                        format!(
                            "`{}` and `{}` both serve their API on `{}`: the second daemon cannot bind it",
                            a.id, b.id, a.value
                        ),
                    )
                    .hint(format!(
                        "give one of them another `socket` (e.g. `{} = {{ config = {{ socket = \"/run/{}/{}.sock\" }} }}`), or drop one",
                        who.id, who.id, who.id
                    )),
                    a,
                    b,
                ));
            }
        }
    }
}

/// `/var/run/x` is `/run/x` (LinuxKit's rc.init links /var/run to /run).
fn host_path(p: &str) -> String {
    let p = p.trim_end_matches('/');
    match p.strip_prefix("/var/run") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/run{rest}"),
        _ => p.to_string(),
    }
}

/// SW0709 on LinuxKit's init (`containers`: every chosen component's effective container): a bind whose host source lies under the tmpfs `/var` or
/// `/run` must be made at boot, by the init (`creates` of linuxkit-init: rc.init's
/// directories), by a component that declares it `creates` it (the system containerd's
/// root and state), or by a `runtime.mkdir` (LinuxKit makes nothing else there; `files`
/// entries are under the tmpfs). runc refuses a bind whose source is missing, so the
/// container would not start. Reported at the component (the assembly's entry, else its
/// manifest), with the init's manifest in a note.
pub(crate) fn bind_sources(
    registry: &Registry,
    loaded: &Loaded,
    containers: &BTreeMap<String, stackwright_types::container::Container>,
) -> Vec<Diagnostic> {
    use stackwright_types::manifest::Stage;
    let Some(init) = registry
        .manifest("linuxkit-init")
        .filter(|_| containers.contains_key("linuxkit-init"))
    else {
        return Vec::new();
    };
    let mut made: Vec<String> = Vec::new();
    for id in containers.keys() {
        if let Some(m) = registry.manifest(id) {
            made.extend(m.creates.iter().map(|p| host_path(p)));
        }
        if let Some(mkdir) = containers
            .get(id)
            .and_then(|c| c.runtime.as_ref())
            .and_then(|r| r.get("mkdir"))
            .and_then(|m| m.as_array())
        {
            made.extend(mkdir.iter().filter_map(|d| d.as_str()).map(host_path));
        }
    }
    let exists = |src: &str| {
        made.iter()
            .any(|m| m == src || m.starts_with(&format!("{src}/")))
    };
    let mut diags = Vec::new();
    for (id, container) in containers {
        let Some(m) = registry.manifest(id) else {
            continue;
        };
        if !matches!(m.stage, Stage::Onboot | Stage::Service | Stage::Onshutdown) {
            continue;
        }
        let binds = container
            .binds
            .iter()
            .flatten()
            .chain(container.binds_add.iter().flatten());
        for bind in binds {
            let source = host_path(bind.split(':').next().unwrap_or_default());
            let tmpfs = ["/var/", "/run/"].iter().any(|t| source.starts_with(t));
            if !tmpfs || exists(&source) {
                continue;
            }
            let here = loaded
                .assembly
                .components
                .get(id)
                .map(|r| r.location.clone())
                .unwrap_or_else(|| m.location.clone());
            diags.push(
                Diagnostic::warning(
                    diagnostic::BIND_SOURCE_MISSING,
                    format!(
                        "`{id}` binds `{source}` (`{bind}`), which nothing makes at boot: runc refuses a bind whose source is missing, so `{id}` would not start"
                    ),
                )
                .at(here)
                .note(format!(
                    "the other side: linuxkit-init mounts a tmpfs on /var and /run and makes only the directories its `creates` lists ({})",
                    init.location.file
                ))
                .hint(format!(
                    "make it before `{id}` starts: `{id} = {{ container = {{ runtime = {{ mkdir = [\"{source}\"] }} }} }}` (a directory), or bind a directory that exists"
                )),
            );
        }
    }
    diags
}
