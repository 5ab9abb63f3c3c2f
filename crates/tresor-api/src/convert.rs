//! The conversions between the model's types and the API's documents, each written once: the
//! server builds documents from the model with them (`From`), the CLI's server mode reads the
//! documents back into the model (`TryFrom`, which checks times and kinds).
//!
//! The store's and the service's records (tokens, grants, principals, application keys, audit
//! records, the caller) become documents in one place too, `tresor-server`'s `docs` module: this
//! crate does not depend on the store, so that the client crate does not either.

use crate::{
    decode_optional_value, encode_value, EntryDoc, EnvDoc, TagDoc, ValueDoc, ValueError, VaultDoc, VersionDoc,
};
use std::fmt;
use tresor_model::{
    format_rfc3339, parse_rfc3339, EntryKind, EntryMeta, EnvInfo, SecretValue, Tag, VaultInfo, VersionMeta,
};

/// A document that does not read back into the model: a time that is not RFC 3339, an unknown
/// kind, a value that does not decode. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError(String);

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DocError {}

impl From<ValueError> for DocError {
    fn from(e: ValueError) -> Self {
        DocError(e.to_string())
    }
}

fn time(s: &str) -> Result<i64, DocError> {
    parse_rfc3339(s).ok_or_else(|| DocError(format!("bad time {s:?}")))
}

fn kind(s: &str) -> Result<EntryKind, DocError> {
    EntryKind::parse(s).ok_or_else(|| DocError(format!("bad kind {s:?}")))
}

impl From<Tag> for TagDoc {
    fn from(t: Tag) -> Self {
        TagDoc { key: t.key, value: t.value }
    }
}

impl From<TagDoc> for Tag {
    fn from(t: TagDoc) -> Self {
        Tag { key: t.key, value: t.value }
    }
}

/// An entry's metadata; no environment (it lives where it was asked for) and no value.
impl From<EntryMeta> for EntryDoc {
    fn from(m: EntryMeta) -> Self {
        EntryDoc {
            key: m.key,
            kind: m.kind.as_str().into(),
            version: m.version,
            created_at: format_rfc3339(m.created_at),
            updated_at: format_rfc3339(m.updated_at),
            edited_by: m.edited_by,
            description: m.description,
            tags: m.tags.into_iter().map(TagDoc::from).collect(),
            expires_at: m.expires_at.map(format_rfc3339),
            deleted_at: m.deleted_at.map(format_rfc3339),
            environment: None,
            value: None,
            value_base64: None,
        }
    }
}

/// An [`EntryDoc`] read back: the metadata, the environment the entry lives in when it was read
/// through a branch, and a variable's value.
#[derive(Debug)]
pub struct EntryParts {
    pub meta: EntryMeta,
    pub environment: Option<String>,
    pub value: Option<SecretValue>,
}

impl EntryDoc {
    /// Adds a variable's value (text or base64, see [`encode_value`]).
    pub fn with_value(mut self, value: &SecretValue) -> Self {
        (self.value, self.value_base64) = encode_value(value.expose());
        self
    }
}

impl TryFrom<EntryDoc> for EntryParts {
    type Error = DocError;

    fn try_from(doc: EntryDoc) -> Result<Self, DocError> {
        let value = decode_optional_value(doc.value, doc.value_base64)?;
        let meta = EntryMeta {
            key: doc.key,
            kind: kind(&doc.kind)?,
            version: doc.version,
            created_at: time(&doc.created_at)?,
            updated_at: time(&doc.updated_at)?,
            edited_by: doc.edited_by,
            description: doc.description,
            tags: doc.tags.into_iter().map(Tag::from).collect(),
            expires_at: doc.expires_at.as_deref().map(time).transpose()?,
            deleted_at: doc.deleted_at.as_deref().map(time).transpose()?,
        };
        Ok(EntryParts { meta, environment: doc.environment, value })
    }
}

impl TryFrom<EntryDoc> for EntryMeta {
    type Error = DocError;

    fn try_from(doc: EntryDoc) -> Result<Self, DocError> {
        EntryParts::try_from(doc).map(|parts| parts.meta)
    }
}

impl ValueDoc {
    /// A resolved value: `key` as asked for, the version's metadata, where the value lives.
    pub fn new(key: String, version: &VersionMeta, environment: String, value: &SecretValue) -> Self {
        let (value, value_base64) = encode_value(value.expose());
        ValueDoc { key, version: version.version, kind: version.kind.as_str().into(), environment, value, value_base64 }
    }

    /// The kind of entry the value belongs to.
    pub fn entry_kind(&self) -> Result<EntryKind, DocError> {
        kind(&self.kind)
    }

    /// The value's bytes, whichever field carries them.
    pub fn decode(&mut self) -> Result<SecretValue, ValueError> {
        crate::decode_value(self.value.take(), self.value_base64.take())
    }
}

impl From<VersionMeta> for VersionDoc {
    fn from(v: VersionMeta) -> Self {
        VersionDoc {
            version: v.version,
            kind: v.kind.as_str().into(),
            created_at: format_rfc3339(v.created_at),
            edited_by: v.edited_by,
        }
    }
}

impl TryFrom<VersionDoc> for VersionMeta {
    type Error = DocError;

    fn try_from(v: VersionDoc) -> Result<Self, DocError> {
        Ok(VersionMeta {
            version: v.version,
            kind: kind(&v.kind)?,
            created_at: time(&v.created_at)?,
            edited_by: v.edited_by,
        })
    }
}

impl From<VaultInfo> for VaultDoc {
    fn from(v: VaultInfo) -> Self {
        VaultDoc {
            name: v.name,
            environment: v.environment,
            entries: v.entries,
            created_at: format_rfc3339(v.created_at),
            managed_by: v.managed_by,
            managed_at: v.managed_at.map(format_rfc3339),
        }
    }
}

impl TryFrom<VaultDoc> for VaultInfo {
    type Error = DocError;

    fn try_from(v: VaultDoc) -> Result<Self, DocError> {
        Ok(VaultInfo {
            name: v.name,
            environment: v.environment,
            created_at: time(&v.created_at)?,
            managed_by: v.managed_by,
            managed_at: v.managed_at.as_deref().map(time).transpose()?,
            entries: v.entries,
        })
    }
}

impl From<EnvInfo> for EnvDoc {
    fn from(e: EnvInfo) -> Self {
        EnvDoc { name: e.name, parent: e.parent, created_at: format_rfc3339(e.created_at) }
    }
}

impl TryFrom<EnvDoc> for EnvInfo {
    type Error = DocError;

    fn try_from(e: EnvDoc) -> Result<Self, DocError> {
        Ok(EnvInfo { name: e.name, parent: e.parent, created_at: time(&e.created_at)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the server writes, the CLI reads back unchanged (times at second precision).
    #[test]
    fn model_round_trips_through_documents() {
        let meta = EntryMeta {
            key: "db/password".into(),
            kind: EntryKind::Variable,
            version: 3,
            created_at: 1_718_965_677_000,
            updated_at: 1_718_965_678_000,
            edited_by: "user:owner".into(),
            description: Some("d".into()),
            tags: vec![Tag { key: "team".into(), value: "payments".into() }],
            expires_at: None,
            deleted_at: Some(1_718_965_679_000),
        };
        let doc = EntryDoc::from(meta.clone()).with_value(&SecretValue::new(b"\xff\x00".to_vec()));
        assert_eq!(doc.value_base64.as_deref(), Some("/wA="));
        let parts = EntryParts::try_from(doc).unwrap();
        assert_eq!(parts.meta, meta);
        assert_eq!(parts.value.unwrap().expose(), b"\xff\x00");

        let version = VersionMeta { version: 2, kind: EntryKind::Secret, created_at: 1_000, edited_by: "x".into() };
        assert_eq!(VersionMeta::try_from(VersionDoc::from(version.clone())).unwrap(), version);
        let vault = VaultInfo {
            name: "v".into(),
            environment: "prod".into(),
            created_at: 2_000,
            managed_by: Some("cfg".into()),
            managed_at: Some(3_000),
            entries: 7,
        };
        assert_eq!(VaultInfo::try_from(VaultDoc::from(vault.clone())).unwrap(), vault);
        let env = EnvInfo { name: "pr-1".into(), parent: Some("prod".into()), created_at: 4_000 };
        assert_eq!(EnvInfo::try_from(EnvDoc::from(env.clone())).unwrap(), env);
    }

    #[test]
    fn bad_documents_are_named() {
        let doc = EnvDoc { name: "e".into(), parent: None, created_at: "yesterday".into() };
        assert_eq!(EnvInfo::try_from(doc).unwrap_err().to_string(), "bad time \"yesterday\"");
        let doc = VersionDoc {
            version: 1,
            kind: "blob".into(),
            created_at: "1970-01-01T00:00:00Z".into(),
            edited_by: String::new(),
        };
        assert_eq!(VersionMeta::try_from(doc).unwrap_err().to_string(), "bad kind \"blob\"");
    }
}
