//! The encoded forms of a secret value that are masked besides the value itself.

use zeroize::Zeroizing;

/// A byte string wiped from memory when dropped.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Every form of `value` that is masked, the value itself first. May contain duplicates.
pub(crate) fn encoded_forms(value: &[u8]) -> Vec<Secret> {
    let mut forms = vec![Zeroizing::new(value.to_vec()), base64(value, true), base64(value, false)];
    for shift in 0..3 {
        forms.push(base64_fragment(value, shift));
    }
    for upper in [true, false] {
        for plus_for_space in [false, true] {
            forms.push(percent(value, upper, plus_for_space));
        }
        forms.push(hex(value, upper));
    }
    let styles = [
        // serde_json, JavaScript, Python with ensure_ascii=False.
        JsonStyle::default(),
        JsonStyle { upper_hex: true, ..JsonStyle::default() },
        // PHP's json_encode.
        JsonStyle { escape_slash: true, ascii_only: true, ..JsonStyle::default() },
        JsonStyle { escape_slash: true, ..JsonStyle::default() },
        // Python's json.dumps default.
        JsonStyle { ascii_only: true, ..JsonStyle::default() },
        // Go's encoding/json.
        JsonStyle { html_safe: true, ..JsonStyle::default() },
    ];
    forms.extend(styles.iter().filter_map(|style| json(value, *style)));
    forms
}

/// Standard base64 (RFC 4648 §4), with or without `=` padding.
pub(crate) fn base64(input: &[u8], pad: bool) -> Secret {
    let mut out = Zeroizing::new(Vec::with_capacity(input.len().div_ceil(3) * 4));
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
    out
}

/// The base64 characters fully determined by `value` when it sits at byte offset `shift` (mod 3)
/// inside a larger encoded blob: whatever surrounds it, these characters appear verbatim.
pub(crate) fn base64_fragment(value: &[u8], shift: usize) -> Secret {
    let mut shifted = Zeroizing::new(vec![0u8; shift]);
    shifted.extend_from_slice(value);
    let encoded = base64(&shifted, false);
    // Character i carries bits [6i, 6i + 6) of the input; the value owns bits [8 shift, 8 len).
    let first = (8 * shift).div_ceil(6);
    let end = (8 * shifted.len()) / 6;
    Zeroizing::new(encoded.get(first..end).unwrap_or_default().to_vec())
}

/// Percent-encoding of every byte outside RFC 3986's unreserved set, with upper- or lower-case hex,
/// optionally with `+` for space (HTML form encoding).
pub(crate) fn percent(value: &[u8], upper: bool, plus_for_space: bool) -> Secret {
    let hex = if upper { HEX_UPPER } else { HEX_LOWER };
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else if plus_for_space && b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    }
    out
}

/// Base16 (RFC 4648 §8), two digits per byte, in upper or lower case: what `xxd -p`, `od`, Go's
/// `hex.EncodeToString` and Python's `bytes.hex()` print. Mixed case is not covered.
pub(crate) fn hex(value: &[u8], upper: bool) -> Secret {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 2));
    for &b in value {
        out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
    }
    out
}

/// How a JSON encoder escapes a string's content.
#[derive(Clone, Copy, Default)]
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

/// The value as it appears between the quotes of a JSON string, or `None` when the style needs
/// valid UTF-8 and the value is not.
pub(crate) fn json(value: &[u8], style: JsonStyle) -> Option<Secret> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() + value.len() / 2));
    if style.ascii_only {
        let text = std::str::from_utf8(value).ok()?;
        let mut units = [0u16; 2];
        for c in text.chars() {
            if c.is_ascii() {
                json_byte(c as u8, style, &mut out);
            } else {
                for &unit in c.encode_utf16(&mut units).iter() {
                    unicode_escape(unit, style.upper_hex, &mut out);
                }
            }
        }
        units.fill(0);
    } else {
        for &b in value {
            json_byte(b, style, &mut out);
        }
    }
    Some(out)
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

    fn s(v: &Secret) -> &str {
        std::str::from_utf8(v).unwrap()
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
            assert_eq!(s(&base64(plain.as_bytes(), true)), padded);
            assert_eq!(s(&base64(plain.as_bytes(), false)), unpadded);
        }
        assert_eq!(s(&base64(&[0xfb, 0xff, 0xfe], true)), "+//+");
    }

    #[test]
    fn base64_fragments_appear_in_any_enclosing_blob() {
        let value = b"s3cr3t-Value!";
        for shift in 0..3 {
            let fragment = base64_fragment(value, shift);
            // Surrounding bytes chosen to differ from the zero filler used to compute the fragment.
            for (before, after) in [(0xffu8, 0xffu8), (0x5a, 0xa5), (1, 0x80)] {
                let mut blob = vec![before; 3 + shift];
                blob.extend_from_slice(value);
                blob.extend_from_slice(&[after; 4]);
                let encoded = base64(&blob, true);
                assert!(
                    encoded.windows(fragment.len()).any(|w| w == fragment.as_slice()),
                    "shift {shift}: {} not in {}",
                    s(&fragment),
                    s(&encoded)
                );
            }
        }
    }

    #[test]
    fn base64_fragments_keep_only_fully_determined_characters() {
        // 4 bytes = 32 bits: offset 0 owns chars 0..5, offset 1 owns bits 8..40 -> chars 2..6,
        // offset 2 owns bits 16..48 -> chars 3..8.
        assert_eq!(base64_fragment(b"abcd", 0).len(), 5);
        assert_eq!(base64_fragment(b"abcd", 1).len(), 4);
        assert_eq!(base64_fragment(b"abcd", 2).len(), 5);
        assert_eq!(s(&base64_fragment(b"abcd", 0)), "YWJjZ");
        assert_eq!(s(&base64_fragment(b"a", 0)), "Y");
        assert!(base64_fragment(b"a", 1).is_empty());
    }

    #[test]
    fn percent_encoding_variants() {
        let v = b"a b/c~d\xff";
        assert_eq!(s(&percent(v, true, false)), "a%20b%2Fc~d%FF");
        assert_eq!(s(&percent(v, false, false)), "a%20b%2fc~d%ff");
        assert_eq!(s(&percent(v, true, true)), "a+b%2Fc~d%FF");
        assert_eq!(s(&percent(v, false, true)), "a+b%2fc~d%ff");
    }

    #[test]
    fn hex_matches_rfc4648_vectors_in_both_cases() {
        let vectors = [("", ""), ("f", "66"), ("fo", "666F"), ("foobar", "666F6F626172")];
        for (plain, upper) in vectors {
            assert_eq!(s(&hex(plain.as_bytes(), true)), upper);
            assert_eq!(s(&hex(plain.as_bytes(), false)), upper.to_ascii_lowercase());
        }
        assert_eq!(s(&hex(&[0x00, 0x0f, 0xab, 0xff], false)), "000fabff");
        assert_eq!(s(&hex(&[0x00, 0x0f, 0xab, 0xff], true)), "000FABFF");
    }

    #[test]
    fn json_escaping_variants() {
        let v = "q\"b\\s/n\nt\tc\x01<é".as_bytes();
        let plain = JsonStyle::default();
        assert_eq!(s(&json(v, plain).unwrap()), "q\\\"b\\\\s/n\\nt\\tc\\u0001<é");
        let slash = JsonStyle { escape_slash: true, ..plain };
        assert_eq!(s(&json(v, slash).unwrap()), "q\\\"b\\\\s\\/n\\nt\\tc\\u0001<é");
        let ascii = JsonStyle { ascii_only: true, ..plain };
        assert_eq!(s(&json(v, ascii).unwrap()), "q\\\"b\\\\s/n\\nt\\tc\\u0001<\\u00e9");
        let html = JsonStyle { html_safe: true, ..plain };
        assert_eq!(s(&json(v, html).unwrap()), "q\\\"b\\\\s/n\\nt\\tc\\u0001\\u003cé");
        let upper = JsonStyle { upper_hex: true, ..plain };
        assert_eq!(s(&json(b"\x1f", upper).unwrap()), "\\u001F");
        // Astral characters become a surrogate pair; invalid UTF-8 has no ASCII-only form.
        assert_eq!(s(&json("🔑".as_bytes(), ascii).unwrap()), "\\ud83d\\udd11");
        assert!(json(b"\xff", ascii).is_none());
    }

    #[test]
    fn forms_include_value_and_each_encoding() {
        let forms = encoded_forms(b"p@ss word");
        let has = |f: &str| forms.iter().any(|x| x.as_slice() == f.as_bytes());
        assert!(has("p@ss word"));
        assert!(has("cEBzcyB3b3Jk"));
        assert!(has("p%40ss%20word"));
        assert!(has("p%40ss+word"));
        assert!(has("7040737320776f7264"));
        assert!(has("7040737320776F7264"));
    }
}
