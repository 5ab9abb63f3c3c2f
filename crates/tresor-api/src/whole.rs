//! Integers as JSON Schema reads them: `2` and `2.0` are the same integer (draft 6 and later, so
//! OpenAPI 3.1), while serde reads `2.0` only into a float. The document types these fields as
//! integers, so the server accepts what the document allows.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A `u64` field that also takes a whole number written with a fraction (`2060.0`).
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(WholeU64)
}

/// An `Option<u64>` field, likewise (`null` or absent is `None`).
pub(crate) fn option_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number from 0 or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            u64(d).map(Some)
        }
    }
    d.deserialize_option(Optional)
}

struct WholeU64;

impl Visitor<'_> for WholeU64 {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number from 0")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("a negative number where a whole number from 0 belongs"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // 2^64 as a float: every whole float below it converts exactly.
        if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
            Ok(v as u64)
        } else {
            Err(E::custom("a number with a fraction, or out of range, where a whole number from 0 belongs"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        #[serde(deserialize_with = "super::u64")]
        n: u64,
        #[serde(default, deserialize_with = "super::option_u64")]
        m: Option<u64>,
    }

    fn read(json: &str) -> Result<Doc, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_integers_however_written() {
        assert_eq!(read(r#"{"n": 2060.0, "m": 3}"#), Ok(Doc { n: 2060, m: Some(3) }));
        assert_eq!(read(r#"{"n": 7, "m": 1e3}"#), Ok(Doc { n: 7, m: Some(1000) }));
        assert_eq!(read(r#"{"n": 0, "m": null}"#), Ok(Doc { n: 0, m: None }));
        assert_eq!(read(r#"{"n": 0}"#), Ok(Doc { n: 0, m: None }));
    }

    #[test]
    fn fractions_negatives_and_text_are_refused() {
        for bad in [
            r#"{"n": 2.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": "2"}"#,
            r#"{"n": 1e20}"#,
            r#"{"n": 0, "m": 0.5}"#,
        ] {
            let e = read(bad).unwrap_err();
            assert!(e.contains("whole number") || e.contains("invalid type"), "{bad}: {e}");
        }
    }
}
