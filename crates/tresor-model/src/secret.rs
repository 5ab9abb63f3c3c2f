//! The plaintext wrapper.

use std::fmt;
use zeroize::Zeroizing;

/// A plaintext value. Its bytes are wiped when it is dropped, and its `Debug` never shows them, so a
/// value that ends up in a log line, an error or a panic message reads `SecretValue(<redacted, N
/// bytes>)`. There is deliberately no `Display` and no `Serialize`: turning a value into text is an
/// explicit call to [`SecretValue::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext bytes. Callers must not log or format them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The plaintext as UTF-8, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes().to_vec())
    }
}

impl From<String> for SecretValue {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretValue::from("hunter2-very-secret");
        let shown = format!("{v:?} {:#?}", v);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("19 bytes"));
    }
}

/// serde names the offending value in type errors (`invalid type: string "sk_live_…", expected
/// …`, `invalid value: integer `1234`, …`). Input that fails to parse may hold a secret in the
/// wrong place, and errors end up in answers and CI logs, so every surface that shows a serde
/// error passes it through here: only the value's kind is kept (`invalid type: a string, …`).
pub fn without_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some((at, marker)) = ["invalid type: ", "invalid value: "]
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        let after = &rest[at + marker.len()..];
        let Some(end) = after.find(", expected") else { break };
        let unexpected = &after[..end];
        let kind = match unexpected.split([' ', '`', '"']).next().unwrap_or("") {
            "string" => "a string",
            "integer" => "an integer",
            "floating" => "a number",
            "character" => "a character",
            "boolean" => "a boolean",
            "byte" => "bytes",
            "map" => "a map",
            "sequence" => "a sequence",
            "null" | "unit" => "null",
            _ => "a value",
        };
        out.push_str(&rest[..at + marker.len()]);
        out.push_str(kind);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod serde_message_tests {
    use super::without_values;

    #[test]
    fn values_in_serde_messages_are_reduced_to_their_kind() {
        assert_eq!(without_values("no values here"), "no values here");
        assert_eq!(
            without_values("a: invalid value: string \"x, y\", expected z; b: invalid type: integer `7`, expected w"),
            "a: invalid value: a string, expected z; b: invalid type: an integer, expected w"
        );
        assert_eq!(
            without_values("invalid type: floating point `3.5`, expected a string at line 1"),
            "invalid type: a number, expected a string at line 1"
        );
    }
}
