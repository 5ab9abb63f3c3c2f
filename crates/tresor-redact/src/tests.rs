use std::io::Write;

use base64::Engine as _;
use proptest::prelude::*;

use super::*;

fn redactor(values: &[&str]) -> Redactor {
    Redactor::new(values, &RedactOptions::default()).unwrap()
}

fn stream(r: &mut Redactor, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        r.push(chunk, &mut out);
    }
    r.finish(&mut out);
    out
}

fn one_byte_pushes(r: &mut Redactor, input: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    stream(r, &chunks)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every form masked for `values`, computed with other people's encoders (the `base64` and
/// `serde_json` crates) rather than with `encode.rs`, so that an encoding `encode.rs` gets wrong or
/// forgets makes the property tests fail. A value counts from `min_len` bytes, an encoding from
/// `max(min_len, 4)` (the documented floor). Percent-encoded text is no form: [`decode_from`]
/// reads it.
fn all_forms(values: &[Vec<u8>], min_len: usize) -> Vec<Vec<u8>> {
    let min_len = min_len.max(1);
    let mut forms: Vec<Vec<u8>> = Vec::new();
    for value in values.iter().filter(|v| v.len() >= min_len) {
        forms.push(value.clone());
        forms.extend(oracle::encodings(value).into_iter().filter(|f| f.len() >= min_len.max(FLOOR)));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// The documented floor under which an encoded form or a percent-encoded occurrence is not masked.
const FLOOR: usize = 4;

/// What a URL decoder reads from `text`, starting at its first byte: each decoded byte with the
/// end of the text it came from. `%` + two hex digits (either case) is one byte, `+` a space,
/// anything else itself; it stops early only at an escape cut off by the end of `text`.
fn decode_from(text: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let (mut decoded, mut ends) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < text.len() {
        let (byte, width) = match text[at] {
            b'+' => (b' ', 1),
            b'%' => {
                let digits = text.get(at + 1..at + 3).and_then(|d| std::str::from_utf8(d).ok());
                match digits.map(|d| (d, u8::from_str_radix(d, 16))) {
                    Some((d, Ok(byte))) if d.bytes().all(|c| c.is_ascii_hexdigit()) => (byte, 3),
                    // `%` or `%X` at the end: neither decoded nor plain yet.
                    None if text[at + 1..].iter().all(u8::is_ascii_hexdigit) => break,
                    _ => (b'%', 1),
                }
            }
            other => (other, 1),
        };
        decoded.push(byte);
        at += width;
        ends.push(at);
    }
    (decoded, ends)
}

/// Lengths of the occurrences starting at `input[s]`: a form as is, or percent-decoded (at least
/// [`FLOOR`] bytes of text).
fn occurrences_at(forms: &[Vec<u8>], input: &[u8], s: usize) -> Vec<usize> {
    let mut lengths: Vec<usize> = forms.iter().filter(|f| input[s..].starts_with(f)).map(|f| f.len()).collect();
    let (decoded, ends) = decode_from(&input[s..]);
    for form in forms {
        if decoded.starts_with(form) && ends[form.len() - 1] >= FLOOR {
            lengths.push(ends[form.len() - 1]);
        }
    }
    lengths
}

/// Percent-encodes `bytes` the way `choice` picks, byte by byte: 0 as is (when unreserved), 1
/// `%XX`, 2 `%xx`, 3 `%Xx`, 4 `%xX`, and `+` for a space when `choice` is odd.
fn percent_encode_mixed(bytes: &[u8], choice: impl Fn(usize) -> usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let pick = choice(i);
        let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if b == b' ' && pick % 2 == 1 {
            out.push(b'+');
        } else if unreserved && pick % 5 == 0 {
            out.push(b);
        } else {
            let upper = format!("{b:02X}");
            let lower = upper.to_ascii_lowercase();
            let (high, low) = match pick % 5 {
                2 => (&lower[..1], &lower[1..]),
                3 => (&upper[..1], &lower[1..]),
                4 => (&lower[..1], &upper[1..]),
                _ => (&upper[..1], &upper[1..]),
            };
            out.extend_from_slice(format!("%{high}{low}").as_bytes());
        }
    }
    out
}

/// The encodings a redactor promises to mask, each from an independent implementation.
mod oracle {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;

    /// The encoded forms of `value` (not the value itself).
    pub fn encodings(value: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![STANDARD.encode(value).into_bytes(), STANDARD_NO_PAD.encode(value).into_bytes()];
        out.extend((0..3).map(|shift| base64_inside_a_blob(value, shift)));
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        out.push(hex.to_ascii_uppercase().into_bytes());
        out.push(hex.into_bytes());
        out.extend(json_forms(value));
        out
    }

    /// The characters of `value`'s base64 that do not depend on its neighbours when it starts at
    /// byte `shift` of a larger blob: encode the blob with two different neighbourhoods and keep
    /// the longest run on which they agree at the value's place.
    fn base64_inside_a_blob(value: &[u8], shift: usize) -> Vec<u8> {
        let encode_between = |fill: u8| {
            let mut blob = vec![fill; shift];
            blob.extend_from_slice(value);
            blob.extend_from_slice(&[fill; 3]);
            STANDARD.encode(blob).into_bytes()
        };
        let (a, b) = (encode_between(0x00), encode_between(0xff));
        // Characters before the value's first fully-owned one differ, and so do those after.
        let first = (8 * shift).div_ceil(6);
        let end = (8 * (shift + value.len())) / 6;
        if first >= end {
            return Vec::new();
        }
        assert_eq!(a[first..end], b[first..end], "the owned characters do not depend on the neighbours");
        a[first..end].to_vec()
    }

    /// The value between the quotes of a JSON string as serde_json writes it, then restyled the
    /// way other encoders differ from it: upper-case `\u` digits, `\/`, ASCII-only (Python's
    /// default, PHP), HTML-safe (Go). Invalid UTF-8 passes through as raw bytes, which is what an
    /// encoder that works on bytes produces; the ASCII-only form needs valid UTF-8.
    fn json_forms(value: &[u8]) -> Vec<Vec<u8>> {
        let mut plain = Vec::new();
        for chunk in value.utf8_chunks() {
            let quoted = serde_json::to_string(chunk.valid()).unwrap();
            plain.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
            plain.extend_from_slice(chunk.invalid());
        }
        let upper = upper_u_escapes(&plain);
        let slash = replace(&plain, b"/", b"\\/");
        let html = replace(&replace(&replace(&plain, b"<", b"\\u003c"), b">", b"\\u003e"), b"&", b"\\u0026");
        let mut out = vec![plain, upper, slash, html];
        if let Ok(text) = std::str::from_utf8(value) {
            let quoted = serde_json::to_string(text).unwrap();
            let mut ascii = String::new();
            for c in quoted[1..quoted.len() - 1].chars() {
                if c.is_ascii() {
                    ascii.push(c);
                } else {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        ascii.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            out.push(replace(ascii.as_bytes(), b"/", b"\\/"));
            out.push(ascii.into_bytes());
        }
        out
    }

    fn upper_u_escapes(json: &[u8]) -> Vec<u8> {
        let mut out = json.to_vec();
        let mut i = 0;
        while i + 1 < out.len() {
            if out[i] == b'\\' && out[i + 1] == b'u' {
                out[i + 2..i + 6].make_ascii_uppercase();
                i += 6;
            } else if out[i] == b'\\' {
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }

    fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(haystack.len());
        let mut i = 0;
        while i < haystack.len() {
            if haystack[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(haystack[i]);
                i += 1;
            }
        }
        out
    }
}

/// Brute force: mask each maximal run of bytes linked by overlapping occurrences.
fn reference(forms: &[Vec<u8>], input: &[u8], mask: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut covered = vec![false; n];
    // linked[i]: bytes i-1 and i lie in one occurrence.
    let mut linked = vec![false; n];
    for s in 0..n {
        for len in occurrences_at(forms, input, s) {
            covered[s..s + len].iter_mut().for_each(|c| *c = true);
            linked[s + 1..s + len].iter_mut().for_each(|l| *l = true);
        }
    }
    let mut out = Vec::new();
    for i in 0..n {
        if !covered[i] {
            out.push(input[i]);
        } else if i == 0 || !linked[i] {
            out.extend_from_slice(mask);
        }
    }
    out
}

/// Length of the longest suffix of `data` that is, as is or percent-decoded, a proper prefix of
/// some form (an escape cut off at the end counts as a byte still to come).
fn necessary_tail(forms: &[Vec<u8>], data: &[u8]) -> usize {
    let proper_prefix = |text: &[u8]| forms.iter().any(|f| f.len() > text.len() && f.starts_with(text));
    (0..data.len())
        .map(|p| &data[p..])
        .find(|suffix| proper_prefix(suffix) || proper_prefix(&decode_from(suffix).0))
        .map_or(0, <[u8]>::len)
}

#[test]
fn masks_value_and_each_encoding() {
    let r = redactor(&["hunter2/secret value"]);
    let cases = [
        "pw=hunter2/secret value;",
        "auth: aHVudGVyMi9zZWNyZXQgdmFsdWU=",
        "auth: aHVudGVyMi9zZWNyZXQgdmFsdWU",
        "q=hunter2%2Fsecret%20value&x",
        "q=hunter2%2fsecret+value&x",
        r#"{"pw":"hunter2\/secret value"}"#,
    ];
    for case in cases {
        let out = text(&r.redact(case.as_bytes()));
        assert!(out.contains("[REDACTED]"), "{case} -> {out}");
        assert!(!out.contains("hunter2") && !out.contains("aHVud"), "{case} -> {out}");
    }
    assert_eq!(text(&r.redact(b"pw=hunter2/secret value;")), "pw=[REDACTED];");
}

#[test]
fn percent_encoding_of_every_byte_in_any_case_is_masked() {
    // Z o : K ? space / J 0xAB
    let value = b"Zo:K? /J\xab";
    let mut r = Redactor::new([value], &RedactOptions::default()).unwrap();
    let encodings = [
        // Every byte: lower case, upper case, mixed across escapes, mixed within one (`%aB`).
        "%5a%6f%3a%4b%3f%20%2f%4a%ab",
        "%5A%6F%3A%4B%3F%20%2F%4A%AB",
        "%5a%6F%3a%4B%3f%20%2F%4a%Ab",
        "%5A%6f%3A%4b%3F%20%2f%4A%aB",
        // `+` for space; escapes mixed with plain bytes, as any URL encoder may choose.
        "%5A%6F%3A%4B%3F+%2F%4A%AB",
        "Zo%3AK%3F%20%2FJ%AB",
        "Zo%3aK%3f+%2fJ%ab",
        "Zo:K?+/J%AB",
        "%5Ao:%4b? /%4a%aB",
    ];
    for encoded in encodings {
        let input = format!("url=https://h/?pw={encoded}&next=1\n");
        let whole = text(&r.redact(input.as_bytes()));
        assert_eq!(whole, "url=https://h/?pw=[REDACTED]&next=1\n", "{encoded}");
        assert_eq!(text(&one_byte_pushes(&mut r, input.as_bytes())), whole, "{encoded}");
        for split in 0..=input.len() {
            let (a, b) = input.as_bytes().split_at(split);
            assert_eq!(text(&stream(&mut r, &[a, b])), whole, "{encoded} split at {split}");
        }
    }
    // Not a decoding of the value: a byte too many, a wrong byte, an escape left unfinished.
    for near_miss in ["%5A%6F%3A%4B%3F%20%2F%4A%AC", "%5A%6F%3A%4B%3F%20%2F%4A%A", "%5A%6F%3A%4B%3F%2B%2F%4A%AB"] {
        assert_eq!(text(&r.redact(near_miss.as_bytes())), near_miss);
    }
}

#[test]
fn one_byte_value_with_min_length_1_masks_no_unrelated_text() {
    let options = RedactOptions { min_len: 1, ..RedactOptions::default() };
    let mut r = Redactor::new(["x"], &options).unwrap();
    // `e` (its base64 fragment), `eA` (its unpadded base64), `78` (its hex) and `%78` are all
    // shorter than the 4-byte floor for encodings: ordinary text.
    let input = "idea: eleven eA 78 %78 0x7878; value x, eA== in base64\n";
    let expected = "idea: eleven eA 78 %78 0[REDACTED]7878; value [REDACTED], [REDACTED] in base64\n";
    assert_eq!(text(&r.redact(input.as_bytes())), expected);
    assert_eq!(text(&one_byte_pushes(&mut r, input.as_bytes())), expected);
}

#[test]
fn masks_json_escaped_value() {
    let r = redactor(&["a\"b\\c\nd\te\u{1}f"]);
    let out = r.redact(br#"{"v":"a\"b\\c\nd\te\u0001f"}"#);
    assert_eq!(text(&out), r#"{"v":"[REDACTED]"}"#);
}

#[test]
fn masks_hex_in_lower_and_upper_case_across_reads() {
    let mut r = redactor(&["s3cr3t/Tok"]);
    let (lower, upper, mixed) = ("7333637233742f546f6b", "7333637233742F546F6B", "7333637233742f546F6B");
    let input = format!("lower={lower}\nupper={upper}\nmixed={mixed}\n");
    let expected = format!("lower=[REDACTED]\nupper=[REDACTED]\nmixed={mixed}\n");
    assert_eq!(text(&r.redact(input.as_bytes())), expected, "mixed case is not a form");
    assert_eq!(text(&one_byte_pushes(&mut r, input.as_bytes())), expected);
    for split in 1..lower.len() {
        let line = format!("k={lower} K={upper}");
        let (a, b) = line.as_bytes().split_at(2 + split);
        assert_eq!(text(&stream(&mut r, &[a, b])), "k=[REDACTED] K=[REDACTED]", "split at {split}");
    }
}

#[test]
fn masks_value_inside_larger_base64_blob_at_every_alignment() {
    let value = b"correct horse battery staple";
    let r = Redactor::new([value], &RedactOptions::default()).unwrap();
    for prefix_len in 0..6 {
        let mut blob = b"{\"user\":\"alice\",\"pass\":\"".to_vec();
        blob.truncate(blob.len() - prefix_len);
        blob.extend_from_slice(value);
        blob.extend_from_slice(b"\"}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&blob).into_bytes();
        let out = r.redact(&encoded);
        assert_eq!(out.windows(10).filter(|w| w == b"[REDACTED]").count(), 1, "alignment {prefix_len}");
        // All characters but those sharing bits with the value's neighbours are masked.
        let masked = encoded.len() - (out.len() - 10);
        assert!(masked >= value.len() * 4 / 3 - 2, "alignment {prefix_len}: {masked}");
    }
}

#[test]
fn default_mask_and_custom_mask() {
    let options = RedactOptions { mask: "***".into(), ..RedactOptions::default() };
    let r = Redactor::new(["token-1234"], &options).unwrap();
    assert_eq!(r.redact(b"a token-1234 b"), b"a *** b");
    assert_eq!(RedactOptions::default().mask, "[REDACTED]");
    assert_eq!(RedactOptions::default().min_len, 4);
}

#[test]
fn short_values_are_skipped_and_reported_by_index() {
    let r = Redactor::new(["abc", "", "abcd", "xy", "abcd"], &RedactOptions::default()).unwrap();
    assert_eq!(r.skipped(), &[0, 3]);
    assert_eq!(text(&r.redact(b"abc xy abcd")), "abc xy [REDACTED]");
    let r = Redactor::new(["abc"], &RedactOptions { min_len: 3, ..RedactOptions::default() }).unwrap();
    assert!(r.skipped().is_empty());
    assert_eq!(text(&r.redact(b"abc")), "[REDACTED]");
}

#[test]
fn accepts_zeroizing_values() {
    let values = vec![Zeroizing::new(b"s3cr3t-token".to_vec())];
    let r = Redactor::new(&values, &RedactOptions::default()).unwrap();
    assert_eq!(text(&r.redact(b"x s3cr3t-token")), "x [REDACTED]");
}

#[test]
fn no_values_passes_through() {
    let mut r = Redactor::new(Vec::<Vec<u8>>::new(), &RedactOptions::default()).unwrap();
    assert_eq!(r.pattern_count(), 0);
    assert_eq!(stream(&mut r, &[b"abc", b"def"]), b"abcdef");
    let mut r = Redactor::new(["", "ab"], &RedactOptions::default()).unwrap();
    assert_eq!(r.skipped(), &[1]);
    assert_eq!(stream(&mut r, &[b"ab"]), b"ab");
}

#[test]
fn longest_match_wins_and_overlaps_leave_nothing_visible() {
    let r = redactor(&["password", "password123"]);
    assert_eq!(text(&r.redact(b"x password123 y")), "x [REDACTED] y");
    assert_eq!(text(&r.redact(b"x password12 y")), "x [REDACTED]12 y");
    // Partial overlap: one mask over the union, no "ghi" left over.
    let r = redactor(&["abcdef", "defghi"]);
    assert_eq!(text(&r.redact(b"<abcdefghi>")), "<[REDACTED]>");
    // A chain of overlaps, and a value found inside a longer one.
    let r = redactor(&["abcd", "cdef", "efgh", "bcdefg"]);
    assert_eq!(text(&r.redact(b"-abcdefgh-")), "-[REDACTED]-");
    // Touching occurrences get a mask each.
    let r = redactor(&["abcd", "efgh"]);
    assert_eq!(text(&r.redact(b"abcdefgh")), "[REDACTED][REDACTED]");
    assert_eq!(text(&r.redact(b"abcdabcd")), "[REDACTED][REDACTED]");
}

#[test]
fn overlap_decided_across_chunks() {
    let mut r = redactor(&["abcdef", "defghi"]);
    assert_eq!(text(&stream(&mut r, &[b"<abcde", b"fgh", b"i>"])), "<[REDACTED]>");
    assert_eq!(text(&one_byte_pushes(&mut r, b"<abcdefghi> <abcdefgh>")), "<[REDACTED]> <[REDACTED]gh>");
}

#[test]
fn line_without_any_prefix_is_emitted_at_once() {
    let mut r = redactor(&["s3cr3t-token", "another-value"]);
    let mut out = Vec::new();
    r.push(b"hello world\n", &mut out);
    assert_eq!(out, b"hello world\n");
    assert_eq!(r.held_back(), 0);
    // No newline needed either.
    out.clear();
    r.push(b"progress 10 %", &mut out);
    assert_eq!(text(&out), "progress 10 ");
    // A `%` at the end may start an escape (`%73` is `s`), so it waits for the next byte.
    assert_eq!(r.held_back(), 1);
    r.push(b"\n", &mut out);
    assert_eq!(text(&out), "progress 10 %\n");
    assert_eq!(r.held_back(), 0);
}

#[test]
fn holds_back_only_a_possible_prefix() {
    let mut r = redactor(&["s3cr3t-token"]);
    let mut out = Vec::new();
    r.push(b"key=s3cr", &mut out);
    assert_eq!(text(&out), "key=");
    assert_eq!(r.held_back(), 4);
    r.push(b"3t-tok", &mut out);
    assert_eq!(text(&out), "key=");
    r.push(b"en and more", &mut out);
    assert_eq!(text(&out), "key=[REDACTED] and more");
    assert_eq!(r.held_back(), 0);
    // A prefix that does not continue is released as soon as it cannot match.
    out.clear();
    r.push(b"s3cr", &mut out);
    r.push(b"et\n", &mut out);
    assert_eq!(text(&out), "s3cret\n");
    // A complete value nothing longer extends is masked without waiting for more input.
    out.clear();
    r.push(b"x s3cr3t-token", &mut out);
    assert_eq!(text(&out), "x [REDACTED]");
    assert_eq!(r.held_back(), 0);
}

#[test]
fn finish_flushes_an_unfinished_prefix() {
    let mut r = redactor(&["s3cr3t-token"]);
    assert_eq!(stream(&mut r, &[b"tail s3cr3t-to"]), b"tail s3cr3t-to");
    assert_eq!(r.held_back(), 0);
}

#[test]
fn value_spanning_lines_is_masked_byte_by_byte() {
    let mut r = redactor(&["-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"]);
    let input = b"log\n-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----\nafter\n";
    assert_eq!(text(&one_byte_pushes(&mut r, input)), "log\n[REDACTED]\nafter\n");
    let json = br#"{"key":"-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"}"#;
    assert_eq!(text(&one_byte_pushes(&mut r, json)), r#"{"key":"[REDACTED]"}"#);
}

#[test]
fn debug_never_shows_values() {
    let r = redactor(&["super-secret-value"]);
    let debug = format!("{r:?}");
    assert!(!debug.contains("super") && !debug.contains("c3VwZX"), "{debug}");
    let w = RedactingWriter::new(Vec::new(), r);
    assert!(!format!("{w:?}").contains("super"));
}

#[test]
fn redactor_can_move_to_another_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    assert_send_sync::<RedactingWriter<Vec<u8>>>();
}

#[test]
fn forks_redact_independently() {
    let mut out_a = Vec::new();
    let mut out_b = Vec::new();
    let mut a = redactor(&["s3cr3t-token"]);
    let mut b = a.fork();
    a.push(b"1 s3cr", &mut out_a);
    b.push(b"2 s3cr3t-", &mut out_b);
    a.push(b"3t-token\n", &mut out_a);
    b.push(b"token\n", &mut out_b);
    a.finish(&mut out_a);
    b.finish(&mut out_b);
    assert_eq!(text(&out_a), "1 [REDACTED]\n");
    assert_eq!(text(&out_b), "2 [REDACTED]\n");
}

#[test]
fn writer_redacts_across_writes() {
    let r = redactor(&["s3cr3t-token"]);
    let mut w = RedactingWriter::new(Vec::new(), r);
    w.write_all(b"a s3cr").unwrap();
    w.flush().unwrap();
    // The possible prefix stays held back through a flush.
    assert_eq!(w.get_ref().as_slice(), b"a ");
    write!(w, "3t-token b s3").unwrap();
    let out = w.finish().unwrap();
    assert_eq!(text(&out), "a [REDACTED] b s3");
}

#[test]
fn writer_finishes_on_drop() {
    struct Shared<'a>(&'a mut Vec<u8>);
    impl Write for Shared<'_> {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Vec::new();
    {
        let mut w = RedactingWriter::new(Shared(&mut sink), redactor(&["s3cr3t-token"]));
        w.write_all(b"end s3cr3t").unwrap();
    }
    assert_eq!(text(&sink), "end s3cr3t");
}

#[test]
fn writer_keeps_output_when_inner_fails() {
    /// Accepts at most 3 bytes per call, then fails once.
    struct Flaky {
        data: Vec<u8>,
        calls: usize,
    }
    impl Write for Flaky {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls == 2 {
                return Err(std::io::Error::other("transient"));
            }
            let n = data.len().min(3);
            self.data.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = RedactingWriter::new(Flaky { data: Vec::new(), calls: 0 }, redactor(&["s3cr3t-token"]));
    assert_eq!(w.write(b"hello s3cr3t-token!").unwrap(), 19);
    let out = w.finish().unwrap();
    assert_eq!(text(&out.data), "hello [REDACTED]!");
}

#[test]
fn duplicate_values_and_forms_are_compiled_once() {
    let one = redactor(&["s3cr3t-token"]);
    let two = redactor(&["s3cr3t-token", "s3cr3t-token"]);
    assert_eq!(one.pattern_count(), two.pattern_count());
    assert!(one.memory_usage() > 0);
}

#[test]
fn many_values_with_long_stride() {
    // Values long enough for the maximum sampling stride.
    let values: Vec<String> = (0..200).map(|i| format!("value-{i:04}-{}", "x".repeat(40))).collect();
    let r = Redactor::new(&values, &RedactOptions::default()).unwrap();
    let input = format!("a {} b {}c", values[7], values[199]);
    assert_eq!(text(&r.redact(input.as_bytes())), "a [REDACTED] b [REDACTED]c");
}

/// Reference at scale: the union of all occurrences, the plain ones from aho-corasick's
/// overlapping search, the percent-encoded ones from an anchored search of the decoded text at
/// each start that has a `%` or `+` within reach.
fn overlapping_reference(forms: &[Vec<u8>], input: &[u8], mask: &[u8]) -> Vec<u8> {
    use aho_corasick::{AhoCorasick, Anchored, Input, StartKind};
    let ac = AhoCorasick::builder().start_kind(StartKind::Both).build(forms).unwrap();
    let mut spans: Vec<(usize, usize)> = ac.find_overlapping_iter(input).map(|m| (m.start(), m.end())).collect();
    let max_len = forms.iter().map(Vec::len).max().unwrap_or(0);
    for s in 0..input.len() {
        let text = &input[s..(s + 3 * max_len).min(input.len())];
        if !text.iter().any(|&b| b == b'%' || b == b'+') {
            continue;
        }
        let (decoded, ends) = decode_from(text);
        let mut state = aho_corasick::automaton::OverlappingState::start();
        let search = Input::new(&decoded).anchored(Anchored::Yes);
        loop {
            ac.find_overlapping(search.clone(), &mut state);
            let Some(m) = state.get_match() else { break };
            if ends[m.end() - 1] >= FLOOR {
                spans.push((s, s + ends[m.end() - 1]));
            }
        }
    }
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut done = 0;
    let mut region_end = 0;
    for (start, end) in spans {
        if start < region_end {
            region_end = region_end.max(end);
        } else {
            out.extend_from_slice(&input[done.max(region_end)..start]);
            out.extend_from_slice(mask);
            region_end = end;
        }
        done = region_end;
    }
    out.extend_from_slice(&input[done..]);
    out
}

#[test]
fn many_values_large_text_any_chunking() {
    const VALUE_BYTES: &[u8] = b"abcdefXYZ0189 /+%\\\"\n";
    const TEXT_BYTES: &[u8] = b"abcdefXYZ0189 /+%\\\"\n.:";
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let values: Vec<Vec<u8>> =
        (0..600).map(|_| (0..6 + next(40)).map(|_| VALUE_BYTES[next(VALUE_BYTES.len())]).collect()).collect();
    let forms = all_forms(&values, 4);
    let mut input = Vec::new();
    while input.len() < 200_000 {
        if next(4) == 0 {
            let form = &forms[next(forms.len())];
            if next(3) == 0 {
                let choices: Vec<usize> = (0..form.len()).map(|_| next(10)).collect();
                input.extend_from_slice(&percent_encode_mixed(form, |i| choices[i]));
            } else {
                input.extend_from_slice(form);
            }
        } else {
            input.extend((0..next(30)).map(|_| TEXT_BYTES[next(TEXT_BYTES.len())]));
        }
    }
    let r = Redactor::new(&values, &RedactOptions::default()).unwrap();
    assert!(r.pattern_count() >= 4096, "enough forms for the table's two-byte index");
    let whole = r.redact(&input);
    assert_eq!(whole, overlapping_reference(&forms, &input, b"[REDACTED]"));
    let mut stream = r.fork();
    let mut out = Vec::new();
    let mut fed = 0;
    while fed < input.len() {
        let end = (fed + 1 + next(300)).min(input.len());
        stream.push(&input[fed..end], &mut out);
        fed = end;
    }
    stream.finish(&mut out);
    assert_eq!(out, whole);
}

/// A `+` is checked as an escape only where some form holds a space between, after or before the
/// bytes around it: values with a space at the start, inside and at the end, written with `+`
/// (and `%20`, `%2B`) among log lines whose `+0000` and `%41+` are no part of any, all masked as
/// the reference says, however the text is pushed.
#[test]
fn plus_for_a_space_is_masked_wherever_the_space_is() {
    let values: Vec<Vec<u8>> = [&b" leading-space-1"[..], b"inner space 22", b"trailing-space3 ", b"a+b c", b"0 0 0 0"]
        .map(|v| v.to_vec())
        .into();
    let forms = all_forms(&values, 4);
    let mut input = Vec::new();
    for (i, value) in values.iter().enumerate() {
        for choice in 0..6 {
            input.extend_from_slice(b"[2024-05-17T10:00:00.123+0000] progress=50% x%41+y ");
            input.extend_from_slice(&percent_encode_mixed(value, |j| (i + j + choice) % 10));
            input.extend_from_slice(if choice % 2 == 0 { &b" +0000\n"[..] } else { b"+0000\n" });
        }
    }
    let r = Redactor::new(&values, &RedactOptions::default()).unwrap();
    let whole = r.redact(&input);
    assert_eq!(text(&whole), text(&overlapping_reference(&forms, &input, b"[REDACTED]")));
    assert_eq!(whole.windows(10).filter(|w| w == b"[REDACTED]").count(), 30, "each of the 30 occurrences");
    assert!(whole.windows(5).filter(|w| w == b"+0000").count() >= 30, "timestamps are not masked");
    assert_eq!(text(&one_byte_pushes(&mut r.fork(), &input)), text(&whole));
}

/// Bytes that make overlaps, escapes and encodings likely.
const ALPHABET: &[u8] = b"aab\n\"\\/ %+=AB0\x01\xff";

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..max)
}

/// A piece of test text: (use a form?, which form, filler bytes otherwise).
type Piece = (bool, usize, Vec<u8>);

/// Secret values, the text pieces, chunk lengths, minimum length.
fn scenario() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<Piece>, Vec<usize>, usize)> {
    (
        prop::collection::vec(bytes(14), 1..5),
        prop::collection::vec((any::<bool>(), any::<usize>(), bytes(6)), 0..10),
        prop::collection::vec(1usize..24, 1..8),
        1usize..6,
    )
}

fn build_text(forms: &[Vec<u8>], pieces: &[Piece]) -> Vec<u8> {
    let mut input = Vec::new();
    for (use_form, index, filler) in pieces {
        if *use_form && !forms.is_empty() {
            let form = &forms[index % forms.len()];
            // Sometimes only a part of it: prefixes and suffixes exercise undecided tails.
            match index % 7 {
                0 => input.extend_from_slice(&form[..form.len() / 2]),
                1 => input.extend_from_slice(&form[form.len() / 2..]),
                // Percent-encoded, each byte its own way, sometimes cut short.
                5 => input.extend_from_slice(&percent_encode_mixed(form, |i| (index >> (i % 32)) % 10)),
                6 => {
                    let encoded = percent_encode_mixed(form, |i| (index >> (i % 29)) % 10);
                    let keep = encoded.len().saturating_sub(1 + index % 3).max(1);
                    input.extend_from_slice(&encoded[..keep]);
                }
                _ => input.extend_from_slice(form),
            }
        } else {
            input.extend_from_slice(filler);
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_matches_the_reference((values, pieces, chunks, min_len) in scenario()) {
        let options = RedactOptions { mask: "#".into(), min_len };
        let forms = all_forms(&values, min_len);
        let input = build_text(&forms, &pieces);
        let mut r = Redactor::new(&values, &options).unwrap();
        let whole = r.redact(&input);
        prop_assert_eq!(&whole, &reference(&forms, &input, b"#"));
        // '#' is in no form: nothing of any value survives.
        for form in &forms {
            prop_assert!(!whole.windows(form.len()).any(|w| w == form.as_slice()));
        }

        let mut out = Vec::new();
        let mut fed = 0;
        for len in chunks.iter().cycle() {
            if fed == input.len() {
                break;
            }
            let end = (fed + len).min(input.len());
            r.push(&input[fed..end], &mut out);
            fed = end;
            // Exactly the shortest necessary tail is held back.
            prop_assert_eq!(r.held_back(), necessary_tail(&forms, &input[..fed]));
        }
        r.finish(&mut out);
        prop_assert_eq!(&out, &whole);
        prop_assert_eq!(&one_byte_pushes(&mut r, &input), &whole);

        let mut w = RedactingWriter::new(Vec::new(), r.fork());
        for piece in input.chunks(chunks[0]) {
            w.write_all(piece).unwrap();
        }
        prop_assert_eq!(&w.finish().unwrap(), &whole);
    }

    #[test]
    fn hex_of_any_value_is_masked_in_any_chunking(
        value in prop::collection::vec(any::<u8>(), 2..24),
        upper in any::<bool>(),
        before in bytes(8),
        after in bytes(8),
        chunk in 1usize..16,
    ) {
        let encoded: String = value.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect();
        let encoded = encoded.into_bytes();
        let mut input = before.clone();
        input.extend_from_slice(&encoded);
        input.extend_from_slice(&after);
        let mut r = Redactor::new([&value], &RedactOptions { mask: "#".into(), min_len: 2 }).unwrap();
        let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
        let out = stream(&mut r, &chunks);
        prop_assert!(!out.windows(encoded.len()).any(|w| w == encoded.as_slice()), "{}", text(&out));
        prop_assert_eq!(&out, &r.redact(&input));
    }

    #[test]
    fn percent_encoding_of_any_value_in_any_mix_is_masked_at_any_split(
        value in prop::collection::vec(any::<u8>(), 4..24),
        choices in prop::collection::vec(0usize..10, 24),
        before in bytes(8),
        after in bytes(8),
        splits in prop::collection::vec(0usize..100, 0..4),
    ) {
        let encoded = percent_encode_mixed(&value, |i| choices[i]);
        let mut input = before.clone();
        input.extend_from_slice(&encoded);
        input.extend_from_slice(&after);
        let mut r = Redactor::new([&value], &RedactOptions { mask: "#".into(), min_len: 4 }).unwrap();
        let mut cuts: Vec<usize> = splits.iter().map(|s| s * input.len() / 100).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for cut in cuts {
            chunks.push(&input[at..cut]);
            at = cut;
        }
        chunks.push(&input[at..]);
        let out = stream(&mut r, &chunks);
        prop_assert!(!out.windows(encoded.len()).any(|w| w == encoded.as_slice()), "{}", text(&out));
        prop_assert_eq!(&out, &r.redact(&input));
        prop_assert_eq!(&out, &reference(&all_forms(&[value], 4), &input, b"#"));
    }

    #[test]
    fn random_values_in_random_text(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 4..40), 1..20),
        picks in prop::collection::vec((any::<usize>(), prop::collection::vec(any::<u8>(), 0..30)), 1..20),
        chunk in 1usize..64,
    ) {
        let forms = all_forms(&values, 4);
        let input = build_text(&forms, &picks.iter().map(|(i, f)| (i % 3 != 0, *i, f.clone())).collect::<Vec<_>>());
        let mut r = Redactor::new(&values, &RedactOptions::default()).unwrap();
        let whole = r.redact(&input);
        prop_assert_eq!(&whole, &reference(&forms, &input, b"[REDACTED]"));
        let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
        prop_assert_eq!(&stream(&mut r, &chunks), &whole);
    }
}

/// The values, and the pieces of text built from them: (which form, where to cut it, whether
/// to change a byte and which, filler after it).
type NearMissSpec = (Vec<Vec<u8>>, Vec<(usize, usize, u8, Vec<u8>)>);

/// Near misses: pieces of the values' forms cut short or with a byte changed, between random
/// bytes; every text in which the brute-force reference finds no occurrence.
fn near_miss((values, pieces): NearMissSpec) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
    let forms = all_forms(&values, 4);
    let mut input = Vec::new();
    for (pick, cut, flip, filler) in pieces {
        let form = &forms[pick % forms.len()];
        let mut piece = form[..cut % form.len()].to_vec();
        if flip % 2 == 0 && !piece.is_empty() {
            let at = usize::from(flip) % piece.len();
            piece[at] ^= 1;
        }
        input.extend_from_slice(&piece);
        input.extend_from_slice(&filler);
    }
    (reference(&forms, &input, b"#") == input).then_some((values, input))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No false positives: text in which no stored value (nor any form of one) occurs comes out
    /// byte for byte, whole or streamed in chunks of any size, through the writer too.
    #[test]
    fn text_without_any_value_passes_through_unchanged(
        case in (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 4..16), 1..4),
            prop::collection::vec((any::<usize>(), any::<usize>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..6)), 0..12),
        ).prop_filter_map("an occurrence", near_miss),
        chunk in 1usize..32,
    ) {
        let (values, input) = case;
        let mut r = Redactor::new(&values, &RedactOptions { mask: "#".into(), min_len: 4 }).unwrap();
        prop_assert_eq!(&r.redact(&input), &input);
        let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
        prop_assert_eq!(&stream(&mut r, &chunks), &input);
        prop_assert_eq!(&one_byte_pushes(&mut r, &input), &input);
        let mut w = RedactingWriter::new(Vec::new(), r.fork());
        for piece in &chunks {
            w.write_all(piece).unwrap();
        }
        prop_assert_eq!(&w.finish().unwrap(), &input);
    }
}
