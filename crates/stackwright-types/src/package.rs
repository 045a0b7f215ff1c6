//! Release files and packaged images: the upstream files a release is made of
//! (`[[release.files]]`) and how Stackwright lays them out in the OCI image it builds
//! (`[package]`). The format is documented in `docs/manifest-format.md`.
//!
//! Parsing is pure: these types only say *what* to fetch and where to put it. Fetching
//! lives in `stackwright-fetch`, building the image in `stackwright-package`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{self, Diagnostic};
use crate::manifest::Arch;
use crate::source::{Location, SourceText};

/// The registry part of the references Stackwright gives the images it builds and has not
/// pushed: `stackwright.local/<component-id>:<version>`. No registry answers to it; such
/// images live in the blob cache (and, with `--pull`/`--format`, in the output's image
/// layout) only. `--push-packages REGISTRY/PREFIX` publishes them under a real name.
pub const LOCAL_REGISTRY: &str = "stackwright.local";

/// The local reference of a component's packaged image: `stackwright.local/<id>:<version>`
/// (a `+` in the version, not allowed in tags, becomes `_`, as Docker tags spell it).
pub fn local_image_ref(id: &str, version: &str) -> String {
    format!("{LOCAL_REGISTRY}/{id}:{}", version.replace('+', "_"))
}

/// Whether an image reference names an image built by Stackwright and not pushed.
pub fn is_local_image_ref(reference: &str) -> bool {
    reference
        .strip_prefix(LOCAL_REGISTRY)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// What kind of file an upstream release file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FileFormat {
    /// A single executable, placed at `path`.
    #[serde(rename = "binary")]
    Binary,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "tgz")]
    Tgz,
    #[serde(rename = "tar.xz")]
    TarXz,
    /// A Debian package; `extract` names paths inside its `data.tar.*`.
    #[serde(rename = "deb")]
    Deb,
}

impl FileFormat {
    pub const ALL: &'static [FileFormat] = &[
        FileFormat::Binary,
        FileFormat::TarGz,
        FileFormat::Tgz,
        FileFormat::TarXz,
        FileFormat::Deb,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Binary => "binary",
            FileFormat::TarGz => "tar.gz",
            FileFormat::Tgz => "tgz",
            FileFormat::TarXz => "tar.xz",
            FileFormat::Deb => "deb",
        }
    }

    /// Whether members are taken with `extract` (every format but `binary`).
    pub fn is_archive(self) -> bool {
        self != FileFormat::Binary
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sha256 digest: 64 lowercase hex digits (no `sha256:` prefix).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(String);

impl Sha256 {
    pub fn parse(s: &str) -> Result<Sha256, String> {
        let ok = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Sha256(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a sha256 (expected 64 lowercase hex digits, no `sha256:` prefix)"
            ))
        }
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// As an OCI digest: `sha256:<hex>`.
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.0)
    }
}

impl TryFrom<String> for Sha256 {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Sha256::parse(&s)
    }
}

impl From<Sha256> for String {
    fn from(s: Sha256) -> String {
        s.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file mode such as `0755`, written in TOML as an octal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(pub u32);

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        let digits = s.strip_prefix("0o").unwrap_or(s);
        let ok =
            (3..=4).contains(&digits.len()) && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match (ok, u32::from_str_radix(digits, 8)) {
            (true, Ok(m)) if m <= 0o7777 => Ok(Mode(m)),
            _ => Err(format!(
                "`{s}` is not a file mode (expected an octal string such as \"0755\")"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Raw (serde) form.

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReleaseFile {
    pub arch: Spanned<Arch>,
    pub url: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_source: Option<String>,
    pub format: Spanned<FileFormat>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extract: Vec<Spanned<RawExtract>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symlinks: Vec<Spanned<RawSymlink>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Spanned<RawPackageFile>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSymlink {
    pub path: String,
    pub target: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackageFile {
    pub path: String,
    pub contents: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Checked model.

/// One upstream file of a release, for one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseFile {
    pub arch: Arch,
    pub url: String,
    /// Absent only for files listed as unverified: assembling them is refused.
    pub sha256: Option<Sha256>,
    pub checksum_source: Option<String>,
    pub format: FileFormat,
    /// What goes where in the image.
    pub layout: FileLayout,
    /// The `url` line.
    pub location: Location,
}

/// Where a release file's content goes in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileLayout {
    /// `format = "binary"`: the file itself, at `path` (relative to the image root).
    Binary { path: String, mode: Mode },
    /// Archives and debs: members taken by the rules, in order.
    Extract(Vec<Extract>),
}

/// One `extract` rule. A `from` ending in `/` takes every member under that prefix,
/// placed under `to` (which then ends in `/` too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extract {
    pub from: String,
    pub to: String,
    /// Overrides the member's own mode.
    pub mode: Option<Mode>,
}

impl Extract {
    pub fn is_prefix(&self) -> bool {
        self.from.ends_with('/')
    }

    /// Where a member of the archive goes, if this rule takes it. `member` is normalised
    /// (no leading `./` or `/`).
    pub fn target(&self, member: &str) -> Option<String> {
        if self.is_prefix() {
            let rest = member.strip_prefix(self.from.as_str())?;
            (!rest.is_empty()).then(|| format!("{}{rest}", self.to))
        } else if member == self.from {
            Some(self.file_target())
        } else {
            None
        }
    }

    /// For a single-member rule: the destination path (a `to` ending in `/` keeps the
    /// member's file name).
    pub fn file_target(&self) -> String {
        if self.to.ends_with('/') {
            let base = self.from.rsplit('/').next().unwrap_or(&self.from);
            format!("{}{base}", self.to)
        } else {
            self.to.clone()
        }
    }
}

/// How a component's packaged image is laid out beyond its release files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub symlinks: Vec<Symlink>,
    pub files: Vec<PackageFile>,
}

impl Package {
    pub fn is_empty(&self) -> bool {
        self == &Package::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

/// A small file written into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageFile {
    pub path: String,
    pub contents: String,
    pub mode: Mode,
}

/// Normalises a path inside an image or archive: strips leading `./` and `/`.
pub fn normalize_member(p: &str) -> &str {
    let mut p = p;
    loop {
        if let Some(r) = p.strip_prefix("./") {
            p = r;
        } else if let Some(r) = p.strip_prefix('/') {
            p = r;
        } else {
            return p;
        }
    }
}

/// Checks a path in the image: relative, no `..`, no empty or `.` parts (a trailing `/`
/// is allowed when `dir_ok`).
pub fn check_image_path(p: &str, dir_ok: bool) -> Result<(), String> {
    let body = if dir_ok {
        p.strip_suffix('/').unwrap_or(p)
    } else {
        p
    };
    if p.starts_with('/') {
        return Err(format!(
            "`{p}` must be relative to the image root (no leading `/`)"
        ));
    }
    if body.is_empty()
        || body
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "`{p}` is not a clean relative path (no empty, `.` or `..` parts)"
        ));
    }
    if p.contains('\0') {
        return Err("a path may not contain NUL".into());
    }
    Ok(())
}

fn mode_of(
    src: &SourceText,
    s: Option<&str>,
    loc: &Location,
    default: Mode,
    diags: &mut Vec<Diagnostic>,
) -> Mode {
    let _ = src;
    match s.map(Mode::parse) {
        None => default,
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, e)
                    .at(loc.clone())
                    .hint("write the mode as a quoted octal string, e.g. mode = \"0755\""),
            );
            default
        }
    }
}

/// Checks the `[[release.files]]` of one release. `archs` are the architectures the
/// release runs on; `version` names the release in messages; `unverified` is the
/// manifest's list (a file without sha256 must be named there).
pub(crate) fn files_from_raw(
    src: &SourceText,
    raw: Vec<RawReleaseFile>,
    archs: &[Arch],
    version: &str,
    unverified: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<ReleaseFile> {
    let mut out = Vec::new();
    for f in raw {
        let location = src.locate(f.url.span());
        let (arch, url) = arch_and_url(src, &f, archs, version, &location, diags);
        let sha256 = sha256_of(src, &f, version, unverified, &url, &location, diags);
        let format = *f.format.get_ref();
        let layout = if format.is_archive() {
            archive_layout(src, &f, format, diags)
        } else {
            binary_layout(src, &f, diags)
        };
        if let (Some(mode), true) = (&f.mode, format.is_archive()) {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    "`mode` at file level applies to format = \"binary\"; give archives a mode per extract rule",
                )
                .at(src.locate(mode.span()))
                .hint("e.g. extract = [{ from = \"bin/ctr\", to = \"usr/bin/ctr\", mode = \"0755\" }]"),
            );
        }
        out.push(ReleaseFile {
            arch,
            url,
            sha256,
            checksum_source: f.checksum_source,
            format,
            layout,
            location,
        });
    }
    out
}

/// A release file's architecture (one the release runs on) and URL (http or https).
fn arch_and_url(
    src: &SourceText,
    f: &RawReleaseFile,
    archs: &[Arch],
    version: &str,
    location: &Location,
    diags: &mut Vec<Diagnostic>,
) -> (Arch, String) {
    let arch = *f.arch.get_ref();
    if !archs.contains(&arch) {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("release {version}: a file for `{arch}`, which this component does not list in `arch`"),
            )
            .at(src.locate(f.arch.span()))
            .hint(format!(
                "use one of: {}, or add `{arch}` to the component's `arch`",
                archs.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
            )),
        );
    }
    let url = f.url.get_ref().clone();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.contains(char::is_whitespace) || url.len() < 10 {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("`{url}` is not an http(s) URL"),
            )
            .at(location.clone())
            .hint("give the upstream download URL, e.g. https://github.com/…/releases/download/…"),
        );
    }
    (arch, url)
}

/// A release file's sha256, with its `checksum_source`; without one, the release must be
/// listed in `unverified`.
fn sha256_of(
    src: &SourceText,
    f: &RawReleaseFile,
    version: &str,
    unverified: &[String],
    url: &str,
    location: &Location,
    diags: &mut Vec<Diagnostic>,
) -> Option<Sha256> {
    let sha256 = match &f.sha256 {
        Some(s) => match Sha256::parse(s.get_ref()) {
            Ok(h) => Some(h),
            Err(e) => {
                diags.push(
                    Diagnostic::error(diagnostic::INVALID_VALUE, e)
                        .at(src.locate(s.span()))
                        .hint("copy the digest from the upstream checksum file; lowercase it if needed"),
                );
                None
            }
        },
        None => {
            if !unverified.iter().any(|u| u.contains(version)) {
                diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_VALUE,
                        format!("release {version}: `{url}` has no sha256 and the release is not listed in `unverified`"),
                    )
                    .at(location.clone())
                    .hint(format!(
                        "add `sha256` (and `checksum_source`), or say why there is none: unverified = [\"release {version}: no upstream checksum for …\"]"
                    )),
                );
            }
            None
        }
    };
    if sha256.is_some() && f.checksum_source.is_none() {
        // Facts are real: a checksum needs its source.
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("release {version}: the sha256 of `{url}` has no `checksum_source`"),
            )
            .at(location.clone())
            .hint("name where the sha256 was read, e.g. the upstream .sha256sum URL or kubespray's checksums.yml at a commit"),
        );
    }
    sha256
}

/// An archive's (or deb's) layout: its `extract` rules, and no `path`.
fn archive_layout(
    src: &SourceText,
    f: &RawReleaseFile,
    format: FileFormat,
    diags: &mut Vec<Diagnostic>,
) -> FileLayout {
    if let Some(p) = &f.path {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("`path` applies to format = \"binary\", not \"{format}\""),
            )
            .at(src.locate(p.span()))
            .hint("say which members to take with extract = [{ from = \"…\", to = \"usr/bin/\" }]"),
        );
    }
    if f.extract.is_empty() {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("a {format} file needs `extract` rules saying which members to take"),
            )
            .at(src.locate(f.format.span()))
            .hint("e.g. extract = [{ from = \"bin/\", to = \"usr/bin/\" }]"),
        );
    }
    let rules = extract_rules(src, &f.extract, diags);
    FileLayout::Extract(rules)
}

/// `extract` rules: relative paths, a directory taken into a directory.
fn extract_rules(
    src: &SourceText,
    extract: &[Spanned<RawExtract>],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Extract> {
    let mut rules = Vec::new();
    for e in extract {
        let loc = src.locate(e.span());
        let r = e.get_ref();
        let from = normalize_member(&r.from).to_string();
        let mut ok = true;
        for (what, p) in [("from", &from), ("to", &r.to)] {
            if let Err(msg) = check_image_path(p, true) {
                ok = false;
                diags.push(
                    Diagnostic::error(
                        diagnostic::INVALID_VALUE,
                        format!("extract `{what}`: {msg}"),
                    )
                    .at(loc.clone())
                    .hint("paths are relative, e.g. { from = \"bin/\", to = \"usr/bin/\" }"),
                );
            }
        }
        if ok && from.ends_with('/') && !r.to.ends_with('/') {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("extract: `from = \"{from}\"` takes a directory, so `to` must end in `/` too"),
                )
                .at(loc.clone())
                .hint(format!("write to = \"{}/\"", r.to)),
            );
        }
        let mode = r
            .mode
            .as_deref()
            .map(|m| mode_of(src, Some(m), &loc, Mode(0o755), diags));
        rules.push(Extract {
            from,
            to: r.to.clone(),
            mode,
        });
    }
    rules
}

/// A binary's layout: its `path` and `mode`, and no `extract`.
fn binary_layout(src: &SourceText, f: &RawReleaseFile, diags: &mut Vec<Diagnostic>) -> FileLayout {
    if let Some(e) = f.extract.first() {
        diags.push(
            Diagnostic::error(
                diagnostic::INVALID_VALUE,
                "`extract` applies to archives and debs, not format = \"binary\"",
            )
            .at(src.locate(e.span()))
            .hint("a binary is placed with path = \"usr/bin/NAME\" and mode = \"0755\""),
        );
    }
    let path = match &f.path {
        Some(p) => {
            if let Err(msg) = check_image_path(p.get_ref(), false) {
                diags.push(
                    Diagnostic::error(diagnostic::INVALID_VALUE, msg)
                        .at(src.locate(p.span()))
                        .hint("e.g. path = \"usr/bin/kubelet\""),
                );
            }
            p.get_ref().clone()
        }
        None => {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    "a binary file needs `path`: where it goes in the image",
                )
                .at(src.locate(f.format.span()))
                .hint("e.g. path = \"usr/bin/kubelet\", mode = \"0755\""),
            );
            String::new()
        }
    };
    let mode = match &f.mode {
        Some(m) => mode_of(
            src,
            Some(m.get_ref()),
            &src.locate(m.span()),
            Mode(0o755),
            diags,
        ),
        None => Mode(0o755),
    };
    FileLayout::Binary { path, mode }
}

/// Checks `[package]`.
pub(crate) fn package_from_raw(
    src: &SourceText,
    raw: Option<Spanned<RawPackage>>,
    diags: &mut Vec<Diagnostic>,
) -> (Package, Option<Location>) {
    let Some(raw) = raw else {
        return (Package::default(), None);
    };
    let loc = src.locate(raw.span());
    let raw = raw.into_inner();
    let mut symlinks = Vec::new();
    for s in raw.symlinks {
        let l = src.locate(s.span());
        let s = s.into_inner();
        if let Err(msg) = check_image_path(&s.path, false) {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, format!("symlink: {msg}"))
                    .at(l)
                    .hint("e.g. { path = \"usr/bin/ctr-link\", target = \"ctr\" }"),
            );
        } else if s.target.is_empty() || s.target.contains('\0') {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, "symlink target is empty")
                    .at(l)
                    .hint("name what the link points to, e.g. target = \"ctr\""),
            );
        }
        symlinks.push(Symlink {
            path: s.path,
            target: s.target,
        });
    }
    let mut files = Vec::new();
    for f in raw.files {
        let l = src.locate(f.span());
        let f = f.into_inner();
        if let Err(msg) = check_image_path(&f.path, false) {
            diags.push(
                Diagnostic::error(diagnostic::INVALID_VALUE, format!("package file: {msg}"))
                    .at(l.clone())
                    .hint("e.g. { path = \"etc/foo.conf\", contents = \"…\" }"),
            );
        }
        let mode = mode_of(src, f.mode.as_deref(), &l, Mode(0o644), diags);
        files.push(PackageFile {
            path: f.path,
            contents: f.contents,
            mode,
        });
    }
    if let Some(w) = &raw.workdir {
        if !w.starts_with('/') {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("workdir `{w}` must be absolute"),
                )
                .at(loc.clone())
                .hint("e.g. workdir = \"/\""),
            );
        }
    }
    for e in &raw.env {
        if !e.contains('=') || e.starts_with('=') {
            diags.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("env entry `{e}` is not NAME=VALUE"),
                )
                .at(loc.clone())
                .hint("e.g. env = [\"PATH=/usr/bin:/bin\"]"),
            );
        }
    }
    (
        Package {
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            env: raw.env,
            workdir: raw.workdir,
            symlinks,
            files,
        },
        Some(loc),
    )
}

/// Two entries on one path in one image (per arch): binaries, single-member extract
/// rules, symlinks and package files. Prefix rules are checked when the image is built
/// (their members are only known then).
pub(crate) fn check_paths(
    src: &SourceText,
    version: &str,
    files: &[ReleaseFile],
    package: &Package,
    package_loc: Option<&Location>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut archs: Vec<Arch> = files.iter().map(|f| f.arch).collect();
    archs.sort();
    archs.dedup();
    let _ = src;
    for arch in archs {
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();
        let mut claim = |path: String, loc: &Location, diags: &mut Vec<Diagnostic>| {
            if let Some(prev) = seen.get(&path) {
                diags.push(
                    Diagnostic::error(
                        diagnostic::DUPLICATE_IMAGE_PATH,
                        format!("release {version} ({arch}): two files at `{path}` in one image"),
                    )
                    .at(loc.clone())
                    .hint(format!(
                        "the other one is at {prev}; give each file its own path"
                    )),
                );
            } else {
                seen.insert(path, loc.clone());
            }
        };
        if let Some(ploc) = package_loc {
            for s in &package.symlinks {
                claim(s.path.clone(), ploc, diags);
            }
            for p in &package.files {
                claim(p.path.clone(), ploc, diags);
            }
        }
        for f in files.iter().filter(|f| f.arch == arch) {
            match &f.layout {
                FileLayout::Binary { path, .. } if !path.is_empty() => {
                    claim(path.clone(), &f.location, diags)
                }
                FileLayout::Binary { .. } => {}
                FileLayout::Extract(rules) => {
                    for r in rules.iter().filter(|r| !r.is_prefix()) {
                        claim(r.file_target(), &f.location, diags);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Back to TOML (`Manifest::to_toml`).

#[derive(Serialize)]
pub(crate) struct FileOut<'a> {
    arch: Arch,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_source: Option<&'a str>,
    format: FileFormat,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extract: Vec<ExtractOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
}

#[derive(Serialize)]
struct ExtractOut<'a> {
    from: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
}

impl<'a> From<&'a ReleaseFile> for FileOut<'a> {
    fn from(f: &'a ReleaseFile) -> Self {
        let (extract, path, mode) = match &f.layout {
            FileLayout::Binary { path, mode } => (Vec::new(), Some(path.as_str()), Some(*mode)),
            FileLayout::Extract(rules) => (
                rules
                    .iter()
                    .map(|r| ExtractOut {
                        from: &r.from,
                        to: &r.to,
                        mode: r.mode,
                    })
                    .collect(),
                None,
                None,
            ),
        };
        FileOut {
            arch: f.arch,
            url: &f.url,
            sha256: f.sha256.as_ref().map(|s| s.hex()),
            checksum_source: f.checksum_source.as_deref(),
            format: f.format,
            extract,
            path,
            mode,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct PackageOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: &'a Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: &'a Option<Vec<String>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    workdir: &'a Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    symlinks: Vec<BTreeMap<&'static str, &'a str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<PackageFileOut<'a>>,
}

#[derive(Serialize)]
struct PackageFileOut<'a> {
    path: &'a str,
    contents: &'a str,
    mode: Mode,
}

impl<'a> From<&'a Package> for PackageOut<'a> {
    fn from(p: &'a Package) -> Self {
        PackageOut {
            entrypoint: &p.entrypoint,
            cmd: &p.cmd,
            env: &p.env,
            workdir: &p.workdir,
            symlinks: p
                .symlinks
                .iter()
                .map(|s| BTreeMap::from([("path", s.path.as_str()), ("target", s.target.as_str())]))
                .collect(),
            files: p
                .files
                .iter()
                .map(|f| PackageFileOut {
                    path: &f.path,
                    contents: &f.contents,
                    mode: f.mode,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_syntax() {
        assert!(Sha256::parse(&"a".repeat(64)).is_ok());
        assert!(Sha256::parse(&"A".repeat(64)).is_err());
        assert!(Sha256::parse(&"a".repeat(63)).is_err());
        assert!(Sha256::parse(&format!("sha256:{}", "a".repeat(64))).is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("0755"), Ok(Mode(0o755)));
        assert_eq!(Mode::parse("644"), Ok(Mode(0o644)));
        assert!(Mode::parse("0855").is_err());
        assert!(Mode::parse("75").is_err());
        assert_eq!(Mode(0o755).to_string(), "0755");
    }

    #[test]
    fn extract_targets() {
        let dir = Extract {
            from: "bin/".into(),
            to: "usr/bin/".into(),
            mode: None,
        };
        assert_eq!(dir.target("bin/ctr").as_deref(), Some("usr/bin/ctr"));
        assert_eq!(dir.target("bin/"), None);
        assert_eq!(dir.target("lib/x"), None);
        let one = Extract {
            from: "cni/bridge".into(),
            to: "opt/cni/bin/".into(),
            mode: None,
        };
        assert_eq!(
            one.target("cni/bridge").as_deref(),
            Some("opt/cni/bin/bridge")
        );
        assert_eq!(normalize_member("./usr/bin/x"), "usr/bin/x");
    }

    #[test]
    fn image_paths() {
        assert!(check_image_path("usr/bin/x", false).is_ok());
        assert!(check_image_path("usr/bin/", true).is_ok());
        assert!(check_image_path("usr/bin/", false).is_err());
        assert!(check_image_path("/usr/bin/x", false).is_err());
        assert!(check_image_path("usr/../x", false).is_err());
    }
}
