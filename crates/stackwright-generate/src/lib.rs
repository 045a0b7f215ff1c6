//! Rendering a component's `[[generate]]` entries (templates and structured values) into
//! files and container additions, with [minijinja].
//!
//! The engine is configured once, the same way for every manifest: undefined values are
//! errors (`UndefinedBehavior::Strict`), `trim_blocks`/`lstrip_blocks` are on (a `{% %}`
//! line leaves no blank line), a file's trailing newline is kept, and a bounded amount of
//! work (fuel) is allowed per entry. Maps in the context are sorted, so output is
//! byte-identical for the same inputs. Beyond minijinja's builtins, templates have:
//!
//! - `fail(message)`: refuse the config (SW0710), e.g. a value required in one mode;
//! - `warn(message)`: report a warning (SW0711) and render nothing;
//! - `semver(version, requirement)`: whether a version meets a semver requirement;
//! - the `toml` filter: a value as a TOML inline value (a quoted string, an array…).
//!
//! No I/O; every problem is a [`Diagnostic`] at the manifest line it comes from.

use std::sync::{Arc, Mutex};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use stackwright_types::diagnostic::{self, Diagnostic};
use stackwright_types::generate::{
    Body, ContainerField, Contribution, Format, Generate, Target, TemplateText,
};
use stackwright_types::linuxkit::File;
use stackwright_types::Location;

/// Work allowed per entry (minijinja fuel: roughly one unit per instruction).
const FUEL: u64 = 2_000_000;

/// Rendered text larger than this is refused (a loop gone wrong, not a config file).
const MAX_OUTPUT: usize = 1024 * 1024;

/// Errors of this crate. Rendering reports [`Diagnostic`]s, not errors; this is for a
/// context that cannot be turned into template values.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the template context is not a table: {0}")]
    Context(String),
}

#[derive(Default)]
struct Notes {
    warnings: Vec<String>,
    failure: Option<String>,
}

fn environment(notes: &Arc<Mutex<Notes>>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    env.set_fuel(Some(FUEL));
    let n = notes.clone();
    env.add_function("fail", move |msg: String| -> Result<String, Error> {
        n.lock().expect("not poisoned").failure = Some(msg.clone());
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    let n = notes.clone();
    env.add_function("warn", move |msg: String| -> String {
        n.lock().expect("not poisoned").warnings.push(msg);
        String::new()
    });
    env.add_function(
        "semver",
        |version: String, req: String| -> Result<bool, Error> {
            let v = semver::Version::parse(&version).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("semver(`{version}`): {e}"),
                )
            })?;
            let r = semver::VersionReq::parse(&req).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("semver(_, `{req}`): {e}"),
                )
            })?;
            Ok(r.matches(&v))
        },
    );
    env.add_filter("toml", |v: Value| -> Result<String, Error> {
        let json = serde_json::to_value(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
        let t: toml::Value = serde_json::from_value(json).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("not a TOML value: {e}"),
            )
        })?;
        Ok(t.to_string())
    });
    env
}

/// Checks every template, `when` expression and templated string of `entries` for syntax
/// errors, without rendering (done when the registry is built).
pub fn check(entries: &[Generate]) -> Vec<Diagnostic> {
    let notes = Arc::new(Mutex::new(Notes::default()));
    let env = environment(&notes);
    let mut out = Vec::new();
    for g in entries {
        if let Some(w) = &g.when {
            if let Err(e) = env.compile_expression(&w.text) {
                out.push(error_diag(g, "`when`", &e, &w.location, None));
            }
        }
        match &g.body {
            Body::Template(t) => {
                if let Err(e) = env.template_from_str(&t.text) {
                    out.push(error_diag(g, "template", &e, &t.location, Some(t)));
                }
            }
            Body::Value { value, location } => {
                let mut strings = Vec::new();
                strings_of(value, &mut strings);
                for s in strings {
                    let r = match whole_expression(s) {
                        Some(expr) => env.compile_expression(expr).map(|_| ()),
                        None => env.template_from_str(s).map(|_| ()),
                    };
                    if let Err(e) = r {
                        out.push(error_diag(
                            g,
                            &format!("value string `{s}`"),
                            &e,
                            location,
                            None,
                        ));
                    }
                }
            }
        }
    }
    out
}

fn strings_of<'a>(v: &'a toml::Value, out: &mut Vec<&'a str>) {
    match v {
        toml::Value::String(s) => out.push(s),
        toml::Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| strings_of(x, out)),
        _ => {}
    }
}

/// `{{ expr }}` alone (nothing around it, no second tag): the expression.
fn whole_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim().trim_start_matches('-').trim_end_matches('-'))
}

fn error_diag(
    g: &Generate,
    what: &str,
    e: &Error,
    at: &Location,
    template: Option<&TemplateText>,
) -> Diagnostic {
    let location = match (template, e.line()) {
        (Some(t), Some(line)) => t.line(line),
        _ => at.clone(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let line = match (template, e.line()) {
        (Some(_), Some(l)) => format!(" (template line {l})"),
        _ => String::new(),
    };
    let (code, hint) = match e.kind() {
        ErrorKind::SyntaxError => (
            diagnostic::TEMPLATE_SYNTAX,
            "minijinja (Jinja2) syntax: {{ expression }}, {% if %}…{% endif %}, {% for %}…{% endfor %}",
        ),
        ErrorKind::UndefinedError => (
            diagnostic::TEMPLATE_UNDEFINED,
            "name a value the context has (config, this, components, providers, assembly, arch; keys with dashes as config['max-pods']); test optional ones with `is defined` or `in`",
        ),
        _ => (
            diagnostic::TEMPLATE_RENDER,
            "check the types the template works on (`stackwright show <id>` lists a component's config)",
        ),
    };
    Diagnostic::error(
        code,
        format!(
            "[[generate]] `{}`: {what}: {}{detail}{line}",
            g.describe(),
            e.kind()
        ),
    )
    .at(location)
    .hint(hint)
}

/// Renders `entries` for the component `id` in `context` (a table: see
/// docs/manifest-format.md for its keys).
pub fn render(id: &str, entries: &[Generate], context: &serde_json::Value) -> Contribution {
    let mut out = Contribution::default();
    let ctx = Value::from(minijinja::value::Serde(context));
    for g in entries {
        let notes = Arc::new(Mutex::new(Notes::default()));
        let env = environment(&notes);
        let r = render_one(&env, g, &ctx, &mut out);
        let notes = std::mem::take(&mut *notes.lock().expect("not poisoned"));
        for w in notes.warnings {
            out.diagnostics.push(
                Diagnostic::warning(diagnostic::GENERATE_WARNING, format!("{id}: {w}"))
                    .at(g.location.clone())
                    .hint(format!("see `stackwright show {id}` for its config")),
            );
        }
        if let Err(f) = r {
            let (what, e, at, t) = *f;
            let d = match notes.failure {
                Some(msg) => {
                    Diagnostic::error(diagnostic::GENERATE_REFUSED, format!("{id}: {msg}"))
                        .at(g.location.clone())
                        .hint(format!(
                            "set the value in the assembly: {id} = {{ config = {{ … }} }}"
                        ))
                }
                None => error_diag(g, &what, &e, &at, t.as_ref()),
            };
            out.diagnostics.push(d);
        }
    }
    out
}

type Failure = Box<(String, Error, Location, Option<TemplateText>)>;

fn render_one(
    env: &Environment<'static>,
    g: &Generate,
    ctx: &Value,
    out: &mut Contribution,
) -> Result<(), Failure> {
    if let Some(w) = &g.when {
        let fail = |e: Error| Box::new(("`when`".to_string(), e, w.location.clone(), None));
        let expr = env.compile_expression(&w.text).map_err(fail)?;
        let v = expr.eval(ctx).map_err(fail)?;
        if v.is_undefined() {
            return Err(fail(Error::from(ErrorKind::UndefinedError)));
        }
        if !v.is_true() {
            return Ok(());
        }
    }
    match (&g.body, &g.target) {
        (Body::Template(t), Target::File { path, mode }) => {
            let fail = |e: Error| {
                Box::new((
                    "template".to_string(),
                    e,
                    t.location.clone(),
                    Some(t.clone()),
                ))
            };
            let tmpl = env.template_from_str(&t.text).map_err(fail)?;
            let text = tmpl.render(ctx).map_err(fail)?;
            if text.len() > MAX_OUTPUT {
                return Err(fail(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "renders {} bytes, over the {MAX_OUTPUT} byte limit",
                        text.len()
                    ),
                )));
            }
            if let Err(msg) = parses(g.format, &text) {
                return Err(Box::new((
                    "rendered text".to_string(),
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("is not valid {}: {msg}", g.format.as_str()),
                    ),
                    t.location.clone(),
                    None,
                )));
            }
            out.files.push(file(path, mode, text));
        }
        (Body::Value { value, location }, target) => {
            let fail =
                |what: &str, e: Error| Box::new((what.to_string(), e, location.clone(), None));
            let v = eval_value(env, value, ctx)
                .map_err(|(s, e)| fail(&format!("value string `{s}`"), e))?;
            match target {
                Target::File { path, mode } => {
                    let v = v.unwrap_or(serde_json::Value::Object(Default::default()));
                    let text = write(g.format, &v)
                        .map_err(|m| fail("value", Error::new(ErrorKind::InvalidOperation, m)))?;
                    out.files.push(file(path, mode, text));
                }
                Target::Container(field) => {
                    let items = strings(v)
                        .map_err(|m| fail("value", Error::new(ErrorKind::InvalidOperation, m)))?;
                    match field {
                        ContainerField::Command => out.command = Some(items),
                        ContainerField::Env => out.env.extend(items),
                        ContainerField::Binds => out.binds.extend(items),
                    }
                }
            }
        }
        (Body::Template(_), Target::Container(_)) => {
            // Refused when the manifest is read.
        }
    }
    Ok(())
}

fn file(path: &str, mode: &str, contents: String) -> File {
    File {
        path: path.to_string(),
        contents: Some(contents),
        mode: Some(mode.to_string()),
        ..Default::default()
    }
}

/// A container field's list: strings; a nested list (from a whole expression) is spliced
/// in; numbers and booleans are written as text.
fn strings(v: Option<serde_json::Value>) -> Result<Vec<String>, String> {
    fn push(v: serde_json::Value, out: &mut Vec<String>) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => {
                for x in a {
                    push(x, out)?;
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::Bool(b) => out.push(b.to_string()),
            serde_json::Value::Number(n) => out.push(n.to_string()),
            serde_json::Value::Object(_) => {
                return Err("a container field's items are strings, not tables".into())
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if let Some(v) = v {
        push(v, &mut out)?;
    }
    Ok(out)
}

/// Evaluates a structured value: strings are templates; `None` means "drop this".
fn eval_value<'a>(
    env: &Environment<'static>,
    v: &'a toml::Value,
    ctx: &Value,
) -> Result<Option<serde_json::Value>, (&'a str, Error)> {
    Ok(Some(match v {
        toml::Value::String(s) => match whole_expression(s) {
            Some(expr) => {
                let e = env.compile_expression(expr).map_err(|e| (s.as_str(), e))?;
                let val = e.eval(ctx).map_err(|e| (s.as_str(), e))?;
                if val.is_undefined() {
                    return Err((s, Error::from(ErrorKind::UndefinedError)));
                }
                if val.is_none() {
                    return Ok(None);
                }
                serde_json::to_value(&val).map_err(|e| {
                    (
                        s.as_str(),
                        Error::new(ErrorKind::InvalidOperation, e.to_string()),
                    )
                })?
            }
            None => {
                if !s.contains("{{") && !s.contains("{%") {
                    serde_json::Value::String(s.clone())
                } else {
                    let t = env.template_from_str(s).map_err(|e| (s.as_str(), e))?;
                    serde_json::Value::String(t.render(ctx).map_err(|e| (s.as_str(), e))?)
                }
            }
        },
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                if let Some(x) = eval_value(env, x, ctx)? {
                    out.push(x);
                }
            }
            serde_json::Value::Array(out)
        }
        toml::Value::Table(t) => {
            let mut out = serde_json::Map::new();
            for (k, x) in t {
                if let Some(x) = eval_value(env, x, ctx)? {
                    out.insert(k.clone(), x);
                }
            }
            serde_json::Value::Object(out)
        }
    }))
}

/// A value written in a format.
pub fn write(format: Format, v: &serde_json::Value) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml::to_string(v).map_err(|e| e.to_string()),
        Format::Toml => {
            let t: toml::Value = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
            toml::to_string(&t).map_err(|e| e.to_string())
        }
        Format::Text => match v {
            serde_json::Value::String(s) => Ok(s.clone()),
            _ => Err("a structured value cannot be written as text".into()),
        },
    }
}

/// Whether `text` parses in `format` (text always does).
pub fn parses(format: Format, text: &str) -> Result<(), String> {
    match format {
        Format::Text => Ok(()),
        Format::Json => serde_json::from_str::<serde_json::Value>(text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml::from_str::<serde_yaml::Value>(text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Format::Toml => text
            .parse::<toml::Table>()
            .map(|_| ())
            .map_err(|e| e.to_string().trim_end().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright_types::manifest::Manifest;
    use stackwright_types::SourceText;

    fn manifest(generate: &str) -> Manifest {
        let text = format!(
            "id = \"x\"\ncategory = \"runtime\"\nsummary = \"x\"\nstage = \"service\"\narch = [\"amd64\"]\n\n[config.port]\ntype = \"integer\"\ndefault = 80\n\n[config.name]\ntype = \"string\"\ndefault = \"web\"\n\n[[release]]\nversion = \"2.1.0\"\n\n{generate}"
        );
        Manifest::parse(&SourceText::new("x.toml", text), Some("x"))
            .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics()))
    }

    fn ctx() -> serde_json::Value {
        serde_json::json!({
            "arch": "amd64",
            "config": {"port": 80, "name": "web", "list": ["a", "b"]},
            "this": {"id": "x", "version": "2.1.0", "major": 2},
            "components": {"x": {"version": "2.1.0"}},
            "providers": {},
        })
    }

    #[test]
    fn a_template_renders_with_the_context_and_keeps_its_newline() {
        let m = manifest("[[generate]]\npath = \"etc/x.conf\"\ntemplate = \"\"\"\n{% if this.major >= 2 %}\nport = {{ config.port }}\n{% endif %}\nname = {{ config.name | toml }}\n\"\"\"\n");
        let c = render("x", &m.generate, &ctx());
        assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
        assert_eq!(c.files[0].path, "etc/x.conf");
        assert_eq!(c.files[0].mode.as_deref(), Some("0644"));
        assert_eq!(
            c.files[0].contents.as_deref(),
            Some("port = 80\nname = \"web\"\n")
        );
    }

    #[test]
    fn structured_values_keep_the_types_of_whole_expressions() {
        let m = manifest("[[generate]]\npath = \"etc/x.json\"\n[generate.value]\nport = \"{{ config.port }}\"\nlabel = \"{{ config.name }}-{{ config.port }}\"\nlist = \"{{ config.list }}\"\ngone = \"{{ none }}\"\nnested = { ok = true }\n");
        let c = render("x", &m.generate, &ctx());
        assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
        let v: serde_json::Value =
            serde_json::from_str(c.files[0].contents.as_deref().unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"port": 80, "label": "web-80", "list": ["a", "b"], "nested": {"ok": true}})
        );
        // The same in TOML and YAML.
        for (f, check) in [("toml", "port = 80"), ("yaml", "port: 80")] {
            let m = manifest(&format!("[[generate]]\npath = \"etc/x\"\nformat = \"{f}\"\nvalue = {{ port = \"{{{{ config.port }}}}\", t = {{ a = 1 }} }}\n"));
            let c = render("x", &m.generate, &ctx());
            let text = c.files[0].contents.clone().unwrap();
            assert!(text.contains(check), "{f}: {text}");
            parses(
                if f == "toml" {
                    Format::Toml
                } else {
                    Format::Yaml
                },
                &text,
            )
            .unwrap();
        }
    }

    #[test]
    fn container_additions_and_when() {
        let m = manifest("[[generate]]\ncontainer = \"command\"\nvalue = [\"/bin/x\", \"--port={{ config.port }}\", \"{{ config.list }}\", \"{{ none }}\"]\n\n[[generate]]\ncontainer = \"env\"\nwhen = \"config.port == 81\"\nvalue = [\"NEVER=1\"]\n\n[[generate]]\ncontainer = \"binds\"\nwhen = \"config.port == 80\"\nvalue = [\"/a:/a\"]\n");
        let c = render("x", &m.generate, &ctx());
        assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
        assert_eq!(
            c.command,
            Some(vec![
                "/bin/x".into(),
                "--port=80".into(),
                "a".into(),
                "b".into()
            ])
        );
        assert!(c.env.is_empty());
        assert_eq!(c.binds, vec!["/a:/a".to_string()]);
    }

    #[test]
    fn undefined_values_are_errors_at_the_template_line() {
        let m = manifest("[[generate]]\npath = \"etc/x.conf\"\ntemplate = \"\"\"\nok = 1\nbad = {{ config.nope }}\n\"\"\"\n");
        let c = render("x", &m.generate, &ctx());
        assert!(c.files.is_empty());
        let d = &c.diagnostics[0];
        assert_eq!(d.code, diagnostic::TEMPLATE_UNDEFINED, "{d:#?}");
        let loc = d.location.as_ref().unwrap();
        // `[[generate]]` is line 18 of the manifest; the template's line 2 is line 22.
        assert_eq!(loc.line, 22, "{d:#?}");
        assert_eq!(loc.snippet.as_deref(), Some("bad = {{ config.nope }}"));
    }

    #[test]
    fn syntax_errors_are_found_before_rendering() {
        let m = manifest("[[generate]]\npath = \"etc/x.conf\"\ntemplate = \"\"\"\nok\n{% if %}\n\"\"\"\n\n[[generate]]\npath = \"etc/y.json\"\nvalue = { a = \"{{ (( }}\" }\n");
        let d = check(&m.generate);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d.iter().all(|d| d.code == diagnostic::TEMPLATE_SYNTAX),
            "{d:#?}"
        );
        assert_eq!(d[0].location.as_ref().unwrap().line, 22);
    }

    #[test]
    fn fail_warn_and_output_checks() {
        let m = manifest("[[generate]]\npath = \"etc/a\"\ntemplate = \"{{ fail('needs a token') }}\"\n\n[[generate]]\npath = \"etc/b\"\ntemplate = \"{{ warn('nobody can log in') }}x\"\n\n[[generate]]\npath = \"etc/c.json\"\ntemplate = \"{not json\"\n\n[[generate]]\npath = \"etc/d\"\ntemplate = \"{{ semver(this.version, '>=2, <3') }} {{ 1 + 'a' }}\"\n");
        let c = render("x", &m.generate, &ctx());
        let codes: Vec<_> = c
            .diagnostics
            .iter()
            .map(|d| (d.code.0, d.severity))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("SW0710", stackwright_types::Severity::Error),
                ("SW0711", stackwright_types::Severity::Warning),
                ("SW0704", stackwright_types::Severity::Error),
                ("SW0704", stackwright_types::Severity::Error),
            ],
            "{:#?}",
            c.diagnostics
        );
        assert!(c.diagnostics[0].message.contains("needs a token"));
        assert_eq!(c.files.len(), 1);
        assert_eq!(c.files[0].contents.as_deref(), Some("x"));
    }

    #[test]
    fn endless_work_is_bounded() {
        let m = manifest("[[generate]]\npath = \"etc/a\"\ntemplate = \"{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}\"\n");
        let c = render("x", &m.generate, &ctx());
        assert_eq!(c.diagnostics.len(), 1, "{:#?}", c.diagnostics);
        assert!(c.files.is_empty());
    }

    #[test]
    fn output_is_deterministic() {
        let m = manifest(
            "[[generate]]\npath = \"etc/x.yaml\"\nvalue = { z = 1, a = 2, m = { y = 1, b = 2 } }\n",
        );
        let a = render("x", &m.generate, &ctx());
        let b = render("x", &m.generate, &ctx());
        assert_eq!(a, b);
    }
}
