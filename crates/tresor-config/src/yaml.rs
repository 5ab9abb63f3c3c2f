//! tresor's one YAML reader: a document → a tree of [`Node`]s, each with the line and column it
//! starts at. Used for `tresor.yaml` (`crate::parse`) and for bulk `name: value` files (the CLI's
//! `set @FILE.yaml` and `import`).
//!
//! The parser is `saphyr-parser` (0.3), the maintained successor of yaml-rust: a pure-Rust YAML
//! 1.2 event parser whose every event carries its span (line and column), with two small
//! dependencies. serde_yaml 0.9, used before, is deprecated (and wraps a C port), and it placed an
//! error in a mapping at the mapping's first key, so the line of a duplicate key had to be
//! recovered from its error text. yaml-rust2, the other maintained fork, builds here too; saphyr's
//! parser is the same code's newer home, borrows scalars from the input instead of copying them,
//! and pulls in no text-encoding crate.
//! The tree is built here from the events, so what the rest of tresor relies on is checked where
//! the position is at hand:
//! - a key appears once per mapping (compared by its text: `k`, `'k'` and `"k"` are one key), and
//!   a repeated one is reported at its line together with the line of the first;
//! - keys are scalars (a sequence or mapping as a key is refused);
//! - one document per file;
//! - aliases (`*name`) are expanded to a copy of their anchor's node, within a budget, so a small
//!   file cannot expand into millions of nodes; an alias inside its own anchor is refused;
//! - nesting is bounded ([`MAX_DEPTH`]), so walking a tree never exhausts the stack;
//! - a core-schema tag (`!!int`, `!!float`, `!!bool`, `!!null`) must fit its scalar; other tags
//!   are accepted and do not change what a scalar means.
//!
//! Merge keys (`<<: *base`) are not applied: `<<` is an ordinary key, as it was with serde_yaml.
//! Errors never quote a scalar (they may sit next to a secret); a key is quoted only when it is
//! repeated.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use zeroize::Zeroizing;

/// How deep collections may nest.
pub const MAX_DEPTH: usize = 128;

/// How many nodes aliases may add to a document in all (each alias adds a copy of its anchor).
const ALIAS_BUDGET: usize = 100_000;

/// Where a node starts: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// Where a span starts (saphyr counts columns from 0).
    fn of(span: Span) -> Self {
        Self { line: span.start.line(), column: span.start.col() + 1 }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// A node of the document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// In file order; every key is a scalar and appears once.
    Mapping(Vec<(Key, Node)>),
}

/// A mapping's key and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub at: Pos,
    pub scalar: Scalar,
}

impl Key {
    pub fn text(&self) -> &str {
        self.scalar.text()
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted: its meaning depends on its text (`true`, `5`, `~`, ...).
    Plain,
    /// In single or double quotes: always text.
    Quoted,
    /// A literal (`|`) or folded (`>`) block: always text.
    Block,
}

/// A scalar: its text as the document gives it (escapes and folding applied), which is what a
/// field that takes a string reads, whatever the text looks like (`0123` stays `0123`). The text
/// is wiped on drop; `Debug` shows only its length and style, since a value may be a secret.
#[derive(Clone, PartialEq)]
pub struct Scalar {
    text: Zeroizing<String>,
    pub style: Style,
    /// The tag, if the document gives one: `!!str` for the core schema's, else as written.
    pub tag: Option<String>,
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scalar")
            .field("len", &self.text.len())
            .field("style", &self.style)
            .field("tag", &self.tag)
            .finish()
    }
}

/// What a scalar means under YAML's core schema, as tresor has always read untyped YAML (a bulk
/// file's values): the rules of serde_yaml 0.9, which read before this module.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

/// The canonical text of a resolved scalar: `true`, `16` for `0x10`, `1.0` for `1.`, `1e-6`
/// for `0.000001`, `.inf`, `.nan`; a string as it is; nothing for null.
impl fmt::Display for Resolved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Resolved::Null => Ok(()),
            Resolved::Bool(b) => write!(f, "{b}"),
            Resolved::Int(i) => write!(f, "{i}"),
            Resolved::Float(x) if x.is_nan() => f.write_str(".nan"),
            Resolved::Float(x) if x.is_infinite() => f.write_str(if x < 0.0 { "-.inf" } else { ".inf" }),
            Resolved::Float(x) => f.write_str(ryu::Buffer::new().format_finite(x)),
            Resolved::Str(s) => f.write_str(s),
        }
    }
}

impl Scalar {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// An unquoted scalar with nothing in it, as `key:` gives: an empty collection where one is
    /// expected.
    pub fn is_empty_plain(&self) -> bool {
        self.style == Style::Plain && self.text.is_empty()
    }

    /// The scalar's meaning: a quoted or block scalar is text, a plain one is null, a boolean,
    /// an integer or a float when its text says so, else text. A core-schema tag decides instead
    /// (`!!str 0x10` is text); the reader has checked that the text fits it.
    pub fn resolve(&self) -> Resolved<'_> {
        let text = self.text();
        match self.tag.as_deref() {
            Some("!!null") => Resolved::Null,
            Some("!!bool") => parse_bool(text).map_or(Resolved::Str(text), Resolved::Bool),
            Some("!!int") => parse_int(text).map_or(Resolved::Str(text), Resolved::Int),
            Some("!!float") => parse_float(text).map_or(Resolved::Str(text), Resolved::Float),
            Some(t) if t.starts_with("!!") => Resolved::Str(text),
            _ if self.style != Style::Plain => Resolved::Str(text),
            _ => resolve_plain(text),
        }
    }
}

fn resolve_plain(text: &str) -> Resolved<'_> {
    if text.is_empty() || is_null(text) {
        Resolved::Null
    } else if let Some(b) = parse_bool(text) {
        Resolved::Bool(b)
    } else if let Some(i) = parse_int(text) {
        Resolved::Int(i)
    } else if decimal_digits(text) {
        // Too large for an integer: as a float it would lose digits (serde_yaml refused most).
        Resolved::Str(text)
    } else if let Some(x) = parse_float(text).filter(|_| !leading_zero_digits(text)) {
        Resolved::Float(x)
    } else {
        Resolved::Str(text)
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "null" | "Null" | "NULL" | "~")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `0123` is text in YAML 1.2 (a leading zero followed by digits is no number).
fn leading_zero_digits(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    t.len() > 1 && t.starts_with('0') && t[1..].bytes().all(|b| b.is_ascii_digit())
}

/// An optional sign and decimal digits.
fn decimal_digits(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// Decimal, `0x`, `0o` and `0b` integers with an optional sign, within the range of u64 (positive)
/// or i64 (negative).
fn parse_int(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned.starts_with(['+', '-']) {
        return None;
    }
    let (radix, digits) = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| unsigned.strip_prefix(prefix).map(|d| (*radix, d)))
        .unwrap_or((10, unsigned));
    if digits.starts_with(['+', '-']) || (radix == 10 && leading_zero_digits(unsigned)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        (i128::from(magnitude) <= i128::from(i64::MAX) + 1).then(|| -i128::from(magnitude))
    } else {
        Some(i128::from(magnitude))
    }
}

/// `1.5`, `1e3`, `.5`, `.inf`, `-.inf`, `.nan` (and their capitalized forms).
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => text,
    };
    match (unsigned, text) {
        (".inf" | ".Inf" | ".INF", _) => Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => Some(f64::NAN),
        _ => unsigned.parse::<f64>().ok().filter(|x| x.is_finite()),
    }
}

/// Why a document was refused, and where. `path` names the node (`vaults.api-keys.entries`,
/// `grants[0]`; empty at the top); `first` is, for a repeated key, where it first appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub path: String,
    pub message: String,
    pub at: Pos,
    pub first: Option<Pos>,
}

impl Error {
    pub fn new(path: &str, at: Pos, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), message: message.into(), at, first: None }
    }

    /// The message and, for a repeated key, where it first appears: what the error says
    /// besides its path and position.
    pub fn detail(&self) -> String {
        match self.first {
            Some(first) => format!("{} (first at {first})", self.message),
            None => self.message.clone(),
        }
    }
}

/// `path: message at line L column C`, then `(first at line L column C)` for a repeated key.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{} at {}", self.message, self.at)?;
        if let Some(first) = self.first {
            write!(f, " (first at {first})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The path of a mapping's value, `parent.key` (`key` at the top).
pub fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of a sequence's item, `parent[i]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Reads a document: `None` when it holds no node (empty, or only comments).
pub fn read(text: &str) -> Result<Option<Node>, Error> {
    let mut tree = Tree::default();
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| tree.syntax(&e))?;
        let at = Pos::of(span);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Error::new("", at, "a file holds one YAML document; this is a second one"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let scalar = scalar(text, style, tag);
                tree.check_tag(&scalar, at)?;
                tree.complete(Node { at, value: Value::Scalar(scalar) }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => tree.open(at, anchor, Open::Sequence(Vec::new()))?,
            Event::MappingStart(anchor, _) => {
                let open = Open::Mapping { entries: Vec::new(), pending: None, seen: HashMap::new() };
                tree.open(at, anchor, open)?
            }
            Event::SequenceEnd | Event::MappingEnd => tree.close()?,
            Event::Alias(id) => tree.alias(id, at)?,
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(tree.root)
}

fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<Cow<'_, Tag>>) -> Scalar {
    let style = match style {
        ScalarStyle::Plain => Style::Plain,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
        ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
    };
    let tag = tag.map(|t| if t.is_yaml_core_schema() { format!("!!{}", t.suffix) } else { t.to_string() });
    Scalar { text: Zeroizing::new(text.into_owned()), style, tag }
}

/// A collection being read.
enum Open {
    Sequence(Vec<Node>),
    Mapping {
        entries: Vec<(Key, Node)>,
        /// The key waiting for its value.
        pending: Option<Key>,
        /// Where each key so far is, by its text.
        seen: HashMap<String, Pos>,
    },
}

struct Frame {
    at: Pos,
    anchor: usize,
    open: Open,
}

/// The tree under construction: the collections opened and not yet closed, innermost last.
#[derive(Default)]
struct Tree {
    stack: Vec<Frame>,
    /// Completed anchored nodes by anchor id, with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    root: Option<Node>,
}

impl Tree {
    /// The path of the innermost open collection.
    fn path(&self) -> String {
        let outer = &self.stack[..self.stack.len().saturating_sub(1)];
        outer.iter().fold(String::new(), |path, frame| step(&path, &frame.open))
    }

    /// The path of the node the parser is reading now (the next one to complete).
    fn path_of_next(&self) -> String {
        self.stack.iter().fold(String::new(), |path, frame| step(&path, &frame.open))
    }

    fn syntax(&self, e: &ScanError) -> Error {
        let mark = e.marker();
        // The scanner's one message that quotes the text, a character of it.
        let message = if e.info().starts_with("unexpected character") { "unexpected character" } else { e.info() };
        Error::new(&self.path(), Pos { line: mark.line(), column: mark.col() + 1 }, message)
    }

    /// A core-schema tag must fit its scalar (`!!int abc` is refused).
    fn check_tag(&self, scalar: &Scalar, at: Pos) -> Result<(), Error> {
        let text = scalar.text();
        let (fits, what) = match scalar.tag.as_deref() {
            Some("!!null") => (text.is_empty() || is_null(text), "null"),
            Some("!!bool") => (parse_bool(text).is_some(), "a boolean"),
            Some("!!int") => (parse_int(text).is_some(), "an integer"),
            Some("!!float") => (parse_float(text).is_some(), "a number"),
            _ => (true, ""),
        };
        if fits {
            return Ok(());
        }
        let tag = scalar.tag.as_deref().unwrap_or_default();
        Err(Error::new(&self.path_of_next(), at, format!("the value tagged `{tag}` is not {what}")))
    }

    fn open(&mut self, at: Pos, anchor: usize, open: Open) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::new(&self.path_of_next(), at, format!("collections nest more than {MAX_DEPTH} deep")));
        }
        self.stack.push(Frame { at, anchor, open });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        let frame = self.stack.pop().expect("the parser closes only what it opened");
        let value = match frame.open {
            Open::Sequence(items) => Value::Sequence(items),
            Open::Mapping { entries, .. } => Value::Mapping(entries),
        };
        self.complete(Node { at: frame.at, value }, frame.anchor)
    }

    /// A copy of the anchor's node, placed where the alias is.
    fn alias(&mut self, id: usize, at: Pos) -> Result<(), Error> {
        let Some((node, size)) = self.anchors.get(&id) else {
            return Err(Error::new(&self.path_of_next(), at, "an alias refers to the node that contains it"));
        };
        self.alias_nodes += size;
        if self.alias_nodes > ALIAS_BUDGET {
            let message = format!("aliases expand the document by more than {ALIAS_BUDGET} nodes");
            return Err(Error::new(&self.path_of_next(), at, message));
        }
        let node = Node { at, value: node.value.clone() };
        self.complete(node, 0)
    }

    /// Places a finished node: in its anchor's slot if it has one, then as the document, the
    /// next item of a sequence, or a mapping's key or value.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        let refused = match &mut frame.open {
            Open::Sequence(items) => {
                items.push(node);
                return Ok(());
            }
            Open::Mapping { entries, pending: pending @ Some(_), .. } => {
                entries.push((pending.take().expect("matched"), node));
                return Ok(());
            }
            Open::Mapping { pending, seen, .. } => match node.value {
                Value::Scalar(scalar) => {
                    let key = Key { at: node.at, scalar };
                    match seen.get(key.text()) {
                        Some(first) => Error {
                            path: String::new(),
                            message: format!("duplicate key {:?}", key.text()),
                            at: key.at,
                            first: Some(*first),
                        },
                        None => {
                            seen.insert(key.text().to_owned(), key.at);
                            *pending = Some(key);
                            return Ok(());
                        }
                    }
                }
                _ => Error::new("", node.at, "a key must be a scalar, not a sequence or a mapping"),
            },
        };
        Err(Error { path: self.path(), ..refused })
    }
}

/// The path from a collection to the node it is reading now.
fn step(path: &str, open: &Open) -> String {
    match open {
        Open::Sequence(items) => index_path(path, items.len()),
        Open::Mapping { pending: Some(key), .. } => key_path(path, key.text()),
        // A key is read at its mapping's path.
        Open::Mapping { pending: None, .. } => path.to_owned(),
    }
}

/// How many nodes a node is, itself included.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar(_) => 0,
        Value::Sequence(items) => items.iter().map(size).sum(),
        Value::Mapping(entries) => entries.iter().map(|(_, v)| 1 + size(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn doc(text: &str) -> Node {
        read(text).unwrap().expect("a node")
    }

    fn refused(text: &str) -> Error {
        read(text).unwrap_err()
    }

    fn entries(node: &Node) -> &[(Key, Node)] {
        match &node.value {
            Value::Mapping(entries) => entries,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    fn items(node: &Node) -> &[Node] {
        match &node.value {
            Value::Sequence(items) => items,
            other => panic!("not a sequence: {other:?}"),
        }
    }

    fn text(node: &Node) -> &str {
        match &node.value {
            Value::Scalar(s) => s.text(),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    /// Each key's text and position, and its value's position.
    fn layout(node: &Node) -> Vec<(&str, Pos, Pos)> {
        entries(node).iter().map(|(k, v)| (k.text(), k.at, v.at)).collect()
    }

    #[test]
    fn nested_nodes_know_where_they_start() {
        let root = doc("# head\nvaults:\n  api:\n    entries:\n      k: { variable: \"x\" }\n  l: [a, {b: c}]\n");
        assert_eq!(root.at, at(2, 1));
        let vaults = &entries(&root)[0].1;
        assert_eq!(layout(vaults), [("api", at(3, 3), at(4, 5)), ("l", at(6, 3), at(6, 6))]);
        let api = &entries(vaults)[0].1;
        let k = &entries(&entries(api)[0].1)[0];
        assert_eq!((k.0.text(), k.0.at, k.1.at), ("k", at(5, 7), at(5, 10)));
        assert_eq!(layout(&k.1), [("variable", at(5, 12), at(5, 22))]);
        let l = items(&entries(vaults)[1].1);
        assert_eq!((text(&l[0]), l[0].at, l[1].at), ("a", at(6, 7), at(6, 10)));
        assert_eq!(layout(&l[1]), [("b", at(6, 11), at(6, 14))]);
        let seq = doc("- a\n-\n  - b\n");
        let nested = &items(&seq)[1];
        assert_eq!((items(&seq)[0].at, nested.at, items(nested)[0].at), (at(1, 3), at(3, 3), at(3, 5)));
    }

    #[test]
    fn scalars_keep_their_text() {
        let root = doc(
            "plain: 0123\nsingle: 'it''s'\ndouble: \"a\\tb\\u00e9\"\nliteral: |\n  one\n  two\nfolded: >\n  one\n  two\n\n  three\nempty:\n",
        );
        let got: Vec<(&str, &str, Style)> = entries(&root)
            .iter()
            .map(|(k, v)| match &v.value {
                Value::Scalar(s) => (k.text(), s.text(), s.style),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("plain", "0123", Style::Plain),
                ("single", "it's", Style::Quoted),
                ("double", "a\tbé", Style::Quoted),
                ("literal", "one\ntwo\n", Style::Block),
                ("folded", "one two\nthree\n", Style::Block),
                ("empty", "", Style::Plain),
            ]
        );
    }

    #[test]
    fn plain_scalars_resolve_as_the_core_schema_says() {
        let cases = [
            ("~", "null", ""),
            ("Null", "null", ""),
            ("True", "bool", "true"),
            ("FALSE", "bool", "false"),
            ("yes", "str", "yes"),
            ("on", "str", "on"),
            ("5", "int", "5"),
            ("+5", "int", "5"),
            ("-0", "int", "0"),
            ("0x10", "int", "16"),
            ("0o17", "int", "15"),
            ("0b101", "int", "5"),
            ("0123", "str", "0123"),
            ("18446744073709551615", "int", "18446744073709551615"),
            ("-9223372036854775808", "int", "-9223372036854775808"),
            ("12345678901234567890123", "str", "12345678901234567890123"),
            ("1.0", "float", "1.0"),
            ("5.", "float", "5.0"),
            (".5", "float", "0.5"),
            ("1e3", "float", "1000.0"),
            ("0.000001", "float", "1e-6"),
            ("1e20", "float", "1e20"),
            (".inf", "float", ".inf"),
            ("-.INF", "float", "-.inf"),
            (".NaN", "float", ".nan"),
            ("nan", "str", "nan"),
            ("1_000", "str", "1_000"),
            ("0x", "str", "0x"),
            ("--5", "str", "--5"),
        ];
        for (written, kind, shown) in cases {
            let node = doc(&format!("k: {written}\n"));
            let Value::Scalar(s) = &entries(&node)[0].1.value else { panic!("{written}") };
            let resolved = s.resolve();
            let got = match resolved {
                Resolved::Null => "null",
                Resolved::Bool(_) => "bool",
                Resolved::Int(_) => "int",
                Resolved::Float(_) => "float",
                Resolved::Str(_) => "str",
            };
            assert_eq!((got, resolved.to_string().as_str()), (kind, shown), "{written}");
        }
        for quoted in ["k: '5'\n", "k: \"true\"\n", "k: |\n  ~\n", "k: !!str 0x10\n"] {
            let node = doc(quoted);
            let Value::Scalar(s) = &entries(&node)[0].1.value else { panic!("{quoted}") };
            assert!(matches!(s.resolve(), Resolved::Str(_)), "{quoted}");
        }
        let tagged = doc("a: !!int 0x10\nb: !!float 1\nc: !custom 7\n");
        let resolved: Vec<String> = entries(&tagged)
            .iter()
            .map(|(_, v)| match &v.value {
                Value::Scalar(s) => s.resolve().to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(resolved, ["16", "1.0", "7"]);
        let e = refused("a:\n  b: !!int abc\n");
        assert_eq!(e.to_string(), "a.b: the value tagged `!!int` is not an integer at line 2 column 6");
    }

    #[test]
    fn a_repeated_key_is_refused_with_both_lines() {
        let e = refused("a: 1\nb:\n  c: 1\n  # comment\n  'c': 2\n");
        assert_eq!((e.path.as_str(), e.at, e.first), ("b", at(5, 3), Some(at(3, 3))));
        assert_eq!(e.to_string(), "b: duplicate key \"c\" at line 5 column 3 (first at line 3 column 3)");
        let e = refused("a:\n  - { x: 1, y: 2,\n      x: 3 }\n");
        assert_eq!(e.to_string(), "a[0]: duplicate key \"x\" at line 3 column 7 (first at line 2 column 7)");
        let e = refused("a: 1\n\"a\": 2\n");
        assert_eq!((e.path.as_str(), e.at, e.first), ("", at(2, 1), Some(at(1, 1))));
        // The same key in different mappings is no repetition.
        assert_eq!(entries(&doc("a: {k: 1}\nb: {k: 1}\n")).len(), 2);
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let e = refused("vaults:\n  v:\n    entries: {}\n   bad: x\n");
        assert_eq!(e.at.line, 4, "{e}");
        let e = refused("a: b: c\n");
        assert_eq!(e.to_string(), "mapping values are not allowed in this context at line 1 column 5");
        let e = refused("a:\n  b: [1, 2\n");
        assert!(e.at.line >= 2 && e.path == "a.b", "{e}");
        let e = refused("a: `secret-ish\n");
        assert!(!e.to_string().contains('`'), "no character of the text is quoted: {e}");
        let e = refused("a: 1\n---\nb: 2\n");
        assert_eq!(e.to_string(), "a file holds one YAML document; this is a second one at line 2 column 1");
        let e = refused("? [a]\n: b\n");
        assert_eq!(e.to_string(), "a key must be a scalar, not a sequence or a mapping at line 1 column 3");
    }

    #[test]
    fn an_empty_document_is_no_node() {
        for empty in ["", "\n", "# only a comment\n"] {
            assert_eq!(read(empty).unwrap(), None, "{empty:?}");
        }
        let explicit = doc("---\n");
        assert!(matches!(&explicit.value, Value::Scalar(s) if s.is_empty_plain()));
    }

    #[test]
    fn aliases_are_copies_of_their_anchor() {
        let root = doc("base: &b\n  user: u\nother: *b\nlist: [&x 1, *x]\n");
        let (base, other) = (&entries(&root)[0].1, &entries(&root)[1].1);
        assert_eq!(base.value, other.value);
        assert_eq!(other.at, at(3, 8), "the copy is where the alias is");
        assert_eq!(layout(other), [("user", at(2, 3), at(2, 9))], "its inside is where it was written");
        let list = items(&entries(&root)[2].1);
        assert_eq!((text(&list[0]), text(&list[1])), ("1", "1"));
        let e = refused("a: [*nowhere]\n");
        assert!(e.message.contains("unknown anchor") && e.path == "a" && e.at == at(1, 5), "{e}");
        let e = refused("a: &r [1, *r]\n");
        assert_eq!(e.to_string(), "a[1]: an alias refers to the node that contains it at line 1 column 11");
        // Merge keys are ordinary keys.
        let merged = doc("b: &b {u: x}\no:\n  <<: *b\n");
        assert_eq!(layout(&entries(&merged)[1].1)[0].0, "<<");
    }

    #[test]
    fn aliases_cannot_blow_a_small_file_up() {
        let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text += &format!("l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n");
        }
        let e = refused(&text);
        assert!(e.message.contains("aliases expand the document"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = refused(&deep);
        assert!(e.message.contains("nest more than") && e.at == at(1, MAX_DEPTH + 1), "{e}");
        let fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&fits).is_ok());
    }

    #[test]
    fn debug_never_shows_a_scalar() {
        let root = doc("k: sk_live_NOTSHOWN\n");
        let shown = format!("{root:?}");
        assert!(!shown.contains("sk_live_NOTSHOWN") && shown.contains("len: 16"), "{shown}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn keys_and_values() -> impl Strategy<Value = Vec<(String, String)>> {
            proptest::collection::vec(("[a-z][a-z0-9_.-]{0,12}", "\\PC{0,40}"), 1..12).prop_map(|pairs| {
                let mut seen = std::collections::HashSet::new();
                pairs.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect()
            })
        }

        /// One `key: "value"` line each (a JSON string is a YAML double-quoted scalar).
        fn block(pairs: &[(String, String)]) -> String {
            pairs.iter().map(|(k, v)| format!("{k}: {}\n", serde_json::to_string(v).unwrap())).collect()
        }

        proptest! {
            #[test]
            fn every_key_and_value_reads_back_at_its_line(pairs in keys_and_values()) {
                let root = doc(&block(&pairs));
                let got: Vec<(String, String, Pos)> = entries(&root)
                    .iter()
                    .map(|(k, v)| (k.text().to_owned(), text(v).to_owned(), k.at))
                    .collect();
                let want: Vec<(String, String, Pos)> =
                    pairs.iter().enumerate().map(|(i, (k, v))| (k.clone(), v.clone(), at(i + 1, 1))).collect();
                prop_assert_eq!(got, want);
            }

            #[test]
            fn a_repeated_key_is_found_wherever_it_is(pairs in keys_and_values(), pick in any::<prop::sample::Index>(), after in any::<prop::sample::Index>()) {
                let first = pick.index(pairs.len());
                let mut lines: Vec<String> = block(&pairs).lines().map(str::to_owned).collect();
                let second = first + 1 + after.index(lines.len() - first);
                lines.insert(second, format!("{}: again", pairs[first].0));
                let e = refused(&(lines.join("\n") + "\n"));
                prop_assert_eq!((e.at, e.first), (at(second + 1, 1), Some(at(first + 1, 1))));
            }
        }
    }
}
