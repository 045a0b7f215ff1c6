//! Component manifests (`components/<category>/<id>.toml`): the format is documented in
//! `docs/manifest-format.md`.
//!
//! Parsing has two steps: serde reads the text into `Raw*` structs (unknown keys are
//! errors), then [`Manifest::from_raw`] checks what serde cannot (versions, ranges, the id
//! against the file name) and collects every problem, each at its line.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::container::Container;
use crate::diagnostic::{self, Diagnostic};
use crate::package::{self, Package, RawPackage, RawReleaseFile, ReleaseFile};
use crate::source::{Location, SourceText};
use crate::version::{parse_req, parse_version};
use crate::TypesError;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$variant),)*
                    _ => Err(format!(
                        "`{s}` is not one of: {}",
                        [$($s),*].join(", ")
                    )),
                }
            }
        }
    };
}

string_enum! {
    /// The twelve kinds of part a platform is assembled from.
    Category {
        Kernel = "kernel",
        InitSystem = "init-system",
        Runtime = "runtime",
        Network = "network",
        Storage = "storage",
        Orchestration = "orchestration",
        Registry = "registry",
        Build = "build",
        Observability = "observability",
        Security = "security",
        IngressMesh = "ingress-mesh",
        Edge = "edge",
    }
}

string_enum! {
    /// Where a component goes in LinuxKit's YAML, and so when it starts. `sandbox` is an
    /// image no section runs: the CRI runtime pulls it for pod sandboxes (pause), named in
    /// the runtime's generated configuration.
    Stage {
        Kernel = "kernel",
        Init = "init",
        Onboot = "onboot",
        Service = "service",
        Onshutdown = "onshutdown",
        Sandbox = "sandbox",
    }
}

string_enum! {
    /// CPU architectures, named as OCI image indexes name them.
    Arch {
        Amd64 = "amd64",
        Arm64 = "arm64",
        Riscv64 = "riscv64",
        S390x = "s390x",
        Ppc64le = "ppc64le",
    }
}

string_enum! {
    Protocol { Tcp = "tcp", Udp = "udp" }
}

string_enum! {
    /// Where a port is bound: the node's network namespace, the node's loopback, or a
    /// pod's own namespace (which only collides when run with the host network).
    PortScope { Host = "host", Loopback = "loopback", Pod = "pod" }
}

string_enum! {
    ConfigType { String = "string", Integer = "integer", Boolean = "boolean", StringList = "string-list" }
}

// ---------------------------------------------------------------------------------------
// Raw (serde) form: what the file says, with spans where later checks need a location.

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub id: Spanned<String>,
    pub category: Category,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    pub stage: Stage,
    pub arch: Vec<Arch>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(rename = "override", default, skip_serializing_if = "is_false")]
    pub override_: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_into: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrade_after: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub creates: Vec<String>,
    #[serde(default, skip_serializing_if = "Container::is_empty")]
    pub container: Container,
    #[serde(rename = "port", default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Spanned<RawPackage>>,
    /// `[service]`: readiness check, restart policy and backoff under stackwright-init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Spanned<crate::boot::Service>>,
    #[serde(rename = "release")]
    pub releases: Vec<RawRelease>,
    /// Files (and container additions) generated from config (`[[generate]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generate: Vec<Spanned<crate::generate::RawGenerate>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}
fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    pub version: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Vec<Arch>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provides: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requires: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constrains: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conflicts: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recommends: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Spanned<RawKernelNeeds>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_config: Vec<Spanned<String>>,
    /// Upstream files the release is made of (`[[release.files]]`), per architecture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RawReleaseFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKernelNeeds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Checked model.

/// A host port a component binds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u16>,
    pub protocol: Protocol,
    #[serde(default = "host_scope")]
    pub scope: PortScope,
    /// A config option that moves the port (`listen-address = ":9100"`, `port = 8080`):
    /// its effective value's port is the one bound; `port` is the default's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

fn host_scope() -> PortScope {
    PortScope::Host
}

impl Port {
    /// The ports this entry covers, first to last inclusive.
    pub fn range(&self) -> std::ops::RangeInclusive<u16> {
        self.port..=self.end.unwrap_or(self.port).max(self.port)
    }

    /// The port a config value names: an integer, or the port of an address (`:22`,
    /// `0.0.0.0:22`, `[::]:22`, `127.0.0.1:9100`). `None` when it names none.
    pub fn from_config_value(value: &toml::Value) -> Option<u16> {
        match value {
            toml::Value::Integer(i) => u16::try_from(*i).ok(),
            toml::Value::String(s) => s
                .rsplit_once(':')
                .map_or(s.as_str(), |(_, p)| p)
                .parse()
                .ok(),
            _ => None,
        }
    }
}

/// One user-settable option of a component, with its type and default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigOption {
    #[serde(rename = "type")]
    pub ty: ConfigType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Kernel needs that hold only when the option has a given value: value (as written in
    /// TOML: a string, `true`/`false`, or an integer) → what that mode needs of the kernel.
    /// They join every release's `kernel` needs when the effective config (the assembly's
    /// value, else the default) has that value; see [`Manifest::configured`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel: BTreeMap<String, RawKernelNeeds>,
}

impl ConfigOption {
    /// The key of `value` in [`ConfigOption::kernel`]: strings as they are, booleans and
    /// integers as TOML writes them; lists and other values have no key.
    pub fn value_key(value: &toml::Value) -> Option<String> {
        match value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            toml::Value::Integer(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The value a [`ConfigOption::kernel`] key stands for, typed like this option.
    fn key_value(&self, key: &str) -> Option<toml::Value> {
        match self.ty {
            ConfigType::String => Some(toml::Value::String(key.to_string())),
            ConfigType::Boolean => key.parse().ok().map(toml::Value::Boolean),
            ConfigType::Integer => key.parse().ok().map(toml::Value::Integer),
            ConfigType::StringList => None,
        }
    }

    /// Checks a value against this option; `Err` says what is wrong, with its code.
    pub fn check(&self, value: &toml::Value) -> Result<(), (crate::Code, String)> {
        use toml::Value as V;
        match (self.ty, value) {
            (ConfigType::String, V::String(s)) => {
                if let Some(allowed) = &self.allowed {
                    if !allowed.iter().any(|a| a == s) {
                        return Err((
                            diagnostic::CONFIG_ENUM,
                            format!("`{s}` is not one of: {}", allowed.join(", ")),
                        ));
                    }
                }
                Ok(())
            }
            (ConfigType::Integer, V::Integer(n)) => {
                if self.min.is_some_and(|m| *n < m) || self.max.is_some_and(|m| *n > m) {
                    return Err((
                        diagnostic::CONFIG_RANGE,
                        format!(
                            "{n} is outside {}..={}",
                            self.min.map(|m| m.to_string()).unwrap_or_default(),
                            self.max.map(|m| m.to_string()).unwrap_or_default()
                        ),
                    ));
                }
                Ok(())
            }
            (ConfigType::Boolean, V::Boolean(_)) => Ok(()),
            (ConfigType::StringList, V::Array(items)) if items.iter().all(|i| i.is_str()) => Ok(()),
            (ty, v) => Err((
                diagnostic::CONFIG_TYPE,
                format!(
                    "expected {}, found {}",
                    article(&ty.to_string()),
                    article(v.type_str())
                ),
            )),
        }
    }
}

fn article(word: &str) -> String {
    let an = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if an { "an" } else { "a" })
}

/// A version requirement on a component or capability, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub req: VersionReq,
    pub location: Location,
}

/// A kernel option: `CONFIG_X`, built in (`=y`) or as a module (`=m`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KernelOption {
    pub name: String,
    /// For a kernel: built in (`=y`) rather than a module. For a need: must be built in.
    pub builtin: bool,
}

impl KernelOption {
    /// Parses `CONFIG_X`, `CONFIG_X=y` or `CONFIG_X=m`. `module_default` says what a bare
    /// name means (a need: either; a kernel's list: built in).
    pub fn parse(s: &str, bare_is_builtin: bool) -> Result<Self, String> {
        let (name, val) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let valid_name = name.starts_with("CONFIG_")
            && name.len() > 7
            && name[7..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(format!("`{s}` is not a kernel option (expected CONFIG_NAME, CONFIG_NAME=y or CONFIG_NAME=m)"));
        }
        let builtin = match val {
            None => bare_is_builtin,
            Some("y") => true,
            Some("m") => false,
            Some(other) => return Err(format!("`{s}`: value `{other}` must be y or m")),
        };
        Ok(Self {
            name: name.to_string(),
            builtin,
        })
    }

    /// The option as a need is written: `CONFIG_X=y` when it must be built in, the bare
    /// `CONFIG_X` when either will do (what `parse(_, false)` reads back).
    pub fn as_need(&self) -> String {
        if self.builtin {
            format!("{}=y", self.name)
        } else {
            self.name.clone()
        }
    }
}

impl fmt::Display for KernelOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, if self.builtin { "y" } else { "m" })
    }
}

/// What a release needs of the kernel it runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelNeeds {
    pub min: Option<Version>,
    pub config: Vec<KernelOption>,
    pub location: Option<Location>,
}

/// One release (version) of a component.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    pub version: Version,
    pub location: Location,
    pub image: Option<String>,
    pub arch: Option<Vec<Arch>>,
    /// Capability → provided version. The component's own id is not listed here.
    pub provides: BTreeMap<String, Version>,
    /// Where each `provides` entry is written (its version), for diagnostics about it.
    pub provides_at: BTreeMap<String, Location>,
    pub requires: Vec<Dep>,
    pub constrains: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub recommends: Vec<Dep>,
    pub kernel: KernelNeeds,
    /// For kernel components: the options the kernel is built with.
    pub kernel_config: Vec<KernelOption>,
    /// Upstream files Stackwright packages into an image when there is no `image`.
    pub files: Vec<ReleaseFile>,
}

impl Release {
    /// Every dependency-like edge of this release, with its kind.
    pub fn edges(&self) -> impl Iterator<Item = (DepKind, &Dep)> {
        self.requires
            .iter()
            .map(|d| (DepKind::Requires, d))
            .chain(self.constrains.iter().map(|d| (DepKind::Constrains, d)))
            .chain(self.conflicts.iter().map(|d| (DepKind::Conflicts, d)))
            .chain(self.recommends.iter().map(|d| (DepKind::Recommends, d)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DepKind {
    Requires,
    Constrains,
    Conflicts,
    Recommends,
}

impl DepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepKind::Requires => "requires",
            DepKind::Constrains => "constrains",
            DepKind::Conflicts => "conflicts",
            DepKind::Recommends => "recommends",
        }
    }
}

/// A checked component manifest. Releases are sorted newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub category: Category,
    pub summary: String,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub stage: Stage,
    pub arch: Vec<Arch>,
    pub privileged: bool,
    pub verified: bool,
    pub unverified: Vec<String>,
    pub sources: Vec<String>,
    pub notes: Option<String>,
    pub override_: bool,
    /// A part of another component's process (swarmkit and the overlay driver are built
    /// into dockerd): it has no image of its own and is not packaged; it runs when that
    /// component runs. The id of that component.
    pub built_into: Option<String>,
    /// `stackwright upgrade` moves this component only after these (when they move in the
    /// same step of minors): an upgrade order a peer's procedure fixes beyond the skew
    /// rules (kubeadm: control plane before kubelets).
    pub upgrade_after: Vec<String>,
    /// Host paths this component makes at boot, before the services start (an init's
    /// directories on its tmpfs `/var` and `/run`, a daemon's state directories): bind
    /// sources there are checked against them (SW0709).
    pub creates: Vec<String>,
    pub container: Container,
    pub ports: Vec<Port>,
    pub config: BTreeMap<String, ConfigOption>,
    /// How packaged images are laid out (`[package]`); empty when absent.
    pub package: Package,
    /// `[service]`: how stackwright-init knows the service is ready and restarts it;
    /// `None` when absent (ready once started, never restarted).
    pub service: Option<crate::boot::Service>,
    /// Per config option and value: the kernel needs that value adds (checked form of
    /// [`ConfigOption::kernel`]).
    pub config_kernel: BTreeMap<String, BTreeMap<String, KernelNeeds>>,
    pub releases: Vec<Release>,
    /// `[[generate]]`: what the component writes from its config (see `stackwright-generate`).
    pub generate: Vec<crate::generate::Generate>,
    /// Where the manifest was read from (its `id` line).
    pub location: Location,
}

impl Manifest {
    /// Parses a manifest. `expected_id` is the file stem when read from a file, so the
    /// `id` inside can be checked against it.
    pub fn parse(src: &SourceText, expected_id: Option<&str>) -> Result<Manifest, TypesError> {
        let raw: RawManifest = crate::guarded_toml::parse(src).map_err(|d| invalid(src, d))?;
        Manifest::from_raw(src, raw, expected_id).map_err(|d| invalid(src, d))
    }

    fn from_raw(
        src: &SourceText,
        raw: RawManifest,
        expected_id: Option<&str>,
    ) -> Result<Manifest, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let id_loc = src.locate(raw.id.span());
        let id = raw.id.get_ref().clone();
        check_identity(&raw, &id, &id_loc, expected_id, &mut diags);
        let config_kernel = config_kernel_from_raw(&raw.config, &id_loc, &mut diags);
        let (package, package_loc) = package::package_from_raw(src, raw.package, &mut diags);
        let service = raw
            .service
            .map(|sv| service_from_raw(src, sv, &id, raw.stage, &mut diags));
        let generate = crate::generate::from_raw(src, raw.generate, &mut diags);
        let built_into = raw
            .built_into
            .map(|b| built_into_from_raw(src, b, &id, &raw.releases, &mut diags));
        let mut releases = Vec::new();
        let mut seen = BTreeMap::new();
        for r in raw.releases {
            let archs = r.arch.clone().unwrap_or_else(|| raw.arch.clone());
            if let Some(rel) = release_from_raw(src, r, &archs, &raw.unverified, &mut diags) {
                package::check_paths(
                    src,
                    &rel.version.to_string(),
                    &rel.files,
                    &package,
                    package_loc.as_ref(),
                    &mut diags,
                );
                if let Some(prev) = seen.insert(rel.version.clone(), rel.location.clone()) {
                    diags.push(
                        Diagnostic::error(
                            diagnostic::INVALID_VALUE,
                            format!("release {} of `{id}` is listed twice", rel.version),
                        )
                        .at(rel.location.clone())
                        .hint(format!("the first one is at {prev}; remove one")),
                    );
                }
                releases.push(rel);
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        releases.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(Manifest {
            id,
            category: raw.category,
            summary: raw.summary,
            homepage: raw.homepage,
            license: raw.license,
            stage: raw.stage,
            arch: raw.arch,
            privileged: raw.privileged,
            verified: raw.verified,
            unverified: raw.unverified,
            sources: raw.sources,
            notes: raw.notes,
            override_: raw.override_,
            built_into,
            upgrade_after: raw.upgrade_after,
            creates: raw.creates,
            container: raw.container,
            ports: raw.ports,
            config: raw.config,
            package,
            service,
            config_kernel,
            releases,
            generate,
            location: id_loc,
        })
    }

    /// The kernel needs the effective `config` (option → value) adds to every release:
    /// those of [`ConfigOption::kernel`] for the values set.
    pub fn config_kernel_needs(&self, config: &BTreeMap<String, toml::Value>) -> Vec<&KernelNeeds> {
        let mut out = Vec::new();
        for (key, by_value) in &self.config_kernel {
            if let Some(k) = config.get(key).and_then(ConfigOption::value_key) {
                if let Some(needs) = by_value.get(&k) {
                    out.push(needs);
                }
            }
        }
        out
    }

    /// This manifest as it runs with the effective `config`: every release's `kernel`
    /// needs joined by those the config values add (the highest `min`; options unique,
    /// sorted after the release's own). What the solver's kernel check sees.
    pub fn configured(&self, config: &BTreeMap<String, toml::Value>) -> Manifest {
        let extra = self.config_kernel_needs(config);
        let mut m = self.clone();
        if extra.is_empty() {
            return m;
        }
        for r in &mut m.releases {
            for needs in &extra {
                if let Some(min) = &needs.min {
                    if r.kernel.min.as_ref().is_none_or(|have| have < min) {
                        r.kernel.min = Some(min.clone());
                    }
                }
                for o in &needs.config {
                    if !r
                        .kernel
                        .config
                        .iter()
                        .any(|h| h.name == o.name && (h.builtin || !o.builtin))
                    {
                        r.kernel.config.retain(|h| h.name != o.name);
                        r.kernel.config.push(o.clone());
                    }
                }
                if r.kernel.location.is_none() {
                    r.kernel.location = needs.location.clone();
                }
            }
        }
        m
    }

    /// The newest release.
    pub fn newest(&self) -> &Release {
        &self.releases[0]
    }

    /// The release with exactly this version.
    pub fn release(&self, v: &Version) -> Option<&Release> {
        self.releases.iter().find(|r| &r.version == v)
    }

    /// The manifest back in its TOML form (for round-trip tests and `show --toml`).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let top = TopLevel {
            id: &self.id,
            category: self.category,
            summary: &self.summary,
            homepage: &self.homepage,
            license: &self.license,
            stage: self.stage,
            arch: &self.arch,
            privileged: self.privileged,
            verified: self.verified,
            unverified: &self.unverified,
            sources: &self.sources,
            notes: &self.notes,
            override_: self.override_,
            built_into: &self.built_into,
            upgrade_after: &self.upgrade_after,
            creates: &self.creates,
            container: &self.container,
            port: &self.ports,
            config: &self.config,
            package: (!self.package.is_empty()).then(|| package::PackageOut::from(&self.package)),
            service: &self.service,
            release: self.releases.iter().map(ReleaseOut::from).collect(),
            generate: self
                .generate
                .iter()
                .map(crate::generate::GenerateOut::from)
                .collect(),
        };
        out.push_str(&toml::to_string(&top).expect("manifests serialize"));
        out
    }

    /// Whether a release runs on `arch`.
    pub fn supports(&self, release: &Release, arch: Arch) -> bool {
        release.arch.as_ref().unwrap_or(&self.arch).contains(&arch)
    }
}

#[derive(Serialize)]
struct TopLevel<'a> {
    id: &'a str,
    category: Category,
    summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    license: &'a Option<String>,
    stage: Stage,
    arch: &'a [Arch],
    #[serde(skip_serializing_if = "is_false")]
    privileged: bool,
    #[serde(skip_serializing_if = "is_true")]
    verified: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    unverified: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    sources: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: &'a Option<String>,
    #[serde(rename = "override", skip_serializing_if = "is_false")]
    override_: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    built_into: &'a Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    upgrade_after: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    creates: &'a [String],
    #[serde(skip_serializing_if = "Container::is_empty")]
    container: &'a Container,
    #[serde(skip_serializing_if = "<[Port]>::is_empty")]
    port: &'a [Port],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    config: &'a BTreeMap<String, ConfigOption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<package::PackageOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: &'a Option<crate::boot::Service>,
    release: Vec<ReleaseOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    generate: Vec<crate::generate::GenerateOut<'a>>,
}

#[derive(Serialize)]
struct ReleaseOut<'a> {
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arch: &'a Option<Vec<Arch>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    provides: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    requires: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    constrains: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    conflicts: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    recommends: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<RawKernelNeeds>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kernel_config: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<package::FileOut<'a>>,
}

impl<'a> From<&'a Release> for ReleaseOut<'a> {
    fn from(r: &'a Release) -> Self {
        let deps = |ds: &'a [Dep]| {
            ds.iter()
                .map(|d| (d.name.as_str(), d.req.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let kernel =
            (r.kernel.min.is_some() || !r.kernel.config.is_empty()).then(|| RawKernelNeeds {
                min: r.kernel.min.as_ref().map(|v| v.to_string()),
                config: r.kernel.config.iter().map(KernelOption::as_need).collect(),
            });
        ReleaseOut {
            version: r.version.to_string(),
            image: &r.image,
            arch: &r.arch,
            provides: r
                .provides
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string()))
                .collect(),
            requires: deps(&r.requires),
            constrains: deps(&r.constrains),
            conflicts: deps(&r.conflicts),
            recommends: deps(&r.recommends),
            kernel,
            kernel_config: r.kernel_config.iter().map(|o| o.to_string()).collect(),
            files: r.files.iter().map(package::FileOut::from).collect(),
        }
    }
}

fn invalid(src: &SourceText, diagnostics: Vec<Diagnostic>) -> TypesError {
    TypesError::Invalid {
        file: src.name.clone(),
        diagnostics,
    }
}

/// Whether `s` is a kebab-case identifier (`a-z`, `0-9`, single inner dashes, and dots
/// inside version-like parts such as `linuxkit-kernel-6.12`).
pub fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.contains("--")
        && !s.ends_with('-')
}

/// The manifest's identity: a kebab-case `id` matching the file name, at least one
/// architecture and one release.
fn check_identity(
    raw: &RawManifest,
    id: &str,
    id_loc: &Location,
    expected_id: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    if !is_kebab(id) {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("component id `{id}` is not kebab-case"),
            )
            .at(id_loc.clone())
            .hint("use lowercase letters, digits and single dashes, e.g. `my-runtime`"),
        );
    }
    if let Some(stem) = expected_id {
        if stem != id {
            diags.push(
                Diagnostic::error(
                    diagnostic::ID_MISMATCH,
                    format!("id `{id}` does not match the file name `{stem}.toml`"),
                )
                .at(id_loc.clone())
                .hint(format!(
                    "rename the file to `{id}.toml` or set `id = \"{stem}\"`"
                )),
            );
        }
    }
    if raw.arch.is_empty() {
        diags.push(
            Diagnostic::error(diagnostic::INVALID_VALUE, "`arch` lists no architecture")
                .at(id_loc.clone())
                .hint("list at least one, e.g. arch = [\"amd64\", \"arm64\"]"),
        );
    }
    if raw.releases.is_empty() {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("component `{id}` has no [[release]]"),
            )
            .at(id_loc.clone())
            .hint("add at least one [[release]] with a version"),
        );
    }
}

/// Checks each `[config.X]` option (its default, `enum` on strings) and collects its
/// config-conditional kernel needs, option → value → needs.
fn config_kernel_from_raw(
    config: &BTreeMap<String, ConfigOption>,
    id_loc: &Location,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, BTreeMap<String, KernelNeeds>> {
    let mut config_kernel: BTreeMap<String, BTreeMap<String, KernelNeeds>> = BTreeMap::new();
    for (key, opt) in config {
        if let Some(default) = &opt.default {
            if let Err((code, msg)) = opt.check(default) {
                diags.push(
                    Diagnostic::error(code, format!("default of config `{key}`: {msg}"))
                        .at(id_loc.clone())
                        .hint("make the default satisfy the option's own type, enum and range"),
                );
            }
        }
        for (value, needs) in &opt.kernel {
            let typed = opt.key_value(value);
            let ok = typed.as_ref().is_some_and(|v| opt.check(v).is_ok());
            if !ok {
                diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_VALUE,
                        format!("config `{key}`: kernel needs are given for `{value}`, which is not a value of this option"),
                    )
                    .at(id_loc.clone())
                    .hint("key `kernel` by a value the option accepts: an enum value, true/false, or an integer in range"),
                );
                continue;
            }
            let k = config_kernel_needs(key, value, needs, id_loc, diags);
            config_kernel
                .entry(key.clone())
                .or_default()
                .insert(value.clone(), k);
        }
        if opt.allowed.is_some() && opt.ty != ConfigType::String {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("config `{key}`: `enum` only applies to strings"),
                )
                .at(id_loc.clone()),
            );
        }
    }
    config_kernel
}

/// The kernel needs of config `key` set to `value` (its `min` and `config` parsed).
fn config_kernel_needs(
    key: &str,
    value: &str,
    needs: &RawKernelNeeds,
    id_loc: &Location,
    diags: &mut Vec<Diagnostic>,
) -> KernelNeeds {
    let mut k = KernelNeeds {
        location: Some(id_loc.clone()),
        ..KernelNeeds::default()
    };
    if let Some(min) = &needs.min {
        match parse_version(min) {
            Ok(v) => k.min = Some(v),
            Err(e) => diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VERSION,
                    format!("config `{key}`.kernel.{value}.min: {e}"),
                )
                .at(id_loc.clone()),
            ),
        }
    }
    for o in &needs.config {
        match KernelOption::parse(o, false) {
            Ok(o) => k.config.push(o),
            Err(e) => diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, format!("config `{key}`: {e}"))
                    .at(id_loc.clone()),
            ),
        }
    }
    k
}

/// `[service]`: only for services, and without problems of its own.
fn service_from_raw(
    src: &SourceText,
    sv: Spanned<crate::boot::Service>,
    id: &str,
    stage: Stage,
    diags: &mut Vec<Diagnostic>,
) -> crate::boot::Service {
    let at = src.locate(sv.span());
    let sv = sv.into_inner();
    if stage != Stage::Service {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!(
                    "`[service]` applies to services, but `{id}` has stage = \"{}\"",
                    stage.as_str()
                ),
            )
            .at(at.clone())
            .hint("drop [service], or set stage = \"service\""),
        );
    }
    for p in sv.problems() {
        diags.push(
            Diagnostic::error(diagnostic::INVALID_VALUE, format!("[service]: {p}"))
                .at(at.clone())
                .hint("see docs/manifest-format.md, section [service]"),
        );
    }
    sv
}

/// `built_into`: another component, and then no release names an image.
fn built_into_from_raw(
    src: &SourceText,
    b: Spanned<String>,
    id: &str,
    releases: &[RawRelease],
    diags: &mut Vec<Diagnostic>,
) -> String {
    let name = b.get_ref().clone();
    if !is_kebab(&name) || name == id {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("`built_into = \"{name}\"` must name another component"),
            )
            .at(src.locate(b.span()))
            .hint(
                "name the component whose process this part runs in, e.g. built_into = \"dockerd\"",
            ),
        );
    }
    for r in releases {
        if let Some(img) = &r.image {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("`{id}` is built into another component but release {} names an image", r.version.get_ref()),
                )
                .at(src.locate(img.span()))
                .hint("drop `image` (a built-in part runs in its host's process), or drop `built_into`"),
            );
        }
    }
    name
}

/// A release's `kernel` needs (minimum version, options) and, for a kernel, the
/// `kernel_config` it is built with (sorted).
fn kernel_from_raw(
    src: &SourceText,
    r: &RawRelease,
    diags: &mut Vec<Diagnostic>,
) -> (KernelNeeds, Vec<KernelOption>) {
    let mut kernel = KernelNeeds::default();
    if let Some(k) = &r.kernel {
        let loc = src.locate(k.span());
        if let Some(min) = &k.get_ref().min {
            match parse_version(min) {
                Ok(v) => kernel.min = Some(v),
                Err(e) => diags.push(
                    Diagnostic::error(diagnostic::INVALID_VERSION, format!("kernel.min: {e}"))
                        .at(loc.clone()),
                ),
            }
        }
        for opt in &k.get_ref().config {
            match KernelOption::parse(opt, false) {
                Ok(o) => kernel.config.push(o),
                Err(e) => {
                    diags.push(Diagnostic::error(diagnostic::INVALID_VALUE, e).at(loc.clone()))
                }
            }
        }
        kernel.location = Some(loc);
    }
    let mut kernel_config = Vec::new();
    for opt in &r.kernel_config {
        match KernelOption::parse(opt.get_ref(), true) {
            Ok(o) => kernel_config.push(o),
            Err(e) => diags
                .push(Diagnostic::error(diagnostic::INVALID_VALUE, e).at(src.locate(opt.span()))),
        }
    }
    kernel_config.sort();
    (kernel, kernel_config)
}

fn release_from_raw(
    src: &SourceText,
    r: RawRelease,
    archs: &[Arch],
    unverified: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<Release> {
    let location = src.locate(r.version.span());
    let edges = r.requires.len() + r.constrains.len() + r.conflicts.len() + r.recommends.len();
    if edges > crate::MAX_REQUIREMENTS {
        diags.push(
            Diagnostic::error(
                diagnostic::INPUT_LIMIT,
                format!(
                    "release {} lists {edges} requirements, over the limit of {}",
                    r.version.get_ref(),
                    crate::MAX_REQUIREMENTS
                ),
            )
            .at(location.clone())
            .hint("depend on a capability instead of listing every component"),
        );
        return None;
    }
    let version = match parse_version(r.version.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VERSION, e)
                    .at(location.clone())
                    .hint("write the version as MAJOR.MINOR.PATCH; encode other schemes as build metadata, e.g. 0.0.0+b5506cc7"),
            );
            None
        }
    };
    if let Some(img) = &r.image {
        if let Err(e) = crate::reference::ImageRef::parse(img.get_ref()) {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, e.to_string())
                    .at(src.locate(img.span()))
                    .hint("write an OCI reference such as docker.io/linuxkit/getty:<tag> or name@sha256:<digest>"),
            );
        }
    }
    let mut provides = BTreeMap::new();
    let mut provides_at = BTreeMap::new();
    for (cap, v) in &r.provides {
        match parse_version(v.get_ref()) {
            Ok(ver) => {
                provides.insert(cap.clone(), ver);
                provides_at.insert(cap.clone(), src.locate(v.span()));
            }
            Err(e) => diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VERSION,
                    format!("provides `{cap}`: {e}"),
                )
                .at(src.locate(v.span()))
                .hint("a provided capability takes one version, e.g. cri = \"1.0.0\""),
            ),
        }
    }
    let mut deps = |map: &BTreeMap<String, Spanned<String>>, kind: &str| -> Vec<Dep> {
        let mut out = Vec::new();
        for (name, req) in map {
            let loc = src.locate(req.span());
            match parse_req(req.get_ref()) {
                Ok(r) => out.push(Dep {
                    name: name.clone(),
                    req: r,
                    location: loc,
                }),
                Err(e) => diags.push(
                    Diagnostic::error(diagnostic::INVALID_RANGE, format!("{kind} `{name}`: {e}"))
                        .at(loc),
                ),
            }
        }
        out
    };
    let requires = deps(&r.requires, "requires");
    let constrains = deps(&r.constrains, "constrains");
    let conflicts = deps(&r.conflicts, "conflicts");
    let recommends = deps(&r.recommends, "recommends");
    let (kernel, kernel_config) = kernel_from_raw(src, &r, diags);
    let files =
        package::files_from_raw(src, r.files, archs, r.version.get_ref(), unverified, diags);
    if let (Some(img), Some(f)) = (&r.image, files.first()) {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!(
                    "release {} has both an `image` and release files",
                    r.version.get_ref()
                ),
            )
            .at(f.location.clone())
            .hint(format!(
                "keep one: the upstream image `{}` or the files Stackwright packages",
                img.get_ref()
            )),
        );
    }
    Some(Release {
        version: version?,
        location,
        image: r.image.map(|i| i.into_inner()),
        arch: r.arch,
        provides,
        provides_at,
        requires,
        constrains,
        conflicts,
        recommends,
        kernel,
        kernel_config,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_requirements_in_one_release_is_a_limit() {
        let mut text = String::from(
            "id = \"big\"\ncategory = \"runtime\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\n[release.requires]\n",
        );
        for i in 0..=crate::MAX_REQUIREMENTS {
            text.push_str(&format!("dep-{i} = \"*\"\n"));
        }
        let err = Manifest::parse(&SourceText::new("big.toml", text), Some("big")).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.code, diagnostic::INPUT_LIMIT);
        assert_eq!(d.location.as_ref().unwrap().line, 7, "{}", d.render());
        assert!(d.message.contains("1001 requirements"), "{}", d.message);
    }

    #[test]
    fn versions_too_large_for_semver_are_errors_not_panics() {
        let text = "id = \"big\"\ncategory = \"runtime\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n[[release]]\nversion = \"99999999999999999999.0.0\"\n[release.requires]\nx = \">=99999999999999999999\"\n";
        let err = Manifest::parse(&SourceText::new("big.toml", text), Some("big")).unwrap_err();
        let codes: Vec<_> = err.diagnostics().iter().map(|d| d.code).collect();
        assert!(codes.contains(&diagnostic::INVALID_VERSION), "{codes:?}");
        assert!(codes.contains(&diagnostic::INVALID_RANGE), "{codes:?}");
    }

    const OK: &str = r#"
id = "containerd"
category = "runtime"
summary = "Container lifecycle daemon"
stage = "service"
arch = ["amd64", "arm64"]

[container]
net = "host"

[[port]]
port = 10010
protocol = "tcp"

[config.snapshotter]
type = "string"
enum = ["overlayfs", "native"]
default = "overlayfs"

[[release]]
version = "1.7.29"
provides = { cri = "1.0.0" }
requires = { oci-runtime = "^1.1" }

[[release]]
version = "2.3.4"
provides = { cri = "1.0.0" }
requires = { oci-runtime = "*" }
kernel = { min = "4.15", config = ["CONFIG_OVERLAY_FS"] }
"#;

    #[test]
    fn parses_and_sorts_releases_newest_first() {
        let m =
            Manifest::parse(&SourceText::new("containerd.toml", OK), Some("containerd")).unwrap();
        assert_eq!(m.releases[0].version.to_string(), "2.3.4");
        assert_eq!(m.releases[1].requires[0].location.line, 23);
        assert_eq!(m.ports[0].scope, PortScope::Host);
    }

    #[test]
    fn round_trips_through_toml() {
        let m = Manifest::parse(&SourceText::new("c.toml", OK), None).unwrap();
        let again = Manifest::parse(&SourceText::new("c.toml", m.to_toml()), None).unwrap();
        assert_eq!(m.to_toml(), again.to_toml());
    }

    #[test]
    fn unknown_key_points_at_line_with_suggestion() {
        let text = OK.replace("summary =", "sumary =");
        let err = Manifest::parse(&SourceText::new("c.toml", text), None).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.code, diagnostic::UNKNOWN_KEY);
        assert_eq!(d.location.as_ref().unwrap().line, 4);
        assert_eq!(d.hint.as_deref(), Some("did you mean `summary`?"));
    }

    #[test]
    fn collects_every_semantic_problem() {
        let text = OK
            .replace("version = \"1.7.29\"", "version = \"one\"")
            .replace("\"^1.1\"", "\"^^1\"");
        let err = Manifest::parse(&SourceText::new("c.toml", text), Some("other")).unwrap_err();
        let codes: Vec<_> = err.diagnostics().iter().map(|d| d.code.0).collect();
        assert_eq!(codes, vec!["SW0106", "SW0104", "SW0105"]);
    }

    const PACKAGED: &str = r#"id = "containerd"
category = "runtime"
summary = "Container lifecycle daemon"
stage = "service"
arch = ["amd64", "arm64"]

[package]
entrypoint = ["/usr/bin/containerd"]
env = ["PATH=/usr/bin:/bin"]
symlinks = [{ path = "usr/bin/ctr-link", target = "ctr" }]
files = [{ path = "etc/containerd/config.toml", contents = "version = 3\n" }]

[[release]]
version = "2.3.4"

[[release.files]]
arch = "amd64"
url = "https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz"
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
checksum_source = "https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz.sha256sum"
format = "tar.gz"
extract = [
  { from = "bin/", to = "usr/bin/" },
  { from = "./bin/ctr", to = "usr/bin/ctr2", mode = "0755" },
]

[[release.files]]
arch = "arm64"
url = "https://example.com/runc.arm64"
sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
checksum_source = "https://example.com/runc.sha256sum"
format = "binary"
path = "usr/bin/runc"
"#;

    fn packaged(text: &str) -> Result<Manifest, Vec<Diagnostic>> {
        Manifest::parse(&SourceText::new("c.toml", text), None).map_err(|e| e.into_diagnostics())
    }

    #[test]
    fn release_files_parse_and_round_trip() {
        let m = packaged(PACKAGED).unwrap();
        let f = &m.releases[0].files;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].arch, Arch::Amd64);
        assert_eq!(f[0].location.line, 18);
        match &f[0].layout {
            package::FileLayout::Extract(rules) => {
                assert_eq!(rules[1].from, "bin/ctr");
                assert_eq!(rules[1].mode, Some(package::Mode(0o755)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            f[1].layout,
            package::FileLayout::Binary {
                path: "usr/bin/runc".into(),
                mode: package::Mode(0o755)
            }
        );
        assert_eq!(m.package.files[0].mode, package::Mode(0o644));
        let again = packaged(&m.to_toml()).unwrap();
        assert_eq!(again.to_toml(), m.to_toml());
        assert_eq!(again.releases[0].files.len(), 2);
        assert_eq!(again.package, m.package);
    }

    fn codes_lines(text: &str) -> Vec<(&'static str, u32)> {
        let mut d = packaged(text).unwrap_err();
        diagnostic::sort(&mut d);
        d.iter()
            .map(|d| (d.code.0, d.location.as_ref().map_or(0, |l| l.line)))
            .collect()
    }

    #[test]
    fn release_file_problems_are_at_their_line() {
        // Uppercase hex.
        let t = PACKAGED.replacen("sha256 = \"1111", "sha256 = \"AAAA", 1);
        assert_eq!(codes_lines(&t), vec![("SW0103", 19)]);
        // An arch the component does not list.
        let t = PACKAGED.replace("arch = \"arm64\"", "arch = \"s390x\"");
        assert_eq!(codes_lines(&t), vec![("SW0103", 28)]);
        // Unknown format.
        let t = PACKAGED.replace("format = \"binary\"", "format = \"zip\"");
        assert_eq!(codes_lines(&t)[0].0, "SW0103");
        // Missing url.
        let t = PACKAGED.replace("url = \"https://example.com/runc.arm64\"\n", "");
        let d = packaged(&t).unwrap_err();
        assert!(
            d[0].message.contains("missing field `url`"),
            "{}",
            d[0].render()
        );
        // Two files on one path.
        let t = PACKAGED.replace("to = \"usr/bin/ctr2\"", "to = \"usr/bin/ctr-link\"");
        assert_eq!(codes_lines(&t), vec![("SW0110", 18)]);
        // No sha256 and not listed as unverified; then listed.
        let t = PACKAGED.replace(
            "sha256 = \"2222222222222222222222222222222222222222222222222222222222222222\"\nchecksum_source = \"https://example.com/runc.sha256sum\"\n",
            "",
        );
        assert_eq!(codes_lines(&t), vec![("SW0103", 29)]);
        let t = t.replace(
            "stage = \"service\"",
            "stage = \"service\"\nverified = false\nunverified = [\"release 2.3.4 arm64: no upstream checksum\"]",
        );
        let m = packaged(&t).unwrap();
        assert!(m.releases[0].files[1].sha256.is_none());
        // A binary without path; an archive with path.
        let t = PACKAGED.replace("path = \"usr/bin/runc\"\n", "");
        assert_eq!(codes_lines(&t), vec![("SW0103", 32)]);
        let t = PACKAGED.replace(
            "from = \"bin/\", to = \"usr/bin/\"",
            "from = \"bin/\", to = \"usr/bin\"",
        );
        assert_eq!(codes_lines(&t), vec![("SW0103", 23)]);
        let t = PACKAGED.replace("to = \"usr/bin/ctr2\"", "to = \"../etc/x\"");
        assert_eq!(codes_lines(&t), vec![("SW0103", 24)]);
    }

    #[test]
    fn kernel_options() {
        assert!(KernelOption::parse("CONFIG_BPF=m", true).is_ok_and(|o| !o.builtin));
        assert!(KernelOption::parse("BPF", true).is_err());
    }
}
