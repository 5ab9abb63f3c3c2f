//! JSON mode: a validating JSON scanner (RFC 8259) that records byte spans, finds objects whose
//! only members are `"vault"` and `"key"`, and (unless asked for objects only) the text-mode
//! references inside every string, member names included.

use crate::pos::{snippet, LineIndex};
use crate::{Reference, Span, Syntax, Target, TemplateError};
use tresor_model::{EntryKey, VaultName};

const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    lines: &'a LineIndex<'a>,
    /// Look for text-mode references inside strings.
    texts: bool,
    /// While a string is decoded (with `texts`): the template offset of each decoded byte.
    origin: Vec<usize>,
    refs: Vec<Reference>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, lines: &'a LineIndex<'a>, texts: bool) -> Self {
        Parser { src, b: src.as_bytes(), i: 0, depth: 0, lines, texts, origin: Vec::new(), refs: Vec::new() }
    }
}

/// Parses a JSON document. `texts`: also find the text-mode references inside its strings.
pub(crate) fn parse_json(src: &str, texts: bool) -> Result<Vec<Reference>, TemplateError> {
    let lines = LineIndex::new(src);
    let mut p = Parser::new(src, &lines, texts);
    p.ws();
    if p.i == p.b.len() {
        return Err(p.error("the document is empty; expected a JSON value"));
    }
    p.value()?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.error(format!("unexpected {} after the end of the document", p.describe())));
    }
    Ok(p.refs)
}

/// For text mode: whether a JSON object that would be a `{"vault", "key"}` reference in a JSON
/// document starts at byte `i` of `src` (also one whose vault or key is not a valid name).
/// Returns where it ends.
pub(crate) fn reference_object_at(src: &str, lines: &LineIndex<'_>, i: usize) -> Option<usize> {
    let after = src.get(i + 1..)?.trim_start_matches([' ', '\t', '\n', '\r']);
    if !after.starts_with('"') {
        return None;
    }
    let mut p = Parser::new(src, lines, false);
    p.i = i;
    match p.nested(Parser::object) {
        Ok(()) => p.refs.last().filter(|r| r.span.start == i).map(|r| r.span.end),
        // The object's own members are wrong (errors inside it are at their own positions).
        Err(TemplateError::Malformed { at, .. } | TemplateError::InvalidName { at, .. }) if at == lines.position(i) => {
            Some(p.i)
        }
        Err(_) => None,
    }
}

/// Decodes a JSON string literal (with its quotes), for tests.
#[cfg(test)]
pub(crate) fn decode_string(src: &str) -> Result<String, TemplateError> {
    let lines = LineIndex::new(src);
    let mut p = Parser::new(src, &lines, false);
    let s = p.string()?;
    if p.i != src.len() {
        return Err(p.error("trailing text"));
    }
    Ok(s)
}

impl Parser<'_> {
    fn error(&self, problem: impl Into<String>) -> TemplateError {
        TemplateError::InvalidJson { at: self.lines.position(self.i), problem: problem.into() }
    }

    fn describe(&self) -> String {
        match self.src[self.i..].chars().next() {
            None => "end of text".to_owned(),
            Some(c) => format!("character {c:?}"),
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), TemplateError> {
        if self.b.get(self.i) == Some(&byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.describe())))
        }
    }

    /// One value; returns its decoded text if it is a string.
    fn value(&mut self) -> Result<Option<String>, TemplateError> {
        if crate::scan::starts_reference(self.src, self.i) {
            return Err(self.error(
                "a tresor reference is outside a JSON string, where no value can be written safely; put it inside \
                 a JSON string (\"${secret:NAME}\"), whose content its value then becomes, JSON-escaped",
            ));
        }
        match self.b.get(self.i) {
            Some(b'{') => self.nested(Self::object).map(|()| None),
            Some(b'[') => self.nested(Self::array).map(|()| None),
            Some(b'"') => self.string().map(Some),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| None),
            Some(b't') => self.literal("true").map(|()| None),
            Some(b'f') => self.literal("false").map(|()| None),
            Some(b'n') => self.literal("null").map(|()| None),
            _ => Err(self.error(format!("expected a JSON value, found {}", self.describe()))),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<(), TemplateError>) -> Result<(), TemplateError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn literal(&mut self, word: &str) -> Result<(), TemplateError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error(format!("expected a JSON value, found {}", self.describe())))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), TemplateError> {
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(format!("expected a digit, found {}", self.describe()))),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error(format!("expected a digit after '.', found {}", self.describe())));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(format!("expected a digit in the exponent, found {}", self.describe())));
            }
        }
        Ok(())
    }

    /// Walks the array or object at `self.i`: its opening byte, then `element` for each element up
    /// to `close`, the elements separated by commas. `container` names it in errors.
    fn elements(
        &mut self,
        close: u8,
        container: &str,
        mut element: impl FnMut(&mut Self) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            element(self)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(&c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => {
                    let close = close as char;
                    return Err(
                        self.error(format!("expected ',' or '{close}' in {container}, found {}", self.describe()))
                    );
                }
            }
        }
    }

    fn array(&mut self) -> Result<(), TemplateError> {
        self.elements(b']', "an array", |p| p.value().map(drop))
    }

    fn object(&mut self) -> Result<(), TemplateError> {
        let start = self.i;
        // The first two members (name, string value); only those matter for a reference.
        let mut first: Vec<(String, Option<String>)> = Vec::with_capacity(2);
        let mut count = 0usize;
        self.elements(b'}', "an object", |p| {
            if p.b.get(p.i) != Some(&b'"') {
                return Err(p.error(format!("expected a member name in double quotes, found {}", p.describe())));
            }
            let name = p.string()?;
            p.ws();
            p.expect(b':', "':' after a member name")?;
            p.ws();
            let value = p.value()?;
            count += 1;
            if count <= 2 {
                first.push((name, value));
            }
            Ok(())
        })?;
        if count != 2 {
            return Ok(());
        }
        let get = |k: &str| first.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let (Some(vault), Some(key)) = (get("vault"), get("key")) else {
            return Ok(());
        };
        let end = self.i;
        let at = self.lines.position(start);
        let (Some(vault), Some(key)) = (vault, key) else {
            return Err(TemplateError::Malformed {
                at,
                snippet: snippet(self.src, start, end),
                problem: "an object whose only members are \"vault\" and \"key\" is a tresor reference, and both \
                          must be strings; write {\"vault\": \"VAULT\", \"key\": \"KEY\"}"
                    .to_owned(),
            });
        };
        let invalid = |cause| TemplateError::InvalidName { at, reference: snippet(self.src, start, end), cause };
        let vault = VaultName::new(vault.as_str()).map_err(invalid)?;
        let key = EntryKey::new(key.as_str()).map_err(invalid)?;
        // The whole object is replaced (its strings hold valid names, so no reference anyway).
        self.refs.retain(|r| r.span.start < start);
        self.refs.push(Reference {
            syntax: Syntax::Json,
            target: Target::VaultKey { vault, key },
            span: Span { start, end },
            position: at,
            default: None,
            in_json_string: false,
        });
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, TemplateError> {
        let digits = self.src.get(self.i..self.i + 4).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => Err(self.error("expected four hex digits after \\u")),
        }
    }

    /// A string literal at `self.i`; returns its decoded text. With `texts`, the references in
    /// it are found in the decoded text (what whoever reads the document sees), at the template
    /// positions they were decoded from.
    fn string(&mut self) -> Result<String, TemplateError> {
        self.origin.clear();
        let decoded = self.decode()?;
        if self.texts {
            let found = crate::scan::parse_json_string(&decoded, self.lines, &self.origin)?;
            self.refs.extend(found);
        }
        Ok(decoded)
    }

    /// Records that the decoded bytes from here on come from template offsets `from`.
    fn came_from(&mut self, from: impl Iterator<Item = usize>) {
        if self.texts {
            self.origin.extend(from);
        }
    }

    fn decode(&mut self) -> Result<String, TemplateError> {
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.error("unterminated string; close it with '\"'")),
                Some(b'"') => {
                    out.push_str(&self.src[run..self.i]);
                    self.came_from(run..=self.i);
                    self.i += 1;
                    return Ok(out);
                }
                Some(&c) if c < 0x20 => {
                    return Err(self.error("control character in a string; escape it (\\n, \\t, \\u0001, …)"))
                }
                Some(b'\\') => {
                    out.push_str(&self.src[run..self.i]);
                    self.came_from(run..self.i);
                    let esc = self.i;
                    self.i += 1;
                    let c = match self.b.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    self.i = esc;
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    self.i = esc;
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => {
                                    out.push(c);
                                    self.came_from(std::iter::repeat_n(esc, c.len_utf8()));
                                    run = self.i;
                                    continue;
                                }
                                None => {
                                    self.i = esc;
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                            }
                        }
                        _ => {
                            self.i = esc;
                            return Err(self.error(
                                "unknown escape in a string; use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX",
                            ));
                        }
                    };
                    out.push(c);
                    self.came_from(std::iter::once(esc));
                    self.i += 1;
                    run = self.i;
                }
                Some(_) => self.i += 1,
            }
        }
    }
}
