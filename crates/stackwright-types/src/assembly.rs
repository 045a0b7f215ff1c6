//! Assembly files (`assemblies/<name>.toml`): what a user asks for.
//!
//! [`AssemblyFile::parse`] reads one file into located values; [`AssemblyFile::merge`]
//! lays a child over its parent (SPEC §3: tables merge key by key, components are keyed
//! by id, later files win). Following `extends` across files is I/O and lives in
//! `stackwright-assembly`.

use std::collections::BTreeMap;
use std::fmt;

use semver::{Version, VersionReq};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::container::Container;
use crate::diagnostic::{self, Diagnostic};
use crate::linuxkit::File;
use crate::manifest::Arch;
use crate::source::{Location, SourceText};
use crate::version::{parse_req, parse_version};
use crate::TypesError;

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub location: Location,
}

impl<T> Located<T> {
    pub fn new(value: T, location: Location) -> Self {
        Self { value, location }
    }
}

// --------------------------------------------------------------------------------------
// Raw serde form.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssembly {
    #[serde(default)]
    assembly: Option<RawMeta>,
    #[serde(default)]
    components: BTreeMap<Spanned<String>, Spanned<RawEntry>>,
    #[serde(default)]
    capabilities: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    prefer: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    external: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    exclude: Option<RawExclude>,
    #[serde(default)]
    policy: Option<RawPolicy>,
    #[serde(default)]
    kernel: Option<RawKernel>,
    #[serde(default)]
    files: Vec<Spanned<File>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    version: Option<Spanned<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    arch: Option<Spanned<String>>,
    #[serde(default)]
    extends: Vec<Spanned<String>>,
    #[serde(default)]
    component_paths: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclude {
    #[serde(default)]
    components: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    privileged: Option<Spanned<RawPrivileged>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    #[serde(default)]
    cmdline: Option<Spanned<String>>,
}

#[derive(Debug)]
enum RawPrivileged {
    All(bool),
    Only(Vec<String>),
}

impl<'de> Deserialize<'de> for RawPrivileged {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPrivileged;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, or a list of component ids")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(RawPrivileged::All(b))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(RawPrivileged::Only(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `kubelet = "~1.36"` or `cilium = { version = "^1.15", config = { … } }`.
#[derive(Debug)]
enum RawEntry {
    Version(String),
    Detailed(RawDetailed),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetailed {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    container: Option<Container>,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a version range string or a table with version/config/container/image")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(RawEntry::Version(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawDetailed::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawEntry::Detailed)
            }
        }
        d.deserialize_any(V)
    }
}

// --------------------------------------------------------------------------------------
// Located model of one file.

/// Who may run privileged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivilegedPolicy {
    /// `privileged = true` (or no policy at all): anyone.
    Any,
    /// `privileged = false`: nobody.
    None,
    /// Only these component ids.
    Only(Vec<String>),
}

impl PrivilegedPolicy {
    pub fn allows(&self, id: &str) -> bool {
        match self {
            PrivilegedPolicy::Any => true,
            PrivilegedPolicy::None => false,
            PrivilegedPolicy::Only(ids) => ids.iter().any(|i| i == id),
        }
    }
}

/// One entry of `[components]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentRequest {
    pub id: String,
    /// `None` when a table entry gives no version: inherit the parent's, else any.
    pub req: Option<Located<VersionReq>>,
    pub image: Option<Located<String>>,
    pub config: BTreeMap<String, Located<toml::Value>>,
    pub container: Container,
    pub location: Location,
}

impl ComponentRequest {
    /// The effective range (`*` when none was given anywhere).
    pub fn range(&self) -> VersionReq {
        self.req
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or(VersionReq::STAR)
    }
}

/// One assembly file, or several merged through `extends`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssemblyFile {
    /// The file this was read from (for a merge: the child).
    pub source: String,
    pub name: Option<Located<String>>,
    pub version: Option<Located<Version>>,
    pub description: Option<String>,
    pub arch: Option<Located<Arch>>,
    pub extends: Vec<Located<String>>,
    pub component_paths: Vec<Located<String>>,
    pub components: BTreeMap<String, ComponentRequest>,
    pub capabilities: BTreeMap<String, Located<VersionReq>>,
    pub prefer: BTreeMap<String, Located<String>>,
    pub external: BTreeMap<String, Located<Version>>,
    pub exclude: BTreeMap<String, Location>,
    pub privileged: Option<Located<PrivilegedPolicy>>,
    pub cmdline: Option<Located<String>>,
    pub files: Vec<Located<File>>,
}

impl AssemblyFile {
    /// Parses one assembly file; every problem found is reported at its line.
    pub fn parse(src: &SourceText) -> Result<AssemblyFile, TypesError> {
        let raw: RawAssembly =
            crate::tomlin::parse(src).map_err(|diagnostics| TypesError::Invalid {
                file: src.name.clone(),
                diagnostics,
            })?;
        let mut diags = Vec::new();
        let loc = |s: std::ops::Range<usize>| src.locate(s);
        let mut out = AssemblyFile {
            source: src.name.clone(),
            ..Default::default()
        };
        if let Some(meta) = raw.assembly {
            if let Some(n) = meta.name {
                let l = loc(n.span());
                if !crate::manifest::is_kebab(n.get_ref()) {
                    diags.push(
                        Diagnostic::error(
                            diagnostic::INVALID_VALUE,
                            format!("assembly name `{}` is not kebab-case", n.get_ref()),
                        )
                        .at(l.clone())
                        .hint(
                            "it names the output folder: use lowercase letters, digits and dashes",
                        ),
                    );
                }
                out.name = Some(Located::new(n.into_inner(), l));
            }
            if let Some(v) = meta.version {
                match parse_version(v.get_ref()) {
                    Ok(ver) => out.version = Some(Located::new(ver, loc(v.span()))),
                    Err(e) => diags
                        .push(Diagnostic::error(diagnostic::INVALID_VERSION, e).at(loc(v.span()))),
                }
            }
            out.description = meta.description;
            if let Some(a) = meta.arch {
                match a.get_ref().parse::<Arch>() {
                    Ok(arch) => out.arch = Some(Located::new(arch, loc(a.span()))),
                    Err(e) => diags.push(
                        Diagnostic::error(
                            diagnostic::BAD_ARCH,
                            format!("unknown architecture: {e}"),
                        )
                        .at(loc(a.span()))
                        .hint("use the OCI name: amd64 (not x86_64), arm64 (not aarch64)"),
                    ),
                }
            }
            out.extends = meta
                .extends
                .into_iter()
                .map(|e| {
                    let l = loc(e.span());
                    Located::new(e.into_inner(), l)
                })
                .collect();
            out.component_paths = meta
                .component_paths
                .into_iter()
                .map(|e| {
                    let l = loc(e.span());
                    Located::new(e.into_inner(), l)
                })
                .collect();
        }
        for (id, entry) in raw.components {
            let location = loc(id.span());
            let entry_loc = loc(entry.span());
            let mut req = ComponentRequest {
                id: id.get_ref().clone(),
                req: None,
                image: None,
                config: BTreeMap::new(),
                container: Container::default(),
                location,
            };
            let version_text = match entry.into_inner() {
                RawEntry::Version(v) => Some(v),
                RawEntry::Detailed(d) => {
                    req.image = d.image.map(|i| Located::new(i, entry_loc.clone()));
                    if let Some(img) = &req.image {
                        if let Err(e) = crate::manifest::check_image_ref(&img.value) {
                            diags.push(
                                Diagnostic::error(diagnostic::INVALID_VALUE, e)
                                    .at(entry_loc.clone()),
                            );
                        }
                    }
                    req.config = d
                        .config
                        .into_iter()
                        .map(|(k, v)| {
                            let l = loc(v.span());
                            (k, Located::new(v.into_inner(), l))
                        })
                        .collect();
                    req.container = d.container.unwrap_or_default();
                    d.version
                }
            };
            if let Some(v) = version_text {
                match parse_req(&v) {
                    Ok(r) => req.req = Some(Located::new(r, entry_loc.clone())),
                    Err(e) => diags.push(
                        Diagnostic::error(
                            diagnostic::INVALID_RANGE,
                            format!("component `{}`: {e}", req.id),
                        )
                        .at(entry_loc.clone()),
                    ),
                }
            }
            out.components.insert(req.id.clone(), req);
        }
        for (name, r) in raw.capabilities {
            match parse_req(r.get_ref()) {
                Ok(req) => {
                    out.capabilities
                        .insert(name.into_inner(), Located::new(req, loc(r.span())));
                }
                Err(e) => diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_RANGE,
                        format!("capability `{}`: {e}", name.get_ref()),
                    )
                    .at(loc(r.span())),
                ),
            }
        }
        for (cap, id) in raw.prefer {
            let l = loc(id.span());
            out.prefer
                .insert(cap.into_inner(), Located::new(id.into_inner(), l));
        }
        for (id, v) in raw.external {
            match parse_version(v.get_ref()) {
                Ok(ver) => {
                    out.external.insert(id.into_inner(), Located::new(ver, loc(v.span())));
                }
                Err(e) => diags.push(
                    Diagnostic::error(diagnostic::INVALID_VERSION, format!("external `{}`: {e}", id.get_ref()))
                        .at(loc(v.span()))
                        .hint("an [external] entry is present at one exact version, e.g. kube-apiserver = \"1.36.4\""),
                ),
            }
        }
        if let Some(ex) = raw.exclude {
            for c in ex.components {
                let l = loc(c.span());
                out.exclude.insert(c.into_inner(), l);
            }
        }
        if let Some(p) = raw.policy.and_then(|p| p.privileged) {
            let l = loc(p.span());
            let pol = match p.into_inner() {
                RawPrivileged::All(true) => PrivilegedPolicy::Any,
                RawPrivileged::All(false) => PrivilegedPolicy::None,
                RawPrivileged::Only(ids) => PrivilegedPolicy::Only(ids),
            };
            out.privileged = Some(Located::new(pol, l));
        }
        if let Some(c) = raw.kernel.and_then(|k| k.cmdline) {
            let l = loc(c.span());
            out.cmdline = Some(Located::new(c.into_inner(), l));
        }
        for f in raw.files {
            let l = loc(f.span());
            out.files.push(Located::new(f.into_inner(), l));
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(TypesError::Invalid {
                file: src.name.clone(),
                diagnostics: diags,
            })
        }
    }

    /// `child` laid over `self` (the parent): scalars from the child when it sets them;
    /// tables key by key; components by id, with version, image, config keys and
    /// container fields each inherited unless the child sets them; files by path.
    pub fn merge(mut self, child: AssemblyFile) -> AssemblyFile {
        self.source = child.source;
        self.name = child.name.or(self.name);
        self.version = child.version.or(self.version);
        self.description = child.description.or(self.description);
        self.arch = child.arch.or(self.arch);
        self.extends = child.extends;
        self.component_paths.extend(child.component_paths);
        for (id, c) in child.components {
            match self.components.remove(&id) {
                Some(mut parent) => {
                    parent.location = c.location;
                    if c.req.is_some() {
                        parent.req = c.req;
                    }
                    if c.image.is_some() {
                        parent.image = c.image;
                    }
                    parent.config.extend(c.config);
                    parent.container = parent.container.overlay(&c.container);
                    self.components.insert(id, parent);
                }
                None => {
                    self.components.insert(id, c);
                }
            }
        }
        self.capabilities.extend(child.capabilities);
        self.prefer.extend(child.prefer);
        self.external.extend(child.external);
        self.exclude.extend(child.exclude);
        self.privileged = child.privileged.or(self.privileged);
        self.cmdline = child.cmdline.or(self.cmdline);
        for f in child.files {
            match self.files.iter_mut().find(|p| p.value.path == f.value.path) {
                Some(slot) => *slot = f,
                None => self.files.push(f),
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[assembly]
name = "k8s-node"
version = "0.1.0"
arch = "amd64"

[components]
kubelet = "~1.36"
cilium = { version = "^1.15", config = { tunnel = "vxlan" } }
getty = { version = "*", container = { env = ["INSECURE=true"] } }

[external]
kube-apiserver = "1.36.4"

[policy]
privileged = ["cilium"]

[[files]]
path = "etc/motd"
contents = "hi\n"
"#;

    #[test]
    fn parses_every_section() {
        let a = AssemblyFile::parse(&SourceText::new("a.toml", BASE)).unwrap();
        assert_eq!(
            a.components["cilium"].config["tunnel"].value.as_str(),
            Some("vxlan")
        );
        assert_eq!(a.components["cilium"].config["tunnel"].location.line, 9);
        assert_eq!(a.external["kube-apiserver"].value.to_string(), "1.36.4");
        assert!(a.privileged.as_ref().unwrap().value.allows("cilium"));
        assert_eq!(
            a.components["getty"].container.env.as_deref(),
            Some(&["INSECURE=true".to_string()][..])
        );
    }

    #[test]
    fn child_overrides_one_component_and_keeps_the_rest() {
        let parent = AssemblyFile::parse(&SourceText::new("a.toml", BASE)).unwrap();
        let child = AssemblyFile::parse(&SourceText::new(
            "b.toml",
            "[components]\ncilium = { config = { tunnel = \"geneve\" } }\n[[files]]\npath = \"etc/motd\"\ncontents = \"bye\\n\"\n",
        ))
        .unwrap();
        let m = parent.merge(child);
        assert_eq!(m.components["cilium"].range().to_string(), "^1.15");
        assert_eq!(
            m.components["cilium"].config["tunnel"].value.as_str(),
            Some("geneve")
        );
        assert!(m.components.contains_key("kubelet"));
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].value.contents.as_deref(), Some("bye\n"));
    }

    #[test]
    fn unknown_key_in_component_table_is_an_error() {
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[components]\ncilium = { verison = \"1\" }\n",
        ))
        .unwrap_err();
        assert_eq!(e.diagnostics()[0].code, diagnostic::UNKNOWN_KEY);
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 2);
    }

    #[test]
    fn bad_arch_gets_hint() {
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[assembly]\narch = \"x86_64\"\n",
        ))
        .unwrap_err();
        assert_eq!(e.diagnostics()[0].code, diagnostic::BAD_ARCH);
    }
}
