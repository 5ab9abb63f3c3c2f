//! tresor's domain model: the names users give things, the shape of entries and versions, and the
//! plaintext wrapper that keeps values out of logs.
//!
//! Every layer (store, service, server, CLI) takes names through the constructors here, so a name
//! that one surface accepts is accepted by all of them and no layer re-implements the rules.

mod access;
mod error_kind;
mod names;
mod secret;
mod time_fmt;

pub use access::{glob_match, Access, PrincipalKind, PrincipalRef, Scope};
pub use error_kind::ErrorKind;
pub use names::{
    EntryKey, EnvName, NameError, NameKind, VaultName, WorkspaceName, IDENT_PATTERN, KEY_PATTERN, MAX_IDENT_LEN,
    MAX_KEY_LEN,
};
pub use secret::{without_values, SecretValue};
pub use time_fmt::{format_rfc3339, now_millis, parse_rfc3339};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether an entry is a secret (value never listed or shown by management calls) or a variable
/// (plain configuration, its value visible to anyone who may list it). Both are encrypted at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Secret,
    Variable,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Secret => "secret",
            EntryKind::Variable => "variable",
        }
    }

    /// Parses the stored spelling; anything else is a corrupt row, reported by the caller.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(EntryKind::Secret),
            "variable" => Some(EntryKind::Variable),
            _ => None,
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one change does to a vault that a declarative config manages: refused (the default,
/// so a script never takes a vault from its config by accident), or confirmed by the user
/// (CLI `--yes` or the prompt, API `?release_ownership=true`), which releases the vault. It is
/// a property of one request and travels with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnManaged {
    #[default]
    Refuse,
    Release,
}

/// The full address of one entry. Its fields are exactly what a sealed value's associated data binds,
/// together with the version number and the kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryPath {
    pub workspace: WorkspaceName,
    pub environment: EnvName,
    pub vault: VaultName,
    pub key: EntryKey,
}

impl EntryPath {
    /// The vault this entry lives in.
    pub fn vault_path(&self) -> VaultPath {
        VaultPath {
            workspace: self.workspace.clone(),
            environment: self.environment.clone(),
            vault: self.vault.clone(),
        }
    }

    /// The grant scope of exactly this entry, `ENV/VAULT/KEY`: what group permissions on one
    /// entry are granted on (`tresor set -g`, the dashboard's Add New and Edit).
    pub fn scope_text(&self) -> String {
        format!("{}/{}/{}", self.environment, self.vault, self.key)
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.environment, self.vault, self.key)
    }
}

/// Where a vault lives: workspace and environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultPath {
    pub workspace: WorkspaceName,
    pub environment: EnvName,
    pub vault: VaultName,
}

impl VaultPath {
    pub fn entry(&self, key: EntryKey) -> EntryPath {
        EntryPath {
            workspace: self.workspace.clone(),
            environment: self.environment.clone(),
            vault: self.vault.clone(),
            key,
        }
    }
}

impl fmt::Display for VaultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.vault)
    }
}

/// A user-supplied label on an entry, like `team=payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// What is known about an entry without opening its value. This is all a management call may return
/// for a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryMeta {
    pub key: String,
    pub kind: EntryKind,
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub edited_by: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
    pub expires_at: Option<i64>,
    /// Set when the entry is soft-deleted: it can be undeleted until it is purged.
    pub deleted_at: Option<i64>,
}

/// One stored version of an entry, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionMeta {
    pub version: u64,
    pub kind: EntryKind,
    pub created_at: i64,
    pub edited_by: String,
}

/// A vault as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaultInfo {
    pub name: String,
    pub environment: String,
    pub created_at: i64,
    /// The declarative config that owns this vault, if any.
    pub managed_by: Option<String>,
    /// When the config took the vault over or, with `managed_by` unset, when a change outside the
    /// config released it (`None`: never managed).
    pub managed_at: Option<i64>,
    pub entries: u64,
}

/// An environment as listed. A branch environment has a parent it reads through to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvInfo {
    pub name: String,
    pub parent: Option<String>,
    pub created_at: i64,
}
