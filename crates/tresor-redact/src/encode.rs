//! The encoded forms of a secret value that are masked besides the value itself.
//!
//! Every encoder appends to a caller's buffer, which [`FormArena`] keeps large enough that no
//! reallocation ever leaves a copy of a value behind in freed memory.

use std::ops::Range;

use zeroize::Zeroizing;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Encoded forms shorter than this many bytes are not masked, whatever `min_len` allows: below it
/// an encoding is ordinary text (the one-byte value `x` has the base64 fragment `e` and the hex
/// `78`). Percent-encoded occurrences obey it too (`%78` is not masked).
pub(crate) const ENCODED_FLOOR: usize = 4;

/// JSON encoders whose escaping differs, in the order their forms are built.
const JSON_STYLES: [JsonStyle; 6] = [
    // serde_json, JavaScript, Python with ensure_ascii=False.
    JsonStyle { upper_hex: false, escape_slash: false, ascii_only: false, html_safe: false },
    JsonStyle { upper_hex: true, escape_slash: false, ascii_only: false, html_safe: false },
    // PHP's json_encode.
    JsonStyle { upper_hex: false, escape_slash: true, ascii_only: true, html_safe: false },
    JsonStyle { upper_hex: false, escape_slash: true, ascii_only: false, html_safe: false },
    // Python's json.dumps default.
    JsonStyle { upper_hex: false, escape_slash: false, ascii_only: true, html_safe: false },
    // Go's encoding/json.
    JsonStyle { upper_hex: false, escape_slash: false, ascii_only: false, html_safe: true },
];

/// The forms of many values, appended one after another to one buffer that is wiped on drop.
pub(crate) struct FormArena {
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    /// Where each form lies in `bytes`; may contain duplicates.
    pub(crate) spans: Vec<Range<usize>>,
}

impl FormArena {
    /// An arena whose first `capacity` bytes of forms need no reallocation.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        FormArena { bytes: Zeroizing::new(Vec::with_capacity(capacity)), spans: Vec::new() }
    }

    /// Bytes that every form of a value of `len` bytes fits in (JSON's `\u0000` is 6 per byte):
    /// [`add_value`](Self::add_value) needs this much spare capacity, as a form too short to keep
    /// is written before it is dropped.
    pub(crate) fn room(len: usize) -> usize {
        48 * len + 32
    }

    /// Appends `value` and each of its encodings at least `encoded_min` bytes long that differs from
    /// it (percent-encoding is not a form: it is decoded while matching, see `matcher.rs`).
    pub(crate) fn add_value(&mut self, value: &[u8], encoded_min: usize) {
        // Enough room for every form of this value, so that the encoders below never reallocate.
        let room = Self::room(value.len());
        if self.bytes.capacity() - self.bytes.len() < room {
            let mut grown =
                Zeroizing::new(Vec::with_capacity((self.bytes.len() + room).max(2 * self.bytes.capacity())));
            grown.extend_from_slice(&self.bytes);
            // The old buffer is wiped as it drops.
            self.bytes = grown;
        }
        let capacity = self.bytes.capacity();
        self.bytes.extend_from_slice(value);
        self.spans.push(self.bytes.len() - value.len()..self.bytes.len());
        for pad in [true, false] {
            self.push_encoding(value, encoded_min, |out| base64(value, pad, out));
        }
        for shift in 0..3 {
            self.push_encoding(value, encoded_min, |out| base64_fragment(value, shift, out));
        }
        for upper in [true, false] {
            self.push_encoding(value, encoded_min, |out| hex(value, upper, out));
        }
        for style in json_styles(value) {
            self.push_encoding(value, encoded_min, |out| json(value, style, out));
        }
        debug_assert_eq!(self.bytes.capacity(), capacity, "a form outgrew the room reserved for it");
    }

    /// At least the bytes [`add_value`](Self::add_value) appends for `value`, and at most a few
    /// more (a base64 fragment that equals a value of 4 to 9 bytes is counted, though not kept), so that one
    /// buffer of the forms' size can be reserved before writing them, without encoding every
    /// value twice. The lengths of base64 and hex follow from the value's; JSON escapes, which
    /// few values need, are written into `scratch` (wiped on drop) and measured.
    pub(crate) fn measure(value: &[u8], encoded_min: usize, scratch: &mut Zeroizing<Vec<u8>>) -> usize {
        let n = value.len();
        let kept = |len: usize| if len >= encoded_min { len } else { 0 };
        let mut total = n + kept(4 * n.div_ceil(3)) + kept((4 * n).div_ceil(3)) + 2 * kept(2 * n);
        for shift in 0..3 {
            total += kept(base64_fragment_len(n, shift));
        }
        for style in json_styles(value) {
            scratch.clear();
            json(value, style, scratch);
            // A style that escapes nothing in this value writes the value again, which is not kept.
            if scratch[..] != *value {
                total += kept(scratch.len());
            }
        }
        total
    }

    /// Appends the encoding of `value` that `encode` writes, and keeps it if it is at least `min`
    /// bytes long and not the value itself again.
    fn push_encoding(&mut self, value: &[u8], min: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        encode(&mut self.bytes);
        let form = &self.bytes[start..];
        if form.len() < min || form == value {
            // The bytes stay in the spare capacity, which is wiped on drop too.
            self.bytes.truncate(start);
        } else {
            self.spans.push(start..self.bytes.len());
        }
    }
}

/// The JSON styles whose escaping of `value` is kept as a form: none for most values (tokens,
/// keys), which hold nothing any JSON encoder escapes; those that need valid UTF-8 only for it.
fn json_styles(value: &[u8]) -> impl Iterator<Item = JsonStyle> {
    let escaped = |&b: &u8| b < 0x20 || !b.is_ascii() || b"\"\\/<>&".contains(&b);
    let styles: &[JsonStyle] = if value.iter().any(escaped) { &JSON_STYLES } else { &[] };
    let utf8 = !styles.is_empty() && std::str::from_utf8(value).is_ok();
    styles.iter().copied().filter(move |style| utf8 || !style.ascii_only)
}

/// Standard base64 (RFC 4648 §4), with or without `=` padding.
pub(crate) fn base64(input: &[u8], pad: bool, out: &mut Vec<u8>) {
    for chunk in input.chunks(3) {
        let word = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(word >> (18 - 6 * i)) as usize & 63]);
            } else if pad {
                out.push(b'=');
            }
        }
    }
}

/// The base64 characters fully determined by `value` when it sits at byte offset `shift` (mod 3)
/// inside a larger encoded blob: whatever surrounds it, these characters appear verbatim.
pub(crate) fn base64_fragment(value: &[u8], shift: usize, out: &mut Vec<u8>) {
    let start = out.len();
    // Encode `shift` zero bytes then the value, in groups of three input bytes.
    let byte_at = |i: usize| if i < shift { 0 } else { value.get(i - shift).copied().unwrap_or(0) };
    let (first, end) = base64_fragment_span(value.len(), shift);
    for i in first..end.max(first) {
        let group = i / 4 * 3;
        let word =
            (u32::from(byte_at(group)) << 16) | (u32::from(byte_at(group + 1)) << 8) | u32::from(byte_at(group + 2));
        out.push(BASE64[(word >> (18 - 6 * (i % 4))) as usize & 63]);
    }
    debug_assert_eq!(out.len() - start, end.saturating_sub(first));
}

/// The characters of a blob's encoding that a value of `len` bytes at byte offset `shift` fully
/// determines: character i carries bits [6i, 6i + 6) of the input, the value owns bits
/// [8 shift, 8 (shift + len)). Empty when `end <= first`.
fn base64_fragment_span(len: usize, shift: usize) -> (usize, usize) {
    ((8 * shift).div_ceil(6), (8 * (shift + len)) / 6)
}

/// How many characters [`base64_fragment`] writes.
fn base64_fragment_len(len: usize, shift: usize) -> usize {
    let (first, end) = base64_fragment_span(len, shift);
    end.saturating_sub(first)
}

/// Base16 (RFC 4648 §8), two digits per byte, in upper or lower case: what `xxd -p`, `od`, Go's
/// `hex.EncodeToString` and Python's `bytes.hex()` print. Mixed case is not covered.
pub(crate) fn hex(value: &[u8], upper: bool, out: &mut Vec<u8>) {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    for &b in value {
        out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
    }
}

/// How a JSON encoder escapes a string's content.
#[derive(Clone, Copy)]
pub(crate) struct JsonStyle {
    /// `\u001F` rather than `\u001f`.
    pub upper_hex: bool,
    /// `\/` for `/`.
    pub escape_slash: bool,
    /// `\uXXXX` (UTF-16) for every non-ASCII character; only applies to valid UTF-8.
    pub ascii_only: bool,
    /// `\u003c`, `\u003e`, `\u0026` for `<`, `>`, `&`.
    pub html_safe: bool,
}

/// Appends the value as it appears between the quotes of a JSON string. A style that needs valid
/// UTF-8 appends nothing for a value that is not.
pub(crate) fn json(value: &[u8], style: JsonStyle, out: &mut Vec<u8>) {
    if style.ascii_only {
        let Ok(text) = std::str::from_utf8(value) else { return };
        let mut units = [0u16; 2];
        for c in text.chars() {
            if c.is_ascii() {
                json_byte(c as u8, style, out);
            } else {
                for &unit in c.encode_utf16(&mut units).iter() {
                    unicode_escape(unit, style.upper_hex, out);
                }
            }
        }
        units.fill(0);
    } else {
        for &b in value {
            json_byte(b, style, out);
        }
    }
}

fn json_byte(b: u8, style: JsonStyle, out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'/' if style.escape_slash => out.extend_from_slice(b"\\/"),
        b'<' | b'>' | b'&' if style.html_safe => unicode_escape(u16::from(b), style.upper_hex, out),
        0..=0x1f => unicode_escape(u16::from(b), style.upper_hex, out),
        _ => out.push(b),
    }
}

fn unicode_escape(unit: u16, upper: bool, out: &mut Vec<u8>) {
    let hex = if upper { HEX_UPPER } else { HEX_LOWER };
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(hex[usize::from((unit >> shift) & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(encode: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn plain() -> JsonStyle {
        JSON_STYLES[0]
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors = [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ];
        for (plain, padded, unpadded) in vectors {
            assert_eq!(s(|o| base64(plain.as_bytes(), true, o)), padded);
            assert_eq!(s(|o| base64(plain.as_bytes(), false, o)), unpadded);
        }
        assert_eq!(s(|o| base64(&[0xfb, 0xff, 0xfe], true, o)), "+//+");
    }

    #[test]
    fn base64_fragments_appear_in_any_enclosing_blob() {
        let value = b"s3cr3t-Value!";
        for shift in 0..3 {
            let fragment = s(|o| base64_fragment(value, shift, o));
            // Surrounding bytes chosen to differ from the zero filler used to compute the fragment.
            for (before, after) in [(0xffu8, 0xffu8), (0x5a, 0xa5), (1, 0x80)] {
                let mut blob = vec![before; 3 + shift];
                blob.extend_from_slice(value);
                blob.extend_from_slice(&[after; 4]);
                let encoded = s(|o| base64(&blob, true, o));
                assert!(encoded.contains(&fragment), "shift {shift}: {fragment} not in {encoded}");
            }
        }
    }

    #[test]
    fn base64_fragments_keep_only_fully_determined_characters() {
        // 4 bytes = 32 bits: offset 0 owns chars 0..5, offset 1 owns bits 8..40 -> chars 2..6,
        // offset 2 owns bits 16..48 -> chars 3..8.
        assert_eq!(s(|o| base64_fragment(b"abcd", 0, o)), "YWJjZ");
        assert_eq!(s(|o| base64_fragment(b"abcd", 1, o)).len(), 4);
        assert_eq!(s(|o| base64_fragment(b"abcd", 2, o)).len(), 5);
        assert_eq!(s(|o| base64_fragment(b"a", 0, o)), "Y");
        assert_eq!(s(|o| base64_fragment(b"a", 1, o)), "");
    }

    #[test]
    fn hex_matches_rfc4648_vectors_in_both_cases() {
        let vectors = [("", ""), ("f", "66"), ("fo", "666F"), ("foobar", "666F6F626172")];
        for (plain, upper) in vectors {
            assert_eq!(s(|o| hex(plain.as_bytes(), true, o)), upper);
            assert_eq!(s(|o| hex(plain.as_bytes(), false, o)), upper.to_ascii_lowercase());
        }
        assert_eq!(s(|o| hex(&[0x00, 0x0f, 0xab, 0xff], false, o)), "000fabff");
        assert_eq!(s(|o| hex(&[0x00, 0x0f, 0xab, 0xff], true, o)), "000FABFF");
    }

    #[test]
    fn json_escaping_variants() {
        let v = "q\"b\\s/n\nt\tc\x01<é".as_bytes();
        assert_eq!(s(|o| json(v, plain(), o)), "q\\\"b\\\\s/n\\nt\\tc\\u0001<é");
        let slash = JsonStyle { escape_slash: true, ..plain() };
        assert_eq!(s(|o| json(v, slash, o)), "q\\\"b\\\\s\\/n\\nt\\tc\\u0001<é");
        let ascii = JsonStyle { ascii_only: true, ..plain() };
        assert_eq!(s(|o| json(v, ascii, o)), "q\\\"b\\\\s/n\\nt\\tc\\u0001<\\u00e9");
        let html = JsonStyle { html_safe: true, ..plain() };
        assert_eq!(s(|o| json(v, html, o)), "q\\\"b\\\\s/n\\nt\\tc\\u0001\\u003cé");
        let upper = JsonStyle { upper_hex: true, ..plain() };
        assert_eq!(s(|o| json(b"\x1f", upper, o)), "\\u001F");
        // Astral characters become a surrogate pair; invalid UTF-8 has no ASCII-only form.
        assert_eq!(s(|o| json("🔑".as_bytes(), ascii, o)), "\\ud83d\\udd11");
        assert_eq!(s(|o| json(b"\xff", ascii, o)), "");
    }

    fn forms_of(value: &[u8], encoded_min: usize) -> Vec<String> {
        let mut arena = FormArena::with_capacity(0);
        arena.add_value(value, encoded_min);
        arena.spans.iter().map(|span| String::from_utf8_lossy(&arena.bytes[span.clone()]).into_owned()).collect()
    }

    #[test]
    fn forms_include_value_and_each_encoding() {
        let forms = forms_of(b"p@ss word", 4);
        for form in ["p@ss word", "cEBzcyB3b3Jk", "7040737320776f7264", "7040737320776F7264"] {
            assert!(forms.iter().any(|f| f == form), "{form} in {forms:?}");
        }
        // Percent-encoding is decoded while matching, not enumerated.
        assert!(!forms.iter().any(|f| f.contains('%')), "{forms:?}");
    }

    #[test]
    fn short_encodings_are_dropped_but_the_value_stays() {
        assert_eq!(forms_of(b"x", ENCODED_FLOOR), ["x", "eA=="]);
    }

    /// `measure` is what `add_value` appends, give or take a base64 fragment equal to the value
    /// (only possible for values of at most 9 bytes): for values of every length up to 70 bytes, plain,
    /// with JSON escapes, non-ASCII and invalid UTF-8, and each floor.
    #[test]
    fn measure_matches_the_forms_written() {
        let mut scratch = Zeroizing::new(Vec::new());
        for n in 0..70usize {
            let samples: [Vec<u8>; 4] = [
                (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
                (0..n).map(|i| b"a/<\"\n&\\"[i % 7]).collect(),
                "é€😀x".bytes().cycle().take(n).collect(),
                (0..n).map(|i| (i * 37 % 256) as u8).collect(),
            ];
            for value in &samples {
                for encoded_min in [1, 4, 8, 40] {
                    let mut arena = FormArena::with_capacity(FormArena::room(n));
                    arena.add_value(value, encoded_min);
                    let measured = FormArena::measure(value, encoded_min, &mut scratch);
                    let written = arena.bytes.len();
                    assert!(written <= measured, "{value:?}, min {encoded_min}: {written} > {measured}");
                    if n > 9 {
                        assert_eq!(written, measured, "{value:?}, min {encoded_min}");
                    }
                }
            }
        }
    }

    #[test]
    fn room_reserved_per_value_fits_the_worst_case() {
        // Control bytes: six bytes in every JSON form; astral characters: twelve in ASCII-only.
        for value in ["\u{1}".repeat(40).into_bytes(), "🔑".repeat(10).into_bytes(), vec![0xff; 33]] {
            let mut arena = FormArena::with_capacity(0);
            for _ in 0..3 {
                arena.add_value(&value, 1);
            }
        }
    }
}
