//! How much the command line says, and in which colours: `-q`/`-v`, `--color` and
//! `--deny-warnings`, set once per run from the global flags.
//!
//! Everything on stderr goes through [`err`] (an `anstream` stream that keeps or strips
//! ANSI styles by `--color`: `auto` colours only a terminal, and honours `NO_COLOR`,
//! `CLICOLOR` and `CLICOLOR_FORCE`). Diagnostics are rendered by the model
//! (`Diagnostic::render`, one renderer for every user of the library); [`paint`] only adds
//! styles to that text, so with colour stripped it is byte for byte the same.

use std::io::Write;
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use stackwright::types::diagnostic::{Diagnostic, Severity};

/// `--color`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when stderr is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    /// Always colour (also into pipes and files).
    Always,
    /// Never colour.
    Never,
}

/// How much to say.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: errors only (and warnings when `--deny-warnings` makes them fail the run).
    Quiet,
    #[default]
    Normal,
    /// `-v`: every blob and file, cached or not, and every image resolved.
    Verbose,
}

#[derive(Copy, Clone, Debug, Default)]
struct Settings {
    verbosity: Verbosity,
    color: ColorWhen,
    deny_warnings: bool,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings {
    verbosity: Verbosity::Normal,
    color: ColorWhen::Auto,
    deny_warnings: false,
});

fn settings() -> Settings {
    *SETTINGS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sets this run's flags (`run` may be called several times in one process).
pub(crate) fn configure(verbosity: Verbosity, color: ColorWhen, deny_warnings: bool) {
    *SETTINGS.lock().unwrap_or_else(|p| p.into_inner()) = Settings {
        verbosity,
        color,
        deny_warnings,
    };
}

pub(crate) fn verbosity() -> Verbosity {
    settings().verbosity
}

pub(crate) fn quiet() -> bool {
    verbosity() == Verbosity::Quiet
}

pub(crate) fn verbose() -> bool {
    verbosity() == Verbosity::Verbose
}

pub(crate) fn deny_warnings() -> bool {
    settings().deny_warnings
}

/// stderr, with styles kept or stripped by `--color`.
pub(crate) fn err() -> anstream::AutoStream<std::io::Stderr> {
    let raw = std::io::stderr();
    match settings().color {
        ColorWhen::Auto => anstream::AutoStream::auto(raw),
        ColorWhen::Always => anstream::AutoStream::always(raw),
        ColorWhen::Never => anstream::AutoStream::never(raw),
    }
}

/// Writes one line to stderr (styles per `--color`); a failing stderr is ignored, there
/// is nowhere left to report it.
pub(crate) fn eline(text: impl std::fmt::Display) {
    let mut e = err();
    let _ = writeln!(e, "{text}");
}

/// A status line (progress, "wrote …"): not under `-q`.
pub(crate) fn status(text: impl std::fmt::Display) {
    if !quiet() {
        eline(text);
    }
}

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const GUTTER: Style = AnsiColor::Blue.on_default().bold();
const EMPHASIS: Style = Style::new().bold();

fn styled(style: Style, text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{style}{text}{style:#}")
    }
}

/// The style of a diagnostic's severity.
fn severity_style(d: &Diagnostic) -> Style {
    match d.severity {
        Severity::Error => ERROR,
        Severity::Warning => WARNING,
    }
}

/// `Diagnostic::render`'s text with rustc's colours: the header (`error[SW…]` red,
/// `warning[SW…]` yellow, the message bold), the gutter and arrow blue, the carets in the
/// severity's colour, `= note`/`= help` bold. The text itself is never changed.
pub(crate) fn paint(d: &Diagnostic) -> String {
    let sev = severity_style(d);
    let text = d.render();
    let mut out = String::with_capacity(text.len() + 64);
    let mut after_snippet = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let painted = if i == 0 {
            match body.find("]: ") {
                Some(at) => format!(
                    "{}{}",
                    styled(sev, &body[..at + 1]),
                    styled(EMPHASIS, &body[at + 1..])
                ),
                None => styled(sev, body),
            }
        } else if let Some(rest) = body.trim_start().strip_prefix("--> ") {
            let pad = &body[..body.len() - rest.len() - 4];
            format!("{pad}{} {rest}", styled(GUTTER, "-->"))
        } else if let Some((gutter, rest)) = split_gutter(body) {
            // `N | snippet`, then the caret line under it.
            let painted_rest = if after_snippet && rest.trim_start().starts_with('^') {
                let lead = rest.len() - rest.trim_start().len();
                format!("{}{}", &rest[..lead], styled(sev, &rest[lead..]))
            } else {
                rest.to_string()
            };
            // The line after a numbered one holds the carets.
            after_snippet = !gutter.trim_end_matches('|').trim().is_empty();
            format!("{}{painted_rest}", styled(GUTTER, gutter))
        } else if let Some(rest) = body.strip_prefix("  = ") {
            match rest.find(':') {
                Some(at) => format!(
                    "  {}{}",
                    styled(EMPHASIS, &format!("= {}", &rest[..=at])),
                    &rest[at + 1..]
                ),
                None => body.to_string(),
            }
        } else {
            body.to_string()
        };
        out.push_str(&painted);
        out.push_str(nl);
    }
    out
}

/// Splits `"12 | text"` / `"   |"` into the gutter (`"12 |"`, spaces and digits before a
/// bar) and what follows it.
fn split_gutter(line: &str) -> Option<(&str, &str)> {
    let bar = line.find('|')?;
    let before = &line[..bar];
    if before.is_empty() || !before.chars().all(|c| c == ' ' || c.is_ascii_digit()) {
        return None;
    }
    Some(line.split_at(bar + 1))
}

/// `error: …` in the error style, for the CLI's own closing lines.
pub(crate) fn error_line(text: &str) -> String {
    format!(
        "{}{}",
        styled(ERROR, "error"),
        styled(EMPHASIS, &format!(": {text}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright::types::diagnostic;
    use stackwright::types::source::Location;

    fn strip(s: &str) -> String {
        let mut out = Vec::new();
        let mut w = anstream::StripStream::new(&mut out);
        w.write_all(s.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn painting_changes_no_text() {
        let loc = Location::from_span("a.toml", "x = 1\nverison = 2 | 3\n", 6..13);
        let err = Diagnostic::error(diagnostic::UNKNOWN_KEY, "unknown key `verison`")
            .at(loc.clone())
            .note("keys are checked")
            .hint("did you mean `version`?");
        let warn = Diagnostic::warning(diagnostic::UNKNOWN_KEY, "plain: no location");
        for d in [err, warn] {
            let painted = paint(&d);
            assert_ne!(painted, d.render(), "nothing was coloured");
            assert_eq!(strip(&painted), d.render());
        }
    }

    #[test]
    fn carets_take_the_severity_colour() {
        let loc = Location::from_span("a.toml", "x = 1\nverison = 2\n", 6..13);
        let d = Diagnostic::warning(diagnostic::UNKNOWN_KEY, "k").at(loc);
        let painted = paint(&d);
        assert!(
            painted.contains(&format!("{WARNING}^^^^^^^{WARNING:#}")),
            "{painted:?}"
        );
        assert!(painted.starts_with(&format!("{WARNING}warning[SW0102]{WARNING:#}")));
    }
}
