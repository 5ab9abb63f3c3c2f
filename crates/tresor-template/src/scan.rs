//! The text-mode scanner: finds `${secret:…}`, `${workflow.secrets.…}`, `{{tb_secret(…)}}` and
//! `tresor://…` references, in a text template or in the decoded strings of a JSON document.

use crate::pos::{snippet, LineIndex};
use crate::{Reference, Span, Syntax, Target, TemplateError, TresorUri};
use tresor_model::{EntryKey, NameError, VaultName};

const DIGDAG: &str = "${secret:";
const CONDUCTOR: &str = "${workflow.secrets.";
const URI: &str = "tresor://";
const TB_FN: &str = "tb_secret";
const TB_SHAPE: &str = "write {{tb_secret('NAME')}} or {{tb_secret('NAME', 'default')}}";

/// Scans `src`: the template itself, or one decoded string of a JSON document.
struct Scanner<'a> {
    src: &'a str,
    b: &'a [u8],
    /// Lines of the template, for positions.
    lines: &'a LineIndex<'a>,
    /// For a decoded JSON string: the template offset of each byte of `src`, and of its end
    /// (the closing quote). Spans and positions are the template's, so a reference replaces the
    /// escaped text it was decoded from.
    origin: Option<&'a [usize]>,
}

pub(crate) fn parse_text(src: &str) -> Result<Vec<Reference>, TemplateError> {
    let lines = LineIndex::new(src);
    Scanner { src, b: src.as_bytes(), lines: &lines, origin: None }.scan()
}

/// The references in one string of a JSON document: `decoded` is its text after unescaping,
/// `origin` maps each of its bytes (and its end) to the template offset it was decoded from.
pub(crate) fn parse_json_string(
    decoded: &str,
    lines: &LineIndex<'_>,
    origin: &[usize],
) -> Result<Vec<Reference>, TemplateError> {
    debug_assert_eq!(origin.len(), decoded.len() + 1);
    Scanner { src: decoded, b: decoded.as_bytes(), lines, origin: Some(origin) }.scan()
}

/// Whether a text-mode reference starts at byte `i` of `src` (JSON mode uses this to explain a
/// reference written outside a string).
pub(crate) fn starts_reference(src: &str, i: usize) -> bool {
    let rest = &src.as_bytes()[i..];
    rest.starts_with(DIGDAG.as_bytes())
        || rest.starts_with(CONDUCTOR.as_bytes())
        || rest.starts_with(URI.as_bytes())
        || tinybird_opener(src.as_bytes(), i).is_some()
}

/// If `{{ tb_secret (` starts at byte `i` of `b`, the offset after the `(`.
fn tinybird_opener(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"{{") {
        return None;
    }
    let j = skip_ws(b, i + 2);
    if !b[j..].starts_with(TB_FN.as_bytes()) {
        return None;
    }
    let k = skip_ws(b, j + TB_FN.len());
    (b.get(k) == Some(&b'(')).then_some(k + 1)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

impl Scanner<'_> {
    fn scan(&self) -> Result<Vec<Reference>, TemplateError> {
        let mut refs = Vec::new();
        let mut i = 0;
        // Byte-wise is fine: every opener is ASCII and UTF-8 continuation bytes are never ASCII.
        while i < self.b.len() {
            let rest = &self.b[i..];
            let found = match self.b[i] {
                b'$' if rest.starts_with(DIGDAG.as_bytes()) => Some(self.braced(i, DIGDAG, Syntax::Digdag)?),
                b'$' if rest.starts_with(CONDUCTOR.as_bytes()) => Some(self.braced(i, CONDUCTOR, Syntax::Conductor)?),
                b'{' => match tinybird_opener(self.b, i) {
                    Some(args) => Some(self.tinybird(i, args)?),
                    None => {
                        self.refuse_json_reference(i)?;
                        None
                    }
                },
                b't' if rest.starts_with(URI.as_bytes()) => Some(self.uri(i)?),
                _ => None,
            };
            match found {
                Some((r, end)) => {
                    i = end;
                    refs.push(r);
                }
                None => i += 1,
            }
        }
        Ok(refs)
    }

    /// In a text template, a `{"vault": V, "key": K}` object is not a reference (only JSON
    /// documents have them), and leaving it in the output would hand a placeholder to whatever
    /// reads it as if it were the value: refused, saying how to render it. Inside a JSON string
    /// (an escaped document in a document) it is just text.
    fn refuse_json_reference(&self, i: usize) -> Result<(), TemplateError> {
        if self.origin.is_some() {
            return Ok(());
        }
        let Some(end) = crate::json::reference_object_at(self.src, self.lines, i) else { return Ok(()) };
        Err(self.malformed(
            i,
            end,
            "a {\"vault\": …, \"key\": …} object is a reference in JSON documents only, and this template is \
             rendered as text, where it would be left in the output as it is; render it as a JSON document \
             (--json-doc, or a file name ending in .json)",
        ))
    }

    /// The template offset of byte `offset` of the scanned text.
    fn at(&self, offset: usize) -> usize {
        self.origin.map_or(offset, |origin| origin[offset])
    }

    fn skip_ws(&self, i: usize) -> usize {
        skip_ws(self.b, i)
    }

    fn malformed(&self, start: usize, end: usize, problem: impl Into<String>) -> TemplateError {
        TemplateError::Malformed {
            at: self.lines.position(self.at(start)),
            snippet: snippet(self.src, start, end),
            problem: problem.into(),
        }
    }

    fn invalid_name(&self, start: usize, end: usize, cause: NameError) -> TemplateError {
        TemplateError::InvalidName {
            at: self.lines.position(self.at(start)),
            reference: snippet(self.src, start, end),
            cause,
        }
    }

    /// A reference over `start..end` of the scanned text, and `end` (where scanning goes on).
    fn reference(&self, syntax: Syntax, target: Target, start: usize, end: usize) -> (Reference, usize) {
        let reference = Reference {
            syntax,
            target,
            span: Span { start: self.at(start), end: self.at(end) },
            position: self.lines.position(self.at(start)),
            default: None,
            in_json_string: self.origin.is_some(),
        };
        (reference, end)
    }

    /// `${secret:NAME}` / `${workflow.secrets.NAME}`: the name runs to the first `}` on the line.
    fn braced(&self, start: usize, opener: &str, syntax: Syntax) -> Result<(Reference, usize), TemplateError> {
        let name_start = start + opener.len();
        let mut j = name_start;
        while j < self.b.len() && self.b[j] != b'}' && self.b[j] != b'\n' {
            j += 1;
        }
        if j == self.b.len() || self.b[j] != b'}' {
            return Err(self.malformed(
                start,
                j,
                format!(
                    "no closing `}}` on the same line; write {opener}NAME}} with NAME an entry key such as pg.password"
                ),
            ));
        }
        let end = j + 1;
        let key = EntryKey::new(&self.src[name_start..j]).map_err(|e| self.invalid_name(start, end, e))?;
        Ok(self.reference(syntax, Target::Name(key), start, end))
    }

    /// `{{tb_secret('NAME'[, 'default'])}}`, from the offset after `(`.
    fn tinybird(&self, start: usize, args: usize) -> Result<(Reference, usize), TemplateError> {
        let mut i = self.skip_ws(args);
        let (name, after) = self.string(start, i, "a quoted entry key as the first argument")?;
        let name_end = after;
        i = self.skip_ws(after);
        let mut default = None;
        if self.b.get(i) == Some(&b',') {
            i = self.skip_ws(i + 1);
            let (value, after) = self.string(start, i, "a quoted default as the second argument")?;
            default = Some(value);
            i = self.skip_ws(after);
        }
        if self.b.get(i) != Some(&b')') {
            let expected = if default.is_some() { "`)`" } else { "`,` or `)`" };
            return Err(self.malformed(start, i + 1, format!("expected {expected} after the argument; {TB_SHAPE}")));
        }
        i = self.skip_ws(i + 1);
        if !self.b[i..].starts_with(b"}}") {
            return Err(self.malformed(start, i + 1, format!("expected `}}}}` after `tb_secret(…)`; {TB_SHAPE}")));
        }
        let end = i + 2;
        let key = EntryKey::new(name).map_err(|e| self.invalid_name(start, name_end, e))?;
        let (mut r, end) = self.reference(Syntax::Tinybird, Target::Name(key), start, end);
        r.default = default;
        Ok((r, end))
    }

    /// A single- or double-quoted string at `i` with escapes `\\ \' \" \n \r \t`; returns the
    /// unescaped text and the offset after the closing quote. A string may not span lines.
    fn string(&self, start: usize, i: usize, what: &str) -> Result<(String, usize), TemplateError> {
        let quote = match self.b.get(i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(self.malformed(
                    start,
                    i + 1,
                    format!("expected {what} in single or double quotes; {TB_SHAPE}"),
                ))
            }
        };
        let mut out = String::new();
        let mut j = i + 1;
        let mut run = j;
        loop {
            match self.b.get(j) {
                None | Some(b'\n') => {
                    return Err(self.malformed(
                        start,
                        j,
                        format!(
                            "unterminated string: {what} needs its closing {} on the same line; {TB_SHAPE}",
                            quote as char
                        ),
                    ))
                }
                Some(&q) if q == quote => {
                    out.push_str(&self.src[run..j]);
                    return Ok((out, j + 1));
                }
                Some(b'\\') => {
                    out.push_str(&self.src[run..j]);
                    let c = match self.b.get(j + 1) {
                        Some(b'\\') => '\\',
                        Some(b'\'') => '\'',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        _ => {
                            return Err(self.malformed(
                                start,
                                j + 2,
                                "unknown escape in a string; write \\\\, \\', \\\", \\n, \\r or \\t",
                            ))
                        }
                    };
                    out.push(c);
                    j += 2;
                    run = j;
                }
                Some(_) => j += 1,
            }
        }
    }

    /// `tresor://PATH[#VERSION]`: PATH is the run of key characters (letters, digits, `_-./`).
    fn uri(&self, start: usize) -> Result<(Reference, usize), TemplateError> {
        const SHAPE: &str = "write tresor://VAULT/KEY, tresor://ENV/VAULT/KEY, optionally followed by #VERSION";
        let path_start = start + URI.len();
        let mut j = path_start;
        while j < self.b.len() && is_key_byte(self.b[j]) {
            j += 1;
        }
        let path = &self.src[path_start..j];
        let mut end = j;
        let mut version = None;
        if self.b.get(j) == Some(&b'#') {
            let digits_start = j + 1;
            end = digits_start;
            while end < self.b.len() && self.b[end].is_ascii_digit() {
                end += 1;
            }
            let digits = &self.src[digits_start..end];
            match digits.parse::<u64>() {
                Ok(v) if v >= 1 => version = Some(v),
                _ => {
                    return Err(self.malformed(
                        start,
                        end.max(digits_start + 1),
                        format!("`#` must be followed by a version number from 1 up; {SHAPE}"),
                    ))
                }
            }
        }
        if path.is_empty() {
            return Err(self.malformed(start, end + 1, format!("the path is empty; {SHAPE}")));
        }
        let Some((vault, key)) = path.split_once('/') else {
            return Err(self.malformed(start, end, format!("the path needs at least a vault and a key; {SHAPE}")));
        };
        // The first segment is a vault or an environment: both follow the same rules.
        VaultName::new(vault).map_err(|e| self.invalid_name(start, end, e))?;
        EntryKey::new(key).map_err(|e| self.invalid_name(start, end, e))?;
        let uri = TresorUri { path: path.to_owned(), version };
        Ok(self.reference(Syntax::Uri, Target::Uri(uri), start, end))
    }
}
