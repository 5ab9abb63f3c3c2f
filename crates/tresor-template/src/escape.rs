//! Escaping of values for the places they are rendered into.

/// One escaped character: itself, a fixed escape, or a hex escape of a control character.
enum Piece {
    Char(char),
    Fixed(&'static str),
    /// `\xHH` (ClickHouse).
    SqlHex(u8),
    /// `\u00HH` (JSON).
    JsonHex(u8),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Char(c) => c.len_utf8(),
            Piece::Fixed(s) => s.len(),
            Piece::SqlHex(_) => 4,
            Piece::JsonHex(_) => 6,
        }
    }

    /// Calls `f` with each character [`push`](Self::push) writes.
    fn for_each_char(&self, f: &mut impl FnMut(char)) {
        match *self {
            Piece::Char(c) => f(c),
            Piece::Fixed(s) => s.chars().for_each(f),
            Piece::SqlHex(b) => {
                ['\\', 'x', HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char].into_iter().for_each(f)
            }
            Piece::JsonHex(b) => {
                ['\\', 'u', '0', '0', HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char]
                    .into_iter()
                    .for_each(f)
            }
        }
    }

    fn push(&self, out: &mut String) {
        match *self {
            Piece::Char(c) => out.push(c),
            Piece::Fixed(s) => out.push_str(s),
            Piece::SqlHex(b) => {
                out.push_str("\\x");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
            Piece::JsonHex(b) => {
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

fn sql_piece(c: char) -> Piece {
    match c {
        '\\' => Piece::Fixed("\\\\"),
        '\'' => Piece::Fixed("\\'"),
        '\n' => Piece::Fixed("\\n"),
        '\r' => Piece::Fixed("\\r"),
        '\t' => Piece::Fixed("\\t"),
        '\0' => Piece::Fixed("\\0"),
        c if c < ' ' || c == '\x7f' => Piece::SqlHex(c as u8),
        c => Piece::Char(c),
    }
}

fn json_piece(c: char) -> Piece {
    match c {
        '"' => Piece::Fixed("\\\""),
        '\\' => Piece::Fixed("\\\\"),
        '\n' => Piece::Fixed("\\n"),
        '\r' => Piece::Fixed("\\r"),
        '\t' => Piece::Fixed("\\t"),
        '\u{8}' => Piece::Fixed("\\b"),
        '\u{c}' => Piece::Fixed("\\f"),
        c if c < ' ' => Piece::JsonHex(c as u8),
        c => Piece::Char(c),
    }
}

/// How a value is written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quoting {
    /// As is.
    Raw,
    /// As a ClickHouse string literal ([`sql_quote`]).
    Sql,
    /// As a JSON string ([`json_quote`]).
    Json,
}

impl Quoting {
    fn quote_char(self) -> Option<char> {
        match self {
            Quoting::Raw => None,
            Quoting::Sql => Some('\''),
            Quoting::Json => Some('"'),
        }
    }

    fn piece(self, c: char) -> Piece {
        match self {
            Quoting::Raw => Piece::Char(c),
            Quoting::Sql => sql_piece(c),
            Quoting::Json => json_piece(c),
        }
    }

    /// The exact length `write` will add, so the output can be allocated once (no reallocation
    /// leaves copies of values behind in freed memory).
    pub(crate) fn len(self, value: &str) -> usize {
        match self {
            Quoting::Raw => value.len(),
            _ => 2 + value.chars().map(|c| self.piece(c).len()).sum::<usize>(),
        }
    }

    pub(crate) fn write(self, out: &mut String, value: &str) {
        match self.quote_char() {
            None => out.push_str(value),
            Some(q) => {
                out.push(q);
                for c in value.chars() {
                    self.piece(c).push(out);
                }
                out.push(q);
            }
        }
    }

    /// Calls `f` with each character of `value` as [`write`](Self::write) writes it.
    fn for_each_char(self, value: &str, mut f: impl FnMut(char)) {
        let quote = self.quote_char();
        quote.into_iter().for_each(&mut f);
        for c in value.chars() {
            self.piece(c).for_each_char(&mut f);
        }
        quote.into_iter().for_each(&mut f);
    }

    /// The exact length [`write_in_json_string`](Self::write_in_json_string) will add.
    pub(crate) fn len_in_json_string(self, value: &str) -> usize {
        let mut len = 0;
        self.for_each_char(value, |c| len += json_piece(c).len());
        len
    }

    /// Writes `value` quoted as `self` says, then escaped for the inside of a JSON string (no
    /// quotes of its own): the string then decodes to exactly what [`write`](Self::write) writes,
    /// so a reference inside a JSON string renders as it would in text, and the document stays
    /// valid JSON whatever the value holds.
    pub(crate) fn write_in_json_string(self, out: &mut String, value: &str) {
        self.for_each_char(value, |c| json_piece(c).push(out));
    }

    fn quote(self, value: &str) -> String {
        let mut out = String::with_capacity(self.len(value));
        self.write(&mut out, value);
        out
    }
}

/// Quotes `value` as a ClickHouse (Tinybird) string literal: `'…'` with `\` → `\\`, `'` → `\'`,
/// newline → `\n`, carriage return → `\r`, tab → `\t`, NUL → `\0`, other C0 controls and DEL →
/// `\xHH`; everything else (including all non-ASCII) is kept as is.
///
/// ```
/// assert_eq!(tresor_template::sql_quote(r"it's a\b"), r"'it\'s a\\b'");
/// ```
pub fn sql_quote(value: &str) -> String {
    Quoting::Sql.quote(value)
}

/// Quotes `value` as a JSON string: `"` → `\"`, `\` → `\\`, `\n` `\r` `\t` `\b` `\f` by name, other
/// controls below U+0020 as `\u00HH`; everything else (including `/` and non-ASCII) is kept as is.
///
/// ```
/// assert_eq!(tresor_template::json_quote("a\"b\n"), r#""a\"b\n""#);
/// ```
pub fn json_quote(value: &str) -> String {
    Quoting::Json.quote(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_escapes_quote_backslash_and_controls() {
        assert_eq!(sql_quote(""), "''");
        assert_eq!(sql_quote("plain"), "'plain'");
        assert_eq!(sql_quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(sql_quote(r"C:\dir\"), r"'C:\\dir\\'");
        assert_eq!(sql_quote(r"\'"), r"'\\\''");
        assert_eq!(sql_quote("a\nb\rc\td\0e"), r"'a\nb\rc\td\0e'");
        assert_eq!(sql_quote("\u{1}\u{1f}\u{7f}"), r"'\x01\x1f\x7f'");
        assert_eq!(sql_quote("\"é日😀"), "'\"é日😀'");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_quote(""), "\"\"");
        assert_eq!(json_quote(r#"a"b\c/d"#), r#""a\"b\\c/d""#);
        assert_eq!(json_quote("\n\r\t\u{8}\u{c}\u{1}\u{1f}"), r#""\n\r\t\b\f\u0001\u001f""#);
        assert_eq!(json_quote("é日😀'\u{7f}"), "\"é日😀'\u{7f}\"");
    }

    #[test]
    fn lengths_are_exact() {
        for v in ["", "x", "O'B\\\n\u{1}é日😀\"", "\u{7f}\t"] {
            for q in [Quoting::Raw, Quoting::Sql, Quoting::Json] {
                let mut out = String::new();
                q.write(&mut out, v);
                assert_eq!(out.len(), q.len(v), "{q:?} {v:?}");
                let mut inside = String::new();
                q.write_in_json_string(&mut inside, v);
                assert_eq!(inside.len(), q.len_in_json_string(v), "{q:?} {v:?} in a JSON string");
            }
        }
    }

    #[test]
    fn inside_a_json_string_the_text_rendering_is_escaped() {
        let inside = |q: Quoting, v: &str| {
            let mut out = String::new();
            q.write_in_json_string(&mut out, v);
            out
        };
        assert_eq!(inside(Quoting::Raw, "a\"b\\c\n"), r#"a\"b\\c\n"#);
        // The SQL literal 'it\'s' (with its quotes and backslash), then JSON-escaped.
        assert_eq!(inside(Quoting::Sql, "it's\u{1}"), r#"'it\\'s\\x01'"#);
        assert_eq!(inside(Quoting::Raw, "é\u{7f}/"), "é\u{7f}/");
    }

    proptest::proptest! {
        #[test]
        fn a_json_string_decodes_to_the_text_rendering(value in proptest::prelude::any::<String>()) {
            for q in [Quoting::Raw, Quoting::Sql] {
                let mut text = String::new();
                q.write(&mut text, &value);
                let mut inside = String::from("\"");
                q.write_in_json_string(&mut inside, &value);
                inside.push('"');
                proptest::prop_assert_eq!(crate::json::decode_string(&inside).unwrap(), text);
            }
        }
    }
}
