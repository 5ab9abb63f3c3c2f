//! The text-mode scanner: finds `${secret:…}`, `${workflow.secrets.…}`, `{{tb_secret(…)}}` and
//! `tresor://…` references.

use crate::pos::{snippet, LineIndex};
use crate::{Reference, Span, Syntax, Target, TemplateError, TresorUri};
use tresor_model::{EntryKey, NameError, VaultName};

const DIGDAG: &str = "${secret:";
const CONDUCTOR: &str = "${workflow.secrets.";
const URI: &str = "tresor://";
const TB_FN: &str = "tb_secret";
const TB_SHAPE: &str = "write {{tb_secret('NAME')}} or {{tb_secret('NAME', 'default')}}";

struct Scanner<'s> {
    src: &'s str,
    b: &'s [u8],
    lines: LineIndex<'s>,
}

pub(crate) fn parse_text(src: &str) -> Result<Vec<Reference>, TemplateError> {
    let s = Scanner { src, b: src.as_bytes(), lines: LineIndex::new(src) };
    let mut refs = Vec::new();
    let mut i = 0;
    // Byte-wise is fine: every opener is ASCII and UTF-8 continuation bytes are never ASCII.
    while i < s.b.len() {
        let rest = &s.b[i..];
        let found = match s.b[i] {
            b'$' if rest.starts_with(DIGDAG.as_bytes()) => Some(s.braced(i, DIGDAG, Syntax::Digdag)?),
            b'$' if rest.starts_with(CONDUCTOR.as_bytes()) => Some(s.braced(i, CONDUCTOR, Syntax::Conductor)?),
            b'{' => match s.tinybird_opener(i) {
                Some(args) => Some(s.tinybird(i, args)?),
                None => None,
            },
            b't' if rest.starts_with(URI.as_bytes()) => Some(s.uri(i)?),
            _ => None,
        };
        match found {
            Some(r) => {
                i = r.span.end;
                refs.push(r);
            }
            None => i += 1,
        }
    }
    Ok(refs)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

impl<'s> Scanner<'s> {
    fn skip_ws(&self, mut i: usize) -> usize {
        while i < self.b.len() && is_ws(self.b[i]) {
            i += 1;
        }
        i
    }

    fn malformed(&self, start: usize, end: usize, problem: impl Into<String>) -> TemplateError {
        TemplateError::Malformed {
            at: self.lines.position(start),
            snippet: snippet(self.src, start, end),
            problem: problem.into(),
        }
    }

    fn invalid_name(&self, start: usize, end: usize, cause: NameError) -> TemplateError {
        TemplateError::InvalidName { at: self.lines.position(start), reference: snippet(self.src, start, end), cause }
    }

    fn reference(&self, syntax: Syntax, target: Target, start: usize, end: usize) -> Reference {
        Reference { syntax, target, span: Span { start, end }, position: self.lines.position(start), default: None }
    }

    /// `${secret:NAME}` / `${workflow.secrets.NAME}`: the name runs to the first `}` on the line.
    fn braced(&self, start: usize, opener: &str, syntax: Syntax) -> Result<Reference, TemplateError> {
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

    /// If `{{ tb_secret (` starts at `i`, the offset after the `(`.
    fn tinybird_opener(&self, i: usize) -> Option<usize> {
        if !self.b[i..].starts_with(b"{{") {
            return None;
        }
        let j = self.skip_ws(i + 2);
        if !self.b[j..].starts_with(TB_FN.as_bytes()) {
            return None;
        }
        let k = self.skip_ws(j + TB_FN.len());
        (self.b.get(k) == Some(&b'(')).then_some(k + 1)
    }

    /// `{{tb_secret('NAME'[, 'default'])}}`, from the offset after `(`.
    fn tinybird(&self, start: usize, args: usize) -> Result<Reference, TemplateError> {
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
        let mut r = self.reference(Syntax::Tinybird, Target::Name(key), start, end);
        r.default = default;
        Ok(r)
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
    fn uri(&self, start: usize) -> Result<Reference, TemplateError> {
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
