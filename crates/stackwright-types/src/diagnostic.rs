//! Diagnostics: every problem Stackwright reports, with a stable code, a severity, the
//! place it comes from, and a hint saying what to do.
//!
//! Rendering is plain text (rustc-style) or JSON; colour and terminals belong to the CLI.

use serde::{Deserialize, Serialize};

use crate::source::Location;

/// A stable diagnostic code such as `SW0102`. Codes are documented in `docs/diagnostics.md`
/// (generated from [`CODES`]) and never reused for another meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Code(pub &'static str);

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

macro_rules! codes {
    ($($name:ident = $code:literal : $title:literal;)*) => {
        $(pub const $name: Code = Code($code);)*
        /// Every code with a one-line title, in code order.
        pub const CODES: &[(Code, &str)] = &[$(($name, $title)),*];
    };
}

codes! {
    // 01xx: reading files
    TOML_SYNTAX = "SW0101": "the file is not valid TOML";
    UNKNOWN_KEY = "SW0102": "a key the format does not know (typos are errors, not ignored)";
    INVALID_VALUE = "SW0103": "a value of the wrong type or outside the allowed set";
    INVALID_VERSION = "SW0104": "a version that is not semver";
    INVALID_RANGE = "SW0105": "a version range that is not a semver requirement";
    ID_MISMATCH = "SW0106": "a component's `id` differs from its file name";
    INPUT_LIMIT = "SW0107": "an input over a size, nesting or count limit";
    NOT_UTF8 = "SW0108": "a file that is not UTF-8 text";
    IO_ERROR = "SW0109": "a file or directory that could not be read";
    DUPLICATE_IMAGE_PATH = "SW0110": "two release files, symlinks or package files on one path in one packaged image";
    // 02xx: the registry
    DUPLICATE_COMPONENT = "SW0201": "two components with one id (and no `override = true`)";
    UNKNOWN_NAME = "SW0202": "a requirement naming no known component or capability";
    UNDECLARED_CAPABILITY = "SW0203": "a capability used but not declared in capabilities.toml";
    NAME_CLASH = "SW0204": "a name that is both a component id and a capability";
    BAD_DEFAULT_PROVIDER = "SW0205": "a capability's default provider is unknown or does not provide it";
    // 03xx: assembly files
    UNKNOWN_COMPONENT = "SW0301": "an assembly names a component the registry does not have";
    EXTENDS_CYCLE = "SW0302": "`extends` loops back to a file already being read";
    MISSING_PARENT = "SW0303": "an `extends` parent or component path that does not exist";
    BAD_FILES_ENTRY = "SW0304": "a `[[files]]` entry LinuxKit would refuse";
    DUPLICATE_FILE_PATH = "SW0305": "two `[[files]]` entries for one path";
    UNKNOWN_CAPABILITY = "SW0306": "an assembly names a capability nobody declares";
    BAD_ARCH = "SW0307": "an unknown architecture";
    EMPTY_ASSEMBLY = "SW0308": "an assembly that asks for nothing (no components, capabilities, externals or files)";
    // 04xx: resolution
    UNSATISFIABLE = "SW0401": "no set of components meets every rule";
    DEPENDENCY_CYCLE = "SW0402": "onboot or service components that depend on each other in a cycle";
    STALE_LOCK = "SW0403": "the lockfile's choice is no longer allowed and was refreshed";
    // 05xx: validation after resolution
    CONFIG_TYPE = "SW0501": "a config value of the wrong type";
    CONFIG_ENUM = "SW0502": "a config value outside its allowed values";
    CONFIG_RANGE = "SW0503": "a config number outside its allowed range";
    CONFIG_REQUIRED = "SW0504": "a required config value that is missing";
    CONFIG_UNKNOWN = "SW0505": "a config key the component does not define";
    PORT_CLASH = "SW0506": "two host-network components binding one port";
    PRIVILEGED = "SW0507": "a privileged component outside `policy.privileged`";
    KERNEL_OPTION = "SW0508": "a kernel option a component needs that the kernel lacks";
    IMAGE_UNPINNED = "SW0509": "an image reference with neither tag nor digest";
    NO_IMAGE = "SW0510": "a component with neither an OCI image nor release files to package";
    COMPONENT_CHECK = "SW0511": "a problem reported by a component's own validation";
    UNVERIFIED = "SW0512": "a component whose facts are not all verified upstream";
    SCHEMA = "SW0513": "rendered linuxkit.yml does not pass LinuxKit's schema";
    LINUXKIT_LAYOUT = "SW0514": "a `[linuxkit]` entry naming a component that is not part of the platform";
    LOCAL_IMAGE = "SW0515": "packaged images named `stackwright.local/…`, which no registry serves";
    // 06xx: LinuxKit import
    LINUXKIT_SYNTAX = "SW0601": "the LinuxKit YAML cannot be parsed";
    LINUXKIT_DUPLICATE = "SW0602": "two LinuxKit images with one name";
    LINUXKIT_UNMET = "SW0603": "an imported image whose registry component requires something the LinuxKit file lacks";
    // 07xx: generated configuration and coherence
    TEMPLATE_SYNTAX = "SW0701": "a `[[generate]]` template that does not parse";
    BAD_GENERATE = "SW0702": "a `[[generate]]` entry the format refuses";
    TEMPLATE_UNDEFINED = "SW0703": "a template uses a value that is not defined";
    TEMPLATE_RENDER = "SW0704": "a template fails while rendering, or renders text its format does not parse";
    CGROUP_DRIVER_MISMATCH = "SW0705": "kubelet's cgroup driver differs from the container runtime's";
    CRI_ENDPOINT_MISMATCH = "SW0706": "kubelet's CRI endpoint is not the chosen runtime's socket";
    SANDBOX_IMAGE_MISMATCH = "SW0707": "the runtime's sandbox image is not the chosen pause release";
    SOCKET_CLASH = "SW0708": "two daemons serving one socket path";
    BIND_SOURCE_MISSING = "SW0709": "a bind whose host path no files entry or component creates";
    GENERATE_REFUSED = "SW0710": "a component's generation refuses its config (a value it needs is missing)";
    GENERATE_WARNING = "SW0711": "a warning from a component's generation";
}

/// How bad a problem is. Errors stop an assembly; warnings are printed and recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, with everything a person (or a tool reading JSON) needs to fix it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Further lines of explanation (a derivation, a list of causes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            hint: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn at_opt(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// rustc-style plain text: header, location arrow, source line with a caret, hints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{sev}[{}]: {}\n", self.code, self.message));
        if let Some(loc) = &self.location {
            let gutter = if loc.line > 0 {
                loc.line.to_string().len()
            } else {
                1
            };
            let pad = " ".repeat(gutter);
            out.push_str(&format!("{pad}--> {loc}\n"));
            if let (Some(snippet), true) = (&loc.snippet, loc.line > 0) {
                out.push_str(&format!("{pad} |\n"));
                out.push_str(&format!("{} | {}\n", loc.line, snippet));
                let col = loc.column.saturating_sub(1) as usize;
                let lead: String = snippet
                    .chars()
                    .take(col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!(
                    "{pad} | {lead}{}\n",
                    "^".repeat(loc.length.max(1) as usize)
                ));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("  = note: {note}\n"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("  = help: {hint}\n"));
        }
        out
    }

    /// One JSON object on one line, for `--message-format json`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("diagnostics always serialize")
    }
}

/// Renders many diagnostics in order, separated by blank lines.
pub fn render_all(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(Diagnostic::render)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closing line after a run's diagnostics when any is an error:
/// `2 error(s), 1 warning(s)` (the command line's last line on stderr).
pub fn summary_line(diags: &[Diagnostic]) -> Option<String> {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors > 0).then(|| format!("{errors} error(s), {} warning(s)", diags.len() - errors))
}

/// The diagnostics as the command line prints them on stderr (without colour): each
/// [`Diagnostic::render`]ed and followed by a blank line, then the [`summary_line`] when
/// there are errors. `stackwright_cli` prints exactly this (colour only adds styles).
pub fn report(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render());
        out.push('\n');
    }
    if let Some(line) = summary_line(diags) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Sorts diagnostics by file, line, column, then code, so output never depends on the
/// order checks happened to run in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let ka = a.location.as_ref().map(|l| (&l.file, l.line, l.column));
        let kb = b.location.as_ref().map(|l| (&l.file, l.line, l.column));
        ka.cmp(&kb)
            .then(a.code.cmp(&b.code))
            .then(a.message.cmp(&b.message))
    });
}

/// The whole of `docs/diagnostics.md`: written by `cargo xtask docs`, and kept equal to the
/// code list by the tidy test (`tests/tidy.rs`).
pub fn diagnostics_document() -> String {
    format!(
        "# Diagnostic codes\n\nEvery problem Stackwright reports carries one of these codes. Codes are stable:\na code is never reused for another meaning. Generated by `cargo xtask docs`.\n\n{}",
        codes_markdown()
    )
}

/// The Markdown table of codes, for docs/diagnostics.md.
pub fn codes_markdown() -> String {
    let mut s = String::from("| code | meaning |\n|---|---|\n");
    for (code, title) in CODES {
        s.push_str(&format!("| `{code}` | {title} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_sorted() {
        let mut seen = std::collections::BTreeSet::new();
        let mut last = "";
        for (c, _) in CODES {
            assert!(seen.insert(c.0), "duplicate code {c}");
            assert!(c.0 > last, "{c} out of order");
            last = c.0;
        }
    }

    #[test]
    fn renders_caret_under_column() {
        let loc = Location::from_span("a.toml", "x = 1\nverison = 2\n", 6..13);
        let d = Diagnostic::error(UNKNOWN_KEY, "unknown key `verison`")
            .at(loc)
            .hint("did you mean `version`?");
        assert_eq!(
            d.render(),
            "error[SW0102]: unknown key `verison`\n --> a.toml:2:1\n  |\n2 | verison = 2\n  | ^^^^^^^\n  = help: did you mean `version`?\n"
        );
    }
}
