//! The OCI runtime `config.json` and LinuxKit's `runtime.json` of a container,
//! generated exactly the way LinuxKit's `moby.ConfigToOCI` does from the image's
//! config, the image's `org.mobyproject.config` label and the component's
//! [`Container`] settings (the latter win, field by field).
//!
//! Every rule below cites the line of LinuxKit's source it comes from:
//! `config.go` is `src/cmd/linuxkit/moby/config.go` and `image.go`/`build.go` are in
//! `src/cmd/linuxkit/moby/build/`, all at LinuxKit commit 3bf33c3a. The JSON is written
//! as Go's `encoding/json` writes runtime-spec v1.2.1's structs (the version LinuxKit
//! vendors): a field tagged `omitempty` is left out when empty, so the same fields are
//! present as in LinuxKit's `config.json`. Each rule has a fixture under
//! `tests/linuxkit-oci/` whose expected `config.json` was written from the rule.
//!
//! - `args` = `command`, else the label's, else the image's Entrypoint + Cmd
//!   (config.go:835); `env` likewise (config.go:838); `cwd` = `cwd`, the label's, the
//!   image's WorkingDir, else `/` (config.go:841).
//! - Mounts (config.go:848–934): `/proc`, `/dev`, `/dev/pts`, `/sys`, `/sys/fs/cgroup`
//!   with Docker's options (`ro` added to `/dev` and `/sys` when `readonly`), then
//!   `tmpfs`, then `binds` (or the label's binds followed by `binds.add`), then
//!   `mounts`; a later one replaces an earlier one at the same destination; sorted by
//!   destination. No `/dev/shm` or `/dev/mqueue` (config.go:859).
//! - Namespaces (config.go:936–981): net, ipc, uts and user are the host's unless set
//!   (`new`, for net also `none`, gives a new one; anything else is a path); pid is new
//!   unless `host`/`root`; mount is always new; **no cgroup namespace** ("TODO cgroup
//!   namespaces", config.go:981). Beyond LinuxKit, the annotation
//!   [`CGROUPNS_ANNOTATION`]` = "new"` asks for a private cgroup namespace.
//! - Capabilities (config.go:983–1024): `capabilities` replaces, otherwise the label's
//!   followed by `capabilities.add` (LinuxKit's `mergeStrings` keeps repeats); a single
//!   `all`/`none` (any case) is every known capability / none; any other name must be
//!   a known `CAP_…` exactly. effective = that list in its order; bounding = inheritable
//!   = permitted = those plus `ambient`, unique and sorted; `ambient` as given.
//! - `rlimits` (config.go:1026–1085): `name,soft,hard`, the name with or without
//!   `RLIMIT_`, any case, `unlimited` for either limit; one of the 16 Linux limits.
//! - uid/gid/additionalGids (config.go:795, 1087–1105): a number, `root`/empty for 0,
//!   or the name of a container of the config (onboot, onshutdown, services numbered
//!   from 100, build.go:199). The image's `User` is **not** used (LinuxKit runs as 0).
//! - `readonly` → `root.readonly` (config.go:1135); `hostname`, `annotations`,
//!   `noNewPrivileges`, `oomScoreAdj` passed through (config.go:1109–1142).
//! - `linux` (config.go:1144–1190): uid/gid mappings, sysctl, `resources` (always
//!   written, `{}` when empty), `devices` (each added to `resources.devices` as an
//!   allow rule; `path: all` only as a rule for its type), cgroupsPath,
//!   rootfsPropagation, maskedPaths, readonlyPaths.
//! - `runtime.json` (config.go:718): cgroups, mounts, mkdir, interfaces, bindNS and
//!   namespace, each always written. The caller prepends the rootfs mount (image.go:474).
//!
//! Beyond LinuxKit, and only where LinuxKit itself fails: a command-less image is an
//! error here (LinuxKit writes a config runc cannot start), and a uid/gid name that is
//! no container is looked up in the image's `/etc/passwd`/`/etc/group` (LinuxKit:
//! "cannot find id").
//!
//! The JSON is canonical: object keys sorted, so the same inputs give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::ImageConfiguration;
use serde_json::{json, Map, Value};
use stackwright_types::container::{Container, IdMapping, IdOrName};

/// The runtime-spec version LinuxKit writes: `specs.Version` of the runtime-spec
/// module it vendors (v1.2.1, src/cmd/linuxkit/vendor/modules.txt; config.go:1107).
pub const OCI_VERSION: &str = "1.2.1";

/// The annotation that asks Stackwright for a private cgroup namespace (value `new`).
/// LinuxKit never creates one and passes annotations through untouched, so a
/// `linuxkit build` of the same file runs the container in the host's.
pub const CGROUPNS_ANNOTATION: &str = "org.stackwright.cgroupns";

/// Every capability LinuxKit knows, in its order: `capability.ListKnown()` of
/// github.com/moby/sys/capability v0.4.0, i.e. by number up to
/// CAP_CHECKPOINT_RESTORE (40) — what `capabilities: [all]` grants (config.go:786).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The resource limits LinuxKit accepts (config.go:1061–1077).
const RLIMITS: &[&str] = &[
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
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
    /// `config.json`, canonical.
    pub config: Value,
    /// LinuxKit's `runtime.json` (what its init does around the OCI runtime: cgroups,
    /// extra mounts, mkdir, interfaces, bindNS). `mounts` gets the rootfs bind
    /// prepended by the caller.
    pub runtime: Value,
}

impl BundleConfig {
    /// `config.json`'s bytes: canonical JSON, 4-space indented like LinuxKit's.
    pub fn config_json(&self) -> Result<Vec<u8>, String> {
        pretty(&self.config)
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

/// LinuxKit's `assign*`: the component's value, else the label's.
fn pick<T: Clone>(label: &Option<T>, yaml: &Option<T>) -> Option<T> {
    yaml.clone().or_else(|| label.clone())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// LinuxKit's `mergeStrings` (config.go:612): the label's list followed by the
/// additions. Its de-duplication map is never filled, so repeats are kept.
fn merge(base: &Option<Vec<String>>, add: &Option<Vec<String>>) -> Vec<String> {
    base.iter()
        .flatten()
        .chain(add.iter().flatten())
        .cloned()
        .collect()
}

/// Inserts `v` under `k` unless it is empty: Go's `omitempty`.
fn put(obj: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(_) => false,
    };
    if !empty {
        obj.insert(k.to_string(), v);
    }
}

/// The label's container settings, if the image has a valid one (config.go:821).
fn label_settings(image: &ImageConfiguration) -> Result<Container, String> {
    let labels = crate::source_layout::labels(image);
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
    let readonly = pick(&label.readonly, &yaml.readonly).unwrap_or(false);

    let mut config = Map::new();
    config.insert("ociVersion".into(), json!(OCI_VERSION));
    config.insert("process".into(), process(&label, yaml, &ic, ids)?);
    // config.go:1135: the root is `rootfs`, read-only when asked.
    let mut root = Map::new();
    root.insert("path".into(), json!("rootfs"));
    put(&mut root, "readonly", json!(readonly));
    config.insert("root".into(), Value::Object(root));
    put(
        &mut config,
        "hostname",
        json!(pick(&label.hostname, &yaml.hostname).unwrap_or_default()),
    );
    config.insert("mounts".into(), mounts(&label, yaml, readonly)?);
    let annotations = pick(&label.annotations, &yaml.annotations).unwrap_or_default();
    config.insert("linux".into(), linux(&label, yaml, &annotations)?);
    put(&mut config, "annotations", json!(annotations));

    Ok(BundleConfig {
        config: canonical(Value::Object(config)),
        runtime: runtime_json(&label.runtime, &yaml.runtime)?,
    })
}

/// `process` (config.go:835–841, 1087–1133).
fn process(
    label: &Container,
    yaml: &Container,
    ic: &oci_spec::image::Config,
    ids: &IdResolver,
) -> Result<Value, String> {
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

    // config.go:1087–1105: ids by number, `root`, or a container's name.
    let id = |v: Option<IdOrName>, group: bool| -> Result<u32, String> {
        v.map(|v| ids.lookup(&v, group))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let mut user = Map::new();
    user.insert("uid".into(), json!(id(pick(&label.uid, &yaml.uid), false)?));
    user.insert("gid".into(), json!(id(pick(&label.gid, &yaml.gid), true)?));
    let mut additional = Vec::new();
    for g in pick(&label.additional_gids, &yaml.additional_gids).unwrap_or_default() {
        additional.push(ids.lookup(&g, true)?);
    }
    put(&mut user, "additionalGids", json!(additional));

    let mut process = Map::new();
    process.insert("user".into(), Value::Object(user));
    process.insert("args".into(), json!(args));
    put(&mut process, "env", json!(env));
    process.insert("cwd".into(), json!(cwd));
    process.insert("capabilities".into(), capabilities(label, yaml)?);
    let mut rlimits = Vec::new();
    for r in pick(&label.rlimits, &yaml.rlimits).unwrap_or_default() {
        rlimits.push(rlimit(&r)?);
    }
    put(&mut process, "rlimits", json!(rlimits));
    put(
        &mut process,
        "noNewPrivileges",
        json!(pick(&label.no_new_privileges, &yaml.no_new_privileges).unwrap_or(false)),
    );
    if let Some(o) = pick(&label.oom_score_adj, &yaml.oom_score_adj) {
        let o = i32::try_from(o).map_err(|_| format!("oomScoreAdj {o} is out of range"))?;
        process.insert("oomScoreAdj".into(), json!(o));
    }
    Ok(Value::Object(process))
}

/// config.go:989–1024.
fn capabilities(label: &Container, yaml: &Container) -> Result<Value, String> {
    let caps = match &yaml.capabilities {
        Some(c) => c.clone(),
        None => merge(&label.capabilities, &yaml.capabilities_add),
    };
    let caps = expand_caps(caps)?;
    let ambient = expand_caps(pick(&label.ambient, &yaml.ambient).unwrap_or_default())?;
    let bounding: Vec<&String> = caps
        .iter()
        .chain(ambient.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = Map::new();
    put(&mut out, "bounding", json!(bounding));
    put(&mut out, "effective", json!(caps));
    put(&mut out, "inheritable", json!(bounding));
    put(&mut out, "permitted", json!(bounding));
    put(&mut out, "ambient", json!(ambient));
    Ok(Value::Object(out))
}

/// A single `all`/`none` (any case) expands; every other entry must be a known
/// capability, spelled exactly (config.go:991–1003).
fn expand_caps(list: Vec<String>) -> Result<Vec<String>, String> {
    if let [only] = list.as_slice() {
        match only.to_ascii_lowercase().as_str() {
            "none" => return Ok(Vec::new()),
            "all" => return Ok(ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
            _ => {}
        }
    }
    for c in &list {
        if !ALL_CAPABILITIES.contains(&c.as_str()) {
            return Err(format!(
                "unknown capability: {c} (LinuxKit takes CAP_… names in capitals, or `all`/`none` alone)"
            ));
        }
    }
    Ok(list)
}

/// `name,soft,hard` (config.go:1026–1085).
fn rlimit(s: &str) -> Result<Value, String> {
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
    if !RLIMITS.contains(&name.as_str()) {
        return Err(format!("unknown limit: {}", parts[0].trim()));
    }
    let num = |v: &str| -> Result<u64, String> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("unlimited") {
            Ok(u64::MAX)
        } else {
            v.parse()
                .map_err(|e| format!("cannot parse `{v}` in rlimit `{s}` as uint64: {e}"))
        }
    };
    Ok(json!({"type": name, "soft": num(parts[1])?, "hard": num(parts[2])?}))
}

/// One OCI mount as Go writes `specs.Mount{Destination, Type, Source, Options}`.
fn mount(dest: &str, typ: &str, src: &str, opts: Vec<String>) -> Value {
    let mut m = Map::new();
    m.insert("destination".into(), json!(dest));
    put(&mut m, "type", json!(typ));
    put(&mut m, "source", json!(src));
    put(&mut m, "options", json!(opts));
    Value::Object(m)
}

/// config.go:847–934.
fn mounts(label: &Container, yaml: &Container, readonly: bool) -> Result<Value, String> {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut dev_opts = s(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    let mut sys_opts = s(&["nosuid", "noexec", "nodev"]);
    if readonly {
        dev_opts.push("ro".into());
        sys_opts.push("ro".into());
    }
    let mut mounts: BTreeMap<String, Value> = BTreeMap::new();
    let mut add = |dest: &str, typ: &str, src: &str, opts: Vec<String>| {
        mounts.insert(dest.to_string(), mount(dest, typ, src, opts));
    };
    add(
        "/proc",
        "proc",
        "proc",
        s(&["nosuid", "nodev", "noexec", "relatime"]),
    );
    add("/dev", "tmpfs", "tmpfs", dev_opts);
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
    );
    add("/sys", "sysfs", "sysfs", sys_opts);
    add(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        s(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
    );
    // config.go:867.
    for t in pick(&label.tmpfs, &yaml.tmpfs).unwrap_or_default() {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 2 {
            return Err(format!("cannot parse tmpfs, too many ':': {t}"));
        }
        let opts = parts
            .get(1)
            .map(|o| o.split(',').map(String::from).collect())
            .unwrap_or_default();
        add(parts[0], "tmpfs", "tmpfs", opts);
    }
    // config.go:879: `binds` replaces, else the label's followed by `binds.add`.
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
        add(parts[1], "bind", parts[0], opts);
    }
    // config.go:896: the type from well-known sources, `/dev` is tmpfs, the source
    // defaults to the type, the destination to the type's usual place.
    for m in pick(&label.mounts, &yaml.mounts).unwrap_or_default() {
        let mut src = m.source.clone().unwrap_or_default();
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
        if src.is_empty() {
            src = tp.clone();
        }
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
        add(&dest, &tp, &src, m.options.clone().unwrap_or_default());
    }
    // config.go:931: sorted by destination (the map's order).
    Ok(Value::Array(mounts.into_values().collect()))
}

/// config.go:936–981, plus the explicit cgroup namespace.
fn namespaces(
    label: &Container,
    yaml: &Container,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut ns = |typ: &str, v: Option<String>, default: &str, none_is_new: bool| {
        let v = v
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| default.to_string());
        if v == "host" || v == "root" {
            return;
        }
        if v == "new" || (none_is_new && v == "none") {
            out.push(json!({"type": typ}));
        } else {
            out.push(json!({"type": typ, "path": v}));
        }
    };
    ns("network", pick(&label.net, &yaml.net), "root", true);
    ns("ipc", pick(&label.ipc, &yaml.ipc), "root", false);
    ns("uts", pick(&label.uts, &yaml.uts), "root", false);
    ns("pid", pick(&label.pid, &yaml.pid), "new", false);
    ns("user", pick(&label.userns, &yaml.userns), "root", false);
    ns("mount", None, "new", false);
    match annotations.get(CGROUPNS_ANNOTATION).map(String::as_str) {
        None | Some("host") => {}
        Some("new") => out.push(json!({"type": "cgroup"})),
        Some(other) => {
            return Err(format!(
                "annotation `{CGROUPNS_ANNOTATION}` is `{other}`: use `new` for a private cgroup namespace, or leave it out for the host's"
            ))
        }
    }
    Ok(out)
}

/// config.go:1144–1190.
fn linux(
    label: &Container,
    yaml: &Container,
    annotations: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let mut linux = Map::new();
    let mappings = |m: Option<Vec<IdMapping>>| -> Value {
        Value::Array(
            m.unwrap_or_default()
                .iter()
                .map(|m| {
                    json!({
                        "containerID": m.container_id.unwrap_or(0),
                        "hostID": m.host_id.unwrap_or(0),
                        "size": m.size.unwrap_or(0),
                    })
                })
                .collect(),
        )
    };
    put(
        &mut linux,
        "uidMappings",
        mappings(pick(&label.uid_mappings, &yaml.uid_mappings)),
    );
    put(
        &mut linux,
        "gidMappings",
        mappings(pick(&label.gid_mappings, &yaml.gid_mappings)),
    );
    put(
        &mut linux,
        "sysctl",
        json!(pick(&label.sysctl, &yaml.sysctl).unwrap_or_default()),
    );

    // `resources` is always written (a pointer in Go); devices add allow rules.
    let resources: Value = pick(&label.resources, &yaml.resources).unwrap_or_else(|| json!({}));
    let resources: oci_spec::runtime::LinuxResources =
        serde_json::from_value(resources).map_err(|e| format!("resources: {e}"))?;
    let mut resources = serde_json::to_value(resources).map_err(|e| e.to_string())?;
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    for d in pick(&label.devices, &yaml.devices).unwrap_or_default() {
        let typ = d.kind.clone().unwrap_or_default();
        let path = d.path.clone().unwrap_or_default();
        if path == "all" {
            let mut rule = Map::new();
            rule.insert("allow".into(), json!(true));
            put(&mut rule, "type", json!(typ));
            rule.insert("access".into(), json!("rwm"));
            rules.push(Value::Object(rule));
            continue;
        }
        let mode = d.mode.as_deref().unwrap_or("");
        let mode = u32::from_str_radix(mode, 8)
            .map_err(|e| format!("cannot parse device mode `{mode}` as octal: {e}"))?;
        let (major, minor) = (d.major.unwrap_or(0), d.minor.unwrap_or(0));
        devices.push(
            json!({"path": path, "type": typ, "major": major, "minor": minor, "fileMode": mode}),
        );
        let mut rule = Map::new();
        rule.insert("allow".into(), json!(true));
        put(&mut rule, "type", json!(typ));
        rule.insert("major".into(), json!(major));
        rule.insert("minor".into(), json!(minor));
        rule.insert("access".into(), json!("rwm"));
        rules.push(Value::Object(rule));
    }
    if !rules.is_empty() {
        if let Some(obj) = resources.as_object_mut() {
            let list = obj.entry("devices").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.extend(rules);
            }
        }
    }
    linux.insert("resources".into(), resources);
    put(
        &mut linux,
        "cgroupsPath",
        json!(pick(&label.cgroups_path, &yaml.cgroups_path).unwrap_or_default()),
    );
    put(
        &mut linux,
        "namespaces",
        Value::Array(namespaces(label, yaml, annotations)?),
    );
    put(&mut linux, "devices", Value::Array(devices));
    put(
        &mut linux,
        "rootfsPropagation",
        json!(pick(&label.rootfs_propagation, &yaml.rootfs_propagation).unwrap_or_default()),
    );
    put(
        &mut linux,
        "maskedPaths",
        json!(pick(&label.masked_paths, &yaml.masked_paths).unwrap_or_default()),
    );
    put(
        &mut linux,
        "readonlyPaths",
        json!(pick(&label.readonly_paths, &yaml.readonly_paths).unwrap_or_default()),
    );
    Ok(Value::Object(linux))
}

/// LinuxKit's `runtime.json` body (config.go:718 `assignRuntime`): every field present,
/// as its Go code writes it; each interface with `createInRoot` (image.go writes it always).
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
        "interfaces": interfaces(field("interfaces", json!([]))),
        "bindNS": {
            "cgroup": ns("cgroup"), "ipc": ns("ipc"), "mnt": ns("mnt"), "net": ns("net"),
            "pid": ns("pid"), "user": ns("user"), "uts": ns("uts"),
        },
        "namespace": field("namespace", json!("")),
    }))
}

/// `runtime.interfaces` entries as Go writes its `Interface` struct (config.go:213):
/// name, add and peer when set, createInRoot always.
fn interfaces(list: Value) -> Value {
    match list {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Object(mut o) => {
                        o.retain(|k, v| k == "createInRoot" || v.as_str() != Some(""));
                        o.entry("createInRoot").or_insert(json!(false));
                        Value::Object(o)
                    }
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
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
        let p = &b.config["process"];
        assert_eq!(p["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(p["cwd"], "/srv");
        let c = Container {
            command: Some(vec!["/x".into()]),
            env: Some(vec!["B=2".into()]),
            cwd: Some("/".into()),
            ..Default::default()
        };
        let b = bundle_config(&img, &c, &IdResolver::default()).unwrap();
        let p = &b.config["process"];
        assert_eq!(p["args"], json!(["/x"]));
        assert_eq!(p["env"], json!(["B=2"]));
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
        // No cgroup namespace: LinuxKit creates none (config.go:981).
        assert_eq!(types(&Container::default()), ["pid", "mount"]);
        let c = Container {
            net: Some("new".into()),
            pid: Some("host".into()),
            uts: Some("new".into()),
            ..Default::default()
        };
        assert_eq!(types(&c), ["network", "uts", "mount"]);
        let asked = Container {
            annotations: Some([(CGROUPNS_ANNOTATION.to_string(), "new".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(types(&asked), ["pid", "mount", "cgroup"]);
        let bad = Container {
            annotations: Some([(CGROUPNS_ANNOTATION.to_string(), "yes".to_string())].into()),
            ..Default::default()
        };
        let err = bundle_config(&img, &bad, &IdResolver::default()).unwrap_err();
        assert!(err.contains(CGROUPNS_ANNOTATION), "{err}");
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
        // The image's `User` is not used: LinuxKit runs as root unless told (config.go:1087).
        assert_eq!(v["process"]["user"], json!({"uid": 0, "gid": 0}));
        let by_name = Container {
            uid: Some(IdOrName::Name("daemon".into())),
            gid: Some(IdOrName::Id(3)),
            ..Default::default()
        };
        let b = bundle_config(&img, &by_name, &ids).unwrap();
        assert_eq!(b.config["process"]["user"], json!({"uid": 2, "gid": 3}));
        let named = Container {
            uid: Some(IdOrName::Name("sshd".into())),
            ..Default::default()
        };
        let ids = IdResolver {
            containers: [("sshd".to_string(), 104)].into(),
            ..Default::default()
        };
        let b = bundle_config(&img, &named, &ids).unwrap();
        assert_eq!(b.config["process"]["user"]["uid"], 104);
    }
}
