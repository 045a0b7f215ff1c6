//! Assembly files (`assemblies/<name>.toml`): what a user asks for.
//!
//! [`AssemblyFile::parse`] reads one file into located values; [`AssemblyFile::merge`]
//! lays a child over its parent (SPEC §3: tables merge key by key, components are keyed
//! by id, later files win). Following `extends` across files is I/O and lives in
//! `stackwright-assembly`.
//!
//! The optional `[linuxkit]` table ([`LinuxkitLayout`]) says how the platform is laid out in
//! `linuxkit.yml` when the default (every component with an image, in start order, under
//! its id) is not what is wanted — chiefly for assemblies imported from a LinuxKit file,
//! which must render that file back: sections and order, LinuxKit names, the kernel's
//! `binary`/`tar`/`ucode`, `trust`, `volumes`, and whether manifests' `[container]`
//! defaults apply.

use std::collections::BTreeMap;
use std::fmt;

use semver::{Version, VersionReq};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::container::Container;
use crate::diagnostic::{self, Diagnostic};
use crate::linuxkit::{File, Trust, Volume};
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
    #[serde(default)]
    linuxkit: Option<RawLinuxkit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinuxkit {
    #[serde(default)]
    init: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    onboot: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    onshutdown: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    services: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    kernel: Option<Spanned<RawLinuxkitKernelEntry>>,
    #[serde(default)]
    names: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    trust: Option<Spanned<Trust>>,
    #[serde(default)]
    volumes: Option<Vec<Spanned<Volume>>>,
    #[serde(default)]
    inherit_container: Option<Spanned<bool>>,
}

/// `kernel = false` (no kernel section) or `kernel = { binary, tar, ucode }`.
#[derive(Debug)]
enum RawLinuxkitKernelEntry {
    Render(bool),
    Fields(RawLinuxkitKernel),
}

impl<'de> Deserialize<'de> for RawLinuxkitKernelEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLinuxkitKernelEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("false (no kernel section) or a table with binary/tar/ucode")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(RawLinuxkitKernelEntry::Render(b))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawLinuxkitKernel::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLinuxkitKernelEntry::Fields)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinuxkitKernel {
    #[serde(default)]
    binary: Option<Spanned<String>>,
    #[serde(default)]
    tar: Option<Spanned<String>>,
    #[serde(default)]
    ucode: Option<Spanned<String>>,
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
    /// `base = true`: meant only to be extended (checked, never rendered).
    #[serde(default)]
    base: Option<Spanned<bool>>,
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
    #[serde(default)]
    unpackaged: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    #[serde(default)]
    cmdline: Option<Spanned<String>>,
    #[serde(default)]
    initrd: Option<Spanned<InitrdCompression>>,
}

/// `[kernel] initrd`: how the initrd of `--format kernel+initrd` (and of the disk images)
/// is compressed. `gzip` (the default) is what `linuxkit build` writes and every kernel
/// reads; `lz4` (the kernel's legacy LZ4 format, as `lz4 -l` writes it) needs
/// `CONFIG_RD_LZ4=y` and unpacks several times faster, which shortens the boot (about 1 s
/// of a 27 MB initrd under qemu's TCG). `linuxkit.yml` does not carry it (LinuxKit always
/// writes gzip).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitrdCompression {
    #[default]
    Gzip,
    Lz4,
}

impl InitrdCompression {
    /// As an assembly writes it (`[kernel] initrd = "lz4"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
        }
    }

    /// The kernel option (built in, `=y`) that unpacks an initrd compressed this way.
    pub fn kernel_option(self) -> &'static str {
        match self {
            Self::Gzip => "CONFIG_RD_GZIP",
            Self::Lz4 => "CONFIG_RD_LZ4",
        }
    }
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
    Detailed(Box<RawDetailed>),
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
                    .map(|d| RawEntry::Detailed(Box::new(d)))
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
    /// `[assembly] base = true`: the file is meant only to be extended. It is resolved and
    /// checked, but not rendered, and need not be bootable. Never inherited by a child.
    pub base: Option<Located<bool>>,
    pub components: BTreeMap<String, ComponentRequest>,
    pub capabilities: BTreeMap<String, Located<VersionReq>>,
    pub prefer: BTreeMap<String, Located<String>>,
    pub external: BTreeMap<String, Located<Version>>,
    pub exclude: BTreeMap<String, Location>,
    pub privileged: Option<Located<PrivilegedPolicy>>,
    /// `policy.unpackaged`: components accepted without an image (neither an `image` nor
    /// release files to package): they stay in the lock and plan, out of `linuxkit.yml`,
    /// with warning SW0510 instead of the error.
    pub unpackaged: BTreeMap<String, Location>,
    pub cmdline: Option<Located<String>>,
    /// `[kernel] initrd`.
    pub initrd: Option<Located<InitrdCompression>>,
    pub files: Vec<Located<File>>,
    /// The `[linuxkit]` table, when some file of the chain has one.
    pub linuxkit: Option<LinuxkitLayout>,
}

/// The `[linuxkit]` table: how the platform is laid out in `linuxkit.yml`.
///
/// Every key is optional, and a key is `None` when no file sets it, so `extends` can merge
/// the table key by key (a child's key replaces its parent's; `names` and `kernel` are
/// tables and merge by their own keys). A section the table gives holds exactly the listed
/// components, in order (`init = []`: none); a chosen component no section lists is left
/// out of `linuxkit.yml` (it stays in the lock and plan). A section the table does not give
/// keeps the default: the solver's start order of that stage, without the components
/// listed elsewhere. Every listed id must be a chosen component ([`Self::check`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LinuxkitLayout {
    /// Where the table was written (for a merge: the child's table).
    pub location: Location,
    /// Component ids of the `init` section, in order.
    pub init: Option<Vec<Located<String>>>,
    /// Component ids of the `onboot` section, in order (they run one after another).
    pub onboot: Option<Vec<Located<String>>>,
    /// Component ids of the `onshutdown` section, in order.
    pub onshutdown: Option<Vec<Located<String>>>,
    /// Component ids of the `services` section, in order.
    pub services: Option<Vec<Located<String>>>,
    /// `kernel = { binary, tar, ucode }`: the kernel section's fields beyond the image
    /// (the solver's kernel) and the command line (`[kernel] cmdline`); with them the
    /// section is rendered even when no kernel component has an image. `kernel = false`:
    /// no kernel section at all, whatever kernel the solver chose.
    pub kernel: Option<LinuxkitKernel>,
    /// Component id → LinuxKit `name`, where they differ.
    pub names: BTreeMap<String, Located<String>>,
    pub trust: Option<Located<Trust>>,
    pub volumes: Option<Vec<Located<Volume>>>,
    /// `false`: the rendered settings of each image are exactly the assembly's `container`
    /// for it, without its manifest's `[container]` defaults (the LinuxKit file it came
    /// from said everything). Default `true`.
    pub inherit_container: Option<Located<bool>>,
}

/// `[linuxkit.kernel]`: LinuxKit kernel fields the `[kernel]` table does not hold, or
/// `kernel = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinuxkitKernel {
    pub location: Location,
    /// `kernel = false`: `linuxkit.yml` gets no kernel section (the fields are then none).
    pub omit: bool,
    pub binary: Option<Located<String>>,
    pub tar: Option<Located<String>>,
    pub ucode: Option<Located<String>>,
}

/// The LinuxKit sections a `[linuxkit]` table orders, in LinuxKit's order.
pub const LINUXKIT_SECTIONS: [&str; 4] = ["init", "onboot", "onshutdown", "services"];

impl LinuxkitLayout {
    /// A table with no keys, written at `location`.
    pub fn empty(location: Location) -> LinuxkitLayout {
        LinuxkitLayout {
            location,
            init: None,
            onboot: None,
            onshutdown: None,
            services: None,
            kernel: None,
            names: BTreeMap::new(),
            trust: None,
            volumes: None,
            inherit_container: None,
        }
    }

    /// Whether manifests' `[container]` defaults apply (`inherit_container`, default true).
    pub fn inherits_container(&self) -> bool {
        self.inherit_container.as_ref().is_none_or(|b| b.value)
    }

    /// The ids a section lists, if the table gives that section (`init`, `onboot`,
    /// `onshutdown` or `services`).
    pub fn section(&self, name: &str) -> Option<&[Located<String>]> {
        match name {
            "init" => self.init.as_deref(),
            "onboot" => self.onboot.as_deref(),
            "onshutdown" => self.onshutdown.as_deref(),
            "services" => self.services.as_deref(),
            _ => None,
        }
    }

    /// Every id the sections list, with its section, in LinuxKit's section order.
    pub fn listed(&self) -> impl Iterator<Item = (&'static str, &Located<String>)> {
        LINUXKIT_SECTIONS.into_iter().flat_map(move |s| {
            self.section(s)
                .unwrap_or_default()
                .iter()
                .map(move |id| (s, id))
        })
    }

    /// The LinuxKit name of a component: its `names` entry, else its id.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map(|n| n.value.as_str()).unwrap_or(id)
    }

    /// Problems only resolution can show: ids in the sections or in `names` that are not
    /// chosen components (`chosen` says which are).
    pub fn check(&self, chosen: impl Fn(&str) -> bool) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let unchosen = |what: String, id: &str, at: &Location| {
            Diagnostic::error(
                diagnostic::LINUXKIT_LAYOUT,
                format!("[linuxkit] {what} `{id}`, which is not a component of the platform"),
            )
            .at(at.clone())
            .hint(format!(
                "add `{id}` to [components], or remove it from the [linuxkit] table"
            ))
        };
        for (section, id) in self.listed() {
            if !chosen(&id.value) {
                out.push(unchosen(
                    format!("{section} lists"),
                    &id.value,
                    &id.location,
                ));
            }
        }
        for (id, name) in &self.names {
            if !chosen(id) {
                out.push(unchosen("names gives a name to".into(), id, &name.location));
            }
        }
        out
    }

    /// `child` laid over `self`: each key the child sets replaces the parent's; `names`
    /// and `kernel` merge by their own keys.
    pub fn merge(self, child: LinuxkitLayout) -> LinuxkitLayout {
        let mut names = self.names;
        names.extend(child.names);
        let kernel = match (self.kernel, child.kernel) {
            (Some(p), Some(c)) if !p.omit && !c.omit => Some(LinuxkitKernel {
                location: c.location,
                omit: false,
                binary: c.binary.or(p.binary),
                tar: c.tar.or(p.tar),
                ucode: c.ucode.or(p.ucode),
            }),
            (p, c) => c.or(p),
        };
        LinuxkitLayout {
            location: child.location,
            init: child.init.or(self.init),
            onboot: child.onboot.or(self.onboot),
            onshutdown: child.onshutdown.or(self.onshutdown),
            services: child.services.or(self.services),
            kernel,
            names,
            trust: child.trust.or(self.trust),
            volumes: child.volumes.or(self.volumes),
            inherit_container: child.inherit_container.or(self.inherit_container),
        }
    }
}

/// An assembly listing more parts than [`crate::MAX_COMPONENTS`] is refused before any
/// of them is read.
fn check_count(src: &SourceText, raw: &RawAssembly) -> Result<(), TypesError> {
    let counted = raw.components.len()
        + raw.external.len()
        + raw.capabilities.len()
        + raw.prefer.len()
        + raw.files.len();
    if counted > crate::MAX_COMPONENTS {
        return Err(TypesError::Invalid {
            file: src.name.clone(),
            diagnostics: vec![Diagnostic::error(
                diagnostic::INPUT_LIMIT,
                format!(
                    "the assembly lists {counted} components, capabilities and files, over the limit of {}",
                    crate::MAX_COMPONENTS
                ),
            )
            .at(src.whole())
            .hint("no platform needs this many parts; split it or generate fewer entries")],
        });
    }
    Ok(())
}

/// `[assembly]`: name, version, description, base, arch, extends, component paths.
fn read_meta(src: &SourceText, meta: RawMeta, out: &mut AssemblyFile, diags: &mut Vec<Diagnostic>) {
    let loc = |s: std::ops::Range<usize>| src.locate(s);
    if let Some(n) = meta.name {
        let l = loc(n.span());
        if !crate::manifest::is_kebab(n.get_ref()) {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("assembly name `{}` is not kebab-case", n.get_ref()),
                )
                .at(l.clone())
                .hint("it names the output folder: use lowercase letters, digits and dashes"),
            );
        }
        out.name = Some(Located::new(n.into_inner(), l));
    }
    if let Some(v) = meta.version {
        match parse_version(v.get_ref()) {
            Ok(ver) => out.version = Some(Located::new(ver, loc(v.span()))),
            Err(e) => {
                diags.push(Diagnostic::error(diagnostic::INVALID_VERSION, e).at(loc(v.span())))
            }
        }
    }
    out.description = meta.description;
    if let Some(b) = meta.base {
        let l = loc(b.span());
        out.base = Some(Located::new(b.into_inner(), l));
    }
    if let Some(a) = meta.arch {
        match a.get_ref().parse::<Arch>() {
            Ok(arch) => out.arch = Some(Located::new(arch, loc(a.span()))),
            Err(e) => diags.push(
                Diagnostic::error(diagnostic::BAD_ARCH, format!("unknown architecture: {e}"))
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

/// One `[components]` entry: a version range, or a table with a version, image, config
/// and container fields.
fn component_request(
    src: &SourceText,
    id: Spanned<String>,
    entry: Spanned<RawEntry>,
    diags: &mut Vec<Diagnostic>,
) -> ComponentRequest {
    let loc = |s: std::ops::Range<usize>| src.locate(s);
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
                if let Err(e) = crate::reference::ImageRef::parse(&img.value) {
                    diags.push(
                        Diagnostic::error(diagnostic::INVALID_VALUE, e.to_string())
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
    req
}

impl AssemblyFile {
    /// Whether this file says it is only a base to extend (`[assembly] base = true`).
    pub fn is_base(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.value)
    }

    /// Whether the file asks for nothing at all (no components, capabilities, externals or
    /// files): an empty file, or one with only `[assembly]`.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
            && self.capabilities.is_empty()
            && self.external.is_empty()
            && self.files.is_empty()
    }

    /// Parses one assembly file; every problem found is reported at its line.
    pub fn parse(src: &SourceText) -> Result<AssemblyFile, TypesError> {
        let raw: RawAssembly =
            crate::guarded_toml::parse(src).map_err(|diagnostics| TypesError::Invalid {
                file: src.name.clone(),
                diagnostics,
            })?;
        let mut diags = Vec::new();
        let loc = |s: std::ops::Range<usize>| src.locate(s);
        check_count(src, &raw)?;
        let mut out = AssemblyFile {
            source: src.name.clone(),
            ..Default::default()
        };
        if let Some(meta) = raw.assembly {
            read_meta(src, meta, &mut out, &mut diags);
        }
        for (id, entry) in raw.components {
            let req = component_request(src, id, entry, &mut diags);
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
        let (privileged, unpackaged) = match raw.policy {
            Some(p) => (p.privileged, p.unpackaged),
            None => (None, Vec::new()),
        };
        for id in unpackaged {
            let l = loc(id.span());
            out.unpackaged.insert(id.into_inner(), l);
        }
        if let Some(p) = privileged {
            let l = loc(p.span());
            let pol = match p.into_inner() {
                RawPrivileged::All(true) => PrivilegedPolicy::Any,
                RawPrivileged::All(false) => PrivilegedPolicy::None,
                RawPrivileged::Only(ids) => PrivilegedPolicy::Only(ids),
            };
            out.privileged = Some(Located::new(pol, l));
        }
        if let Some(k) = raw.kernel {
            if let Some(c) = k.cmdline {
                let l = loc(c.span());
                out.cmdline = Some(Located::new(c.into_inner(), l));
            }
            if let Some(c) = k.initrd {
                let l = loc(c.span());
                out.initrd = Some(Located::new(c.into_inner(), l));
            }
        }
        for f in raw.files {
            let l = loc(f.span());
            out.files.push(Located::new(f.into_inner(), l));
        }
        if let Some(lk) = raw.linuxkit {
            out.linuxkit = Some(linuxkit_layout(src, lk, &mut diags));
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
        // Being a base is a property of one file, not of what extends it.
        self.base = child.base;
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
        self.unpackaged.extend(child.unpackaged);
        self.cmdline = child.cmdline.or(self.cmdline);
        self.initrd = child.initrd.or(self.initrd);
        self.linuxkit = match (self.linuxkit, child.linuxkit) {
            (Some(p), Some(c)) => Some(p.merge(c)),
            (p, c) => c.or(p),
        };
        for f in child.files {
            match self.files.iter_mut().find(|p| p.value.path == f.value.path) {
                Some(slot) => *slot = f,
                None => self.files.push(f),
            }
        }
        self
    }
}

/// The located `[linuxkit]` table, and the problems a single file can show: an id listed
/// twice in one section (LinuxKit would refuse the duplicate name), an empty id or name.
/// Whether the ids are chosen components is known only after resolution.
fn linuxkit_layout(
    src: &SourceText,
    raw: RawLinuxkit,
    diags: &mut Vec<Diagnostic>,
) -> LinuxkitLayout {
    let loc = |s: std::ops::Range<usize>| src.locate(s);
    let located = |v: Spanned<String>| {
        let l = loc(v.span());
        Located::new(v.into_inner(), l)
    };
    let mut out = LinuxkitLayout::empty(src.locate(table_header(&src.text, "linuxkit")));
    let sections = [
        ("init", raw.init, &mut out.init),
        ("onboot", raw.onboot, &mut out.onboot),
        ("onshutdown", raw.onshutdown, &mut out.onshutdown),
        ("services", raw.services, &mut out.services),
    ];
    for (section, ids, slot) in sections {
        let Some(ids) = ids else { continue };
        let ids: Vec<Located<String>> = ids.into_iter().map(located).collect();
        let mut seen = std::collections::BTreeSet::new();
        for id in &ids {
            if id.value.is_empty() {
                diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_VALUE,
                        format!("[linuxkit] {section} lists an empty component id"),
                    )
                    .at(id.location.clone()),
                );
            } else if !seen.insert(id.value.as_str()) {
                diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_VALUE,
                        format!("[linuxkit] {section} lists `{}` twice", id.value),
                    )
                    .at(id.location.clone())
                    .hint("a component runs once per section; for a second run, add a component of its own"),
                );
            }
        }
        *slot = Some(ids);
    }
    if let Some(k) = raw.kernel {
        let location = loc(k.span());
        out.kernel = match k.into_inner() {
            // `kernel = true` says what no key says: the default.
            RawLinuxkitKernelEntry::Render(true) => None,
            RawLinuxkitKernelEntry::Render(false) => Some(LinuxkitKernel {
                location,
                omit: true,
                binary: None,
                tar: None,
                ucode: None,
            }),
            RawLinuxkitKernelEntry::Fields(k) => Some(LinuxkitKernel {
                location,
                omit: false,
                binary: k.binary.map(located),
                tar: k.tar.map(located),
                ucode: k.ucode.map(located),
            }),
        };
    }
    for (id, name) in raw.names {
        let name = located(name);
        if name.value.is_empty() {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("[linuxkit.names] gives `{}` an empty name", id.get_ref()),
                )
                .at(name.location.clone()),
            );
        }
        out.names.insert(id.into_inner(), name);
    }
    out.trust = raw.trust.map(|t| {
        let l = loc(t.span());
        Located::new(t.into_inner(), l)
    });
    out.volumes = raw.volumes.map(|v| {
        v.into_iter()
            .map(|v| {
                let l = loc(v.span());
                Located::new(v.into_inner(), l)
            })
            .collect()
    });
    out.inherit_container = raw.inherit_container.map(|b| {
        let l = loc(b.span());
        Located::new(b.into_inner(), l)
    });
    out
}

/// The span of a `[name]` header, or of the first `name.` / `name =` key that opens the
/// table inline, else the start of the text: where a table "is" for diagnostics.
fn table_header(text: &str, name: &str) -> std::ops::Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let lead = line.len() - t.len();
        let header = format!("[{name}");
        let opens = (t.starts_with(&header) && t[header.len()..].starts_with([']', '.']))
            || (t.starts_with(name) && t[name.len()..].trim_start().starts_with(['=', '.']));
        if opens {
            let end = t.find(['\n', '\r']).unwrap_or(t.len());
            return offset + lead..offset + lead + end;
        }
        offset += line.len();
    }
    0..0
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

    const LAYOUT: &str = r#"
[components]
getty = "*"

[linuxkit]
init = ["init", "runc"]
onboot = ["sysctl", "dhcpcd-boot"]
services = ["getty", "sshd"]
kernel = { binary = "bzImage", tar = "none" }
names = { dhcpcd-boot = "dhcpcd" }
trust = { org = ["linuxkit"] }
inherit_container = false

[[linuxkit.volumes]]
name = "cache"
format = "filesystem"
"#;

    #[test]
    fn linuxkit_table_parses_with_locations() {
        let a = AssemblyFile::parse(&SourceText::new("a.toml", LAYOUT)).unwrap();
        let lk = a.linuxkit.unwrap();
        let ids = |s: &str| -> Vec<String> {
            lk.section(s)
                .map(|v| v.iter().map(|i| i.value.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(ids("init"), ["init", "runc"]);
        assert_eq!(ids("services"), ["getty", "sshd"]);
        assert!(lk.onshutdown.is_none());
        assert_eq!(lk.onboot.as_ref().unwrap()[1].location.line, 7);
        assert_eq!(lk.location.line, 5);
        assert_eq!(lk.name_of("dhcpcd-boot"), "dhcpcd");
        assert_eq!(lk.name_of("getty"), "getty");
        let k = lk.kernel.as_ref().unwrap();
        assert_eq!(k.binary.as_ref().unwrap().value, "bzImage");
        assert_eq!(k.tar.as_ref().unwrap().value, "none");
        assert!(k.ucode.is_none());
        assert_eq!(
            lk.trust.as_ref().unwrap().value.org.as_deref(),
            Some(&["linuxkit".to_string()][..])
        );
        assert_eq!(lk.volumes.as_ref().unwrap()[0].value.name, "cache");
        assert_eq!(lk.volumes.as_ref().unwrap()[0].location.line, 14);
        assert!(!lk.inherits_container());
        let listed: Vec<(&str, &str)> = lk.listed().map(|(s, i)| (s, i.value.as_str())).collect();
        assert_eq!(listed[2], ("onboot", "sysctl"));
        assert_eq!(listed.len(), 6);
    }

    #[test]
    fn no_linuxkit_table_means_none_and_inheriting_is_the_default() {
        let a = AssemblyFile::parse(&SourceText::new("a.toml", BASE)).unwrap();
        assert!(a.linuxkit.is_none());
        let a =
            AssemblyFile::parse(&SourceText::new("a.toml", "[linuxkit]\nservices = []\n")).unwrap();
        let lk = a.linuxkit.unwrap();
        assert!(lk.inherits_container());
        assert_eq!(lk.section("services").map(<[_]>::len), Some(0));
        assert!(lk.section("onboot").is_none());
        assert!(lk.kernel.is_none());
        for (text, omit) in [("kernel = false", Some(true)), ("kernel = true", None)] {
            let a =
                AssemblyFile::parse(&SourceText::new("a.toml", format!("[linuxkit]\n{text}\n")))
                    .unwrap();
            assert_eq!(a.linuxkit.unwrap().kernel.map(|k| k.omit), omit, "{text}");
        }
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[linuxkit]\nkernel = \"none\"\n",
        ))
        .unwrap_err();
        assert_eq!(e.diagnostics()[0].code, diagnostic::INVALID_VALUE);
    }

    #[test]
    fn unknown_keys_in_the_linuxkit_table_are_errors() {
        for (text, line) in [
            ("[linuxkit]\nonbot = [\"a\"]\n", 2),
            (
                "[linuxkit]\nkernel = { binary = \"b\", image = \"k\" }\n",
                2,
            ),
            (
                "[linuxkit]\n[[linuxkit.volumes]]\nname = \"v\"\nro = true\n",
                4,
            ),
            ("[linuxkit]\ntrust = { orgs = [] }\n", 2),
        ] {
            let e = AssemblyFile::parse(&SourceText::new("a.toml", text)).unwrap_err();
            let d = &e.diagnostics()[0];
            assert_eq!(d.code, diagnostic::UNKNOWN_KEY, "{text}");
            assert_eq!(d.location.as_ref().unwrap().line, line, "{text}");
        }
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[linuxkit]\ninherit_container = \"no\"\n",
        ))
        .unwrap_err();
        assert_eq!(e.diagnostics()[0].code, diagnostic::INVALID_VALUE);
    }

    #[test]
    fn an_id_twice_in_one_section_is_an_error() {
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[linuxkit]\nonboot = [\"a\", \"b\"]\nservices = [\"a\",\n  \"c\", \"a\"]\n",
        ))
        .unwrap_err();
        let d = e.diagnostics();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, diagnostic::INVALID_VALUE);
        assert!(d[0].message.contains("services lists `a` twice"));
        assert_eq!(d[0].location.as_ref().unwrap().line, 4);
    }

    #[test]
    fn child_linuxkit_keys_replace_the_parents() {
        let parent = AssemblyFile::parse(&SourceText::new("a.toml", LAYOUT)).unwrap();
        let child = AssemblyFile::parse(&SourceText::new(
            "b.toml",
            "[linuxkit]\nservices = [\"getty\"]\nkernel = { ucode = \"u.cpio\", tar = \"k.tar\" }\nnames = { getty = \"console\" }\n",
        ))
        .unwrap();
        let lk = parent.merge(child).linuxkit.unwrap();
        assert_eq!(lk.services.as_ref().unwrap().len(), 1);
        assert_eq!(lk.init.as_ref().unwrap().len(), 2, "kept from the parent");
        let k = lk.kernel.as_ref().unwrap();
        assert_eq!(k.binary.as_ref().unwrap().value, "bzImage");
        assert_eq!(k.tar.as_ref().unwrap().value, "k.tar");
        assert_eq!(k.ucode.as_ref().unwrap().value, "u.cpio");
        assert_eq!(lk.name_of("getty"), "console");
        assert_eq!(lk.name_of("dhcpcd-boot"), "dhcpcd");
        assert!(!lk.inherits_container());
        assert_eq!(lk.location.file, "b.toml");

        // `kernel = false` replaces the parent's fields, and a table replaces `false`.
        let no_kernel = |name: &str| {
            AssemblyFile::parse(&SourceText::new(name, "[linuxkit]\nkernel = false\n")).unwrap()
        };
        let parent = AssemblyFile::parse(&SourceText::new("a.toml", LAYOUT)).unwrap();
        let k = parent
            .merge(no_kernel("b.toml"))
            .linuxkit
            .unwrap()
            .kernel
            .unwrap();
        assert!(k.omit && k.binary.is_none());
        let child = AssemblyFile::parse(&SourceText::new("a.toml", LAYOUT)).unwrap();
        let k = no_kernel("p.toml")
            .merge(child)
            .linuxkit
            .unwrap()
            .kernel
            .unwrap();
        assert!(!k.omit && k.binary.is_some());

        // A parent without the table: the child's is taken as it is.
        let plain = AssemblyFile::parse(&SourceText::new("a.toml", BASE)).unwrap();
        let with = AssemblyFile::parse(&SourceText::new("b.toml", LAYOUT)).unwrap();
        let expected = with.linuxkit.clone();
        assert_eq!(plain.merge(with).linuxkit, expected);
    }

    #[test]
    fn check_names_ids_that_are_not_chosen() {
        let lk = AssemblyFile::parse(&SourceText::new("a.toml", LAYOUT))
            .unwrap()
            .linuxkit
            .unwrap();
        let chosen = ["init", "runc", "sysctl", "getty", "sshd"];
        let d = lk.check(|id| chosen.contains(&id));
        let got: Vec<(u32, &str)> = d
            .iter()
            .map(|d| (d.location.as_ref().unwrap().line, d.message.as_str()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(d[0].code, diagnostic::LINUXKIT_LAYOUT);
        assert!(got[0].1.contains("onboot lists `dhcpcd-boot`"), "{got:?}");
        assert!(
            got[1].1.contains("names gives a name to `dhcpcd-boot`"),
            "{got:?}"
        );
        assert!(lk.check(|_| true).is_empty());
    }

    #[test]
    fn too_many_components_is_a_limit() {
        let mut text = String::from("[components]\n");
        for i in 0..=crate::MAX_COMPONENTS {
            text.push_str(&format!("c-{i} = \"*\"\n"));
        }
        let e = AssemblyFile::parse(&SourceText::new("a.toml", text)).unwrap_err();
        assert_eq!(e.diagnostics()[0].code, diagnostic::INPUT_LIMIT);
    }

    #[test]
    fn versions_too_large_for_semver_are_errors() {
        let e = AssemblyFile::parse(&SourceText::new(
            "a.toml",
            "[assembly]\nversion = \"99999999999999999999.0.0\"\n[external]\nk = \"99999999999999999999.0.0\"\n[components]\nx = \"^99999999999999999999\"\n",
        ))
        .unwrap_err();
        let codes: Vec<_> = e.diagnostics().iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                diagnostic::INVALID_VERSION,
                diagnostic::INVALID_RANGE,
                diagnostic::INVALID_VERSION
            ]
        );
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
