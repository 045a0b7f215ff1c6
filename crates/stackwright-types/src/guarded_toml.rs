//! Reading TOML with the guards and diagnostics every Stackwright file shares: a size
//! limit, a nesting limit checked before the recursive parser runs, syntax errors and
//! unknown keys turned into located diagnostics with suggestions.

use serde::de::DeserializeOwned;

use crate::diagnostic::{self, Diagnostic};
use crate::source::SourceText;
use crate::{MAX_INPUT_BYTES, MAX_NESTING};

/// Parses `src` as `T`, or explains in diagnostics why it cannot be.
pub(crate) fn parse<T: DeserializeOwned>(src: &SourceText) -> Result<T, Vec<Diagnostic>> {
    precheck(src)?;
    // Syntax first, so a broken file gets a syntax error rather than a schema error.
    if let Err(e) = src.text.parse::<toml::Table>() {
        return Err(vec![from_toml_error(src, &e, diagnostic::TOML_SYNTAX)]);
    }
    toml::from_str::<T>(&src.text)
        .map_err(|e| vec![from_toml_error(src, &e, diagnostic::INVALID_VALUE)])
}

/// Size and nesting limits, before any recursive parsing.
pub(crate) fn precheck(src: &SourceText) -> Result<(), Vec<Diagnostic>> {
    if src.text.len() > MAX_INPUT_BYTES {
        return Err(vec![Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            format!(
                "{} is {} bytes, over the {} byte limit",
                src.name,
                src.text.len(),
                MAX_INPUT_BYTES
            ),
        )
        .at(src.whole())
        .hint(
            "split the file; no real manifest or assembly comes near this size",
        )]);
    }
    if let Some(offset) = nesting_exceeds(&src.text, MAX_NESTING) {
        return Err(vec![Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            format!("arrays or tables nested deeper than {MAX_NESTING} levels"),
        )
        .at(src.locate(offset..offset + 1))
        .hint(
            "flatten the value; nothing in Stackwright's formats nests this deep",
        )]);
    }
    Ok(())
}

/// The offset where bracket nesting first exceeds `max`, skipping strings and comments.
fn nesting_exceeds(text: &str, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                let triple = b[i..].starts_with(if q == b'"' { b"\"\"\"" } else { b"'''" });
                if triple {
                    i += 3;
                    while i < b.len()
                        && !(b[i..].starts_with(if q == b'"' { b"\"\"\"" } else { b"'''" }))
                    {
                        if q == b'"' && b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 2;
                } else {
                    i += 1;
                    while i < b.len() && b[i] != q && b[i] != b'\n' {
                        if q == b'"' && b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Turns a `toml` error into a diagnostic at its span, recognising unknown keys.
pub(crate) fn from_toml_error(
    src: &SourceText,
    e: &toml::de::Error,
    fallback: crate::Code,
) -> Diagnostic {
    let msg = e.message().trim().to_string();
    let loc = match e.span() {
        Some(span) => src.locate(span),
        None => src.whole(),
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .map(|s| {
                s.split(['`', ',', ' '])
                    .filter(|w| !w.is_empty() && *w != "one" && *w != "of" && *w != "or")
                    .collect()
            })
            .unwrap_or_default();
        let mut d = Diagnostic::error(diagnostic::UNKNOWN_KEY, format!("unknown key `{key}`"))
            .at(loc.clone());
        let dotted = loc.snippet.as_deref().is_some_and(|l| {
            let k = l.split('=').next().unwrap_or("").trim();
            !k.starts_with('"') && k.contains(&format!(".{key}"))
        });
        if dotted {
            let k = loc
                .snippet
                .as_deref()
                .unwrap_or("")
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            return d.hint(format!(
                "TOML reads a dot in a bare key as nesting: quote the key, e.g. \"{k}\" = …"
            ));
        }
        d = match crate::suggest::did_you_mean(key, expected.iter().copied()) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None if !expected.is_empty() => {
                d.hint(format!("allowed keys here: {}", expected.join(", ")))
            }
            None => d.hint("remove the key; typos are errors, not ignored"),
        };
        return d;
    }
    if msg == "recursion limit" || msg.starts_with("recursion limit") {
        // The parser's own depth guard: dotted keys and table headers nest without
        // brackets, so the precheck cannot see them.
        return Diagnostic::error(
            diagnostic::INPUT_LIMIT,
            "keys or tables nested too deeply (dotted keys or table headers with too many parts)",
        )
        .at(loc)
        .hint("flatten the key; nothing in Stackwright's formats nests this deep");
    }
    // While checking syntax, every problem is a syntax error, whatever its wording
    // ("invalid basic string" is an unclosed string, not a wrong value).
    let code = if fallback == diagnostic::TOML_SYNTAX {
        diagnostic::TOML_SYNTAX
    } else if msg.starts_with("invalid")
        || msg.starts_with("unknown variant")
        || msg.starts_with("missing field")
        || msg.starts_with("duplicate")
    {
        if msg.starts_with("duplicate key") {
            diagnostic::TOML_SYNTAX
        } else {
            diagnostic::INVALID_VALUE
        }
    } else {
        fallback
    };
    let hint = if msg.starts_with("missing field") {
        "add the field; it is required"
    } else if code == diagnostic::TOML_SYNTAX {
        "fix the TOML syntax at this point"
    } else {
        "change the value to the expected type or one of the allowed values"
    };
    Diagnostic::error(code, msg.replace('\n', " "))
        .at(loc)
        .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_caught_before_parsing() {
        let text = format!("a = {}{}", "[".repeat(20_000), "]".repeat(20_000));
        let src = SourceText::new("deep.toml", text);
        let errs = precheck(&src).unwrap_err();
        assert_eq!(errs[0].code, diagnostic::INPUT_LIMIT);
    }

    #[test]
    fn deep_dotted_keys_and_headers_are_limits_not_crashes() {
        #[derive(serde::Deserialize)]
        struct Any {}
        for text in [
            format!("a{} = 1\n", ".a".repeat(20_000)),
            format!("[{}a]\nx = 1\n", "a.".repeat(20_000)),
        ] {
            let src = SourceText::new("deep.toml", text);
            let errs = parse::<Any>(&src).err().expect("refused");
            assert_eq!(
                errs[0].code,
                diagnostic::INPUT_LIMIT,
                "{}",
                errs[0].render()
            );
        }
    }

    #[test]
    fn broken_strings_are_syntax_errors() {
        #[derive(serde::Deserialize)]
        struct Any {}
        for text in [
            "a = \"never closed\n",
            "a = \"bell \u{7}\"\n",
            "a = \"\"\"\nopen\n",
        ] {
            let src = SourceText::new("s.toml", text);
            let errs = parse::<Any>(&src).err().expect("refused");
            assert_eq!(
                errs[0].code,
                diagnostic::TOML_SYNTAX,
                "{}",
                errs[0].render()
            );
        }
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let text = format!("a = \"{}\"\nb = '''{}'''", "[".repeat(100), "{".repeat(100));
        assert!(nesting_exceeds(&text, 4).is_none());
    }
}
