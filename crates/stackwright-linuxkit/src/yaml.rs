//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde_yaml turns text into values but forgets positions once a value is built, and
//! every LinuxKit rule this crate enforces (unknown keys, duplicate names, wrong types)
//! must point at its line. So the text is read a second time, event by event, with
//! `yaml-rust2`, into this tree; a JSON-pointer-like path (from the schema validator, or
//! from our own walks) finds the node and so its line and column.

use std::collections::BTreeMap;

use stackwright_types::{Location, SourceText};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted: the tree and the validators recurse, so a hostile file must
/// not be able to exhaust the stack. Nothing in LinuxKit's format nests past ~8 levels.
pub const MAX_DEPTH: usize = 64;

/// Most nodes a document may expand to, aliases counted at their full size each time they
/// are used. An alias is a copy of its anchor's tree, so without this a few lines of
/// nested aliases (a "billion laughs") would expand to gigabytes. Real LinuxKit files
/// have a few hundred nodes; a 4 MiB file without aliases stays under a million.
pub const MAX_NODES: usize = 1_000_000;

/// Where a node starts: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Scalar(String, TScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// One step of a path into the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl Node {
    /// The scalar's text, if this node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, with the key's own node (the place to point at for
    /// problems with the key itself).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    /// Follows `path`; `None` when it leaves the tree.
    pub fn at(&self, path: &[Step]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match step {
                Step::Key(k) => node.get(k)?,
                Step::Index(i) => node.items().get(*i)?,
            };
        }
        Some(node)
    }

    /// The key node of the last step of `path`, when that step is a key.
    pub fn key_at(&self, path: &[Step]) -> Option<&Node> {
        let (last, parent) = path.split_last()?;
        match last {
            Step::Key(k) => self.at(parent)?.entry(k).map(|(key, _)| key),
            Step::Index(_) => None,
        }
    }

    /// The length, in characters, to underline at this node: a scalar's text on its line,
    /// otherwise one character.
    fn width(&self) -> u32 {
        match &self.kind {
            Kind::Scalar(s, style) => {
                let quotes = match style {
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => 2,
                    _ => 0,
                };
                let first = s.lines().next().unwrap_or("");
                (first.chars().count() + quotes).max(1) as u32
            }
            _ => 1,
        }
    }

    /// This node's place in `src`.
    pub fn location(&self, src: &SourceText) -> Location {
        location_at(src, self.pos, self.width())
    }
}

/// A location at a line and column of `src`, with that line as the snippet.
pub fn location_at(src: &SourceText, pos: Pos, length: u32) -> Location {
    let snippet = src.text.lines().nth(pos.line.saturating_sub(1)).map(|l| {
        let l = l.trim_end_matches('\r');
        if l.chars().count() > 200 {
            let mut s: String = l.chars().take(200).collect();
            s.push('…');
            s
        } else {
            l.to_string()
        }
    });
    Location {
        file: src.name.clone(),
        line: pos.line as u32,
        column: pos.column as u32,
        length: length.max(1),
        snippet,
    }
}

/// Why a text could not be read into a tree.
#[derive(Debug)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
    /// What to do about it, when the parser knows better than a generic hint.
    pub hint: Option<&'static str>,
    /// The text was refused for a size limit (nesting, alias expansion), not its syntax.
    pub limit: bool,
}

/// Parses the first document of `text`. An empty text (or one holding only comments) is
/// `None`: LinuxKit reads it as an empty configuration.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let loaded = parser.load(&mut builder, false);
    // The builder's own error (a limit, a key written twice) came earlier in the text
    // than any syntax error the parser ran into afterwards.
    if let Some(err) = builder.error {
        return Err(err);
    }
    loaded.map_err(|e| {
        // yaml-rust2's own depth guard on flow collections (`[[[[…`).
        let limit = e.info().contains("recursion limit");
        YamlError {
            pos: pos(e.marker()),
            message: if limit {
                format!(
                    "values nested deeper than the YAML reader allows ({})",
                    e.info()
                )
            } else {
                e.info().to_string()
            },
            hint: limit
                .then_some("flatten the value; nothing in LinuxKit's format nests this deep"),
            limit,
        }
    })?;
    Ok(builder.root)
}

fn pos(m: &Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos {
        line: m.line().max(1),
        column: m.col() + 1,
    }
}

/// An open collection: its items so far, where it starts, its anchor id, and the node
/// count when it opened (so its own size is known when it closes).
enum Frame {
    Seq(Vec<Node>, Pos, usize, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Anchored nodes with their size in nodes.
    anchors: BTreeMap<usize, (Node, usize)>,
    error: Option<YamlError>,
    done: bool,
    /// Nodes built so far, alias copies included.
    nodes: usize,
}

impl Builder {
    /// Adds a finished node of `size` nodes (itself and everything below it).
    fn push_node(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if !self.done {
                    self.root = Some(node);
                    self.done = true;
                }
            }
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    // A key written twice is refused by LinuxKit's YAML reader (yaml.v3):
                    // report it where the second one is.
                    if let Some(k) = key.as_str() {
                        if entries.iter().any(|(e, _)| e.as_str() == Some(k))
                            && self.error.is_none()
                        {
                            self.error = Some(YamlError {
                                pos: key.pos,
                                message: format!("mapping key `{k}` is written twice"),
                                hint: Some(
                                    "keep one of them: LinuxKit refuses a key written twice",
                                ),
                                limit: false,
                            });
                        }
                    }
                    entries.push((key, node));
                }
            },
        }
    }

    fn fail(&mut self, p: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos: p,
                message,
                hint: None,
                limit: false,
            });
        }
    }

    fn over_limit(&mut self, p: Pos, message: String, hint: &'static str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos: p,
                message,
                hint: Some(hint),
                limit: true,
            });
        }
    }

    /// Counts `n` more nodes; false (and an error) past [`MAX_NODES`].
    fn count(&mut self, p: Pos, n: usize) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.over_limit(
                p,
                format!("the document expands to more than {MAX_NODES} values (aliases count once per use)"),
                "an alias bomb, or a file far larger than any LinuxKit configuration: remove the nested aliases",
            );
            return false;
        }
        true
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let p = pos(&mark);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                if !self.count(p, 1) {
                    return;
                }
                self.push_node(
                    Node {
                        kind: Kind::Scalar(value, style),
                        pos: p,
                    },
                    anchor,
                    1,
                );
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.over_limit(
                        p,
                        format!("values nested deeper than {MAX_DEPTH} levels"),
                        "flatten the value; nothing in LinuxKit's format nests this deep",
                    );
                }
                if !self.count(p, 1) {
                    return;
                }
                self.stack
                    .push(Frame::Seq(Vec::new(), p, anchor, self.nodes));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.over_limit(
                        p,
                        format!("values nested deeper than {MAX_DEPTH} levels"),
                        "flatten the value; nothing in LinuxKit's format nests this deep",
                    );
                }
                if !self.count(p, 1) {
                    return;
                }
                self.stack
                    .push(Frame::Map(Vec::new(), None, p, anchor, self.nodes));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, start, anchor, opened)) = self.stack.pop() {
                    let size = self.nodes - opened + 1;
                    self.push_node(
                        Node {
                            kind: Kind::Seq(items),
                            pos: start,
                        },
                        anchor,
                        size,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, start, anchor, opened)) = self.stack.pop() {
                    let size = self.nodes - opened + 1;
                    // yaml-rust2 marks a block mapping where its first `:` is; the first
                    // key is where a reader looks.
                    let start = match entries.first() {
                        Some((k, _)) if (k.pos.line, k.pos.column) < (start.line, start.column) => {
                            k.pos
                        }
                        _ => start,
                    };
                    self.push_node(
                        Node {
                            kind: Kind::Map(entries),
                            pos: start,
                        },
                        anchor,
                        size,
                    );
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                // Counted before copying: the copy is what a bomb makes expensive.
                Some(size) => {
                    if !self.count(p, size) {
                        return;
                    }
                    let mut node = self.anchors[&id].0.clone();
                    // The alias's own position, so problems inside point at where it is used.
                    node.pos = p;
                    self.push_node(node, 0, size);
                }
                None => self.fail(p, "alias to an unknown anchor".into()),
            },
            Event::DocumentEnd => {}
            Event::DocumentStart | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let t =
            "kernel:\n  image: linuxkit/kernel:6.6.71\nservices:\n  - name: getty\n    image: x\n";
        let root = parse(t).unwrap().unwrap();
        let img = root
            .at(&[Step::Key("kernel".into()), Step::Key("image".into())])
            .unwrap();
        assert_eq!(
            img.pos,
            Pos {
                line: 2,
                column: 10
            }
        );
        let key = root
            .key_at(&[
                Step::Key("services".into()),
                Step::Index(0),
                Step::Key("image".into()),
            ])
            .unwrap();
        assert_eq!(key.pos, Pos { line: 5, column: 5 });
    }

    #[test]
    fn mappings_start_at_their_first_key() {
        let t = "services:\n  - name: getty\n    image: x\nseq:\n  - a\n";
        let root = parse(t).unwrap().unwrap();
        let entry = root
            .at(&[Step::Key("services".into()), Step::Index(0)])
            .unwrap();
        assert_eq!(entry.pos, Pos { line: 2, column: 5 });
        assert_eq!(root.pos, Pos { line: 1, column: 1 });
        let flow = parse("a: {b: 1}\n").unwrap().unwrap();
        assert_eq!(flow.get("a").unwrap().pos, Pos { line: 1, column: 4 });
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
    }

    #[test]
    fn empty_text_is_no_document() {
        assert!(parse("# nothing\n").unwrap().is_none());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let t = "[".repeat(200);
        let e = parse(&t).unwrap_err();
        assert!(e.limit, "{}", e.message);
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        // Twelve levels of ten aliases each: 10^12 strings if expanded.
        let mut t = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            t.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let e = parse(&t).unwrap_err();
        assert!(e.limit, "{}", e.message);
        assert!(e.message.contains("aliases"), "{}", e.message);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn modest_aliases_still_work() {
        let t = "base: &b {a: 1, b: [1, 2]}\nx: *b\ny: *b\n";
        let root = parse(t).unwrap().unwrap();
        assert_eq!(root.get("y").unwrap().get("b").unwrap().items().len(), 2);
    }
}
