//! Name rules, in one place.
//!
//! Entry keys are hierarchical paths (`db/password`) that may contain dots (`pg.password`): 1–256
//! characters of ASCII letters, digits, `_`, `-`, `.` and `/`, no empty segment (so no leading,
//! trailing or doubled `/`) and no `..` anywhere, so a key can never be read as a path traversal.
//! Workspaces, environments and vaults are flat identifiers: 1–64 characters of ASCII letters,
//! digits, `_` and `-`, starting with a letter or digit.

use serde::Serialize;
use std::fmt;
use thiserror::Error;

/// Which kind of name failed to validate, so the error can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Workspace,
    Environment,
    Vault,
    Key,
    Principal,
    Scope,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Workspace => "workspace name",
            NameKind::Environment => "environment name",
            NameKind::Vault => "vault name",
            NameKind::Key => "entry key",
            NameKind::Principal => "principal",
            NameKind::Scope => "scope",
        })
    }
}

/// A rejected name. The message quotes the name (names are never secret) and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {name:?}: {reason}")]
pub struct NameError {
    pub kind: NameKind,
    pub name: String,
    pub reason: String,
}

pub const MAX_KEY_LEN: usize = 256;
pub const MAX_IDENT_LEN: usize = 64;

/// An identifier as a regular expression without anchors (the piece [`IDENT_PATTERN`] and the
/// principal patterns share).
macro_rules! ident_regex {
    () => {
        "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
    };
}
pub(crate) use ident_regex;

/// A key segment: no `/`, no `..`, not empty. Each `.` is followed by a non-dot or ends it.
macro_rules! key_segment_regex {
    () => {
        r"(?:(?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])+\.?|\.)"
    };
}

/// [`validate_ident`]'s rule as a regular expression (ECMA-262, as JSON Schema's `pattern`), for
/// documents that tell clients what a name may be (the OpenAPI document). The length is in it; the
/// tests check that it accepts exactly what the validator accepts.
pub const IDENT_PATTERN: &str = concat!("^", ident_regex!(), "$");

/// [`validate_key`]'s rule as a regular expression, but for the length ([`MAX_KEY_LEN`]), which
/// JSON Schema states as `maxLength`. The tests check it accepts exactly what the validator accepts
/// up to that length.
pub const KEY_PATTERN: &str = concat!("^", key_segment_regex!(), "(?:/", key_segment_regex!(), ")*$");

pub(crate) fn err(kind: NameKind, name: &str, reason: impl Into<String>) -> NameError {
    // Cap what is echoed: a very long "name" might be a value pasted in the wrong place.
    let shown: String = name.chars().take(80).collect();
    NameError { kind, name: shown, reason: reason.into() }
}

/// The single validation function for flat identifiers (workspace, environment, vault).
pub(crate) fn validate_ident(kind: NameKind, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(err(kind, s, "it is empty; use 1 to 64 letters, digits, '_' or '-'"));
    }
    if s.len() > MAX_IDENT_LEN {
        return Err(err(kind, s, format!("it is {} characters long; the limit is {MAX_IDENT_LEN}", s.len())));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(err(kind, s, "it must start with a letter or a digit"));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(err(kind, s, format!("character {c:?} is not allowed; use letters, digits, '_' or '-'")));
    }
    Ok(())
}

/// The single validation function for entry keys.
fn validate_key(s: &str) -> Result<(), NameError> {
    let kind = NameKind::Key;
    if s.is_empty() {
        return Err(err(kind, s, "it is empty; use 1 to 256 characters such as db/password or pg.user"));
    }
    if s.len() > MAX_KEY_LEN {
        return Err(err(kind, s, format!("it is {} characters long; the limit is {MAX_KEY_LEN}", s.len())));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))) {
        return Err(err(
            kind,
            s,
            format!("character {c:?} is not allowed; use letters, digits, '_', '-', '.' and '/' between segments"),
        ));
    }
    if s.split('/').any(str::is_empty) {
        return Err(err(kind, s, "it has an empty segment; '/' may not lead, trail or be doubled"));
    }
    if s.contains("..") {
        return Err(err(kind, s, "'..' is not allowed in a key"));
    }
    Ok(())
}

macro_rules! ident_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                validate_ident($kind, &s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

ident_type!(
    /// A tenant. `tresor init` creates `default`.
    WorkspaceName,
    NameKind::Workspace
);
ident_type!(
    /// An environment inside a workspace: `dev`, `prod`, a branch...
    EnvName,
    NameKind::Environment
);
ident_type!(
    /// A named group of entries inside an environment.
    VaultName,
    NameKind::Vault
);

impl WorkspaceName {
    pub fn default_name() -> Self {
        Self("default".into())
    }
}
impl EnvName {
    pub fn default_name() -> Self {
        Self("default".into())
    }
}
impl VaultName {
    pub fn default_name() -> Self {
        Self("default".into())
    }
}

/// A key inside a vault, such as `db/password` or `pg.password`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EntryKey(String);

impl EntryKey {
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        validate_key(&s)?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EntryKey {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_hierarchy_and_dots() {
        for ok in ["db/password", "pg.password", "td.apikey", "a", "prod/db/pg.user", "A-b_c.9", &"k".repeat(256)] {
            assert!(EntryKey::new(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn keys_reject_bad_shapes_with_reasons() {
        let cases = [
            ("", "empty"),
            ("/db", "empty segment"),
            ("db/", "empty segment"),
            ("db//pw", "empty segment"),
            ("db/../pw", "'..'"),
            ("a..b", "'..'"),
            ("db pw", "' '"),
            ("ключ", "not allowed"),
        ];
        for (bad, why) in cases {
            let e = EntryKey::new(bad).unwrap_err();
            assert_eq!(e.kind, NameKind::Key);
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
        let long = "k".repeat(257);
        assert!(EntryKey::new(long).unwrap_err().to_string().contains("limit is 256"));
    }

    #[test]
    fn idents_follow_their_rules() {
        assert!(VaultName::new("api-keys").is_ok());
        assert!(VaultName::new("nasdaq_analysis").is_ok());
        assert!(EnvName::new("prod").is_ok());
        for bad in ["", "-x", "_x", "a/b", "a.b", "a b"] {
            assert!(VaultName::new(bad).is_err(), "{bad:?}");
        }
        assert!(EnvName::new("e".repeat(65)).unwrap_err().to_string().contains("limit is 64"));
        let e = WorkspaceName::new("a/b").unwrap_err();
        assert!(e.to_string().starts_with("invalid workspace name \"a/b\""), "{e}");
    }

    #[test]
    fn error_echo_is_capped() {
        let e = EntryKey::new("x ".repeat(500)).unwrap_err();
        assert!(e.name.len() <= 80);
    }
}
