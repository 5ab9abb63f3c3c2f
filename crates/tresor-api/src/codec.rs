//! The one value codec of the API: how a value's bytes travel in a JSON document and come back.
//! The server, the client crate and the CLI all use this pair, so they agree on every byte.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use std::fmt;
use tresor_model::SecretValue;

/// A value in a JSON document: UTF-8 text as `value`, any other bytes as standard base64 (with
/// padding) in `value_base64`. Exactly one of the two is `Some`.
///
/// Nothing is trimmed or normalised: the text is the value's bytes as they are (leading and
/// trailing whitespace and newlines included), so [`decode_value`] gives back exactly these bytes.
pub fn encode_value(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(B64.encode(bytes))),
    }
}

/// The value a document carries in `value` (text) or `value_base64` (bytes): exactly one of
/// them must be given.
///
/// Values are stored exactly as given; nothing is ever trimmed. `value` is taken byte for byte.
/// `value_base64` must be standard base64 with its padding and nothing around it: whitespace or a
/// newline (as the `base64` command prints) is refused, not dropped, so a client cannot believe it
/// stored bytes it did not send.
pub fn decode_value(value: Option<String>, value_base64: Option<String>) -> Result<SecretValue, ValueError> {
    decode_optional_value(value, value_base64)?.ok_or(ValueError::Missing)
}

/// Like [`decode_value`], for documents in which the value is optional (an entry's metadata
/// carries a variable's value, never a secret's): `None` when neither field is present.
pub fn decode_optional_value(
    value: Option<String>,
    value_base64: Option<String>,
) -> Result<Option<SecretValue>, ValueError> {
    match (value, value_base64) {
        (Some(text), None) => Ok(Some(SecretValue::from(text))),
        (None, Some(b64)) => {
            let bytes = zeroize::Zeroizing::new(b64.into_bytes());
            B64.decode(bytes.as_slice()).map(|v| Some(SecretValue::new(v))).map_err(|_| ValueError::NotBase64)
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ValueError::Both),
    }
}

/// Why a document's value could not be decoded. Never holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Neither `value` nor `value_base64`.
    Missing,
    /// Both `value` and `value_base64`.
    Both,
    /// `value_base64` is not standard base64 with padding.
    NotBase64,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueError::Missing => "the body needs a value: give `value` (text) or `value_base64`",
            ValueError::Both => "give either `value` or `value_base64`, not both",
            ValueError::NotBase64 => {
                "value_base64 is not valid base64 (standard alphabet, with padding, nothing around it)"
            }
        })
    }
}

impl std::error::Error for ValueError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) -> Vec<u8> {
        let (value, value_base64) = encode_value(bytes);
        assert!(value.is_some() != value_base64.is_some(), "exactly one field");
        decode_value(value, value_base64).unwrap().expose().to_vec()
    }

    #[test]
    fn values_come_back_byte_for_byte() {
        for bytes in [&b"hunter2"[..], b"  spaced \n", b"\n", b"", b"\xff\xfe binary", "café".as_bytes()] {
            assert_eq!(round_trip(bytes), bytes);
        }
        assert_eq!(encode_value(b" x\n"), (Some(" x\n".to_owned()), None), "text is never trimmed");
        assert_eq!(encode_value(b"\xff"), (None, Some("/w==".to_owned())));
    }

    #[test]
    fn decoding_is_strict() {
        assert_eq!(decode_value(None, None).unwrap_err(), ValueError::Missing);
        assert_eq!(decode_value(Some("a".into()), Some("YQ==".into())).unwrap_err(), ValueError::Both);
        for bad in ["YQ== ", " YQ==", "YQ==\n", "YQ", "not base64!"] {
            assert_eq!(decode_value(None, Some(bad.into())).unwrap_err(), ValueError::NotBase64, "{bad:?}");
        }
        assert_eq!(decode_value(None, Some("YQ==".into())).unwrap().expose(), b"a");
        assert!(decode_optional_value(None, None).unwrap().is_none());
        assert!(ValueError::Missing.to_string().contains("needs a value"));
    }
}
