//! The OCI runtime `config.json` of a container, generated the way LinuxKit's
//! `moby.ConfigToOCI` does from the image's config, the image's
//! `org.mobyproject.config` label and the component's [`Container`] settings (the
//! latter win, field by field).
//!
//! LinuxKit's semantics, kept here:
//! - `args` = `command`, else the label's, else the image's Entrypoint + Cmd; `env` and
//!   `cwd` likewise (`cwd` defaults to `/`).
//! - Capabilities: `capabilities` replaces everything; otherwise the label's
//!   capabilities plus `capabilities.add`. `["all"]` is every capability the kernel
//!   knows, `["none"]` none. Bounding = inheritable = permitted = those plus `ambient`;
//!   effective = those.
//! - Namespaces: net, ipc, uts (and user) are the host's unless set to `new` (or, for
//!   net, `none`) or to a namespace path; pid is new unless `host`. Mount and cgroup
//!   namespaces are always new.
//! - Mounts: `/proc`, `/dev`, `/dev/pts`, `/sys`, `/sys/fs/cgroup` with Docker's
//!   options, then `tmpfs`, `binds` (or the label's binds plus `binds.add`), then
//!   `mounts`, later ones replacing earlier ones at the same destination; sorted by
//!   destination.
//! - `rlimits` as `"nofile,1024,2048"` (soft, hard; `unlimited` allowed).
//! - uid/gid given by name refer to other containers of the config (LinuxKit gives
//!   each onboot, onshutdown and service container an id from 100 up), `root` is 0.
//!
//! Beyond LinuxKit: the image's `User` is used when no uid is set, and names that are
//! not containers are looked up in the image's `/etc/passwd` and `/etc/group`.
//!
//! The JSON is canonical: object keys sorted and capability lists sorted, so the same
//! inputs give the same bytes (oci-spec keeps some of these in hash sets).

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    Mount, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder,
};
use serde_json::{json, Value};
use stackwright_types::container::{Container, IdOrName};

/// Every capability Linux knows (as of 5.9: up to CAP_CHECKPOINT_RESTORE), what
/// `capabilities: [all]` grants.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

const LABEL: &str = "org.mobyproject.config";

/// How names in `uid`/`gid`/`additionalGids` become numbers.
#[derive(Clone, Debug, Default)]
pub struct IdResolver {
    /// Container name → id (LinuxKit: 100, 101, … over onboot, onshutdown, services).
    pub containers: BTreeMap<String, u32>,
    /// The image's `/etc/passwd`, if it has one.
    pub passwd: Option<String>,
    /// The image's `/etc/group`, if it has one.
    pub group: Option<String>,
}

impl IdResolver {
    pub(crate) fn lookup(&self, v: &IdOrName, group: bool) -> Result<u32, String> {
        match v {
            IdOrName::Id(n) => u32::try_from(*n).map_err(|_| format!("id {n} is out of range")),
            IdOrName::Name(s) if s.is_empty() || s == "root" => Ok(0),
            IdOrName::Name(s) => {
                if let Ok(n) = s.parse::<u32>() {
                    return Ok(n);
                }
                if let Some(n) = self.containers.get(s) {
                    return Ok(*n);
                }
                let db = if group { &self.group } else { &self.passwd };
                db.as_deref()
                    .and_then(|db| etc_lookup(db, s))
                    .map(|(id, _)| id)
                    .ok_or_else(|| {
                        format!(
                            "cannot find {} `{s}`: not a container of this config, nor in the image's /etc/{}",
                            if group { "group" } else { "user" },
                            if group { "group" } else { "passwd" }
                        )
                    })
            }
        }
    }
}

/// Finds `name` in a passwd/group file: its id (field 3) and, for passwd, the primary
/// gid (field 4).
fn etc_lookup(db: &str, name: &str) -> Option<(u32, Option<u32>)> {
    for l in db.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            let id = f[2].parse().ok()?;
            return Some((id, f.get(3).and_then(|g| g.parse().ok())));
        }
    }
    None
}

/// The generated bundle configuration of one container.
#[derive(Clone, Debug)]
pub struct BundleConfig {
    pub spec: Spec,
    /// LinuxKit's `runtime.json` (what its init does around the OCI runtime: cgroups,
    /// extra mounts, mkdir, interfaces, bindNS). `mounts` gets the rootfs bind
    /// prepended by the caller.
    pub runtime: Value,
}

impl BundleConfig {
    /// `config.json`'s bytes: canonical JSON, 4-space indented like LinuxKit's.
    pub fn config_json(&self) -> Result<Vec<u8>, String> {
        let v = serde_json::to_value(&self.spec).map_err(|e| e.to_string())?;
        let mut v = canonical(v);
        if let Some(caps) = v
            .pointer_mut("/process/capabilities")
            .and_then(Value::as_object_mut)
        {
            for (_, list) in caps.iter_mut() {
                if let Some(a) = list.as_array_mut() {
                    a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                }
            }
        }
        pretty(&v)
    }
}

/// 4-space indented JSON with a final newline.
pub(crate) fn pretty(v: &Value) -> Result<Vec<u8>, String> {
    use serde::Serialize;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// Sorts object keys recursively, whatever order the map type kept.
pub(crate) fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> =
                m.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn pick<T: Clone>(label: &Option<T>, yaml: &Option<T>) -> Option<T> {
    yaml.clone().or_else(|| label.clone())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// The label's container settings, if the image has a valid one.
fn label_settings(image: &ImageConfiguration) -> Result<Container, String> {
    let labels = crate::layout::labels(image);
    let Some(raw) = labels.get(LABEL) else {
        return Ok(Container::default());
    };
    serde_json::from_str::<Container>(raw)
        .or_else(|_| serde_yaml::from_str::<Container>(raw))
        .map_err(|e| format!("the image's `{LABEL}` label is invalid: {e}"))
}

/// `config.json` and `runtime.json` for a container of `image` run with `yaml`.
pub fn bundle_config(
    image: &ImageConfiguration,
    yaml: &Container,
    ids: &IdResolver,
) -> Result<BundleConfig, String> {
    let label = label_settings(image)?;
    let ic = image.config().clone().unwrap_or_default();

    let mut inspect: Vec<String> = ic.entrypoint().clone().unwrap_or_default();
    inspect.extend(ic.cmd().clone().unwrap_or_default());
    let args = pick(&label.command, &yaml.command).unwrap_or(inspect);
    if args.is_empty() {
        return Err("no command: the image has no Entrypoint/Cmd and none is configured".into());
    }
    let env = pick(&label.env, &yaml.env).unwrap_or_else(|| ic.env().clone().unwrap_or_default());
    let cwd = non_empty(&yaml.cwd)
        .or_else(|| non_empty(&label.cwd))
        .or_else(|| ic.working_dir().clone().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/".into());
    let readonly = pick(&label.readonly, &yaml.readonly).unwrap_or(false);

    // Mounts, keyed by destination (later settings replace earlier ones).
    let mut mounts: BTreeMap<String, Mount> = BTreeMap::new();
    let mut add = |dest: &str, typ: &str, src: &str, opts: Vec<String>| -> Result<(), String> {
        let m = MountBuilder::default()
            .destination(PathBuf::from(dest))
            .typ(typ)
            .source(PathBuf::from(src))
            .options(opts)
            .build()
            .map_err(|e| e.to_string())?;
        mounts.insert(dest.to_string(), m);
        Ok(())
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut dev_opts = s(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    let mut sys_opts = s(&["nosuid", "noexec", "nodev"]);
    if readonly {
        dev_opts.push("ro".into());
        sys_opts.push("ro".into());
    }
    add(
        "/proc",
        "proc",
        "proc",
        s(&["nosuid", "nodev", "noexec", "relatime"]),
    )?;
    add("/dev", "tmpfs", "tmpfs", dev_opts)?;
    add(
        "/dev/pts",
        "devpts",
        "devpts",
        s(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]),
    )?;
    add("/sys", "sysfs", "sysfs", sys_opts)?;
    add(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        s(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
    )?;
    for t in pick(&label.tmpfs, &yaml.tmpfs).unwrap_or_default() {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 2 {
            return Err(format!("cannot parse tmpfs, too many ':': {t}"));
        }
        let opts = parts
            .get(1)
            .map(|o| o.split(',').map(String::from).collect())
            .unwrap_or_default();
        add(parts[0], "tmpfs", "tmpfs", opts)?;
    }
    let binds = match &yaml.binds {
        Some(b) => b.clone(),
        None => merge(&label.binds, &yaml.binds_add),
    };
    for b in binds {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 {
            return Err(format!("cannot parse bind, missing ':': {b}"));
        }
        if parts.len() > 3 {
            return Err(format!("cannot parse bind, too many ':': {b}"));
        }
        let opts = match parts.get(2) {
            Some(o) => {
                let mut v: Vec<String> = o.split(',').map(String::from).collect();
                v.push("rbind".into());
                v
            }
            None => s(&["rw", "rbind", "rshared"]),
        };
        add(parts[1], "bind", parts[0], opts)?;
    }
    for m in pick(&label.mounts, &yaml.mounts).unwrap_or_default() {
        let src = m.source.clone().unwrap_or_default();
        let mut tp = m.kind.clone().unwrap_or_default();
        let mut dest = m.destination.clone().unwrap_or_default();
        if tp.is_empty()
            && matches!(
                src.as_str(),
                "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup"
            )
        {
            tp = src.clone();
        }
        if tp.is_empty() && dest == "/dev" {
            tp = "tmpfs".into();
        }
        if tp.is_empty() {
            return Err(format!("mount for destination {dest} is missing type"));
        }
        let src = if src.is_empty() { tp.clone() } else { src };
        if dest.is_empty() {
            dest = match tp.as_str() {
                "proc" => "/proc",
                "devpts" => "/dev/pts",
                "sysfs" => "/sys",
                "cgroup" => "/sys/fs/cgroup",
                "mqueue" => "/dev/mqueue",
                _ => return Err(format!("mount type {tp} is missing destination")),
            }
            .into();
        }
        add(&dest, &tp, &src, m.options.clone().unwrap_or_default())?;
    }

    // Namespaces.
    let mut namespaces = Vec::new();
    let mut ns = |typ: LinuxNamespaceType,
                  v: Option<String>,
                  default: &str,
                  none_is_new: bool|
     -> Result<(), String> {
        let v = v
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| default.to_string());
        if v == "host" || v == "root" {
            return Ok(());
        }
        let mut b = LinuxNamespaceBuilder::default().typ(typ);
        if !(v == "new" || (none_is_new && v == "none")) {
            b = b.path(PathBuf::from(v));
        }
        namespaces.push(b.build().map_err(|e| e.to_string())?);
        Ok(())
    };
    ns(
        LinuxNamespaceType::Network,
        pick(&label.net, &yaml.net),
        "root",
        true,
    )?;
    ns(
        LinuxNamespaceType::Ipc,
        pick(&label.ipc, &yaml.ipc),
        "root",
        false,
    )?;
    ns(
        LinuxNamespaceType::Uts,
        pick(&label.uts, &yaml.uts),
        "root",
        false,
    )?;
    ns(
        LinuxNamespaceType::Pid,
        pick(&label.pid, &yaml.pid),
        "new",
        false,
    )?;
    ns(
        LinuxNamespaceType::User,
        pick(&label.userns, &yaml.userns),
        "root",
        false,
    )?;
    ns(LinuxNamespaceType::Mount, None, "new", false)?;
    ns(LinuxNamespaceType::Cgroup, None, "new", false)?;

    // Capabilities.
    let caps = match &yaml.capabilities {
        Some(c) => c.clone(),
        None => merge(&label.capabilities, &yaml.capabilities_add),
    };
    let caps = expand_caps(caps)?;
    let ambient = expand_caps(pick(&label.ambient, &yaml.ambient).unwrap_or_default())?;
    let bounding: std::collections::HashSet<Capability> =
        caps.iter().chain(ambient.iter()).copied().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(
            bounding
                .iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .effective(
            caps.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .inheritable(
            bounding
                .iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .permitted(
            bounding
                .iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .ambient(
            ambient
                .iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .build()
        .map_err(|e| e.to_string())?;

    let mut rlimits = Vec::new();
    for r in pick(&label.rlimits, &yaml.rlimits).unwrap_or_default() {
        rlimits.push(parse_rlimit(&r)?);
    }

    // User: the config's uid/gid, else the image's User, else root.
    let (uid, gid) = user(&label, yaml, ic.user().as_deref().unwrap_or(""), ids)?;
    let mut additional = Vec::new();
    for g in pick(&label.additional_gids, &yaml.additional_gids).unwrap_or_default() {
        additional.push(ids.lookup(&g, true)?);
    }
    let mut ub = UserBuilder::default().uid(uid).gid(gid);
    if !additional.is_empty() {
        ub = ub.additional_gids(additional);
    }
    let user = ub.build().map_err(|e| e.to_string())?;

    let pb = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(args)
        .env(env)
        .cwd(PathBuf::from(cwd))
        .capabilities(capabilities)
        .no_new_privileges(
            pick(&label.no_new_privileges, &yaml.no_new_privileges).unwrap_or(false),
        );
    let mut process = pb.build().map_err(|e| e.to_string())?;
    process.set_rlimits(if rlimits.is_empty() {
        None
    } else {
        Some(rlimits)
    });
    process.set_oom_score_adj(
        pick(&label.oom_score_adj, &yaml.oom_score_adj)
            .map(|o| i32::try_from(o).map_err(|_| format!("oomScoreAdj {o} is out of range")))
            .transpose()?,
    );

    // Linux section: the parts with nested OCI types go through serde.
    // oci-spec's defaults are Docker's (masked paths, an rlimit, a hostname…): every
    // optional field is set explicitly so only what LinuxKit would write is there.
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .build()
        .map_err(|e| e.to_string())?;
    let mut resources: Value = pick(&label.resources, &yaml.resources).unwrap_or_else(|| json!({}));
    let mut devices = Vec::new();
    for d in pick(&label.devices, &yaml.devices).unwrap_or_default() {
        let typ = d.kind.clone().unwrap_or_default();
        let path = d.path.clone().unwrap_or_default();
        let entry = if path == "all" {
            json!({"allow": true, "type": typ, "access": "rwm"})
        } else {
            let mode = d.mode.as_deref().unwrap_or("");
            let mode = u32::from_str_radix(mode, 8)
                .map_err(|e| format!("cannot parse device mode `{mode}` as octal: {e}"))?;
            devices.push(json!({"path": path, "type": typ, "major": d.major.unwrap_or(0), "minor": d.minor.unwrap_or(0), "fileMode": mode}));
            json!({"allow": true, "type": typ, "major": d.major.unwrap_or(0), "minor": d.minor.unwrap_or(0), "access": "rwm"})
        };
        if let Some(obj) = resources.as_object_mut() {
            let list = obj.entry("devices").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(entry);
            }
        }
    }
    linux.set_resources(if resources.as_object().is_some_and(|o| !o.is_empty()) {
        Some(
            serde_json::from_value::<oci_spec::runtime::LinuxResources>(resources)
                .map_err(|e| format!("resources: {e}"))?,
        )
    } else {
        None
    });
    linux.set_devices(if devices.is_empty() {
        None
    } else {
        Some(
            serde_json::from_value::<Vec<oci_spec::runtime::LinuxDevice>>(Value::Array(devices))
                .map_err(|e| format!("devices: {e}"))?,
        )
    });
    let mappings = |m: Option<Vec<stackwright_types::container::IdMapping>>,
                    what: &str|
     -> Result<_, String> {
        match m.filter(|m| !m.is_empty()) {
            None => Ok(None),
            Some(m) => serde_json::from_value::<Vec<oci_spec::runtime::LinuxIdMapping>>(
                serde_json::to_value(m).map_err(|e| e.to_string())?,
            )
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
        }
    };
    linux.set_uid_mappings(mappings(
        pick(&label.uid_mappings, &yaml.uid_mappings),
        "uidMappings",
    )?);
    linux.set_gid_mappings(mappings(
        pick(&label.gid_mappings, &yaml.gid_mappings),
        "gidMappings",
    )?);
    linux.set_sysctl(
        pick(&label.sysctl, &yaml.sysctl)
            .filter(|s| !s.is_empty())
            .map(|s| s.into_iter().collect::<std::collections::HashMap<_, _>>()),
    );
    linux.set_cgroups_path(
        non_empty(&pick(&label.cgroups_path, &yaml.cgroups_path)).map(PathBuf::from),
    );
    linux.set_rootfs_propagation(non_empty(&pick(
        &label.rootfs_propagation,
        &yaml.rootfs_propagation,
    )));
    linux.set_masked_paths(pick(&label.masked_paths, &yaml.masked_paths).filter(|p| !p.is_empty()));
    linux.set_readonly_paths(
        pick(&label.readonly_paths, &yaml.readonly_paths).filter(|p| !p.is_empty()),
    );

    let root = RootBuilder::default()
        .path(PathBuf::from("rootfs"))
        .readonly(readonly)
        .build()
        .map_err(|e| e.to_string())?;
    let mut spec = SpecBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .root(root)
        .process(process)
        .mounts(mounts.into_values().collect::<Vec<_>>())
        .linux(linux)
        .build()
        .map_err(|e| e.to_string())?;
    spec.set_hostname(non_empty(&pick(&label.hostname, &yaml.hostname)));
    spec.set_annotations(
        pick(&label.annotations, &yaml.annotations)
            .filter(|a| !a.is_empty())
            .map(|a| a.into_iter().collect::<std::collections::HashMap<_, _>>()),
    );

    Ok(BundleConfig {
        spec,
        runtime: runtime_json(&label.runtime, &yaml.runtime)?,
    })
}

/// LinuxKit's `mergeStrings`: the label's list followed by the additions, without
/// repeats.
fn merge(base: &Option<Vec<String>>, add: &Option<Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in base.iter().flatten().chain(add.iter().flatten()) {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn expand_caps(list: Vec<String>) -> Result<Vec<Capability>, String> {
    let mut names: Vec<String> = Vec::new();
    for c in &list {
        match c.to_ascii_lowercase().as_str() {
            "all" => names.extend(ALL_CAPABILITIES.iter().map(|s| s.to_string())),
            "none" if list.len() == 1 => {}
            _ => names.push(c.to_ascii_uppercase()),
        }
    }
    let mut out: Vec<Capability> = Vec::new();
    for n in names {
        if !n.starts_with("CAP_") {
            return Err(format!(
                "unknown capability: {n} (capabilities are spelled CAP_…)"
            ));
        }
        let cap: Capability = serde_json::from_value(Value::String(n.clone()))
            .map_err(|_| format!("unknown capability: {n}"))?;
        if !out.contains(&cap) {
            out.push(cap);
        }
    }
    Ok(out)
}

fn parse_rlimit(s: &str) -> Result<oci_spec::runtime::PosixRlimit, String> {
    let parts: Vec<&str> = s.splitn(3, ',').collect();
    if parts.len() != 3 {
        return Err(format!(
            "cannot parse rlimit `{s}`: expected NAME,SOFT,HARD"
        ));
    }
    let mut name = parts[0].trim().to_ascii_uppercase();
    if !name.starts_with("RLIMIT_") {
        name = format!("RLIMIT_{name}");
    }
    let num = |v: &str| -> Result<u64, String> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("unlimited") {
            Ok(u64::MAX)
        } else {
            v.parse()
                .map_err(|e| format!("cannot parse `{v}` in rlimit `{s}`: {e}"))
        }
    };
    let typ: PosixRlimitType = name
        .parse()
        .map_err(|_| format!("unknown limit: {}", parts[0].trim()))?;
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(num(parts[1])?)
        .hard(num(parts[2])?)
        .build()
        .map_err(|e| e.to_string())
}

fn user(
    label: &Container,
    yaml: &Container,
    image_user: &str,
    ids: &IdResolver,
) -> Result<(u32, u32), String> {
    let uid = pick(&label.uid, &yaml.uid);
    let gid = pick(&label.gid, &yaml.gid);
    if uid.is_some() || gid.is_some() || image_user.is_empty() {
        let u = uid.map(|u| ids.lookup(&u, false)).transpose()?.unwrap_or(0);
        let g = gid.map(|g| ids.lookup(&g, true)).transpose()?.unwrap_or(0);
        return Ok((u, g));
    }
    // Docker's `User`: `user[:group]`, names looked up in the image.
    let (u, g) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            ids.passwd.as_deref().and_then(|db| {
                db.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 4 && f[2] == u)
                        .then(|| f[3].parse().ok())
                        .flatten()
                })
            }),
        ),
        Err(_) => ids
            .passwd
            .as_deref()
            .and_then(|db| etc_lookup(db, u))
            .ok_or_else(|| format!("the image's User `{u}` is not in its /etc/passwd"))?,
    };
    let gid = match g {
        Some(g) => ids.lookup(&IdOrName::Name(g.to_string()), true)?,
        None => primary.unwrap_or(0),
    };
    Ok((uid, gid))
}

/// LinuxKit's `runtime.json` body: every field present, as its Go code writes it.
fn runtime_json(label: &Option<Value>, yaml: &Option<Value>) -> Result<Value, String> {
    let empty = json!({});
    let l = label.as_ref().unwrap_or(&empty);
    let y = yaml.as_ref().unwrap_or(&empty);
    let field = |k: &str, default: Value| y.get(k).or_else(|| l.get(k)).cloned().unwrap_or(default);
    let ns = |k: &str| {
        y.pointer(&format!("/bindNS/{k}"))
            .or_else(|| l.pointer(&format!("/bindNS/{k}")))
            .cloned()
            .unwrap_or_else(|| json!(""))
    };
    Ok(json!({
        "cgroups": field("cgroups", json!([])),
        "mounts": field("mounts", json!([])),
        "mkdir": field("mkdir", json!([])),
        "interfaces": field("interfaces", json!([])),
        "bindNS": {
            "cgroup": ns("cgroup"), "ipc": ns("ipc"), "mnt": ns("mnt"), "net": ns("net"),
            "pid": ns("pid"), "user": ns("user"), "uts": ns("uts"),
        },
        "namespace": field("namespace", json!("")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(cfg: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": cfg,
        }))
        .unwrap()
    }

    #[test]
    fn image_command_env_cwd_are_defaults() {
        let img = image(
            json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["A=1"], "WorkingDir": "/srv"}),
        );
        let b = bundle_config(&img, &Container::default(), &IdResolver::default()).unwrap();
        let p = b.spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/bin/sh", "-c", "echo hi"]);
        assert_eq!(p.cwd().to_str(), Some("/srv"));
        let c = Container {
            command: Some(vec!["/x".into()]),
            env: Some(vec!["B=2".into()]),
            cwd: Some("/".into()),
            ..Default::default()
        };
        let b = bundle_config(&img, &c, &IdResolver::default()).unwrap();
        let p = b.spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/x"]);
        assert_eq!(p.env().as_ref().unwrap(), &["B=2"]);
    }

    #[test]
    fn all_capabilities_and_add() {
        let img =
            image(json!({"Cmd": ["/x"], "Labels": {LABEL: "{\"capabilities\": [\"CAP_CHOWN\"]}"}}));
        let c = Container {
            capabilities_add: Some(vec!["CAP_NET_ADMIN".into()]),
            ..Default::default()
        };
        let b = bundle_config(&img, &c, &IdResolver::default()).unwrap();
        let v: Value = serde_json::from_slice(&b.config_json().unwrap()).unwrap();
        assert_eq!(
            v["process"]["capabilities"]["effective"],
            json!(["CAP_CHOWN", "CAP_NET_ADMIN"])
        );
        let c = Container {
            capabilities: Some(vec!["all".into()]),
            ..Default::default()
        };
        let b = bundle_config(&img, &c, &IdResolver::default()).unwrap();
        let v: Value = serde_json::from_slice(&b.config_json().unwrap()).unwrap();
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            ALL_CAPABILITIES.len()
        );
        let bad = Container {
            capabilities: Some(vec!["CAP_FLY".into()]),
            ..Default::default()
        };
        assert!(bundle_config(&img, &bad, &IdResolver::default())
            .unwrap_err()
            .contains("CAP_FLY"));
    }

    #[test]
    fn namespaces_follow_linuxkit_defaults() {
        let img = image(json!({"Cmd": ["/x"]}));
        let types = |c: &Container| -> Vec<String> {
            let b = bundle_config(&img, c, &IdResolver::default()).unwrap();
            let v: Value = serde_json::from_slice(&b.config_json().unwrap()).unwrap();
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(types(&Container::default()), ["pid", "mount", "cgroup"]);
        let c = Container {
            net: Some("new".into()),
            pid: Some("host".into()),
            uts: Some("new".into()),
            ..Default::default()
        };
        assert_eq!(types(&c), ["network", "uts", "mount", "cgroup"]);
    }

    #[test]
    fn mounts_binds_tmpfs_rlimits_users() {
        let img = image(json!({"Cmd": ["/x"], "User": "daemon"}));
        let c = Container {
            binds: Some(vec!["/var/log:/var/log".into(), "/etc/x:/etc/x:ro".into()]),
            tmpfs: Some(vec!["/run:size=10m".into()]),
            rlimits: Some(vec!["nofile,1024,unlimited".into()]),
            ..Default::default()
        };
        let ids = IdResolver {
            passwd: Some("root:x:0:0::/root:/bin/sh\ndaemon:x:2:3::/:/bin/false\n".into()),
            ..Default::default()
        };
        let b = bundle_config(&img, &c, &ids).unwrap();
        let v: Value = serde_json::from_slice(&b.config_json().unwrap()).unwrap();
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/dev",
                "/dev/pts",
                "/etc/x",
                "/proc",
                "/run",
                "/sys",
                "/sys/fs/cgroup",
                "/var/log"
            ]
        );
        assert_eq!(v["mounts"][2]["options"], json!(["ro", "rbind"]));
        assert_eq!(
            v["process"]["rlimits"][0],
            json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": u64::MAX})
        );
        assert_eq!(v["process"]["user"], json!({"uid": 2, "gid": 3}));
        let named = Container {
            uid: Some(IdOrName::Name("sshd".into())),
            ..Default::default()
        };
        let ids = IdResolver {
            containers: [("sshd".to_string(), 104)].into(),
            ..Default::default()
        };
        let b = bundle_config(&img, &named, &ids).unwrap();
        assert_eq!(b.spec.process().as_ref().unwrap().user().uid(), 104);
    }
}
