//! Source texts and locations: turning byte offsets into `file:line:column`.

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A text with the name it is shown under (a path, usually relative to where the user ran).
#[derive(Clone, Debug)]
pub struct SourceText {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// A text a program holds in memory (no file behind it), shown as `<memory:NAME>`:
    /// diagnostics read `<memory:kubelet.toml>:12:3`, never a path that does not exist.
    pub fn in_memory(name: &str, text: impl Into<Arc<str>>) -> Self {
        Self::new(memory_name(name), text)
    }

    /// The location of a byte range in this text (clamped to the text).
    pub fn locate(&self, span: Range<usize>) -> Location {
        Location::from_span(&self.name, &self.text, span)
    }

    /// The location of the start of the text, for problems with no narrower place.
    pub fn whole(&self) -> Location {
        Location {
            file: self.name.clone(),
            line: 1,
            column: 1,
            length: 0,
            snippet: self.text.lines().next().map(truncate_line),
        }
    }
}

/// How a text held in memory is named in diagnostics: `<memory:NAME>`.
pub fn memory_name(name: &str) -> String {
    format!("{MEMORY_PREFIX}{name}>")
}

/// The name given to [`memory_name`], if `shown` is the name of an in-memory text.
pub fn memory_source(shown: &str) -> Option<&str> {
    shown.strip_prefix(MEMORY_PREFIX)?.strip_suffix('>')
}

/// What an in-memory text's shown name starts with.
pub const MEMORY_PREFIX: &str = "<memory:";

/// A place in a file: 1-based line and column (in characters), the length of the marked
/// region on that line, and the line's text so diagnostics render without the file at hand.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Long lines are cut in snippets: a minified file must not produce a megabyte diagnostic.
fn truncate_line(line: &str) -> String {
    const MAX: usize = 200;
    if line.chars().count() <= MAX {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

impl Location {
    /// A location naming only a file (no line known).
    pub fn file_only(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: 0,
            column: 0,
            length: 0,
            snippet: None,
        }
    }

    pub fn from_span(file: &str, text: &str, span: Range<usize>) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.min(text.len()).max(start));
        let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = text[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(text.len());
        let line = text[..start].bytes().filter(|b| *b == b'\n').count() as u32 + 1;
        let column = text[line_start..start].chars().count() as u32 + 1;
        let marked_end = end.min(line_end);
        let length = text[start..marked_end].chars().count() as u32;
        let snippet = text[line_start..line_end].trim_end_matches('\r');
        Self {
            file: file.to_string(),
            line,
            column,
            length: length.max(1),
            snippet: Some(truncate_line(snippet)),
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        let at = text.find('"').unwrap();
        let loc = Location::from_span("f.toml", text, at..at + 3);
        assert_eq!((loc.line, loc.column, loc.length), (2, 6, 3));
        assert_eq!(loc.snippet.as_deref(), Some("bé = \"x\""));
        assert_eq!(loc.to_string(), "f.toml:2:6");
    }

    #[test]
    fn out_of_range_spans_are_clamped() {
        let loc = Location::from_span("f", "ab", 10..20);
        assert_eq!((loc.line, loc.column), (1, 3));
    }
}
