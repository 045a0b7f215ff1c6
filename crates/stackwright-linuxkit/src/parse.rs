//! Reading one `linuxkit.yml` with LinuxKit's own rules, every problem at its line.
//!
//! The text is read three ways, each for what it is good at: `yaml-rust2` events into a
//! tree that keeps positions ([`crate::yaml`]); serde_yaml into a JSON value with YAML's
//! scalar rules (what LinuxKit validates); and that value checked against LinuxKit's own
//! JSON schema (unknown keys anywhere, wrong types, missing `name`/`image`), each schema
//! error mapped back to its node. Then the rules the schema cannot say: names unique per
//! section, volume names, files entries, image references. Finally the value is turned
//! into [`Config`] and back, and any field the model would drop is an error — the import
//! is lossless or it refuses.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use stackwright_types::container::Container;
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::linuxkit::Config;
use stackwright_types::reference::ImageRef;
use stackwright_types::{Location, SourceText, MAX_INPUT_BYTES};

use crate::yaml::{self, Node, Step};

/// LinuxKit's JSON schema for its YAML (`src/cmd/linuxkit/moby/schema.go` upstream), as
/// shipped in `../shared/linuxkit/schema.json`; copied into this crate so builds do not
/// depend on files outside the repository.
pub const SCHEMA: &str = include_str!("../schema/linuxkit-schema.json");

fn schema() -> &'static Value {
    static SCHEMA_VALUE: OnceLock<Value> = OnceLock::new();
    SCHEMA_VALUE.get_or_init(|| serde_json::from_str(SCHEMA).expect("the bundled schema is JSON"))
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::draft4::new(schema()).expect("the bundled schema compiles"))
}

/// The three sections of named images.
pub const IMAGE_SECTIONS: [&str; 3] = ["onboot", "onshutdown", "services"];

/// Where each entry of a parsed file was written, so problems found later (after
/// merging several files, or while mapping) can still point at a line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origins {
    pub kernel: Option<Location>,
    pub init: Vec<Location>,
    pub onboot: Vec<Location>,
    pub onshutdown: Vec<Location>,
    pub services: Vec<Location>,
    pub files: Vec<Location>,
    pub volumes: Vec<Location>,
}

impl Origins {
    pub fn section(&self, section: &str) -> &[Location] {
        match section {
            "init" => &self.init,
            "onboot" => &self.onboot,
            "onshutdown" => &self.onshutdown,
            "services" => &self.services,
            "files" => &self.files,
            "volumes" => &self.volumes,
            _ => &[],
        }
    }

    fn section_mut(&mut self, section: &str) -> &mut Vec<Location> {
        match section {
            "init" => &mut self.init,
            "onboot" => &mut self.onboot,
            "onshutdown" => &mut self.onshutdown,
            "services" => &mut self.services,
            "files" => &mut self.files,
            _ => &mut self.volumes,
        }
    }

    pub(crate) fn append(&mut self, other: Origins) {
        if other.kernel.is_some() {
            self.kernel = other.kernel.clone();
        }
        for s in [
            "init",
            "onboot",
            "onshutdown",
            "services",
            "files",
            "volumes",
        ] {
            let o = other.section(s).to_vec();
            self.section_mut(s).extend(o);
        }
    }
}

/// One file, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The display name of the file.
    pub file: String,
    pub config: Config,
    pub origins: Origins,
}

/// Reads one LinuxKit YAML file. All problems found are returned together, sorted by line.
pub fn parse(src: &SourceText) -> Result<Parsed, Vec<Diagnostic>> {
    if src.text.len() > MAX_INPUT_BYTES {
        return Err(vec![Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            format!(
                "{} is {} bytes, over the {MAX_INPUT_BYTES} byte limit",
                src.name,
                src.text.len()
            ),
        )
        .at(src.whole())]);
    }
    let empty = |t: &Node| matches!(&t.kind, yaml::Kind::Scalar(s, yaml_rust2::scanner::TScalarStyle::Plain) if s.is_empty() || s == "~" || s == "null");
    let tree = match yaml::parse(&src.text) {
        Ok(Some(t)) if !empty(&t) => t,
        Ok(_) => {
            return Ok(Parsed {
                file: src.name.clone(),
                config: Config::default(),
                origins: Origins::default(),
            })
        }
        Err(e) if e.limit => {
            return Err(vec![Diagnostic::error(diagnostic::INPUT_LIMIT, e.message)
                .at(yaml::location_at(src, e.pos, 1))
                .hint(e.hint.unwrap_or("shrink the file"))])
        }
        Err(e) => {
            return Err(vec![Diagnostic::error(
                diagnostic::LINUXKIT_SYNTAX,
                format!("not valid YAML: {}", e.message),
            )
            .at(yaml::location_at(src, e.pos, 1))
            .hint(e.hint.unwrap_or(
                "check the indentation of this line and the ones above it",
            ))])
        }
    };
    if !matches!(tree.kind, yaml::Kind::Map(_)) {
        return Err(vec![Diagnostic::error(
            diagnostic::LINUXKIT_SYNTAX,
            "a LinuxKit configuration is a mapping of sections (kernel, init, onboot, services, …)",
        )
        .at(tree.location(src))]);
    }
    let mut json: Value = match serde_yaml::from_str(&src.text) {
        Ok(v) => v,
        Err(e) => {
            let loc = match e.location() {
                Some(l) => src.locate(l.index()..l.index() + 1),
                None => src.whole(),
            };
            return Err(vec![Diagnostic::error(
                diagnostic::LINUXKIT_SYNTAX,
                format!("cannot read the YAML: {e}"),
            )
            .at(loc)]);
        }
    };

    octal_as_linuxkit_reads_it(&tree, &mut json);
    let mut diags = schema_diagnostics(src, &tree, &json);
    diags.extend(image_key_diagnostics(src, &tree, &diags));
    if !diags.is_empty() {
        return Err(finish(diags));
    }

    let config: Config = match serde_json::from_value(json.clone()) {
        Ok(c) => c,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                diagnostic::LINUXKIT_SYNTAX,
                format!("cannot read the configuration: {e}"),
            )
            .at(src.whole())])
        }
    };
    diags.extend(lossless_diagnostics(src, &tree, &json, &config));
    let mut config = config;
    strip_leading_slash(&mut config);
    let origins = origins(src, &tree, &config);
    diags.extend(rule_diagnostics(src, &tree, &config));
    if !diags.is_empty() {
        return Err(finish(diags));
    }
    Ok(Parsed {
        file: src.name.clone(),
        config,
        origins,
    })
}

/// LinuxKit strips one leading `/` from a `files` path before writing it into the image
/// ("tar archives should not have absolute paths": `filesystem()` in
/// src/cmd/linuxkit/moby/build/build.go at 3bf33c3a, `if f.Path[0] == '/' { f.Path =
/// f.Path[1:] }`), so `/etc/x` and `etc/x` are one file. The configuration keeps the
/// stripped form, which is what LinuxKit builds and what we render.
fn strip_leading_slash(config: &mut Config) {
    for f in &mut config.files {
        if let Some(rest) = f.path.strip_prefix('/') {
            f.path = rest.to_string();
        }
    }
}

fn finish(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostic::sort(&mut diags);
    diags.dedup();
    diags
}

/// `services[1].capabilities[0]`, for messages.
pub(crate) fn describe(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        s.push_str("the top level");
    }
    s
}

/// `, in service `getty`` when the path runs through a named image entry.
fn entry_context(tree: &Node, path: &[Step]) -> String {
    if let [Step::Key(section), Step::Index(i), ..] = path {
        if let Some(name) = tree
            .at(&[Step::Key(section.clone()), Step::Index(*i)])
            .and_then(|n| n.get("name"))
            .and_then(Node::as_str)
        {
            let what = match section.as_str() {
                "services" => "service",
                "onboot" => "onboot image",
                "onshutdown" => "onshutdown image",
                "volumes" => "volume",
                _ => return String::new(),
            };
            return format!(" (in {what} `{name}`)");
        }
    }
    String::new()
}

fn to_steps(loc: &jsonschema::paths::Location) -> Vec<Step> {
    loc.iter()
        .map(|seg| match seg {
            jsonschema::paths::LocationSegment::Property(p) => Step::Key(p.to_string()),
            jsonschema::paths::LocationSegment::Index(i) => Step::Index(i),
        })
        .collect()
}

/// The subschema that describes the value at `path`, following `properties`, `items`
/// and `$ref` as LinuxKit's schema uses them.
pub(crate) fn schema_at(path: &[Step]) -> Option<&'static Value> {
    let root = schema();
    let resolve = |mut v: &'static Value| -> Option<&'static Value> {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/definitions/")?;
            v = root.get("definitions")?.get(name)?;
        }
        Some(v)
    };
    let mut node = resolve(root)?;
    for step in path {
        node = match step {
            Step::Key(k) => match node.get("properties").and_then(|p| p.get(k.as_str())) {
                Some(v) => resolve(v)?,
                None => resolve(node.get("additionalProperties").filter(|v| v.is_object())?)?,
            },
            Step::Index(_) => resolve(node.get("items")?)?,
        };
    }
    Some(node)
}

/// The keys LinuxKit allows in the object at `path`.
pub(crate) fn allowed_keys(path: &[Step]) -> Vec<&'static str> {
    schema_at(path)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn schema_diagnostics(src: &SourceText, tree: &Node, json: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for err in validator().iter_errors(json) {
        let path = to_steps(err.instance_path());
        let at = tree
            .at(&path)
            .map(|n| n.location(src))
            .unwrap_or_else(|| src.whole());
        match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(&path);
                for key in unexpected {
                    let mut key_path = path.clone();
                    key_path.push(Step::Key(key.clone()));
                    let loc = tree
                        .key_at(&key_path)
                        .map(|n| n.location(src))
                        .unwrap_or_else(|| at.clone());
                    let place = if path.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("in {}", describe(&path))
                    };
                    let mut d = Diagnostic::error(
                        diagnostic::UNKNOWN_KEY,
                        format!("unknown key `{key}` {place}{}", entry_context(tree, &path)),
                    )
                    .at(loc);
                    d = match stackwright_types::suggest::did_you_mean(key, allowed.iter().copied())
                    {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint(format!("LinuxKit allows here: {}", allowed.join(", "))),
                    };
                    out.push(d);
                }
            }
            jsonschema::error::ValidationErrorKind::Required { property } => {
                let prop = property
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| property.to_string());
                out.push(
                    Diagnostic::error(
                        diagnostic::LINUXKIT_SYNTAX,
                        format!("{} lacks the required key `{prop}`", describe(&path)),
                    )
                    .at(at)
                    .hint(
                        "every onboot, service and onshutdown entry needs a `name` and an `image`",
                    ),
                );
            }
            _ => {
                let expected = schema_at(&path).map(expected_type).unwrap_or_default();
                let mut d = Diagnostic::error(
                    diagnostic::LINUXKIT_SYNTAX,
                    format!(
                        "wrong type for {}{}: {err}",
                        describe(&path),
                        entry_context(tree, &path)
                    ),
                )
                .at(at);
                let plain = tree.at(&path).and_then(|n| match &n.kind {
                    yaml::Kind::Scalar(s, yaml_rust2::scanner::TScalarStyle::Plain) => {
                        Some(s.clone())
                    }
                    _ => None,
                });
                match plain {
                    Some(text) if expected == "a string" && err.instance().is_number() => {
                        d = d.hint(format!(
                            "YAML reads the unquoted `{text}` as a number; quote it: \"{text}\""
                        ));
                    }
                    _ if !expected.is_empty() => {
                        d = d.hint(format!("LinuxKit expects {expected} here"))
                    }
                    _ => {}
                }
                out.push(d);
            }
        }
    }
    out
}

/// LinuxKit's YAML reader (yaml.v3) reads unquoted `0644` as the octal number 420 (and
/// `0o17`, `0b101`, `1_000` as numbers too, Go's integer syntax); serde_yaml keeps them
/// strings. Read them as LinuxKit does, so `mode: 0644` is refused (the schema wants a
/// string) instead of silently meaning something else.
fn octal_as_linuxkit_reads_it(node: &Node, json: &mut Value) {
    match (&node.kind, json) {
        (yaml::Kind::Map(entries), Value::Object(m)) => {
            for (k, v) in entries {
                if let Some(j) = k.as_str().and_then(|k| m.get_mut(k)) {
                    octal_as_linuxkit_reads_it(v, j);
                }
            }
        }
        (yaml::Kind::Seq(items), Value::Array(a)) => {
            for (n, j) in items.iter().zip(a.iter_mut()) {
                octal_as_linuxkit_reads_it(n, j);
            }
        }
        (
            yaml::Kind::Scalar(text, yaml_rust2::scanner::TScalarStyle::Plain),
            j @ Value::String(_),
        ) => {
            if let Some(n) = go_integer(text) {
                *j = Value::from(n);
            }
        }
        _ => {}
    }
}

pub use stackwright_types::linuxkit::go_integer;

/// "a string", "a list of strings", "a string or an integer", for hints.
fn expected_type(s: &Value) -> String {
    let one = |t: &str| match t {
        "string" => "a string".to_string(),
        "integer" => "an integer".to_string(),
        "boolean" => "true or false".to_string(),
        "array" => "a list".to_string(),
        "object" => "a mapping".to_string(),
        other => other.to_string(),
    };
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        if t == "array" {
            if let Some(items) = s.get("items") {
                let root = schema();
                let mut it = items;
                while let Some(r) = it.get("$ref").and_then(Value::as_str) {
                    match r
                        .strip_prefix("#/definitions/")
                        .and_then(|n| root["definitions"].get(n))
                    {
                        Some(v) => it = v,
                        None => break,
                    }
                }
                if it.get("type").and_then(Value::as_str) == Some("string") {
                    return "a list of strings".into();
                }
                if it.get("type").and_then(Value::as_str) == Some("object") {
                    return "a list of mappings".into();
                }
            }
        }
        return one(t);
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let parts: Vec<String> = any
            .iter()
            .filter_map(|v| v.get("type").and_then(Value::as_str).map(one))
            .collect();
        return parts.join(" or ");
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let parts: Vec<String> = e.iter().map(|v| v.to_string()).collect();
        return format!("one of {}", parts.join(", "));
    }
    String::new()
}

/// Image entries are modelled as `name` + `image` + a flattened [`Container`], where
/// serde cannot refuse unknown keys; the schema does, and this checks our own model
/// agrees with it, so a key the schema allows but the model lacks is never dropped.
fn image_key_diagnostics(src: &SourceText, tree: &Node, already: &[Diagnostic]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for section in IMAGE_SECTIONS {
        let Some(list) = tree.get(section) else {
            continue;
        };
        for entry in list.items() {
            let yaml::Kind::Map(entries) = &entry.kind else {
                continue;
            };
            for (k, _) in entries {
                let Some(key) = k.as_str() else { continue };
                if key == "name" || key == "image" || Container::FIELDS.contains(&key) {
                    continue;
                }
                let loc = k.location(src);
                if already.iter().any(|d| d.location.as_ref() == Some(&loc)) {
                    continue;
                }
                let known = ["name", "image"]
                    .into_iter()
                    .chain(Container::FIELDS.iter().copied());
                let mut d = Diagnostic::error(
                    diagnostic::UNKNOWN_KEY,
                    format!("unknown key `{key}` in a {section} entry"),
                )
                .at(loc);
                if let Some(s) = stackwright_types::suggest::did_you_mean(key, known) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                out.push(d);
            }
        }
    }
    out
}

/// Top-level sections written as empty lists are the same as absent ones.
fn normalise(json: &Value) -> Value {
    let mut v = json.clone();
    if let Value::Object(m) = &mut v {
        m.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
    }
    v
}

/// Every value of the input must survive the trip through [`Config`].
fn lossless_diagnostics(
    src: &SourceText,
    tree: &Node,
    json: &Value,
    config: &Config,
) -> Vec<Diagnostic> {
    let back = match serde_json::to_value(config) {
        Ok(v) => v,
        Err(e) => {
            return vec![Diagnostic::error(
                diagnostic::LINUXKIT_SYNTAX,
                format!("cannot carry the configuration: {e}"),
            )
            .at(src.whole())]
        }
    };
    let mut path = Vec::new();
    let mut out = Vec::new();
    diff(&normalise(json), &back, &mut path, &mut |p| {
        let loc = tree
            .at(p)
            .map(|n| n.location(src))
            .unwrap_or_else(|| src.whole());
        out.push(
            Diagnostic::error(
                diagnostic::LINUXKIT_SYNTAX,
                format!(
                    "{} is allowed by LinuxKit but would be lost by the import",
                    describe(p)
                ),
            )
            .at(loc)
            .hint("this is a gap in Stackwright's LinuxKit model; please report it"),
        );
    });
    out
}

fn diff(a: &Value, b: &Value, path: &mut Vec<Step>, report: &mut dyn FnMut(&[Step])) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                path.push(Step::Key(k.clone()));
                match y.get(k) {
                    Some(vb) => diff(va, vb, path, report),
                    None => report(path),
                }
                path.pop();
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                path.push(Step::Key(k.clone()));
                report(path);
                path.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                path.push(Step::Index(i));
                diff(va, vb, path, report);
                path.pop();
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a == b => {}
        _ => report(path),
    }
}

fn origins(src: &SourceText, tree: &Node, config: &Config) -> Origins {
    let loc_of = |path: &[Step]| {
        tree.at(path)
            .map(|n| n.location(src))
            .unwrap_or_else(|| src.whole())
    };
    let key = |s: &str| Step::Key(s.to_string());
    let mut o = Origins::default();
    if config.kernel.is_some() {
        o.kernel = Some(match tree.at(&[key("kernel"), key("image")]) {
            Some(n) => n.location(src),
            None => loc_of(&[key("kernel")]),
        });
    }
    o.init = (0..config.init.len())
        .map(|i| loc_of(&[key("init"), Step::Index(i)]))
        .collect();
    for (section, n) in [
        ("onboot", config.onboot.len()),
        ("onshutdown", config.onshutdown.len()),
        ("services", config.services.len()),
        ("volumes", config.volumes.len()),
    ] {
        let locs = (0..n)
            .map(|i| loc_of(&[key(section), Step::Index(i), key("name")]))
            .collect();
        *o.section_mut(section) = locs;
    }
    o.files = (0..config.files.len())
        .map(|i| loc_of(&[key("files"), Step::Index(i), key("path")]))
        .collect();
    o
}

/// LinuxKit's rules beyond the schema.
fn rule_diagnostics(src: &SourceText, tree: &Node, config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let key = |s: &str| Step::Key(s.to_string());
    let loc_of = |path: &[Step]| {
        tree.at(path)
            .map(|n| n.location(src))
            .unwrap_or_else(|| src.whole())
    };
    let sections: [(&str, &[stackwright_types::linuxkit::Image]); 3] = [
        ("onboot", &config.onboot),
        ("onshutdown", &config.onshutdown),
        ("services", &config.services),
    ];
    // Names must be unique among services only (they run side by side as containers of
    // that name): `uniqueServices` in src/cmd/linuxkit/moby/config.go at 3bf33c3a, called
    // by `NewConfig` and `AppendConfig`. onboot/onshutdown entries run one after another
    // from numbered directories (`000-mount`, `001-mount`), so LinuxKit takes a name
    // twice there (examples/dm-crypt-loop.yml has two `mount` entries).
    out.extend(duplicate_names(
        "services",
        config.services.iter().enumerate().map(|(i, im)| {
            (
                im.name.as_str(),
                loc_of(&[key("services"), Step::Index(i), key("name")]),
            )
        }),
    ));
    for (section, images) in sections {
        // Image references: LinuxKit refuses what `reference.Parse(util.ReferenceExpand(…))`
        // refuses (`extractReferences` in src/cmd/linuxkit/moby/config.go at 3bf33c3a);
        // a reference without a tag is accepted and pulled as `:latest` (`Pull` in
        // src/cmd/linuxkit/cache/pull.go, `util.ReferenceExpand(name,
        // util.ReferenceWithTag())`); the import warns about it (SW0509).
        for (i, im) in images.iter().enumerate() {
            if let Err(e) = ImageRef::parse(&im.image) {
                out.push(bad_image(
                    e,
                    loc_of(&[key(section), Step::Index(i), key("image")]),
                ));
            }
        }
    }
    // Volume names: unique and matching `^[a-z0-9_-]*$` (`uniqueVolumes` and `nameRE` in
    // src/cmd/linuxkit/moby/config.go at 3bf33c3a).
    out.extend(duplicate_names(
        "volumes",
        config.volumes.iter().enumerate().map(|(i, v)| {
            (
                v.name.as_str(),
                loc_of(&[key("volumes"), Step::Index(i), key("name")]),
            )
        }),
    ));
    for (i, v) in config.volumes.iter().enumerate() {
        if !v
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            out.push(
                Diagnostic::error(
                    diagnostic::INVALID_VALUE,
                    format!("invalid volume name `{}`", v.name),
                )
                .at(loc_of(&[key("volumes"), Step::Index(i), key("name")]))
                .hint("LinuxKit volume names use only a-z, 0-9, `_` and `-`"),
            );
        }
        if let Some(img) = &v.image {
            if let Err(e) = ImageRef::parse(img) {
                out.push(bad_image(
                    e,
                    loc_of(&[key("volumes"), Step::Index(i), key("image")]),
                ));
            }
        }
    }
    if let Some(img) = config.kernel.as_ref().and_then(|k| k.image.as_ref()) {
        if let Err(e) = ImageRef::parse(img) {
            out.push(bad_image(e, loc_of(&[key("kernel"), key("image")])));
        }
    }
    for (i, img) in config.init.iter().enumerate() {
        if let Err(e) = ImageRef::parse(img) {
            out.push(bad_image(e, loc_of(&[key("init"), Step::Index(i)])));
        }
    }
    let mut paths: BTreeMap<&str, Location> = BTreeMap::new();
    for (i, f) in config.files.iter().enumerate() {
        let at = loc_of(&[key("files"), Step::Index(i), key("path")]);
        if let Err(e) = f.check() {
            out.push(
                Diagnostic::error(
                    diagnostic::BAD_FILES_ENTRY,
                    format!("files entry `{}`: {e}", f.path),
                )
                .at(at.clone()),
            );
        }
        if let Some(first) = paths.get(f.path.as_str()) {
            out.push(
                Diagnostic::error(
                    diagnostic::DUPLICATE_FILE_PATH,
                    format!("two files entries for `{}`", f.path),
                )
                .at(at)
                .note(format!("the first is at {first}"))
                .hint("merge them into one entry"),
            );
        } else {
            paths.insert(&f.path, at);
        }
    }
    out
}

fn bad_image(e: stackwright_types::TypesError, at: Location) -> Diagnostic {
    Diagnostic::error(diagnostic::INVALID_VALUE, e.to_string())
        .at(at)
        .hint("write an OCI reference such as linuxkit/getty:<tag> or name@sha256:<digest>")
}

/// Two entries of one section with one name, for the sections where LinuxKit refuses it
/// (services, volumes).
pub(crate) fn duplicate_names<'a>(
    section: &str,
    names: impl Iterator<Item = (&'a str, Location)>,
) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<&str, Location> = BTreeMap::new();
    let mut out = Vec::new();
    for (name, loc) in names {
        match seen.get(name) {
            Some(first) => out.push(
                Diagnostic::error(
                    diagnostic::LINUXKIT_DUPLICATE,
                    format!("duplicate {section} name `{name}`"),
                )
                .at(loc)
                .note(format!("`{name}` is first used at {first}"))
                .hint("give each entry of a section its own name"),
            ),
            None => {
                seen.insert(name, loc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Vec<Diagnostic> {
        parse(&SourceText::new("t.yml", text)).unwrap_err()
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_configs() {
        for t in ["", "# nothing\n", "---\n"] {
            assert_eq!(
                parse(&SourceText::new("t.yml", t)).unwrap().config,
                Config::default(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn a_list_at_the_top_is_refused() {
        let d = err("- a\n- b\n");
        assert_eq!(
            (d[0].code, d[0].location.as_ref().unwrap().line),
            (diagnostic::LINUXKIT_SYNTAX, 1)
        );
    }

    #[test]
    fn unknown_keys_in_every_kind_of_object() {
        let t = "trust:\n  orgs: [a]\nfiles:\n  - path: etc/x\n    contents: x\n    owner: root\nvolumes:\n  - name: v\n    ro: true\nservices:\n  - name: a\n    image: b:1\n    resources:\n      memory:\n        limt: 1\n    runtime:\n      bindNS:\n        netns: /x\n";
        let d = err(t);
        let got: Vec<(u32, &str)> = d
            .iter()
            .map(|d| (d.location.as_ref().unwrap().line, d.code.0))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "SW0102"),
                (6, "SW0102"),
                (9, "SW0102"),
                (15, "SW0102"),
                (18, "SW0102")
            ]
        );
        assert_eq!(d[0].hint.as_deref(), Some("did you mean `org`?"));
    }

    #[test]
    fn every_image_field_name_is_in_the_schema() {
        let allowed = allowed_keys(&[Step::Key("services".into()), Step::Index(0)]);
        for f in Container::FIELDS {
            assert!(allowed.contains(f), "{f} is not in LinuxKit's schema");
        }
        assert_eq!(allowed.len(), Container::FIELDS.len() + 2);
    }

    #[test]
    fn unquoted_octal_mode_is_refused_with_a_hint() {
        let d = err("files:\n  - path: etc/x\n    contents: x\n    mode: 0600\n");
        assert_eq!(d[0].location.as_ref().unwrap().line, 4);
        assert!(d[0].hint.as_deref().unwrap().contains("\"0600\""));
    }

    #[test]
    fn bad_files_entries_and_paths_twice() {
        let d = err("files:\n  - path: ../etc/x\n    contents: x\n  - path: etc/y\n    contents: a\n    source: b\n  - path: etc/y\n    directory: true\n");
        let got: Vec<(u32, &str)> = d
            .iter()
            .map(|d| (d.location.as_ref().unwrap().line, d.code.0))
            .collect();
        assert_eq!(got, vec![(2, "SW0304"), (4, "SW0304"), (7, "SW0305")]);
    }

    #[test]
    fn a_leading_slash_is_stripped_from_files_paths_as_linuxkit_does() {
        let p = parse(&SourceText::new(
            "t.yml",
            "files:\n  - path: /etc/x\n    contents: x\n  - path: etc/y\n    contents: y\n",
        ))
        .unwrap();
        let paths: Vec<&str> = p.config.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["etc/x", "etc/y"]);
        // Stripped, `/etc/x` and `etc/x` are one path: two entries for it, as before.
        let d =
            err("files:\n  - path: /etc/x\n    contents: x\n  - path: etc/x\n    contents: y\n");
        assert_eq!(d[0].code, diagnostic::DUPLICATE_FILE_PATH);
    }

    #[test]
    fn names_are_unique_among_services_only() {
        let ok = "onboot:\n  - name: mount\n    image: linuxkit/mount:1\n  - name: mount\n    image: linuxkit/mount:1\nonshutdown:\n  - name: x\n    image: a:1\n  - name: x\n    image: a:1\nservices:\n  - name: mount\n    image: linuxkit/mount:1\n";
        let p = parse(&SourceText::new("t.yml", ok)).unwrap();
        assert_eq!(p.config.onboot.len(), 2);
        let d = err("services:\n  - name: a\n    image: a:1\n  - name: a\n    image: a:1\n");
        assert_eq!(
            (d.len(), d[0].code, d[0].location.as_ref().unwrap().line),
            (1, diagnostic::LINUXKIT_DUPLICATE, 4)
        );
    }

    #[test]
    fn bad_image_references_and_volume_names() {
        let d = err("init:\n  - \"bad image\"\nvolumes:\n  - name: Data\n");
        let got: Vec<(u32, &str)> = d
            .iter()
            .map(|d| (d.location.as_ref().unwrap().line, d.code.0))
            .collect();
        assert_eq!(got, vec![(2, "SW0103"), (4, "SW0103")]);
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let t = "#".repeat(MAX_INPUT_BYTES + 1);
        assert_eq!(err(&t)[0].code, diagnostic::INPUT_LIMIT);
    }

    #[test]
    fn anchors_and_aliases_are_followed() {
        let t = "x-env: &env [A=1]\nservices:\n  - name: a\n    image: b:1\n    env: *env\n";
        // `x-env` is not a LinuxKit key: refused, at its line, even though the alias works.
        let d = err(t);
        assert_eq!((d.len(), d[0].location.as_ref().unwrap().line), (1, 1));
        let ok = "services:\n  - &a {name: a, image: 'b:1', env: [A=1]}\nonboot:\n  - *a\n";
        let p = parse(&SourceText::new("t.yml", ok)).unwrap();
        assert_eq!(p.config.onboot, p.config.services);
    }
}
